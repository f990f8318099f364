"""``retryd.aio.Worker`` and ``retryd.aio.relay``: delivery's consumers for asyncio.

The same behaviour as ``retryd.Worker`` and ``retryd.relay`` (see
``_worker.py``), with handlers and ``publish`` as coroutines on the running
event loop: a job is a task, and its lease is kept by a small task beside it.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import signal
import threading
import time
from typing import Any, Awaitable, Callable, List, Optional, Set, TypeVar

from . import _convert as cv
from ._types import DueJob, LeaseLost, RetrydError, Seconds, Unavailable
from ._worker import KEEPALIVE, RECONNECT, WorkerStats
from .v1 import retryd_pb2 as pb

log = logging.getLogger("retryd.worker")

__all__ = ["Relay", "Worker", "relay"]

T = TypeVar("T", bound="_Consumer")


def _is_async(fn: Any) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(getattr(fn, "__call__", None))


class _Consumer:
    _kind = "worker"

    def __init__(
        self,
        queue: str,
        *,
        max_in_flight: int,
        lease: Seconds,
        client: Any,
        addr: Optional[str],
        timeout: float,
        stop_timeout: Seconds,
    ) -> None:
        from .aio import Client

        self.queue = cv.text("queue", queue, cv.MAX_QUEUE)
        self._max_in_flight = cv.count("max_in_flight" if self._kind == "relay" else "concurrency", max_in_flight)
        self.lease = cv.seconds("lease", lease)
        self.stop_timeout = cv.seconds("stop_timeout", stop_timeout, allow_zero=True, high=None)
        if client is not None and not isinstance(client, Client):
            raise TypeError(f"client: must be a retryd.aio.Client, got {type(client).__name__}")
        if client is not None and addr is not None:
            raise ValueError("addr: give a client or an addr, not both")
        self._own_client = client is None
        self.client: Client = client if client is not None else Client(addr, timeout=timeout, options=KEEPALIVE)
        self._stats = WorkerStats()
        self._stream: Any = None
        self._stopping = False
        self._wake: Optional[asyncio.Event] = None
        self._loop_ref: Optional[asyncio.AbstractEventLoop] = None
        self._task: Optional["asyncio.Task[WorkerStats]"] = None
        self._started = False

    @property
    def stats(self) -> WorkerStats:
        """What it did so far (a copy)."""
        import dataclasses

        return dataclasses.replace(self._stats)

    def _count(self, what: str, n: int = 1) -> None:
        setattr(self._stats, what, getattr(self._stats, what) + n)

    async def run(self, *, handle_signals: bool = True) -> WorkerStats:
        """Runs until :meth:`stop` (or, on the main thread's loop with
        ``handle_signals``, SIGTERM or SIGINT), then waits up to
        ``stop_timeout`` for the running jobs; returns what it did. Jobs still
        running then are cancelled and released (due again at once)."""
        if self._started:
            raise RuntimeError(f"this {self._kind} already ran: make a new one")
        self._started = True
        self._loop_ref = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        if self._stopping:
            self._wake.set()
        signals: List[int] = []
        if handle_signals and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                try:
                    self._loop_ref.add_signal_handler(sig, self._on_signal, sig)
                    signals.append(sig)
                except (NotImplementedError, RuntimeError):  # not on this platform or loop
                    pass
        try:
            log.info("%s on queue %r: started (%d in flight at most)", self._kind, self.queue, self._max_in_flight)
            await self._consume()
        finally:
            self._stopping = True
            try:
                await self._drain()
            finally:
                for signum in signals:
                    self._loop_ref.remove_signal_handler(signum)
                if self._own_client:
                    await self.client.close()
                log.info("%s on queue %r: stopped: %s", self._kind, self.queue, self._stats)
        return self.stats

    def _on_signal(self, sig: int) -> None:
        log.info("%s on queue %r: %s: stopping", self._kind, self.queue, signal.Signals(sig).name)
        assert self._loop_ref is not None
        for s in (signal.SIGTERM, signal.SIGINT):
            self._loop_ref.remove_signal_handler(s)  # a second signal: the default behaviour
        self.stop()

    def stop(self) -> None:
        """Claims no more; ``run()`` then waits for the running jobs and
        returns. Safe from any thread and from a signal handler."""
        loop = self._loop_ref
        if loop is not None and not loop.is_closed():
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is not loop:
                loop.call_soon_threadsafe(self.stop)
                return
        self._stopping = True
        if self._wake is not None:
            self._wake.set()
        if self._stream is not None:
            self._stream.cancel()

    async def __aenter__(self: T) -> T:
        self._task = asyncio.get_running_loop().create_task(self.run(handle_signals=False))
        await asyncio.sleep(0)  # let it begin
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop()
        if self._task is not None:
            await self._task

    async def _consume(self) -> None:
        assert self._wake is not None
        delay = RECONNECT[0]
        outage = False
        first = True
        while not self._stopping:
            if not first:
                self._count("reconnects")
            first = False
            try:
                self._stream = self.client.watch_due(self.queue, max_in_flight=self._max_in_flight, lease=self.lease)
                if self._stopping:
                    self._stream.cancel()
                async for job in self._stream:
                    if outage:
                        log.info("%s on queue %r: retryd is back", self._kind, self.queue)
                        outage = False
                    delay = RECONNECT[0]
                    self._count("received")
                    await self._dispatch(job)
            except LeaseLost:
                raise
            except Unavailable as e:
                if not outage:
                    log.warning("%s on queue %r: %s; trying again", self._kind, self.queue, e)
                outage = True
            except RetrydError:
                raise
            finally:
                self._stream = None
            try:
                await asyncio.wait_for(self._wake.wait(), delay)
                break
            except asyncio.TimeoutError:
                pass
            delay = min(delay * 2, RECONNECT[1])

    async def _release(self, job: DueJob, delay: Optional[float], why: str) -> None:
        try:
            await self.client.release_job(job.job_id, job.lease_id, delay)
        except LeaseLost:
            self._count("lost")
            log.warning("job %s: lease lost before it could be released (%s)", job.job_id, why)
        except Exception as e:  # noqa: BLE001
            self._count("unsettled")
            log.warning("job %s: not released (%s): %s; retryd hands it out again when its lease runs out",
                        job.job_id, why, e)
        else:
            self._count("released")
            log.info("job %s released (%s)", job.job_id, why)

    async def _dispatch(self, job: DueJob) -> None:
        raise NotImplementedError

    async def _drain(self) -> None:
        pass


AsyncHandler = Callable[[DueJob], Awaitable[object]]


class Worker(_Consumer):
    """:class:`retryd.Worker` for asyncio: ``handler`` is an ``async def``.

    ::

        async def send(job: retryd.DueJob) -> None:
            await smtp.send(json.loads(job.payload))

        await retryd.aio.Worker("mail", send, concurrency=10).run()

    or ``async with retryd.aio.Worker(...):`` for the length of a block. Up to
    ``concurrency`` handlers run at once, each a task; success and failure are
    reported with the job's lease, a long run has its lease extended every
    third of ``lease``, a sidecar that restarts is waited for. ``stop()``
    (or SIGTERM/SIGINT) claims no more and waits ``stop_timeout`` seconds for
    the running handlers; those still running then are cancelled and their jobs
    released. ``client`` is a :class:`retryd.aio.Client` (or ``addr``).
    """

    _kind = "worker"

    def __init__(
        self,
        queue: str,
        handler: AsyncHandler,
        *,
        concurrency: int = 1,
        lease: Seconds = 30.0,
        client: Any = None,
        addr: Optional[str] = None,
        timeout: float = 2.0,
        stop_timeout: Seconds = 30.0,
    ) -> None:
        if not _is_async(handler):
            raise TypeError("handler: must be an async function (retryd.Worker runs plain functions)")
        super().__init__(queue, max_in_flight=concurrency, lease=lease, client=client, addr=addr, timeout=timeout,
                         stop_timeout=stop_timeout)
        self.handler = handler
        self.concurrency = concurrency
        self._slots: Optional[asyncio.Semaphore] = None
        self._tasks: Set["asyncio.Task[None]"] = set()

    async def _dispatch(self, job: DueJob) -> None:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.concurrency)
        if not await self._slot() or self._stopping:
            await self._release(job, None, "the worker is stopping")
            return
        task = asyncio.get_running_loop().create_task(self._run_job(job), name=f"retryd-job-{job.job_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _slot(self) -> bool:
        """Takes a slot (free at once, but just after a reconnection, when the
        old stream's jobs still run), or gives up when the worker stops."""
        assert self._slots is not None and self._wake is not None
        if not self._slots.locked():
            await self._slots.acquire()
        else:
            loop = asyncio.get_running_loop()
            acquire = loop.create_task(self._slots.acquire())
            woken = loop.create_task(self._wake.wait())
            await asyncio.wait({acquire, woken}, return_when=asyncio.FIRST_COMPLETED)
            woken.cancel()
            if not acquire.done():
                acquire.cancel()
                try:
                    await acquire
                except asyncio.CancelledError:
                    return False
        if self._stopping:
            self._slots.release()
            return False
        return True

    async def _keep(self, job: DueJob, lost: List[bool]) -> None:
        every = self.lease / 3
        wait = every
        while True:
            await asyncio.sleep(wait)
            try:
                await self.client.extend_lease(job.job_id, job.lease_id, self.lease)
            except LeaseLost:
                lost.append(True)
                self._count("lost")
                log.warning("job %s: lease lost while its handler runs (another claimer may run it now); "
                            "its outcome will not be reported", job.job_id)
                return
            except Exception as e:  # noqa: BLE001 - try again soon
                wait = min(1.0, every / 2)
                log.debug("job %s: lease not extended: %s", job.job_id, e)
            else:
                wait = every
                self._count("extended")

    async def _run_job(self, job: DueJob) -> None:
        assert self._slots is not None
        lost: List[bool] = []
        keeper = asyncio.get_running_loop().create_task(self._keep(job, lost))
        try:
            outcome: Optional[Exception] = None
            try:
                await self.handler(job)
            except asyncio.CancelledError:
                # stop() gave up waiting: the job goes back, unrun as far as
                # retryd knows (no failure counted).
                keeper.cancel()
                if not lost:
                    await self._release(job, None, "its handler was cancelled")
                return
            except Exception as exc:  # noqa: BLE001 - every failure goes to retryd
                outcome = exc
            keeper.cancel()
            try:
                await keeper
            except asyncio.CancelledError:
                pass
            if lost:
                return
            await self._settle(job, outcome)
        finally:
            keeper.cancel()
            self._slots.release()

    async def _settle(self, job: DueJob, outcome: Optional[Exception]) -> None:
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
                resp = await c._unary(name, req, job_id=job.job_id, lease_id=job.lease_id)
                break
            except LeaseLost:
                self._count("lost")
                log.warning("job %s: lease lost before its %s was reported (it was handed out again)",
                            job.job_id, "success" if outcome is None else "failure")
                return
            except Unavailable as e:
                if time.monotonic() + delay > deadline:
                    self._count("unsettled")
                    log.error("job %s: not settled, retryd unavailable: %s", job.job_id, e)
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECONNECT[1])
            except Exception as e:  # noqa: BLE001
                self._count("unsettled")
                log.error("job %s: not settled: %s", job.job_id, e)
                return
        if outcome is None:
            self._count("succeeded")
            log.info("job %s succeeded (attempt %d)", job.job_id, job.attempt)
            return
        d = cv.decision_from_pb(resp.decision)
        if d.retry:
            self._count("retried")
            log.info("job %s failed (attempt %d: %s: %s): retry in %gs", job.job_id, job.attempt,
                     type(outcome).__name__, outcome, d.retry_after)
        else:
            self._count("dead")
            log.warning("job %s failed (attempt %d: %s: %s): retryd gave up (%s): %s", job.job_id, job.attempt,
                        type(outcome).__name__, outcome, d.reason, d.explanation)

    async def _drain(self) -> None:
        tasks = set(self._tasks)
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=self.stop_timeout)
        if pending:
            log.warning("worker on queue %r: cancelling %d job(s) still running after %gs", self.queue,
                        len(pending), self.stop_timeout)
            for t in pending:
                t.cancel()
            await asyncio.wait(pending, timeout=max(1.0, 2 * self.client.timeout))


AsyncPublish = Callable[[DueJob], Awaitable[object]]


class Relay(_Consumer):
    """:class:`retryd.Relay` for asyncio (see :func:`relay`)."""

    _kind = "relay"

    def __init__(
        self,
        queue: str,
        publish: AsyncPublish,
        *,
        lease: Seconds = 300.0,
        max_in_flight: int = 100,
        release_delay: Seconds = 1.0,
        client: Any = None,
        addr: Optional[str] = None,
        timeout: float = 2.0,
        stop_timeout: Seconds = 10.0,
    ) -> None:
        if not _is_async(publish):
            raise TypeError("publish: must be an async function (retryd.relay takes a plain one)")
        super().__init__(queue, max_in_flight=max_in_flight, lease=lease, client=client, addr=addr,
                         timeout=timeout, stop_timeout=stop_timeout)
        self.publish = publish
        self.release_delay = cv.seconds("release_delay", release_delay, allow_zero=True, high=None)

    async def _dispatch(self, job: DueJob) -> None:
        if self._stopping:
            await self._release(job, None, "the relay is stopping")
            return
        try:
            await self.publish(job)
        except Exception as e:  # noqa: BLE001
            log.warning("job %s: publish failed: %s: %s", job.job_id, type(e).__name__, e)
            await self._release(job, self.release_delay, "its publish failed")
        else:
            self._count("published")
            log.debug("job %s published (attempt %d)", job.job_id, job.attempt)


def relay(
    queue: str,
    publish: AsyncPublish,
    *,
    lease: Seconds = 300.0,
    max_in_flight: int = 100,
    release_delay: Seconds = 1.0,
    client: Any = None,
    addr: Optional[str] = None,
    timeout: float = 2.0,
    stop_timeout: Seconds = 10.0,
) -> Relay:
    """:func:`retryd.relay` for asyncio: ``publish`` is an ``async def`` that
    returns once the broker confirmed the message (e.g. aio-pika on a channel
    with ``publisher_confirms=True``, headers from
    :func:`retryd.rabbitmq.headers`). ``await retryd.aio.relay("mail", publish).run()``."""
    return Relay(queue, publish, lease=lease, max_in_flight=max_in_flight, release_delay=release_delay,
                 client=client, addr=addr, timeout=timeout, stop_timeout=stop_timeout)
