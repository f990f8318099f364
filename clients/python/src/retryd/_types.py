"""The values the client hands back and takes: decisions, errors, jobs, due jobs."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Callable, Optional, Union

#: A length of time: seconds (``1.5``) or a ``datetime.timedelta``.
Seconds = Union[float, _dt.timedelta]


class RetrydError(Exception):
    """retryd answered with an error, e.g. ``INVALID_ARGUMENT`` for an empty job id.

    ``code`` is the gRPC status code's name (``"INVALID_ARGUMENT"``), ``details``
    retryd's message.
    """

    def __init__(self, message: str, code: Optional[str] = None, details: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.details = details


class Unavailable(RetrydError):
    """retryd could not be reached or did not answer within the client's timeout.

    Raised for a refused connection, an unreachable or hung sidecar
    (``UNAVAILABLE``, ``DEADLINE_EXCEEDED``) and for a sidecar shedding load
    (``RESOURCE_EXHAUSTED``). A client made with ``fallback=`` returns the
    fallback's decision instead.
    """


class LeaseLost(RetrydError):
    """Delivery's fencing: the lease given is not the job's current one.

    The job was handed out again after this lease ran out, or it was already
    settled or released (``FAILED_PRECONDITION``, retryd's message starting
    ``lease_id:``). Nothing was changed. A worker that gets it must drop the
    job, not retry the call: another claimer holds it now, or nobody needs to.
    ``job_id`` and ``lease_id`` are the call's.
    """

    def __init__(
        self, message: str, code: Optional[str] = None, details: str = "", *, job_id: str = "", lease_id: str = ""
    ) -> None:
        super().__init__(message, code=code, details=details)
        self.job_id = job_id
        self.lease_id = lease_id


@dataclass(frozen=True)
class ErrorInfo:
    """What went wrong in a failed attempt, as retryd classifies it.

    ``type`` is the error's type name (a qualified name such as
    ``requests.exceptions.ConnectionError`` is matched on its last segment),
    ``http_status`` the HTTP status the attempt got (0: none), ``grpc_code``
    the numeric gRPC status code it got (0: none), ``retryable`` the caller's
    own verdict if it has one (it overrides retryd's built-in rules).
    """

    type: str = ""
    message: str = ""
    http_status: int = 0
    grpc_code: int = 0
    retryable: Optional[bool] = None

    @classmethod
    def from_exception(cls, exc: BaseException) -> "ErrorInfo":
        """The type name (``module.QualName``), message, HTTP status and gRPC
        code of an exception.

        The HTTP status comes from ``exc.response.status_code`` (``requests``,
        ``httpx``) or ``exc.response.status`` / ``exc.status_code`` /
        ``exc.status``; the gRPC code from ``grpc.RpcError.code()``.
        """
        from ._convert import error_info_from_exception

        return error_info_from_exception(exc)


@dataclass(frozen=True)
class Decision:
    """retryd's answer to a failed attempt: retry after a delay, or give up.

    - ``retry``: retry the job (``True``) or give up (``False``).
    - ``retry_after``: seconds to wait before the next attempt (0 on give-up).
    - ``retry_at``: when the next attempt is due (timezone-aware, UTC), ``None``
      on give-up.
    - ``reason``: why retryd gave up (``"permanent_error"``,
      ``"retries_exhausted"``, ``"deadline_exceeded"``, ``"cancelled"``,
      ``"budget_exhausted"``, ``"pushback"``, ``"delivery_limit"``), ``None``
      on retry.
    - ``failure_count``: failed attempts recorded for the job, this one included.
    - ``max_attempts``: attempts the applied limit allows in all; 0 when unlimited.
    - ``error_class``: ``"transient"``, ``"permanent"`` or ``"unknown"``.
    - ``category``: the classification rule that matched (``"network"``, ...).
    - ``policy``: the policy applied.
    - ``explanation``: one sentence saying which rule and which limit decided.
    - ``local``: made by the client's fallback because retryd was unavailable.
    """

    retry: bool
    retry_after: float = 0.0
    retry_at: Optional[_dt.datetime] = None
    reason: Optional[str] = None
    failure_count: int = 0
    max_attempts: int = 0
    error_class: Optional[str] = None
    category: str = ""
    policy: str = ""
    explanation: str = ""
    local: bool = False


@dataclass(frozen=True)
class Success:
    """retryd's answer to a success: how many failures it had recorded for the
    job (``failures_before_success``) and whether it held the job at all
    (``known``); ``local`` when retryd was unavailable and the client's
    fallback answered instead."""

    failures_before_success: int = 0
    known: bool = False
    local: bool = False


@dataclass(frozen=True)
class Job:
    """The state retryd holds for one job (``Client.get_job``).

    ``state`` is ``"retrying"``, ``"dead"`` or ``"cancelled"``. Delivery:
    ``queue`` is the queue the job is due on (empty when retryd holds no
    payload for it), ``payload_bytes`` the size of the payload it holds,
    ``deliveries`` how many times it was handed out, ``lease_until`` until when
    its current lease runs (``None`` unless it is handed out and unsettled).
    """

    job_id: str
    job_type: str = ""
    policy: str = ""
    state: Optional[str] = None
    failure_count: int = 0
    first_failure_at: Optional[_dt.datetime] = None
    last_failure_at: Optional[_dt.datetime] = None
    next_retry_at: Optional[_dt.datetime] = None
    last_error: ErrorInfo = field(default_factory=ErrorInfo)
    last_decision: Optional[Decision] = None
    queue: str = ""
    payload_bytes: int = 0
    deliveries: int = 0
    lease_until: Optional[_dt.datetime] = None


@dataclass(frozen=True)
class DueJob:
    """A due job handed to this claimer (``claim_due``, ``watch_due``, a Worker).

    - ``payload``: what the job's last report parked (``report_failure(payload=...)``).
    - ``attempt``: the attempt number this run is: report a failure of it with
      ``attempt=job.attempt``.
    - ``last_error``: why its last attempt failed.
    - ``due_at``: when it fell due.
    - ``lease_id``: settle with it (``report_success``, ``report_failure``,
      ``extend_lease``, ``release_job``); ``lease_until``: unsettled by then, the
      job is due again and goes to the next claimer (at-least-once).
    - ``deliveries``: times it has been handed out, this time included.
    """

    job_id: str
    job_type: str = ""
    queue: str = ""
    payload: bytes = b""
    attempt: int = 0
    last_error: ErrorInfo = field(default_factory=ErrorInfo)
    due_at: Optional[_dt.datetime] = None
    lease_id: str = ""
    lease_until: Optional[_dt.datetime] = None
    deliveries: int = 0


@dataclass(frozen=True)
class QueueStats:
    """One delivery queue (``Client.list_queues``): jobs waiting on it (due or
    not yet; handed-out ones not counted) as ``parked``, of those the ones due
    now as ``due``, handed out and unsettled as ``leased``, the payload bytes of
    its parked and leased jobs, and the oldest unclaimed due job's due time
    (``None`` when none is due)."""

    queue: str
    parked: int = 0
    due: int = 0
    leased: int = 0
    parked_bytes: int = 0
    oldest_due_at: Optional[_dt.datetime] = None


#: A local decision for when retryd is unavailable:
#: ``fallback(failure_count_or_attempt, error) -> Decision``. The count is the
#: caller's attempt number when it gave one, else the number of failures the
#: client has reported for the job since its last success.
Fallback = Callable[[int, ErrorInfo], Decision]
