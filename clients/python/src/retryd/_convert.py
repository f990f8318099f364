"""Between Python values and retryd's messages (shared by both clients)."""

from __future__ import annotations

import datetime as _dt
import email.utils
import threading
import time
from collections import OrderedDict
from typing import Any, List, Optional, Union

import grpc

from ._types import (
    Decision, DueJob, ErrorInfo, Job, LeaseLost, QueueStats, RetrydError, Seconds, Success, Unavailable,
)
from .v1 import retryd_pb2 as pb

# retryd's bounds on what a caller sends (longer is INVALID_ARGUMENT).
MAX_MESSAGE = 64 * 1024
MAX_TYPE = 1024
MAX_JOB_TYPE = 128
MAX_JOB_ID = 512
# An attempt number past this is a bug (a negative count made unsigned).
MAX_ATTEMPT = 10_000_000
# A Retry-After longer than this is a mistake, not advice: retryd refuses it,
# so one read from a response is dropped rather than sent.
MAX_HINT = 366 * 24 * 3600.0
# Delivery's bounds (docs/api.md, Validation).
MAX_QUEUE = 128
MAX_LEASE_ID = 128
MAX_CLAIM = 1000
MAX_LEASE = 12 * 3600.0

# Status codes that mean "retryd did not answer", not "retryd said no".
_UNAVAILABLE_CODES = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.CANCELLED,
}

ErrorLike = Union[BaseException, ErrorInfo]


def cut_utf8(s: str, limit: int) -> str:
    """``s`` cut to at most ``limit`` bytes of UTF-8, on a character boundary."""
    b = s.encode("utf-8", "replace")
    if len(b) <= limit:
        return s
    return b[:limit].decode("utf-8", "ignore")


def type_name(exc: BaseException) -> str:
    """``module.QualName`` of an exception's class (``builtins.`` left out)."""
    kind = type(exc)
    module = getattr(kind, "__module__", "") or ""
    name = getattr(kind, "__qualname__", kind.__name__)
    if module in ("builtins", "__main__", ""):
        return name
    return f"{module}.{name}"


def _response_of(exc: BaseException) -> Any:
    # httpx raises RuntimeError from .response / .request when they are unset.
    try:
        return getattr(exc, "response", None)
    except Exception:  # noqa: BLE001
        return None


def _status(value: Any) -> int:
    if isinstance(value, bool):
        return 0
    try:
        n = int(value)
    except (TypeError, ValueError):
        return 0
    return n if 100 <= n <= 599 else 0


def http_status_of(exc: BaseException) -> int:
    """The HTTP status an exception carries, 0 if none."""
    response = _response_of(exc)
    if response is not None:
        for attr in ("status_code", "status"):
            n = _status(getattr(response, attr, None))
            if n:
                return n
    for attr in ("status_code", "status", "http_status"):
        n = _status(getattr(exc, attr, None))
        if n:
            return n
    return 0


def grpc_code_of(exc: BaseException) -> int:
    """The numeric gRPC code of a ``grpc.RpcError`` (``e.code().value[0]``), 0 if none."""
    if not isinstance(exc, grpc.RpcError):
        return 0
    code = getattr(exc, "code", None)
    if not callable(code):
        return 0
    try:
        value = code().value[0]
    except Exception:  # noqa: BLE001 - an RpcError that is not a call
        return 0
    return value if isinstance(value, int) and 0 <= value <= 16 else 0


def parse_retry_after(value: Any, now: Optional[float] = None) -> Optional[float]:
    """Seconds from a ``Retry-After`` value: delay-seconds or an HTTP-date."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        text = str(value).strip()
        if not text:
            return None
        try:
            seconds = float(text)
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(text)
            except (TypeError, ValueError, IndexError):
                return None
            if when is None:
                return None
            if when.tzinfo is None:
                when = when.replace(tzinfo=_dt.timezone.utc)
            seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    seconds = max(0.0, seconds)
    return seconds if seconds <= MAX_HINT else None


def _header(headers: Any, name: str) -> Any:
    if headers is None:
        return None
    getter = getattr(headers, "get", None)
    if callable(getter):
        # requests' and httpx's headers are case-insensitive; a plain dict is not.
        for key in (name, name.lower()):
            try:
                v = getter(key)
            except Exception:  # noqa: BLE001
                v = None
            if v is not None:
                return v
    return None


def retry_after_of(exc: BaseException) -> Optional[float]:
    """The server's ``Retry-After`` (``e.response.headers``), a ``retry_after``
    attribute in seconds, or gRPC's ``grpc-retry-pushback-ms``, in seconds."""
    response = _response_of(exc)
    if response is not None:
        hint = parse_retry_after(_header(getattr(response, "headers", None), "Retry-After"))
        if hint is not None:
            return hint
    hint = getattr(exc, "retry_after", None)
    if isinstance(hint, (int, float, str)) and not isinstance(hint, bool):
        parsed = parse_retry_after(hint)
        if parsed is not None:
            return parsed
    ms = pushback_ms_of(exc)
    if ms is not None and 0 <= ms <= MAX_HINT * 1000:
        return ms / 1000.0
    return None


def pushback_ms_of(exc: BaseException) -> Optional[int]:
    """gRPC's ``grpc-retry-pushback-ms`` trailer of a ``grpc.RpcError``: a
    delay in ms, or negative for "do not retry"."""
    if not isinstance(exc, grpc.RpcError):
        return None
    trailing = getattr(exc, "trailing_metadata", None)
    try:
        metadata = trailing() if callable(trailing) else None
    except Exception:  # noqa: BLE001
        metadata = None
    for key, value in metadata or ():
        if key == "grpc-retry-pushback-ms":
            try:
                return int(value)
            except (TypeError, ValueError):
                return None
    return None


def error_info_from_exception(exc: BaseException) -> ErrorInfo:
    """See ``ErrorInfo.from_exception``."""
    message = str(exc)
    if isinstance(exc, grpc.RpcError):
        details = getattr(exc, "details", None)
        try:
            text = details() if callable(details) else None
        except Exception:  # noqa: BLE001
            text = None
        if text:
            message = text
    return ErrorInfo(
        type=cut_utf8(type_name(exc), MAX_TYPE),
        message=cut_utf8(message, MAX_MESSAGE),
        http_status=http_status_of(exc),
        grpc_code=grpc_code_of(exc),
    )


def to_error_info(error: ErrorLike) -> ErrorInfo:
    if isinstance(error, ErrorInfo):
        return error
    if isinstance(error, BaseException):
        return error_info_from_exception(error)
    raise TypeError(f"error must be an exception or a retryd.ErrorInfo, got {type(error).__name__}")


def _set_duration(d: Any, seconds: float) -> None:
    seconds = max(0.0, float(seconds))
    whole = int(seconds)
    d.seconds = whole
    d.nanos = int(round((seconds - whole) * 1e9)) % 1_000_000_000


def failure_request(
    cls: Any,
    job_id: str,
    error: ErrorLike,
    *,
    job_type: Optional[str],
    attempt: Optional[int],
    target: Optional[str],
    policy: Optional[str],
    priority: Optional[int],
    retry_after: Optional[float],
    payload: Optional[bytes] = None,
    queue: Optional[str] = None,
    lease_id: Optional[str] = None,
) -> Any:
    """A ``ReportFailureRequest`` or ``ExplainRequest`` (``cls``); ``payload``,
    ``queue`` and ``lease_id`` only for the former."""
    info = to_error_info(error)
    # What is read from an exception is in range already (_status).
    http_status = number("error.http_status", info.http_status or 0, 100, 599, zero=True)
    grpc_code = number("error.grpc_code", info.grpc_code or 0, 1, 16, zero=True)
    if attempt is not None:
        number("attempt", attempt, 1, MAX_ATTEMPT, zero=True)
    if priority is not None:
        number("priority", priority, 0, 100)
    if retry_after is not None:
        retry_after = seconds("retry_after", retry_after, allow_zero=True, high=MAX_HINT)
    e = pb.ErrorInfo(
        type=cut_utf8(info.type, MAX_TYPE),
        message=cut_utf8(info.message, MAX_MESSAGE),
        http_status=http_status,
        grpc_code=grpc_code,
    )
    if info.retryable is not None:
        e.retryable = bool(info.retryable)
    req = cls(
        job_id=job_id,
        job_type=job_type or "",
        policy=policy or "",
        target=target or "",
        attempt=attempt or 0,
        error=e,
    )
    if priority is not None:
        req.priority = priority
    if payload is not None:
        req.payload = payload_of(payload)
    if queue is not None:
        req.queue = text("queue", queue, MAX_QUEUE, required=False)
    if lease_id is not None:
        req.lease_id = text("lease_id", lease_id, MAX_LEASE_ID, required=False)
    if isinstance(error, BaseException):
        ms = pushback_ms_of(error)
        if ms is not None and ms < 0:
            # The server said not to retry: retryd gives up (PUSHBACK).
            req.retry_pushback_ms = ms
    if retry_after is None and isinstance(error, BaseException):
        retry_after = retry_after_of(error)
    if retry_after is not None:
        _set_duration(req.retry_after_hint, retry_after)
    return req


def _seconds(d: Any) -> float:
    return float(d.seconds + d.nanos / 1e9)


def _time(ts: Any, present: bool) -> Optional[_dt.datetime]:
    if not present:
        return None
    return _dt.datetime.fromtimestamp(ts.seconds + ts.nanos / 1e9, tz=_dt.timezone.utc)


def _enum_name(enum: Any, value: int, prefix: str) -> Optional[str]:
    try:
        name = enum.Name(value)
    except ValueError:
        return None
    name = name[len(prefix):] if name.startswith(prefix) else name
    return None if name == "UNSPECIFIED" else name.lower()


def decision_from_pb(d: Any) -> Decision:
    retry = d.action == pb.ACTION_RETRY
    return Decision(
        retry=retry,
        retry_after=_seconds(d.retry_after),
        retry_at=_time(d.retry_at, d.HasField("retry_at")),
        reason=None if retry else _enum_name(pb.GiveUpReason, d.reason, "GIVE_UP_REASON_"),
        failure_count=d.failure_count,
        max_attempts=d.max_attempts,
        error_class=_enum_name(pb.ErrorClass, d.error_class, "ERROR_CLASS_"),
        category=d.category,
        policy=d.policy,
        explanation=d.explanation,
    )


def success_from_pb(r: Any) -> Success:
    return Success(failures_before_success=r.failures_before_success, known=r.known)


def job_from_pb(j: Any) -> Job:
    return Job(
        job_id=j.job_id,
        job_type=j.job_type,
        policy=j.policy,
        state=_enum_name(pb.JobState, j.state, "JOB_STATE_"),
        failure_count=j.failure_count,
        first_failure_at=_time(j.first_failure_at, j.HasField("first_failure_at")),
        last_failure_at=_time(j.last_failure_at, j.HasField("last_failure_at")),
        next_retry_at=_time(j.next_retry_at, j.HasField("next_retry_at")),
        last_error=_error_info_from_pb(j.last_error),
        last_decision=decision_from_pb(j.last_decision) if j.HasField("last_decision") else None,
        queue=j.queue,
        payload_bytes=j.payload_bytes,
        deliveries=j.deliveries,
        lease_until=_time(j.lease_until, j.HasField("lease_until")),
    )


def _error_info_from_pb(e: Any) -> ErrorInfo:
    return ErrorInfo(
        type=e.type,
        message=e.message,
        http_status=e.http_status,
        grpc_code=e.grpc_code,
        retryable=e.retryable if e.HasField("retryable") else None,
    )


def due_job_from_pb(j: Any) -> DueJob:
    return DueJob(
        job_id=j.job_id,
        job_type=j.job_type,
        queue=j.queue,
        payload=bytes(j.payload),
        attempt=j.attempt,
        last_error=_error_info_from_pb(j.last_error),
        due_at=_time(j.due_at, j.HasField("due_at")),
        lease_id=j.lease_id,
        lease_until=_time(j.lease_until, j.HasField("lease_until")),
        deliveries=j.deliveries,
    )


def queue_stats_from_pb(q: Any) -> QueueStats:
    return QueueStats(
        queue=q.queue,
        parked=q.parked,
        due=q.due,
        leased=q.leased,
        parked_bytes=q.parked_bytes,
        oldest_due_at=_time(q.oldest_due_at, q.HasField("oldest_due_at")),
    )


def time_from_pb(ts: Any) -> _dt.datetime:
    t = _time(ts, True)
    assert t is not None
    return t


# --- arguments of the delivery calls, checked before anything is sent --------
# Each error names the argument, as retryd's own INVALID_ARGUMENT does.


def text(name: str, value: Any, limit: int, *, required: bool = True) -> str:
    """A text argument: a ``str`` of at most ``limit`` bytes, not empty if ``required``."""
    if not isinstance(value, str):
        raise TypeError(f"{name}: must be a str, got {type(value).__name__}")
    if required and not value:
        raise ValueError(f"{name}: must not be empty")
    if len(value.encode("utf-8", "surrogatepass")) > limit:
        raise ValueError(f"{name}: must be at most {limit} bytes")
    return value


def number(name: str, value: Any, low: int, high: int, *, zero: bool = False) -> int:
    """An ``int`` from ``low`` to ``high`` (or 0, meaning none, with ``zero``)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name}: must be an int, got {type(value).__name__}")
    if not (low <= value <= high or (zero and value == 0)):
        none = " (or 0: none)" if zero else ""
        raise ValueError(f"{name}: must be {low}-{high}{none}, got {value}")
    return value


def count(name: str, value: Any, high: int = MAX_CLAIM) -> int:
    """An ``int`` from 1 to ``high``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name}: must be an int, got {type(value).__name__}")
    if not 1 <= value <= high:
        raise ValueError(f"{name}: must be 1-{high}, got {value}")
    return value


def seconds(name: str, value: Seconds, *, allow_zero: bool = False, high: Optional[float] = MAX_LEASE) -> float:
    """Seconds (a number or a ``timedelta``): more than 0 (or at least 0 with
    ``allow_zero``) and at most ``high``."""
    if isinstance(value, _dt.timedelta):
        n = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        n = float(value)
    else:
        raise TypeError(f"{name}: must be seconds (a number or a datetime.timedelta), got {type(value).__name__}")
    if n != n or n in (float("inf"), float("-inf")):
        raise ValueError(f"{name}: must be a finite number of seconds, got {n}")
    if n < 0 or (n == 0 and not allow_zero):
        raise ValueError(f"{name}: must be {'at least' if allow_zero else 'more than'} 0 seconds, got {n:g}")
    if high is not None and n > high:
        raise ValueError(f"{name}: must be at most {high:g} seconds ({high / 3600:g}h), got {n:g}")
    return n


def payload_of(value: Any) -> bytes:
    """The payload: ``bytes``, ``bytearray`` or ``memoryview``; text is refused
    rather than guessed at (encode it yourself)."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"payload: must be bytes, got {type(value).__name__} (encode text yourself, e.g. .encode())")


def set_duration(d: Any, value: float) -> None:
    _set_duration(d, value)


def due_requests_lease(req: Any, lease: Optional[Seconds]) -> None:
    """Sets ``req.lease`` when ``lease`` is given (unset: retryd's default_lease)."""
    if lease is not None:
        _set_duration(req.lease, seconds("lease", lease))


def due_jobs(resp: Any) -> List[DueJob]:
    return [due_job_from_pb(j) for j in resp.jobs]


def rpc_error(
    exc: grpc.RpcError, addr: str, timeout: float, *, job_id: str = "", lease_id: str = ""
) -> RetrydError:
    """A ``grpc.RpcError`` from retryd as ``Unavailable``, ``LeaseLost`` or
    ``RetrydError`` (``job_id`` and ``lease_id``: the call's, for ``LeaseLost``)."""
    code = exc.code() if callable(getattr(exc, "code", None)) else None
    details = ""
    if callable(getattr(exc, "details", None)):
        details = exc.details() or ""
    name = code.name if code is not None else "UNKNOWN"
    if code == grpc.StatusCode.FAILED_PRECONDITION and details.startswith("lease_id:"):
        return LeaseLost(f"retryd: lease lost: {details}", code=name, details=details, job_id=job_id,
                         lease_id=lease_id)
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED and details.startswith("payload:"):
        # Too large a payload, or past max_parked_bytes: asking again will not
        # help, and no fallback may pretend the job was parked.
        return RetrydError(f"retryd: {name}: {details}", code=name, details=details)
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return Unavailable(
            f"retryd at {addr} did not answer within {timeout:g}s", code=name, details=details
        )
    if code in _UNAVAILABLE_CODES:
        return Unavailable(f"retryd at {addr} is unavailable: {name}: {details}", code=name, details=details)
    return RetrydError(f"retryd: {name}: {details}", code=name, details=details)


class LocalCounts:
    """Each job's failures as the client saw them, for the fallback when the
    caller gives no attempt number (bounded: the oldest jobs are forgotten)."""

    def __init__(self, limit: int = 10_000) -> None:
        self._counts: "OrderedDict[str, int]" = OrderedDict()
        self._limit = limit
        self._lock = threading.Lock()

    def failed(self, job_id: str) -> int:
        with self._lock:
            n = self._counts.pop(job_id, 0) + 1
            self._counts[job_id] = n
            while len(self._counts) > self._limit:
                self._counts.popitem(last=False)
            return n

    def forget(self, job_id: str) -> None:
        with self._lock:
            self._counts.pop(job_id, None)


def local_decision(fallback: Any, n: int, error: ErrorLike, why: RetrydError) -> Decision:
    """The fallback's decision, marked local, its explanation saying why."""
    import dataclasses

    d = fallback(n, to_error_info(error))
    if not isinstance(d, Decision):
        raise TypeError(f"the fallback must return a retryd.Decision, got {type(d).__name__}")
    return dataclasses.replace(
        d,
        local=True,
        explanation=f"local decision, retryd unavailable ({why}): {d.explanation}",
    )
