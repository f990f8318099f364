"""A job worker that asks retryd whether and when to retry.

The shape is the one every hand-rolled retry loop in the seeds has: run a job;
on an exception, report it with its type name, message and HTTP status; then
re-enqueue it after the delay retryd gives, or dead-letter it when retryd gives
up; on success, tell retryd so that it forgets the job. The retry logic itself
(classification, backoff, jitter, limits) lives in retryd, not here.

    mkdir -p gen && python -m grpc_tools.protoc -I ../../proto --python_out=gen --grpc_python_out=gen \
        ../../proto/retryd/v1/retryd.proto
    python worker.py --demo
"""

import argparse
import heapq
import json
import os
import sys
import time
from dataclasses import dataclass, field

import grpc

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.environ.get("RETRYD_STUBS", os.path.join(HERE, "gen")))
from retryd.v1 import retryd_pb2 as pb  # noqa: E402
from retryd.v1 import retryd_pb2_grpc as pb_grpc  # noqa: E402


class HTTPError(Exception):
    """What an HTTP client raises: the status and the server's Retry-After, if any."""

    def __init__(self, status_code, message="", retry_after=None):
        super().__init__(message or f"HTTP {status_code}")
        self.status_code = status_code
        self.retry_after = retry_after


class ValidationError(Exception):
    pass


class RetryClient:
    """A thin wrapper over the generated stub."""

    def __init__(self, addr, timeout=2.0):
        self.channel = grpc.insecure_channel(addr)
        self.stub = pb_grpc.RetryCoordinatorStub(self.channel)
        self.timeout = timeout

    def report_failure(self, job_id, job_type, exc, attempt):
        kind = type(exc)
        error = pb.ErrorInfo(
            # A qualified name is fine: retryd matches its last segment.
            type=f"{kind.__module__}.{kind.__qualname__}",
            message=str(exc),
            http_status=getattr(exc, "status_code", 0) or 0,
        )
        req = pb.ReportFailureRequest(job_id=job_id, job_type=job_type, error=error, attempt=attempt)
        # attempt=0 means "not given": every such report counts.
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            req.retry_after_hint.FromSeconds(int(retry_after))
        return self.stub.ReportFailure(req, timeout=self.timeout).decision

    def report_success(self, job_id, job_type):
        req = pb.ReportSuccessRequest(job_id=job_id, job_type=job_type)
        return self.stub.ReportSuccess(req, timeout=self.timeout)


@dataclass(order=True)
class Task:
    due: float
    job_id: str = field(compare=False)
    job_type: str = field(compare=False)
    payload: dict = field(compare=False)
    attempt: int = field(default=1, compare=False)


def log(**event):
    print(json.dumps(event), flush=True)


def work(retryd, tasks, handler, time_scale=1.0):
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
            d = retryd.report_failure(task.job_id, task.job_type, exc, task.attempt)
            delay = d.retry_after.seconds + d.retry_after.nanos / 1e9
            if d.action == pb.ACTION_RETRY:
                log(job_id=task.job_id, attempt=task.attempt, event="retry", delay=delay,
                    category=d.category, explanation=d.explanation)
                task.attempt += 1
                task.due = time.monotonic() + delay * time_scale
                heapq.heappush(queue, task)
            else:
                log(job_id=task.job_id, attempt=task.attempt, event="give_up",
                    reason=pb.GiveUpReason.Name(d.reason), category=d.category,
                    explanation=d.explanation)
                dead.append(task)
            continue
        r = retryd.report_success(task.job_id, task.job_type)
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
    retryd = RetryClient(args.addr)
    now = time.monotonic()
    tasks = [Task(now, job_id, "invoice", {"fail": script}) for job_id, script in DEMO.items()]
    dead = work(retryd, tasks, demo_handler, args.time_scale)
    log(event="done", dead=[t.job_id for t in dead])


if __name__ == "__main__":
    main()
