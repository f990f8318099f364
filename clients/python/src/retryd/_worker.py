"""``retryd.Worker`` and ``retryd.relay``: delivery's consumers, blocking form.

A Worker runs the due jobs of one retryd queue itself; a relay hands them to
your own broker. Both hold one ``WatchDue`` stream open (and open it again when
the sidecar restarts), and settle every job they receive with its lease, so
that retryd's fencing and at-least-once redelivery do the rest
(docs/delivery.md).

Why threads: a handler is ordinary blocking code (an HTTP call, a database
write), and ``concurrency`` of them run at once, each on a daemon thread of its
own, so that a handler that hangs can never keep the process from exiting.
The stream never hands out more than ``concurrency`` unsettled jobs, so there
are never more threads than that (but just after a reconnection, when the
jobs of the old stream still run: a semaphore keeps the count).
"""

from __future__ import annotations

import dataclasses
import logging
import signal
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Set, Tuple, TypeVar

from . import _convert as cv
from ._types import Decision, DueJob, LeaseLost, RetrydError, Seconds, Unavailable
from .client import Client, DueStream
from .v1 import retryd_pb2 as pb

log = logging.getLogger("retryd.worker")

__all__ = ["Relay", "Worker", "WorkerStats", "relay"]

# The client a Worker makes for itself: keepalive pings find a sidecar that
# vanished without closing the connection (the stream is idle for long
# stretches, hence pings without data).
KEEPALIVE: Tuple[Tuple[str, Any], ...] = (
    ("grpc.keepalive_time_ms", 20_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
)
# Between two attempts to open the stream: from the first to the last.
RECONNECT = (0.1, 1.0)


@dataclass
class WorkerStats:
    """What a Worker or relay did (``run()``, ``stop()``, ``.stats``).

    - ``received``: due jobs handed to it.
    - ``succeeded``: handlers that returned, reported as successes.
    - ``retried`` / ``dead``: handlers that raised, reported as failures:
      retryd parked the job again, or gave up on it.
    - ``published``: jobs a relay's ``publish`` confirmed.
    - ``released``: jobs handed back unrun: a relay's failed publish, or a job
      received as the worker was stopping.
    - ``extended``: lease extensions of long runs.
    - ``lost``: leases lost (``retryd.LeaseLost``): the job was handed to
      another claimer, or settled; nothing was reported for it.
    - ``unsettled``: jobs it could not settle (retryd unreachable past the
      lease, or a handler still running when ``stop`` gave up waiting): their
      leases run out and retryd hands them out again.
    - ``reconnects``: times the stream was opened again.
    """

    received: int = 0
    succeeded: int = 0
    retried: int = 0
    dead: int = 0
    published: int = 0
    released: int = 0
    extended: int = 0
    lost: int = 0
    unsettled: int = 0
    reconnects: int = 0


T = TypeVar("T", bound="_Consumer")


class _Consumer:
    """The stream, its reconnections, stopping and the signals; subclasses
    say what to do with each job (``_dispatch``) and how to finish (``_drain``)."""

    _kind = "worker"

    def __init__(
        self,
        queue: str,
        *,
        max_in_flight: int,
        lease: Seconds,
        client: Optional[Client],
        addr: Optional[str],
        timeout: float,
        stop_timeout: Seconds,
    ) -> None:
        self.queue = cv.text("queue", queue, cv.MAX_QUEUE)
        self._max_in_flight = cv.count("max_in_flight" if self._kind == "relay" else "concurrency", max_in_flight)
        self.lease = cv.seconds("lease", lease)
        self.stop_timeout = cv.seconds("stop_timeout", stop_timeout, allow_zero=True, high=None)
        if client is not None and not isinstance(client, Client):
            raise TypeError(f"client: must be a retryd.Client, got {type(client).__name__}")
        if client is not None and addr is not None:
            raise ValueError("addr: give a client or an addr, not both")
        self._own_client = client is None
        self.client: Client = client if client is not None else Client(addr, timeout=timeout, options=KEEPALIVE)
        self._stopping = threading.Event()
        self._stop_deadline = float("inf")
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._stats = WorkerStats()
        self._stream: Optional[DueStream] = None
        self._thread: Optional[threading.Thread] = None
        self._runner: Optional[threading.Thread] = None
        self._started = False
        #: The error that ended a Worker started with ``start()`` (e.g. delivery
        #: disabled in retryd), re-raised by ``stop()``.
        self.error: Optional[BaseException] = None

    # --- what users call ---------------------------------------------------------

    @property
    def stats(self) -> WorkerStats:
        """What it did so far (a copy)."""
        with self._lock:
            return dataclasses.replace(self._stats)

    def run(self, *, handle_signals: bool = True) -> WorkerStats:
        """Runs until :meth:`stop` (or, in the main thread with
        ``handle_signals``, SIGTERM or SIGINT): then claims no more, waits up
        to ``stop_timeout`` for the jobs it runs, and returns what it did.

        A second signal gets the default behaviour (Ctrl-C twice: at once).
        Raises what makes going on pointless (``INVALID_ARGUMENT``, delivery
        disabled in retryd); a sidecar that is down or restarting is waited for.
        """
        self._claim_run()
        return self._run(handle_signals)

    def _claim_run(self) -> None:
        with self._lock:
            if self._started:
                raise RuntimeError(f"this {self._kind} already ran: make a new one")
            self._started = True

    def _run(self, handle_signals: bool) -> WorkerStats:
        self._runner = threading.current_thread()
        restore = self._install_signals() if handle_signals else {}
        try:
            log.info("%s on queue %r: started (%d in flight at most)", self._kind, self.queue, self._max_in_flight)
            self._loop()
        finally:
            self._stopping.set()
            self._stop_deadline = min(self._stop_deadline, time.monotonic() + self.stop_timeout)
            try:
                self._drain()
            finally:
                for sig, previous in restore.items():
                    signal.signal(sig, previous)
                if self._own_client:
                    self.client.close()
                self._done.set()
                log.info("%s on queue %r: stopped: %s", self._kind, self.queue, self.stats)
        return self.stats

    def start(self: T) -> T:
        """Runs it on a background thread; ``stop()`` ends it."""
        self._claim_run()
        self._thread = threading.Thread(target=self._run_in_thread, name=f"retryd-{self._kind}-{self.queue}",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: Optional[Seconds] = None) -> WorkerStats:
        """Claims no more, waits up to ``timeout`` (default ``stop_timeout``)
        for the running jobs to finish and be settled, and returns what it did.
        Jobs still running then are left to their leases: retryd hands them out
        again when those run out. Safe to call from any thread, and twice."""
        wait = self.stop_timeout if timeout is None else cv.seconds("timeout", timeout, allow_zero=True, high=None)
        self._stop_deadline = min(self._stop_deadline, time.monotonic() + wait)
        self._request_stop()
        with self._lock:
            never_ran, self._started = not self._started, True  # and it never will
        if never_ran:
            if self._own_client:
                self.client.close()
            return self.stats
        if self._runner is not threading.current_thread():  # not from a relay's publish, say
            # The drain is bounded by the deadline; a little more for the settles.
            self._done.wait(wait + 2 * self.client.timeout + 1.0)
        if self.error is not None:
            raise self.error
        return self.stats

    def __enter__(self: T) -> T:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- the stream ----------------------------------------------------------------

    def _run_in_thread(self) -> None:
        try:
            self._run(handle_signals=False)
        except BaseException as e:  # noqa: BLE001 - kept for stop() to raise
            log.error("%s on queue %r ended: %s", self._kind, self.queue, e)
            self.error = e

    def _request_stop(self) -> None:
        self._stopping.set()
        with self._lock:
            stream = self._stream
        if stream is not None:
            stream.cancel()

    def _install_signals(self) -> Dict[int, Any]:
        if threading.current_thread() is not threading.main_thread():
            return {}
        previous: Dict[int, Any] = {}

        def on_signal(signum: int, frame: Any) -> None:
            log.info("%s on queue %r: %s: stopping", self._kind, self.queue, signal.Signals(signum).name)
            # Only a flag here, and the cancel on a thread of its own: a signal
            # handler runs between two bytecodes of whatever the main thread
            # does, perhaps inside gRPC's own locks.
            self._stopping.set()
            self._stop_deadline = min(self._stop_deadline, time.monotonic() + self.stop_timeout)
            threading.Thread(target=self._request_stop, daemon=True).start()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

        for sig in (signal.SIGTERM, signal.SIGINT):
            # None: a handler not set from Python; the default stands in for it.
            previous[sig] = signal.signal(sig, on_signal) or signal.SIG_DFL
        return previous

    def _loop(self) -> None:
        delay = RECONNECT[0]
        outage = False
        first = True
        while not self._stopping.is_set():
            if not first:
                self._count("reconnects")
            first = False
            try:
                stream = self.client.watch_due(self.queue, max_in_flight=self._max_in_flight, lease=self.lease)
                with self._lock:
                    self._stream = stream
                if self._stopping.is_set():  # stop() came before the stream was set
                    stream.cancel()
                for job in stream:
                    if outage:
                        log.info("%s on queue %r: retryd is back", self._kind, self.queue)
                        outage = False
                    delay = RECONNECT[0]
                    self._count("received")
                    self._dispatch(job)
            except LeaseLost:
                raise  # not from a stream; never here
            except Unavailable as e:
                if not outage:
                    log.warning("%s on queue %r: %s; trying again", self._kind, self.queue, e)
                outage = True
            except RetrydError:
                raise  # a bad argument, delivery disabled: waiting will not help
            finally:
                with self._lock:
                    self._stream = None
            if self._stopping.wait(delay):
                break
            delay = min(delay * 2, RECONNECT[1])

    def _count(self, what: str, n: int = 1) -> None:
        with self._lock:
            setattr(self._stats, what, getattr(self._stats, what) + n)

    def _release(self, job: DueJob, delay: Optional[float], why: str) -> None:
        try:
            self.client.release_job(job.job_id, job.lease_id, delay)
        except LeaseLost:
            self._count("lost")
            log.warning("job %s: lease lost before it could be released (%s)", job.job_id, why)
        except Exception as e:  # noqa: BLE001 - its lease runs out instead
            self._count("unsettled")
            log.warning("job %s: not released (%s): %s; retryd hands it out again when its lease runs out",
                        job.job_id, why, e)
        else:
            self._count("released")
            log.info("job %s released (%s)", job.job_id, why)

    # --- subclasses ------------------------------------------------------------------

    def _dispatch(self, job: DueJob) -> None:
        raise NotImplementedError

    def _drain(self) -> None:
        pass


class _Lease:
    __slots__ = ("job_id", "lease_id", "next_at", "lost", "done", "lock")

    def __init__(self, job: DueJob, next_at: float) -> None:
        self.job_id = job.job_id
        self.lease_id = job.lease_id
        self.next_at = next_at
        self.lost = False
        self.done = False
        self.lock = threading.Lock()


class _Keeper:
    """Extends the leases of the jobs a Worker holds, each a third of the lease
    after the last extension, on one thread for all of them."""

    def __init__(self, worker: "Worker") -> None:
        self._worker = worker
        self._every = worker.lease / 3
        self._leases: Dict[str, _Lease] = {}
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=f"retryd-leases-{worker.queue}", daemon=True)
        self._thread.start()

    def track(self, job: DueJob) -> None:
        with self._cond:
            self._leases[job.lease_id] = _Lease(job, time.monotonic() + self._every)
            self._cond.notify()

    def untrack(self, job: DueJob) -> bool:
        """Stops extending the job's lease (waiting for an extension under way,
        so that none lands after the settle); whether the lease was lost."""
        with self._cond:
            entry = self._leases.pop(job.lease_id, None)
        if entry is None:
            return False
        with entry.lock:
            entry.done = True
            return entry.lost

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(5.0)

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._closed:
                    return
                now = time.monotonic()
                due = [e for e in self._leases.values() if e.next_at <= now]
                if not due:
                    # A lost lease waits for its untrack at infinity: no timeout.
                    soonest = min((e.next_at for e in self._leases.values()), default=float("inf"))
                    self._cond.wait(None if soonest == float("inf") else soonest - now)
                    continue
            for entry in due:
                self._extend(entry)

    def _extend(self, entry: _Lease) -> None:
        w = self._worker
        with entry.lock:
            if entry.done:
                return
            try:
                w.client.extend_lease(entry.job_id, entry.lease_id, w.lease)
            except LeaseLost:
                entry.lost = True
                entry.next_at = float("inf")
                w._count("lost")
                log.warning("job %s: lease lost while its handler runs (another claimer may run it now); "
                            "its outcome will not be reported", entry.job_id)
            except Exception as e:  # noqa: BLE001 - retryd unreachable: try again soon
                entry.next_at = time.monotonic() + min(1.0, self._every / 2)
                log.debug("job %s: lease not extended: %s", entry.job_id, e)
            else:
                entry.next_at = time.monotonic() + self._every
                w._count("extended")
                log.debug("job %s: lease extended by %gs", entry.job_id, w.lease)


Handler = Callable[[DueJob], object]


class Worker(_Consumer):
    """Runs the due jobs of a retryd queue: retryd is the queue of retries.

    ::

        def send(job: retryd.DueJob) -> None:
            mail = json.loads(job.payload)
            smtp.send(mail["to"], mail["body"])     # raises: retried by retryd

        retryd.Worker("mail", send, concurrency=4).run()   # until SIGTERM / Ctrl-C

    Each due job (a :class:`retryd.DueJob`, with its ``payload`` and the
    ``attempt`` it is) is passed to ``handler`` on a thread of its own, at most
    ``concurrency`` at once. When the handler returns, the job's success is
    reported with its lease (retryd forgets it); when it raises, the exception
    is reported as a failure of that attempt (classified as
    :meth:`Client.report_failure` does; retryd parks the job again or gives
    up). A handler running longer than a third of ``lease`` (seconds) has its
    lease extended, again and again; a worker that dies leaves its jobs to
    their leases: when one runs out, retryd hands the job to another worker.

    ``client`` (a :class:`retryd.Client`) or ``addr`` (default
    ``$RETRYD_ADDR``) says which sidecar; a restarting one is waited for.
    ``run()`` blocks (handling SIGTERM and SIGINT in the main thread);
    ``start()`` / ``stop()`` or ``with`` run it on a background thread.
    ``stop`` waits up to ``stop_timeout`` seconds for running handlers.
    A :class:`retryd.LeaseLost` while settling is logged (logger
    ``retryd.worker``) and counted in :class:`WorkerStats`, never raised.
    """

    _kind = "worker"

    def __init__(
        self,
        queue: str,
        handler: Handler,
        *,
        concurrency: int = 1,
        lease: Seconds = 30.0,
        client: Optional[Client] = None,
        addr: Optional[str] = None,
        timeout: float = 2.0,
        stop_timeout: Seconds = 30.0,
    ) -> None:
        if not callable(handler):
            raise TypeError(f"handler: must be callable, got {type(handler).__name__}")
        super().__init__(queue, max_in_flight=concurrency, lease=lease, client=client, addr=addr, timeout=timeout,
                         stop_timeout=stop_timeout)
        self.handler = handler
        self.concurrency = concurrency
        self._slots = threading.BoundedSemaphore(concurrency)
        self._running: Set[threading.Thread] = set()
        self._idle = threading.Condition(self._lock)
        self._keeper: Optional[_Keeper] = None
        self._finished = False  # stop() gave up waiting: late handlers report nothing

    def _dispatch(self, job: DueJob) -> None:
        if self._keeper is None:
            self._keeper = _Keeper(self)
        self._keeper.track(job)
        # A slot is free at once but just after a reconnection, when the old
        # stream's jobs still run; the lease of a job waiting here is kept too.
        while not self._slots.acquire(timeout=0.1):
            if self._stopping.is_set():
                break
        else:
            if not self._stopping.is_set():
                t = threading.Thread(target=self._run_job, args=(job,), name=f"retryd-job-{job.job_id}",
                                     daemon=True)
                with self._lock:
                    self._running.add(t)
                t.start()
                return
            self._slots.release()
        # Received as the worker stops: not run, handed back at once.
        self._keeper.untrack(job)
        self._release(job, None, "the worker is stopping")

    def _run_job(self, job: DueJob) -> None:
        assert self._keeper is not None
        try:
            outcome: Optional[Exception] = None
            try:
                self.handler(job)
            except Exception as exc:  # noqa: BLE001 - every failure goes to retryd
                outcome = exc
            except BaseException:
                # SystemExit and the like: not the job's failure.
                self._keeper.untrack(job)
                self._release(job, None, "its handler was interrupted")
                raise
            if self._keeper.untrack(job):
                return  # the lease was lost (logged and counted by the keeper)
            self._settle(job, outcome)
        finally:
            with self._lock:
                self._running.discard(threading.current_thread())
                self._idle.notify_all()
            self._slots.release()

    def _settle(self, job: DueJob, outcome: Optional[Exception]) -> None:
        """Reports the run with its lease. retryd unreachable: tried again while
        the lease may still settle the job (it stays good until the job is
        handed out again, so a sidecar back within the lease still takes it)."""
        if self._finished:
            log.warning("job %s: its handler ended after the worker stopped: not reported; retryd hands it out "
                        "again when its lease runs out", job.job_id)
            return
        c = self.client
        if outcome is None:
            req = c._success_request(job.job_id, job.job_type or None, None, job.lease_id)
            name = "ReportSuccess"
        else:
            req = cv.failure_request(
                pb.ReportFailureRequest, job.job_id, outcome, job_type=job.job_type or None, attempt=job.attempt,
                target=None, policy=None, priority=None, retry_after=None, lease_id=job.lease_id,
            )
            name = "ReportFailure"
        deadline = time.monotonic() + self.lease
        delay = RECONNECT[0]
        while True:
            try:
                resp = c._unary(name, req, job_id=job.job_id, lease_id=job.lease_id)
                break
            except LeaseLost:
                self._count("lost")
                log.warning("job %s: lease lost before its %s was reported (it was handed out again)",
                            job.job_id, "success" if outcome is None else "failure")
                return
            except Unavailable as e:
                if self._stopping.is_set():
                    deadline = min(deadline, self._stop_deadline)
                if time.monotonic() + delay > deadline:
                    self._count("unsettled")
                    log.error("job %s: not settled, retryd unavailable: %s; it is handed out again when its "
                              "lease runs out", job.job_id, e)
                    return
                time.sleep(delay)
                delay = min(delay * 2, RECONNECT[1])
            except Exception as e:  # noqa: BLE001 - e.g. the channel was closed after stop()
                self._count("unsettled")
                log.error("job %s: not settled: %s", job.job_id, e)
                return
        if outcome is None:
            self._count("succeeded")
            log.info("job %s succeeded (attempt %d)", job.job_id, job.attempt)
        else:
            self._note_failure(job, outcome, cv.decision_from_pb(resp.decision))

    def _note_failure(self, job: DueJob, exc: BaseException, d: Decision) -> None:
        if d.retry:
            self._count("retried")
            log.info("job %s failed (attempt %d: %s: %s): retry in %gs", job.job_id, job.attempt,
                     type(exc).__name__, exc, d.retry_after)
        else:
            self._count("dead")
            log.warning("job %s failed (attempt %d: %s: %s): retryd gave up (%s): %s", job.job_id, job.attempt,
                        type(exc).__name__, exc, d.reason, d.explanation)

    def _drain(self) -> None:
        with self._lock:
            while self._running:
                left = self._stop_deadline - time.monotonic()
                if left <= 0:
                    break
                self._idle.wait(left)
            left_running: List[str] = [t.name.removeprefix("retryd-job-") for t in self._running]
            self._finished = True
        if left_running:
            self._count("unsettled", len(left_running))
            log.warning("worker on queue %r: stopped with %d job(s) still running (%s): their leases run out "
                        "and retryd hands them out again", self.queue, len(left_running), ", ".join(left_running))
        if self._keeper is not None:
            self._keeper.close()


Publish = Callable[[DueJob], object]


class Relay(_Consumer):
    """Hands the due jobs of a retryd queue to your own broker (see :func:`relay`)."""

    _kind = "relay"

    def __init__(
        self,
        queue: str,
        publish: Publish,
        *,
        lease: Seconds = 300.0,
        max_in_flight: int = 100,
        release_delay: Seconds = 1.0,
        client: Optional[Client] = None,
        addr: Optional[str] = None,
        timeout: float = 2.0,
        stop_timeout: Seconds = 10.0,
    ) -> None:
        if not callable(publish):
            raise TypeError(f"publish: must be callable, got {type(publish).__name__}")
        super().__init__(queue, max_in_flight=max_in_flight, lease=lease, client=client, addr=addr,
                         timeout=timeout, stop_timeout=stop_timeout)
        self.publish = publish
        self.release_delay = cv.seconds("release_delay", release_delay, allow_zero=True, high=None)

    def _dispatch(self, job: DueJob) -> None:
        if self._stopping.is_set():
            self._release(job, None, "the relay is stopping")
            return
        try:
            self.publish(job)
        except Exception as e:  # noqa: BLE001 - the broker did not take it: due again soon
            log.warning("job %s: publish failed: %s: %s", job.job_id, type(e).__name__, e)
            self._release(job, self.release_delay, "its publish failed")
        else:
            # Nothing more to send: the lease travels with the message, and the
            # consumer settles the job with it.
            self._count("published")
            log.debug("job %s published (attempt %d)", job.job_id, job.attempt)


def relay(
    queue: str,
    publish: Publish,
    *,
    lease: Seconds = 300.0,
    max_in_flight: int = 100,
    release_delay: Seconds = 1.0,
    client: Optional[Client] = None,
    addr: Optional[str] = None,
    timeout: float = 2.0,
    stop_timeout: Seconds = 10.0,
) -> Relay:
    """A relay: retryd's due jobs of ``queue`` go back to your own broker.

    ::

        publisher = retryd.rabbitmq.Publisher("amqp://localhost", routing_key="mail")
        retryd.relay("mail", publisher).run()     # until SIGTERM / Ctrl-C

    Each due job is claimed with a lease of ``lease`` seconds (default 5
    minutes: the time a consumer has to report it) and passed to
    ``publish(job)``, which must return only once the broker confirmed the
    message (RabbitMQ's publisher confirms: :class:`retryd.rabbitmq.Publisher`
    does) and put the job's lease in it (:func:`retryd.rabbitmq.headers`). Then
    the relay sends nothing more: the consumer reports the job with that lease
    (:func:`retryd.rabbitmq.settle`). When ``publish`` raises, the job is
    released, due again after ``release_delay`` seconds. A message the broker
    loses, or whose consumer dies before it reports, comes back when its lease
    runs out (at-least-once), until retryd's ``max_deliveries``.

    ``publish`` runs on the relay's own thread, one job at a time (a pika
    connection wants one thread). At most ``max_in_flight`` jobs are published
    and not yet reported; the next waits for a report (back-pressure).
    Returns a :class:`Relay`: ``run()`` it, or ``with`` / ``start()`` and ``stop()``.
    """
    return Relay(queue, publish, lease=lease, max_in_flight=max_in_flight, release_delay=release_delay,
                 client=client, addr=addr, timeout=timeout, stop_timeout=stop_timeout)
