"""The blocking client (``retryd.Client``)."""

from __future__ import annotations

import datetime as _dt
import logging
import os
from typing import Any, Iterator, List, Optional, Sequence, Tuple

import grpc

from . import _convert as cv
from ._types import (
    Decision, DueJob, Fallback, Job, QueueStats, RetrydError, Seconds, Success, Unavailable,
)
from .v1 import retryd_pb2 as pb
from .v1 import retryd_pb2_grpc as pb_grpc

log = logging.getLogger("retryd")

DEFAULT_ADDR = "127.0.0.1:50051"

# A sidecar that restarts is found again within a second, whatever gRPC's
# default reconnect backoff (up to two minutes) would be.
CHANNEL_OPTIONS: Tuple[Tuple[str, Any], ...] = (
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
)


def default_addr() -> str:
    """``$RETRYD_ADDR``, else ``127.0.0.1:50051``."""
    return os.environ.get("RETRYD_ADDR") or DEFAULT_ADDR


class _Settings:
    def __init__(
        self,
        addr: Optional[str],
        timeout: float,
        fallback: Optional[Fallback],
    ) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        self.addr = addr or default_addr()
        self.timeout = float(timeout)
        self.fallback = fallback
        self._counts = cv.LocalCounts()

    def _count(self, job_id: str, attempt: Optional[int]) -> int:
        """The failure's number: the caller's attempt, else this client's count
        of the job's failures since its last success (for the fallback)."""
        if attempt:
            return attempt
        return self._counts.failed(job_id) if self.fallback is not None else 0

    def _fail(self, n: int, job_id: str, error: cv.ErrorLike, why: RetrydError) -> Decision:
        """The fallback's decision on failure ``n``, or ``why`` raised when there is none."""
        if self.fallback is None or not isinstance(why, Unavailable):
            raise why
        d = cv.local_decision(self.fallback, max(1, n), error, why)
        log.warning("retryd unavailable, local decision for job %s: %s", job_id, d.explanation)
        return d

    # The delivery calls' requests, their arguments checked (errors name them).

    @staticmethod
    def _claim_request(queue: str, max_jobs: int, lease: Optional[Seconds]) -> Any:
        req = pb.ClaimDueRequest(queue=cv.text("queue", queue, cv.MAX_QUEUE), max_jobs=cv.count("max_jobs", max_jobs))
        cv.due_requests_lease(req, lease)
        return req

    @staticmethod
    def _watch_request(queue: str, max_in_flight: int, lease: Optional[Seconds]) -> Any:
        req = pb.WatchDueRequest(
            queue=cv.text("queue", queue, cv.MAX_QUEUE), max_in_flight=cv.count("max_in_flight", max_in_flight),
        )
        cv.due_requests_lease(req, lease)
        return req

    @staticmethod
    def _extend_request(job_id: str, lease_id: str, lease: Optional[Seconds]) -> Any:
        req = pb.ExtendLeaseRequest(
            job_id=cv.text("job_id", job_id, cv.MAX_JOB_ID), lease_id=cv.text("lease_id", lease_id, cv.MAX_LEASE_ID),
        )
        cv.due_requests_lease(req, lease)
        return req

    @staticmethod
    def _release_request(job_id: str, lease_id: str, delay: Optional[Seconds]) -> Any:
        req = pb.ReleaseJobRequest(
            job_id=cv.text("job_id", job_id, cv.MAX_JOB_ID), lease_id=cv.text("lease_id", lease_id, cv.MAX_LEASE_ID),
        )
        if delay is not None:
            cv.set_duration(req.delay, cv.seconds("delay", delay, allow_zero=True, high=None))
        return req

    @staticmethod
    def _success_request(job_id: str, job_type: Optional[str], target: Optional[str], lease_id: Optional[str]) -> Any:
        return pb.ReportSuccessRequest(
            job_id=job_id, job_type=job_type or "", target=target or "",
            lease_id="" if lease_id is None else cv.text("lease_id", lease_id, cv.MAX_LEASE_ID, required=False),
        )

    def _succeed_locally(self, job_id: str, why: RetrydError) -> Success:
        self._counts.forget(job_id)
        if self.fallback is None or not isinstance(why, Unavailable):
            raise why
        log.warning("retryd unavailable, success of job %s not reported: %s", job_id, why)
        return Success(local=True)


class Client(_Settings):
    """A blocking client of the retryd sidecar.

    ``addr`` defaults to ``$RETRYD_ADDR``, else ``127.0.0.1:50051``. Every call
    takes at most ``timeout`` seconds: a sidecar that is down, or up but not
    answering, raises :class:`retryd.Unavailable`, or, when ``fallback`` is
    given (``fallback(failure_count_or_attempt, error) -> Decision``, e.g.
    :func:`retryd.fallback.exponential`), ``report_failure`` returns the
    fallback's decision with ``local=True``. ``credentials`` (from
    ``grpc.ssl_channel_credentials``) makes a TLS channel.

    Thread-safe; make one per process (after a fork, make a new one).
    """

    def __init__(
        self,
        addr: Optional[str] = None,
        timeout: float = 0.5,
        *,
        fallback: Optional[Fallback] = None,
        credentials: Optional[grpc.ChannelCredentials] = None,
        options: Sequence[Tuple[str, Any]] = (),
    ) -> None:
        super().__init__(addr, timeout, fallback)
        opts = list(CHANNEL_OPTIONS) + list(options)
        if credentials is None:
            self._channel = grpc.insecure_channel(self.addr, options=opts)
        else:
            self._channel = grpc.secure_channel(self.addr, credentials, options=opts)
        #: The generated stub, for the RPCs this client does not wrap
        #: (ListJobs, StartPass, ...): ``client.stub.ListJobs(req, timeout=client.timeout)``.
        self.stub = pb_grpc.RetryCoordinatorStub(self._channel)  # type: ignore[no-untyped-call]

    def close(self) -> None:
        """Closes the channel."""
        self._channel.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def report_failure(
        self,
        job_id: str,
        error: cv.ErrorLike,
        *,
        job_type: Optional[str] = None,
        attempt: Optional[int] = None,
        target: Optional[str] = None,
        policy: Optional[str] = None,
        priority: Optional[int] = None,
        retry_after: Optional[float] = None,
        payload: Optional[bytes] = None,
        queue: Optional[str] = None,
        lease_id: Optional[str] = None,
    ) -> Decision:
        """Records a failed attempt of ``job_id`` and returns retryd's decision.

        ``error`` is the exception (its type name, message, HTTP status,
        ``Retry-After`` and gRPC code are sent) or a :class:`retryd.ErrorInfo`.
        ``attempt`` is the 1-based attempt number: a report re-sent with the
        same number is not counted twice. ``retry_after`` (seconds) is the
        server's own hint, read from the exception's response when not given.

        Delivery: with ``payload`` (bytes: the job itself) retryd holds the
        job: a retry parks it, due at ``retry_at`` on ``queue`` (default: the
        job type, else ``"default"``), for a claimer to take; a give-up keeps the
        payload with the dead job. Leave them out on later reports to keep the
        job's. ``lease_id`` is the lease a claimed job was handed out under
        (:attr:`DueJob.lease_id`; required for such a job): a lease that is no
        longer the job's raises :class:`retryd.LeaseLost`. A payload too large
        is a ``RetrydError`` (``RESOURCE_EXHAUSTED``) whatever the fallback; a
        local decision (``local=True``) means retryd holds nothing: keep the job.
        """
        req = cv.failure_request(
            pb.ReportFailureRequest, job_id, error, job_type=job_type, attempt=attempt,
            target=target, policy=policy, priority=priority, retry_after=retry_after,
            payload=payload, queue=queue, lease_id=lease_id,
        )
        n = self._count(job_id, attempt)
        try:
            resp = self.stub.ReportFailure(req, timeout=self.timeout)
        except grpc.RpcError as e:
            why = cv.rpc_error(e, self.addr, self.timeout, job_id=job_id, lease_id=lease_id or "")
            return self._fail(n, job_id, error, why)
        return cv.decision_from_pb(resp.decision)

    def report_success(
        self,
        job_id: str,
        *,
        job_type: Optional[str] = None,
        target: Optional[str] = None,
        lease_id: Optional[str] = None,
    ) -> Success:
        """The job succeeded: retryd forgets it (and refills ``target``'s budget).

        ``lease_id``: the lease a claimed job was handed out under (required
        for such a job); one that is no longer the job's raises
        :class:`retryd.LeaseLost` and changes nothing."""
        req = self._success_request(job_id, job_type, target, lease_id)
        try:
            resp = self.stub.ReportSuccess(req, timeout=self.timeout)
        except grpc.RpcError as e:
            why = cv.rpc_error(e, self.addr, self.timeout, job_id=job_id, lease_id=lease_id or "")
            return self._succeed_locally(job_id, why)
        self._counts.forget(job_id)
        return cv.success_from_pb(resp)

    def explain(
        self,
        job_id: str,
        error: cv.ErrorLike,
        *,
        job_type: Optional[str] = None,
        attempt: Optional[int] = None,
        target: Optional[str] = None,
        policy: Optional[str] = None,
        priority: Optional[int] = None,
        retry_after: Optional[float] = None,
    ) -> Decision:
        """The decision ``report_failure`` would give, changing nothing in
        retryd. Never answered by the fallback: it raises ``Unavailable``."""
        req = cv.failure_request(
            pb.ExplainRequest, job_id, error, job_type=job_type, attempt=attempt,
            target=target, policy=policy, priority=priority, retry_after=retry_after,
        )
        try:
            resp = self.stub.Explain(req, timeout=self.timeout)
        except grpc.RpcError as e:
            raise cv.rpc_error(e, self.addr, self.timeout) from None
        return cv.decision_from_pb(resp.decision)

    def get_job(self, job_id: str) -> Optional[Job]:
        """The state retryd holds for ``job_id``, ``None`` if it holds none."""
        try:
            resp = self.stub.GetJob(pb.GetJobRequest(job_id=job_id), timeout=self.timeout)
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise cv.rpc_error(e, self.addr, self.timeout) from None
        return cv.job_from_pb(resp.job)

    # --- delivery (docs/delivery.md) -------------------------------------------

    def _unary(self, name: str, req: Any, *, job_id: str = "", lease_id: str = "") -> Any:
        """One call that raises what it meets (no fallback answers a delivery call)."""
        try:
            return getattr(self.stub, name)(req, timeout=self.timeout)
        except grpc.RpcError as e:
            raise cv.rpc_error(e, self.addr, self.timeout, job_id=job_id, lease_id=lease_id) from None

    def claim_due(self, queue: str, *, max_jobs: int = 1, lease: Optional[Seconds] = None) -> List[DueJob]:
        """Up to ``max_jobs`` (1-1000) due jobs of ``queue``, oldest due first,
        each leased to this caller for ``lease`` seconds (default: retryd's
        ``[delivery] default_lease``, 30 s; at most 12 h). Fewer, or none, when
        fewer are due: it never waits. Settle each with its ``lease_id``."""
        req = self._claim_request(queue, max_jobs, lease)
        return cv.due_jobs(self._unary("ClaimDue", req))

    def watch_due(self, queue: str, *, max_in_flight: int = 1, lease: Optional[Seconds] = None) -> "DueStream":
        """The due jobs of ``queue`` as they fall due, each leased as by
        :meth:`claim_due`; never more than ``max_in_flight`` (1-1000) handed out
        and unsettled at once: settling one (a report with its lease, or
        :meth:`release_job`) lets the next one come. Iterate over it; it ends
        when the sidecar stops, and ``cancel()`` (or ``with``) ends it from
        another thread. A lost connection raises :class:`retryd.Unavailable`
        from the iteration. :class:`retryd.Worker` does all this for you."""
        req = self._watch_request(queue, max_in_flight, lease)
        return DueStream(self.stub.WatchDue(req), self.addr)

    def extend_lease(self, job_id: str, lease_id: str, lease: Optional[Seconds] = None) -> _dt.datetime:
        """More time for a claimed job: its lease runs until now + ``lease``
        (default: retryd's ``default_lease``); the new ``lease_until``. Raises
        :class:`retryd.LeaseLost` when the lease is no longer the job's."""
        req = self._extend_request(job_id, lease_id, lease)
        return cv.time_from_pb(self._unary("ExtendLease", req, job_id=job_id, lease_id=lease_id).lease_until)

    def release_job(self, job_id: str, lease_id: str, delay: Optional[Seconds] = None) -> None:
        """Hands a claimed job back unprocessed: due again after ``delay``
        (default: now), no failure counted. Raises :class:`retryd.LeaseLost`
        when the lease is no longer the job's."""
        req = self._release_request(job_id, lease_id, delay)
        self._unary("ReleaseJob", req, job_id=job_id, lease_id=lease_id)

    def list_queues(self) -> List[QueueStats]:
        """Every queue with a parked or handed-out job, by name."""
        resp = self._unary("ListQueues", pb.ListQueuesRequest())
        return [cv.queue_stats_from_pb(q) for q in resp.queues]


class DueStream(Iterator[DueJob]):
    """The stream of :meth:`Client.watch_due`: an iterator of :class:`retryd.DueJob`.

    ``cancel()`` (thread-safe) ends it: the iteration then stops, and the jobs
    retryd had claimed for it but not yet sent are released by retryd. Jobs
    already received stay leased to you: settle them.
    """

    def __init__(self, call: Any, addr: str) -> None:
        self._call = call
        self._addr = addr
        self._cancelled = False

    def __iter__(self) -> "DueStream":
        return self

    def __next__(self) -> DueJob:
        if self._cancelled:
            raise StopIteration
        try:
            msg = next(self._call)
        except grpc.RpcError as e:
            if self._cancelled:
                raise StopIteration from None
            raise cv.rpc_error(e, self._addr, 0.0) from None
        return cv.due_job_from_pb(msg)

    def cancel(self) -> None:
        """Ends the stream (from any thread)."""
        self._cancelled = True
        self._call.cancel()

    def __enter__(self) -> "DueStream":
        return self

    def __exit__(self, *exc: object) -> None:
        self.cancel()
