"""React to give-ups as they happen: retryd's event stream (WatchEvents).

A job that retryd gives up on is a dead letter: someone should hear of it now,
not at the next look at a dashboard. This watcher prints one JSON line per
give-up (put a page, a ticket or a dead-letter queue where ``handle`` is). It
also says when it fell behind and missed events (``dropped``), and reconnects
when the sidecar restarts.

    pip install ../../clients/python
    python give_up_alerts.py --job-type invoice
"""

import argparse
import json
import sys
import time

import grpc

import retryd
from retryd.v1 import retryd_pb2 as pb


def handle(event):
    """One give-up: here, a JSON line on stdout."""
    d = event.decision
    print(
        json.dumps(
            {
                "job_id": event.job_id,
                "job_type": event.job_type,
                "target": event.target,
                "reason": pb.GiveUpReason.Name(d.reason).removeprefix("GIVE_UP_REASON_").lower(),
                "failures": d.failure_count,
                "explanation": d.explanation,
                "at": event.at.ToJsonString(),
                "missed_before": event.dropped,
            }
        ),
        flush=True,
    )


def watch(addr, job_type, count):
    client = retryd.Client(addr)
    request = pb.WatchEventsRequest(job_type=job_type, kinds=[pb.EVENT_KIND_GAVE_UP])
    seen = 0
    while count is None or seen < count:
        try:
            # No deadline: the stream runs until the sidecar stops.
            for event in client.stub.WatchEvents(request):
                handle(event)
                seen += 1
                if count is not None and seen >= count:
                    return
        except grpc.RpcError as e:
            print(f"event stream broken ({e.code().name}); reconnecting", file=sys.stderr)
        time.sleep(1)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--addr", default=None, help="the sidecar (default $RETRYD_ADDR or 127.0.0.1:50051)")
    p.add_argument("--job-type", default="", help="only give-ups of this job type")
    p.add_argument("--count", type=int, default=None, help="stop after this many")
    a = p.parse_args()
    watch(a.addr, a.job_type, a.count)


if __name__ == "__main__":
    main()
