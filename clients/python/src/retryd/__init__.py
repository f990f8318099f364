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

Delivery (docs/delivery.md): a failure reported with its ``payload`` is held
by retryd, which hands the job back when it is due: to a
``retryd.Worker("queue", handler)`` that runs it, or through
``retryd.relay("queue", publish)`` to your own broker (``retryd.rabbitmq``).
"""

from ._types import (
    Decision, DueJob, ErrorInfo, Fallback, Job, LeaseLost, QueueStats, RetrydError, Seconds, Success, Unavailable,
)
from .client import Client, DueStream
from ._worker import Relay, Worker, WorkerStats, relay
from . import fallback

__all__ = [
    "Client",
    "Decision",
    "DueJob",
    "DueStream",
    "ErrorInfo",
    "Fallback",
    "Job",
    "LeaseLost",
    "QueueStats",
    "Relay",
    "RetrydError",
    "Seconds",
    "Success",
    "Unavailable",
    "Worker",
    "WorkerStats",
    "fallback",
    "relay",
]

__version__ = "0.1.0"
