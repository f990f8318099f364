"""A batch runner that keeps its pass book in retryd.

A pass loop without a pass manager: run every job of the batch, then, pass
after pass, run again the jobs whose latest decision is a retry, until retryd
says the batch is complete, only permanent failures are left, or the pass
limit is reached. Passes are RPCs the client does not wrap: they go through
its generated stub (``client.stub``) and messages (``retryd.v1.retryd_pb2``).

    pip install ../../clients/python
    python batch_runner.py --demo
"""

import argparse
import json
import time

import retryd
from retryd.v1 import retryd_pb2 as pb
from worker import HTTPError, ValidationError, log


def run_batch(client, batch_id, job_ids, handler, max_passes=3, pass_delay=30, time_scale=1.0):
    """Runs `handler(job_id, pass_number)` over the batch; returns GetBatch's answer."""
    stub = client.stub
    to_run = list(job_ids)
    req = pb.StartPassRequest(batch_id=batch_id, job_ids=job_ids, max_passes=max_passes)
    req.pass_delay.FromSeconds(pass_delay)
    while True:
        stats = stub.StartPass(req, timeout=client.timeout).stats
        req = pb.StartPassRequest(batch_id=batch_id)  # later passes add no jobs
        for job_id in to_run:
            try:
                handler(job_id, stats.pass_number)
            except Exception as exc:  # noqa: BLE001 - every failure goes to retryd
                # No attempt number: every report of a pass counts.
                client.report_failure(job_id, exc, job_type="batch")
            else:
                client.report_success(job_id, job_type="batch")
        end = stub.EndPass(pb.EndPassRequest(batch_id=batch_id), timeout=client.timeout)
        s = end.stats
        log(event="pass", batch_id=batch_id, pass_number=s.pass_number,
            result=pb.PassResult.Name(end.result), attempted=s.jobs_attempted,
            succeeded=s.jobs_succeeded, failed_retryable=s.jobs_failed_retryable,
            failed_non_retryable=s.jobs_failed_non_retryable, success_rate=round(s.success_rate, 1),
            retry_job_ids=list(end.retry_job_ids))
        if end.result != pb.PASS_RESULT_RETRYABLE_REMAINING:
            break
        to_run = list(end.retry_job_ids)
        time.sleep(end.next_pass_delay.ToTimedelta().total_seconds() * time_scale)
    return stub.GetBatch(pb.GetBatchRequest(batch_id=batch_id), timeout=client.timeout)


# Which pass each demo job first succeeds in (None: never), and how it fails before.
DEMO = {
    "post-1": (1, None),
    "post-2": (2, lambda: ConnectionError("connection reset by peer")),
    "post-3": (None, lambda: ValidationError("account suspended")),
    "post-4": (3, lambda: TimeoutError("read timed out")),
    "post-5": (None, lambda: HTTPError(503, "service unavailable")),
}


def demo_handler(job_id, pass_number):
    succeeds_in, failure = DEMO[job_id]
    if succeeds_in is None or pass_number < succeeds_in:
        raise failure()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--addr", default="127.0.0.1:50051")
    p.add_argument("--demo", action="store_true", help="run the built-in demo batch")
    p.add_argument("--batch-id", default=f"demo-{int(time.time())}")
    p.add_argument("--time-scale", type=float, default=1.0,
                   help="multiply the delay between passes (0 = do not wait; for tests)")
    args = p.parse_args()
    if not args.demo:
        p.error("only --demo is built in; import run_batch() and pass your own jobs and handler")
    with retryd.Client(args.addr, timeout=2.0) as client:
        summary = run_batch(client, args.batch_id, list(DEMO), demo_handler,
                            max_passes=3, pass_delay=5, time_scale=args.time_scale)
    print(json.dumps({
        "event": "summary", "batch_id": summary.batch_id, "passes": len(summary.passes),
        "attempted": summary.total_attempted, "succeeded": summary.total_succeeded,
        "success_rate": round(summary.success_rate, 1),
    }), flush=True)


if __name__ == "__main__":
    main()
