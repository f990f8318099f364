"""The blocking client (``retryd.Client``)."""

from __future__ import annotations

import logging
import os
from typing import Any, Optional, Sequence, Tuple

import grpc

from . import _convert as cv
from ._types import Decision, Fallback, Job, RetrydError, Success, Unavailable
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
    ) -> Decision:
        """Records a failed attempt of ``job_id`` and returns retryd's decision.

        ``error`` is the exception (its type name, message, HTTP status,
        ``Retry-After`` and gRPC code are sent) or a :class:`retryd.ErrorInfo`.
        ``attempt`` is the 1-based attempt number: a report re-sent with the
        same number is not counted twice. ``retry_after`` (seconds) is the
        server's own hint, read from the exception's response when not given.
        """
        req = cv.failure_request(
            pb.ReportFailureRequest, job_id, error, job_type=job_type, attempt=attempt,
            target=target, policy=policy, priority=priority, retry_after=retry_after,
        )
        n = self._count(job_id, attempt)
        try:
            resp = self.stub.ReportFailure(req, timeout=self.timeout)
        except grpc.RpcError as e:
            return self._fail(n, job_id, error, cv.rpc_error(e, self.addr, self.timeout))
        return cv.decision_from_pb(resp.decision)

    def report_success(
        self,
        job_id: str,
        *,
        job_type: Optional[str] = None,
        target: Optional[str] = None,
    ) -> Success:
        """The job succeeded: retryd forgets it (and refills ``target``'s budget)."""
        req = pb.ReportSuccessRequest(job_id=job_id, job_type=job_type or "", target=target or "")
        try:
            resp = self.stub.ReportSuccess(req, timeout=self.timeout)
        except grpc.RpcError as e:
            return self._succeed_locally(job_id, cv.rpc_error(e, self.addr, self.timeout))
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
