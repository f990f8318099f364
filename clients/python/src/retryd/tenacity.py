"""tenacity's ``retry``, ``wait`` and ``stop`` answered by retryd.

Every call of the decorated function is one job in retryd; each failed
attempt is reported once (with tenacity's ``attempt_number``), and the one
decision answers all three questions::

    import tenacity, retryd, retryd.tenacity

    client = retryd.Client()

    @tenacity.retry(**retryd.tenacity.strategy(client, job_type="fetch-invoice"))
    def fetch_invoice(invoice_id): ...

or one by one, e.g. with a ``retry`` of your own::

    @tenacity.retry(
        retry=tenacity.retry_if_exception_type(IOError),
        wait=retryd.tenacity.wait_retryd(client),
        stop=retryd.tenacity.stop_retryd(client),
    )

- ``retry_if_retryd``: retry when retryd says so. When it gives up, the
  function's own exception is raised, with a note (``exc.__notes__``) giving
  retryd's reason and explanation. After a success that followed failures it
  reports the success, so that retryd forgets the job.
- ``wait_retryd``: wait what retryd says (``decision.retry_after``).
- ``stop_retryd``: stop when retryd gives up (tenacity then raises
  ``RetryError``, or the exception itself with ``reraise=True``).

``job_id`` defaults to a new id per call (``module.function:<uuid>``); pass a
string, or a callable ``(retry_state) -> str``, to name your own jobs.
``job_type`` defaults to the function's qualified name. The decision of the
latest attempt is ``retryd.tenacity.decision(retry_state)``.
"""

from __future__ import annotations

import logging
import uuid
import weakref
from typing import Any, Callable, Optional, Tuple, TypedDict, Union

import tenacity
from tenacity.retry import retry_base
from tenacity.stop import stop_base
from tenacity.wait import wait_base

from ._convert import MAX_JOB_TYPE, cut_utf8
from ._types import Decision
from .client import Client

__all__ = ["Strategy", "decision", "retry_if_retryd", "stop_retryd", "strategy", "wait_retryd"]

log = logging.getLogger("retryd")

JobId = Union[str, Callable[["tenacity.RetryCallState"], str], None]

# Per call of the wrapped function (a RetryCallState): its job id, and the
# latest attempt's decision, shared by every hook so that retryd is asked
# once per attempt, whichever hook asks first.
_job_ids: "weakref.WeakKeyDictionary[Any, str]" = weakref.WeakKeyDictionary()
_decisions: "weakref.WeakKeyDictionary[Any, Tuple[int, Decision]]" = weakref.WeakKeyDictionary()


def _fn_name(retry_state: "tenacity.RetryCallState") -> str:
    fn = retry_state.fn
    if fn is None:
        return "tenacity"
    module = getattr(fn, "__module__", None)
    name = str(getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or "call")
    return f"{module}.{name}" if module else name


def decision(retry_state: "tenacity.RetryCallState") -> Optional[Decision]:
    """retryd's decision on the latest failed attempt of this call, if asked."""
    got = _decisions.get(retry_state)
    return got[1] if got else None


class _Asker:
    """What the three hooks share: the client and how to name the job."""

    def __init__(
        self,
        client: Client,
        job_id: JobId,
        job_type: Optional[str],
        target: Optional[str],
        policy: Optional[str],
        priority: Optional[int],
    ) -> None:
        self.client = client
        self.job_id = job_id
        self.job_type = job_type
        self.target = target
        self.policy = policy
        self.priority = priority

    def id_of(self, retry_state: "tenacity.RetryCallState") -> str:
        if isinstance(self.job_id, str):
            return self.job_id
        if callable(self.job_id):
            return str(self.job_id(retry_state))
        got = _job_ids.get(retry_state)
        if got is None:
            got = f"{_fn_name(retry_state)}:{uuid.uuid4().hex}"
            _job_ids[retry_state] = got
        return got

    def type_of(self, retry_state: "tenacity.RetryCallState") -> str:
        return self.job_type or cut_utf8(_fn_name(retry_state), MAX_JOB_TYPE)

    def ask(self, retry_state: "tenacity.RetryCallState") -> Optional[Decision]:
        """The decision on the attempt that just failed (``None`` if it succeeded)."""
        outcome = retry_state.outcome
        if outcome is None or not outcome.failed:
            return None
        n = retry_state.attempt_number
        cached = _decisions.get(retry_state)
        if cached is not None and cached[0] == n:
            return cached[1]
        exc = outcome.exception()
        if not isinstance(exc, BaseException):
            return None
        d = self.client.report_failure(
            self.id_of(retry_state),
            exc,
            job_type=self.type_of(retry_state),
            attempt=n,
            target=self.target,
            policy=self.policy,
            priority=self.priority,
        )
        _decisions[retry_state] = (n, d)
        if not d.retry and hasattr(exc, "add_note"):
            exc.add_note(f"retryd gave up after attempt {n}: {d.reason}: {d.explanation}")
        return d

    def succeeded(self, retry_state: "tenacity.RetryCallState") -> None:
        """Reports a success that followed reported failures (a first-try
        success costs no call)."""
        if retry_state not in _decisions:
            return
        try:
            self.client.report_success(
                self.id_of(retry_state), job_type=self.type_of(retry_state), target=self.target
            )
        except Exception as e:  # noqa: BLE001 - the call succeeded; retryd forgets the job later
            log.warning("retryd: could not report the success of %s: %s", self.id_of(retry_state), e)
        _decisions.pop(retry_state, None)


class _Retry(retry_base):
    def __init__(self, asker: _Asker) -> None:
        self.asker = asker

    def __call__(self, retry_state: "tenacity.RetryCallState") -> bool:
        d = self.asker.ask(retry_state)
        if d is None:
            self.asker.succeeded(retry_state)
            return False
        return d.retry


class _Wait(wait_base):
    def __init__(self, asker: _Asker) -> None:
        self.asker = asker

    def __call__(self, retry_state: "tenacity.RetryCallState") -> float:
        d = self.asker.ask(retry_state)
        return d.retry_after if d is not None else 0.0


class _Stop(stop_base):
    def __init__(self, asker: _Asker) -> None:
        self.asker = asker

    def __call__(self, retry_state: "tenacity.RetryCallState") -> bool:
        d = self.asker.ask(retry_state)
        return d is not None and not d.retry


def retry_if_retryd(
    client: Client,
    *,
    job_id: JobId = None,
    job_type: Optional[str] = None,
    target: Optional[str] = None,
    policy: Optional[str] = None,
    priority: Optional[int] = None,
) -> retry_base:
    """tenacity ``retry=``: retry a failed attempt when retryd says so."""
    return _Retry(_Asker(client, job_id, job_type, target, policy, priority))


def wait_retryd(
    client: Client,
    *,
    job_id: JobId = None,
    job_type: Optional[str] = None,
    target: Optional[str] = None,
    policy: Optional[str] = None,
    priority: Optional[int] = None,
) -> wait_base:
    """tenacity ``wait=``: wait the delay retryd gives."""
    return _Wait(_Asker(client, job_id, job_type, target, policy, priority))


def stop_retryd(
    client: Client,
    *,
    job_id: JobId = None,
    job_type: Optional[str] = None,
    target: Optional[str] = None,
    policy: Optional[str] = None,
    priority: Optional[int] = None,
) -> stop_base:
    """tenacity ``stop=``: stop when retryd gives up."""
    return _Stop(_Asker(client, job_id, job_type, target, policy, priority))


class Strategy(TypedDict):
    """``retry``, ``wait`` and ``stop`` for ``tenacity.retry(**strategy)``."""

    retry: retry_base
    wait: wait_base
    stop: stop_base


def strategy(
    client: Client,
    *,
    job_id: JobId = None,
    job_type: Optional[str] = None,
    target: Optional[str] = None,
    policy: Optional[str] = None,
    priority: Optional[int] = None,
) -> Strategy:
    """``retry``, ``wait`` and ``stop`` answered by retryd, for
    ``tenacity.retry(**strategy(client))`` or ``tenacity.Retrying(**...)``."""
    asker = _Asker(client, job_id, job_type, target, policy, priority)
    return Strategy(retry=_Retry(asker), wait=_Wait(asker), stop=_Stop(asker))
