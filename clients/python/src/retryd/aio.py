"""The asyncio client (``retryd.aio.Client``), on ``grpc.aio``.

The same methods as :class:`retryd.Client`, as coroutines::

    client = retryd.aio.Client()
    decision = await client.report_failure("job-1", exc, attempt=1)
"""

from __future__ import annotations

from typing import Any, Optional, Sequence, Tuple

import grpc
import grpc.aio

from . import _convert as cv
from ._types import Decision, Fallback, Job, Success
from .client import CHANNEL_OPTIONS, _Settings
from .v1 import retryd_pb2 as pb
from .v1 import retryd_pb2_grpc as pb_grpc

__all__ = ["Client"]


class Client(_Settings):
    """An asyncio client of the retryd sidecar (see :class:`retryd.Client`).

    The channel is made on first use, inside the running event loop; use one
    client per loop and ``await client.close()`` (or ``async with``) at the end.
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
        self._credentials = credentials
        self._options = list(CHANNEL_OPTIONS) + list(options)
        self._channel: Optional[grpc.aio.Channel] = None
        self._stub: Optional[pb_grpc.RetryCoordinatorStub] = None

    @property
    def stub(self) -> pb_grpc.RetryCoordinatorStub:
        """The generated stub (``grpc.aio``), for the RPCs this client does not wrap."""
        if self._stub is None:
            if self._credentials is None:
                self._channel = grpc.aio.insecure_channel(self.addr, options=self._options)
            else:
                self._channel = grpc.aio.secure_channel(self.addr, self._credentials, options=self._options)
            self._stub = pb_grpc.RetryCoordinatorStub(self._channel)  # type: ignore[no-untyped-call]
        return self._stub

    async def close(self) -> None:
        """Closes the channel."""
        if self._channel is not None:
            await self._channel.close(None)
            self._channel = None
            self._stub = None

    async def __aenter__(self) -> "Client":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def report_failure(
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
        """See :meth:`retryd.Client.report_failure`."""
        req = cv.failure_request(
            pb.ReportFailureRequest, job_id, error, job_type=job_type, attempt=attempt,
            target=target, policy=policy, priority=priority, retry_after=retry_after,
        )
        n = self._count(job_id, attempt)
        try:
            resp = await self.stub.ReportFailure(req, timeout=self.timeout)
        except grpc.RpcError as e:
            return self._fail(n, job_id, error, cv.rpc_error(e, self.addr, self.timeout))
        return cv.decision_from_pb(resp.decision)

    async def report_success(
        self,
        job_id: str,
        *,
        job_type: Optional[str] = None,
        target: Optional[str] = None,
    ) -> Success:
        """See :meth:`retryd.Client.report_success`."""
        req = pb.ReportSuccessRequest(job_id=job_id, job_type=job_type or "", target=target or "")
        try:
            resp = await self.stub.ReportSuccess(req, timeout=self.timeout)
        except grpc.RpcError as e:
            return self._succeed_locally(job_id, cv.rpc_error(e, self.addr, self.timeout))
        self._counts.forget(job_id)
        return cv.success_from_pb(resp)

    async def explain(
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
        """See :meth:`retryd.Client.explain`."""
        req = cv.failure_request(
            pb.ExplainRequest, job_id, error, job_type=job_type, attempt=attempt,
            target=target, policy=policy, priority=priority, retry_after=retry_after,
        )
        try:
            resp = await self.stub.Explain(req, timeout=self.timeout)
        except grpc.RpcError as e:
            raise cv.rpc_error(e, self.addr, self.timeout) from None
        return cv.decision_from_pb(resp.decision)

    async def get_job(self, job_id: str) -> Optional[Job]:
        """See :meth:`retryd.Client.get_job`."""
        try:
            resp = await self.stub.GetJob(pb.GetJobRequest(job_id=job_id), timeout=self.timeout)
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise cv.rpc_error(e, self.addr, self.timeout) from None
        return cv.job_from_pb(resp.job)
