"""The asyncio client (``retryd.aio.Client``), on ``grpc.aio``.

The same methods as :class:`retryd.Client`, as coroutines::

    client = retryd.aio.Client()
    decision = await client.report_failure("job-1", exc, attempt=1)

and delivery's :class:`Worker` and :func:`relay` for asyncio.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
from typing import Any, AsyncIterator, List, Optional, Sequence, Tuple

import grpc
import grpc.aio

from . import _convert as cv
from ._types import Decision, DueJob, Fallback, Job, QueueStats, Seconds, Success
from .client import CHANNEL_OPTIONS, _Settings
from .v1 import retryd_pb2 as pb
from .v1 import retryd_pb2_grpc as pb_grpc

__all__ = ["Client", "DueStream", "Relay", "Worker", "relay"]


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
        payload: Optional[bytes] = None,
        queue: Optional[str] = None,
        lease_id: Optional[str] = None,
    ) -> Decision:
        """See :meth:`retryd.Client.report_failure`."""
        req = cv.failure_request(
            pb.ReportFailureRequest, job_id, error, job_type=job_type, attempt=attempt,
            target=target, policy=policy, priority=priority, retry_after=retry_after,
            payload=payload, queue=queue, lease_id=lease_id,
        )
        n = self._count(job_id, attempt)
        try:
            resp = await self.stub.ReportFailure(req, timeout=self.timeout)
        except grpc.RpcError as e:
            why = cv.rpc_error(e, self.addr, self.timeout, job_id=job_id, lease_id=lease_id or "")
            return self._fail(n, job_id, error, why)
        return cv.decision_from_pb(resp.decision)

    async def report_success(
        self,
        job_id: str,
        *,
        job_type: Optional[str] = None,
        target: Optional[str] = None,
        lease_id: Optional[str] = None,
    ) -> Success:
        """See :meth:`retryd.Client.report_success`."""
        req = self._success_request(job_id, job_type, target, lease_id)
        try:
            resp = await self.stub.ReportSuccess(req, timeout=self.timeout)
        except grpc.RpcError as e:
            why = cv.rpc_error(e, self.addr, self.timeout, job_id=job_id, lease_id=lease_id or "")
            return self._succeed_locally(job_id, why)
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

    # --- delivery (docs/delivery.md) -------------------------------------------

    async def _unary(self, name: str, req: Any, *, job_id: str = "", lease_id: str = "") -> Any:
        try:
            return await getattr(self.stub, name)(req, timeout=self.timeout)
        except grpc.RpcError as e:
            raise cv.rpc_error(e, self.addr, self.timeout, job_id=job_id, lease_id=lease_id) from None

    async def claim_due(self, queue: str, *, max_jobs: int = 1, lease: Optional[Seconds] = None) -> List[DueJob]:
        """See :meth:`retryd.Client.claim_due`."""
        req = self._claim_request(queue, max_jobs, lease)
        return cv.due_jobs(await self._unary("ClaimDue", req))

    def watch_due(self, queue: str, *, max_in_flight: int = 1, lease: Optional[Seconds] = None) -> "DueStream":
        """See :meth:`retryd.Client.watch_due`: ``async for job in client.watch_due("mail"): ...``"""
        req = self._watch_request(queue, max_in_flight, lease)
        return DueStream(self.stub.WatchDue(req), self.addr)

    async def extend_lease(self, job_id: str, lease_id: str, lease: Optional[Seconds] = None) -> _dt.datetime:
        """See :meth:`retryd.Client.extend_lease`."""
        req = self._extend_request(job_id, lease_id, lease)
        resp = await self._unary("ExtendLease", req, job_id=job_id, lease_id=lease_id)
        return cv.time_from_pb(resp.lease_until)

    async def release_job(self, job_id: str, lease_id: str, delay: Optional[Seconds] = None) -> None:
        """See :meth:`retryd.Client.release_job`."""
        req = self._release_request(job_id, lease_id, delay)
        await self._unary("ReleaseJob", req, job_id=job_id, lease_id=lease_id)

    async def list_queues(self) -> List[QueueStats]:
        """See :meth:`retryd.Client.list_queues`."""
        resp = await self._unary("ListQueues", pb.ListQueuesRequest())
        return [cv.queue_stats_from_pb(q) for q in resp.queues]


class DueStream(AsyncIterator[DueJob]):
    """The stream of :meth:`Client.watch_due`: an async iterator of
    :class:`retryd.DueJob`; ``cancel()`` ends it (see :class:`retryd.client.DueStream`)."""

    def __init__(self, call: Any, addr: str) -> None:
        self._call = call
        self._addr = addr
        self._cancelled = False

    def __aiter__(self) -> "DueStream":
        return self

    async def __anext__(self) -> DueJob:
        if self._cancelled:
            raise StopAsyncIteration
        try:
            msg = await self._call.read()
        except asyncio.CancelledError:
            # grpc.aio raises CancelledError from the read of a call we
            # cancelled; a cancellation of the reading task itself goes on.
            cancelling = getattr(asyncio.current_task(), "cancelling", None)  # Python 3.11+
            if self._cancelled and not (cancelling is not None and cancelling()):
                raise StopAsyncIteration from None
            raise
        except grpc.RpcError as e:
            if self._cancelled:
                raise StopAsyncIteration from None
            raise cv.rpc_error(e, self._addr, 0.0) from None
        if msg is grpc.aio.EOF:  # type: ignore[attr-defined]  # not in grpc-stubs
            raise StopAsyncIteration
        return cv.due_job_from_pb(msg)

    def cancel(self) -> None:
        """Ends the stream."""
        self._cancelled = True
        self._call.cancel()

    async def __aenter__(self) -> "DueStream":
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.cancel()


from ._aio_worker import Relay, Worker, relay  # noqa: E402  (they use the Client above)
