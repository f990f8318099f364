"""A Celery task base class whose retries retryd decides.

    from celery import Celery
    from retryd.celery import RetrydTask

    app = Celery("billing", broker="redis://127.0.0.1:6379/0")

    @app.task(base=RetrydTask, bind=True)
    def charge(self, invoice_id):
        ...                               # raise on failure, as usual

When the task raises, retryd is asked, with Celery's own retry count
(``self.request.retries + 1``) as the attempt number, the task id as the job
id and the task name as the job type. On a retry the task is retried after
retryd's delay (``self.retry(exc=exc, countdown=decision.retry_after)``); on a
give-up the task fails with :class:`GaveUp`, whose message carries retryd's
reason and explanation (the original exception is its ``__cause__``). On
success retryd is told, and forgets the job.

Set on the task (``@app.task(base=RetrydTask, retryd_job_type="billing", ...)``)
or on a subclass:

- ``retryd_client``: a :class:`retryd.Client`, or a callable making one; by
  default ``retryd.Client()`` (``$RETRYD_ADDR``), made in each worker process
  on first use (after the fork).
- ``retryd_job_type``, ``retryd_target``, ``retryd_policy``,
  ``retryd_priority``: sent with each report.

``max_retries`` is ``None``: retryd's policy is the limit. A task that calls
``self.retry()`` itself is left alone. Without a fallback in the client, a
failure while retryd is unavailable fails the task with
:class:`retryd.Unavailable`; give the client ``fallback=`` to keep retrying.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any, Callable, Dict, Optional, Union

import celery  # type: ignore[import-untyped]
from celery.exceptions import Ignore, Reject, Retry  # type: ignore[import-untyped]

from ._convert import MAX_JOB_TYPE, cut_utf8, type_name
from ._types import Decision
from .client import Client

__all__ = ["GaveUp", "RetrydTask"]

log = logging.getLogger("retryd")


class GaveUp(Exception):
    """retryd gave up on the task; the message says why.

    ``decision`` is retryd's :class:`retryd.Decision` (in the worker; a
    result read back from the backend has only the message).
    """

    def __init__(self, message: str, decision: Optional[Decision] = None) -> None:
        super().__init__(message)
        self.decision = decision

    def __reduce__(self) -> Any:
        return (GaveUp, (str(self),))


_lock = threading.Lock()
_default: Dict[int, Client] = {}


def _default_client() -> Client:
    """One ``retryd.Client()`` per process (a gRPC channel does not survive a fork)."""
    pid = os.getpid()
    with _lock:
        client = _default.get(pid)
        if client is None:
            _default.clear()
            client = _default[pid] = Client()
        return client


class RetrydTask(celery.Task):  # type: ignore[misc]
    """A Celery task whose retries retryd decides (see the module's doc)."""

    max_retries = None

    retryd_client: Union[Client, Callable[[], Client], None] = None
    retryd_job_type: Optional[str] = None
    retryd_target: Optional[str] = None
    retryd_policy: Optional[str] = None
    retryd_priority: Optional[int] = None

    _retryd_made: Optional[Client] = None
    _retryd_pid: Optional[int] = None

    def retryd(self) -> Client:
        """The client this task reports to."""
        c = self.retryd_client
        if isinstance(c, Client):
            return c
        if c is None:
            return _default_client()
        # A factory: called once per process.
        if self._retryd_made is None or self._retryd_pid != os.getpid():
            self._retryd_made = c()
            self._retryd_pid = os.getpid()
        return self._retryd_made

    def retryd_job_id(self) -> Optional[str]:
        """The job id retryd knows the task by: the Celery task id."""
        job_id = self.request.id
        return str(job_id) if job_id else None

    def _retryd_job_type(self) -> str:
        return self.retryd_job_type or cut_utf8(self.name or "", MAX_JOB_TYPE)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        job_id = self.retryd_job_id()
        if not job_id:
            # Called as a plain function, not as a task: nothing to report.
            return super().__call__(*args, **kwargs)
        try:
            result = super().__call__(*args, **kwargs)
        except (Retry, Ignore, Reject):
            raise
        except Exception as exc:
            self._retryd_failed(job_id, exc)
            raise  # not reached: _retryd_failed raises
        try:
            self.retryd().report_success(
                job_id, job_type=self._retryd_job_type(), target=self.retryd_target
            )
        except Exception as e:  # noqa: BLE001 - the task succeeded; retryd forgets the job later
            log.warning("retryd: could not report the success of task %s: %s", job_id, e)
        return result

    def _retryd_failed(self, job_id: str, exc: Exception) -> None:
        attempt = (self.request.retries or 0) + 1
        d = self.retryd().report_failure(
            job_id,
            exc,
            job_type=self._retryd_job_type(),
            attempt=attempt,
            target=self.retryd_target,
            policy=self.retryd_policy,
            priority=self.retryd_priority,
        )
        if d.retry:
            raise self.retry(exc=exc, countdown=d.retry_after)
        raise GaveUp(
            f"retryd gave up on {self.name} {job_id} after attempt {attempt}: {d.reason}: "
            f"{d.explanation} (last error {type_name(exc)}: {exc})",
            d,
        ) from exc
