"""The installed package's type hints (py.typed) as a user's mypy sees them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

USAGE = '''
import datetime
from typing import List, Optional

import tenacity

import retryd
import retryd.aio
import retryd.fallback
import retryd.rabbitmq
import retryd.tenacity

client = retryd.Client("127.0.0.1:50051", timeout=0.5, fallback=retryd.fallback.exponential(max_attempts=3))
d: retryd.Decision = client.report_failure(
    "job-1", TimeoutError("t"), job_type="invoice", attempt=1, target="s3", policy="default",
    priority=50, retry_after=1.5,
)
delay: float = d.retry_after
when: Optional[datetime.datetime] = d.retry_at
reason: Optional[str] = d.reason
count: int = d.failure_count
info: retryd.ErrorInfo = retryd.ErrorInfo.from_exception(ValueError("x"))
client.report_failure("job-2", retryd.ErrorInfo(type="VendorError", retryable=True))
s: retryd.Success = client.report_success("job-1", job_type="invoice")
job: Optional[retryd.Job] = client.get_job("job-1")
e: retryd.Decision = client.explain("job-1", info)


@tenacity.retry(**retryd.tenacity.strategy(client, job_type="fetch"))
def fetch() -> int:
    return 1


r = tenacity.Retrying(
    retry=retryd.tenacity.retry_if_retryd(client),
    wait=retryd.tenacity.wait_retryd(client),
    stop=retryd.tenacity.stop_retryd(client),
)


async def main() -> None:
    async with retryd.aio.Client() as c:
        d2: retryd.Decision = await c.report_failure("j", info, attempt=2)
        print(d2.explanation)
        due: List[retryd.DueJob] = await c.claim_due("mail", max_jobs=10, lease=datetime.timedelta(minutes=1))
        async for j in c.watch_due("mail", max_in_flight=4):
            await c.extend_lease(j.job_id, j.lease_id, 60)
        print(due, await c.list_queues())

        async def handle(job: retryd.DueJob) -> None:
            print(job.payload)

        stats: retryd.WorkerStats = await retryd.aio.Worker("mail", handle, concurrency=4, client=c).run()

        async def publish_async(job: retryd.DueJob) -> None:
            print(retryd.rabbitmq.headers(job))

        async with retryd.aio.relay("mail", publish_async, client=c):
            pass
        print(stats.succeeded, await retryd.rabbitmq.asettle(c, {}, b"body"))


# Delivery.
parked: retryd.Decision = client.report_failure(
    "mail-1", TimeoutError("t"), job_type="mail", payload=b"{}", queue="mail", lease_id=None,
)
jobs: List[retryd.DueJob] = client.claim_due("mail", max_jobs=10, lease=30)
for dj in jobs:
    body: bytes = dj.payload
    attempt: int = dj.attempt
    due_at: Optional[datetime.datetime] = dj.due_at
    until: datetime.datetime = client.extend_lease(dj.job_id, dj.lease_id, lease=60)
    client.release_job(dj.job_id, dj.lease_id, delay=1.5)
    client.report_success(dj.job_id, lease_id=dj.lease_id)
queues: List[retryd.QueueStats] = client.list_queues()
with client.watch_due("mail", max_in_flight=2) as stream:
    for dj in stream:
        stream.cancel()
held: Optional[retryd.Job] = client.get_job("mail-1")
if held is not None:
    size: int = held.payload_bytes
    leased: Optional[datetime.datetime] = held.lease_until
try:
    client.report_success("mail-1", lease_id="x")
except retryd.LeaseLost as lost:
    print(lost.job_id, lost.lease_id)


def send(job: retryd.DueJob) -> None:
    print(job.payload, job.attempt)


w: retryd.Worker = retryd.Worker("mail", send, concurrency=4, lease=30, client=client, stop_timeout=10)
with w:
    pass
ws: retryd.WorkerStats = w.stop(timeout=5)
publisher = retryd.rabbitmq.Publisher("amqp://localhost", routing_key="mail")
rl: retryd.Relay = retryd.relay("mail", publisher, lease=300, max_in_flight=100)
rs: retryd.WorkerStats = rl.run(handle_signals=False)
outcome = retryd.rabbitmq.settle(client, {"retryd-job-id": "j"}, b"body", TimeoutError("t"), queue="mail")
ml: Optional[retryd.rabbitmq.MessageLease] = retryd.rabbitmq.lease_of({})


wrong: str = d.retry
'''


def test_the_package_is_typed_for_its_users(tmp_path: Path) -> None:
    usage = tmp_path / "usage.py"
    usage.write_text(USAGE)
    out = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--cache-dir", str(tmp_path / "cache"),
         str(usage)],
        capture_output=True, text=True, cwd=tmp_path,
    )
    lines = [line for line in out.stdout.splitlines() if ": error:" in line]
    wrong = USAGE.splitlines().index("wrong: str = d.retry") + 1
    # Exactly the one planted mistake: the rest type-checks against the
    # package's own hints (a package without py.typed would fail the imports).
    assert len(lines) == 1, out.stdout
    assert f"usage.py:{wrong}: error: Incompatible types in assignment" in lines[0], out.stdout
