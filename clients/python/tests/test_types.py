"""The installed package's type hints (py.typed) as a user's mypy sees them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

USAGE = '''
import datetime
from typing import Optional

import tenacity

import retryd
import retryd.aio
import retryd.fallback
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
