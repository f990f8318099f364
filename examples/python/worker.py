"""A job worker that asks retryd whether and when to retry.

The shape is the one every hand-rolled retry loop has: run a job; on an
exception, report it (the client sends its type name, message, HTTP status and
Retry-After); then re-enqueue it after the delay retryd gives, or dead-letter
it when retryd gives up; on success, tell retryd so that it forgets the job.
The retry logic itself (classification, backoff, jitter, limits) lives in
retryd, not here.

    pip install ../../clients/python
    python worker.py --demo
"""

import argparse
import heapq
import json
import os
import time
from dataclasses import dataclass, field

import retryd


class HTTPError(Exception):
    """What an HTTP client raises: the status and the server's Retry-After, if any.

    The retryd client reads ``status_code`` and ``retry_after`` from it, as it
    reads ``e.response.status_code`` and the ``Retry-After`` header from the
    errors of requests and httpx.
    """

    def __init__(self, status_code, message="", retry_after=None):
        super().__init__(message or f"HTTP {status_code}")
        self.status_code = status_code
        self.retry_after = retry_after


class ValidationError(Exception):
    pass


@dataclass(order=True)
class Task:
    due: float
    job_id: str = field(compare=False)
    job_type: str = field(compare=False)
    payload: dict = field(compare=False)
    attempt: int = field(default=1, compare=False)


def log(**event):
    print(json.dumps(event), flush=True)


def work(client, tasks, handler, time_scale=1.0):
    """Runs every task to success or give-up; returns the dead-lettered ones."""
    queue = list(tasks)
    heapq.heapify(queue)
    dead = []
    while queue:
        task = heapq.heappop(queue)
        wait = task.due - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        try:
            handler(task)
        except Exception as exc:  # noqa: BLE001 - every failure goes to retryd
            # The attempt number makes a report re-sent after a timeout count once.
            d = client.report_failure(task.job_id, exc, job_type=task.job_type, attempt=task.attempt)
            if d.retry:
                log(job_id=task.job_id, attempt=task.attempt, event="retry", delay=d.retry_after,
                    category=d.category, explanation=d.explanation)
                task.attempt += 1
                task.due = time.monotonic() + d.retry_after * time_scale
                heapq.heappush(queue, task)
            else:
                log(job_id=task.job_id, attempt=task.attempt, event="give_up", reason=d.reason,
                    category=d.category, explanation=d.explanation)
                dead.append(task)
            continue
        r = client.report_success(task.job_id, job_type=task.job_type)
        log(job_id=task.job_id, attempt=task.attempt, event="success",
            failures_before_success=r.failures_before_success)
    return dead


def demo_handler(task):
    """Fails the way real jobs fail, by a script in the payload."""
    script = task.payload["fail"]
    if task.attempt <= len(script):
        raise script[task.attempt - 1]()


DEMO = {
    "invoice-1": [],
    "invoice-2": [lambda: ConnectionError("connection reset by peer")] * 2,
    "invoice-3": [lambda: ValidationError("amount must be positive")],
    "invoice-4": [lambda: HTTPError(503, "service unavailable")] * 10,
    "invoice-5": [lambda: HTTPError(429, "slow down", retry_after=7)],
}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--addr", default=os.environ.get("RETRYD_ADDR", "127.0.0.1:50051"))
    p.add_argument("--demo", action="store_true", help="run the built-in demo jobs")
    p.add_argument("--time-scale", type=float, default=1.0,
                   help="multiply retry delays (0 = do not wait; for tests)")
    args = p.parse_args()
    if not args.demo:
        p.error("only --demo is built in; import work() and pass your own tasks and handler")
    with retryd.Client(args.addr, timeout=2.0) as client:
        now = time.monotonic()
        tasks = [Task(now, job_id, "invoice", {"fail": script}) for job_id, script in DEMO.items()]
        dead = work(client, tasks, demo_handler, args.time_scale)
    log(event="done", dead=[t.job_id for t in dead])


if __name__ == "__main__":
    main()
