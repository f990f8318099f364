"""Client of the retryd sidecar: ask whether and when to retry a failed job.

    import retryd

    client = retryd.Client()             # $RETRYD_ADDR, else 127.0.0.1:50051
    try:
        run(job)
    except Exception as exc:
        d = client.report_failure(job.id, exc, job_type="invoice", attempt=job.attempt)
        if d.retry:
            requeue(job, delay=d.retry_after)
        else:
            dead_letter(job, why=f"{d.reason}: {d.explanation}")
    else:
        client.report_success(job.id, job_type="invoice")

``retryd.aio.Client`` is the same for asyncio; ``retryd.tenacity`` and
``retryd.celery`` plug retryd into those libraries.
"""

from ._types import Decision, ErrorInfo, Fallback, Job, RetrydError, Success, Unavailable
from .client import Client
from . import fallback

__all__ = [
    "Client",
    "Decision",
    "ErrorInfo",
    "Fallback",
    "Job",
    "RetrydError",
    "Success",
    "Unavailable",
    "fallback",
]

__version__ = "0.1.0"
