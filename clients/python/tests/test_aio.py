"""retryd.aio.Client: the same calls from asyncio."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

import retryd
import retryd.aio


def run(coro):
    return asyncio.run(coro)


def test_report_explain_get_and_success(retryd_addr: str) -> None:
    async def main() -> None:
        async with retryd.aio.Client(retryd_addr, timeout=2.0) as c:
            j = f"aio-{uuid.uuid4().hex[:8]}"
            d = await c.report_failure(j, ConnectionResetError("read ECONNRESET"), job_type="aio", attempt=1)
            assert (d.retry, d.category, d.failure_count) == (True, "network", 1)
            e = await c.explain(j, TimeoutError("t"), attempt=2)
            assert e.retry and e.failure_count == 2
            held = await c.get_job(j)
            assert held is not None and held.failure_count == 1 and held.state == "retrying"
            s = await c.report_success(j, job_type="aio")
            assert (s.failures_before_success, s.known) == (1, True)
            assert await c.get_job(j) is None

    run(main())


@pytest.mark.parametrize("where", ["closed_port", "black_hole"])
def test_unavailable_in_time_and_fallback(where: str, request) -> None:
    addr = request.getfixturevalue(where)

    async def main() -> None:
        async with retryd.aio.Client(addr, timeout=0.5) as c:
            start = time.monotonic()
            with pytest.raises(retryd.Unavailable):
                await c.report_failure("j", TimeoutError("t"), attempt=1)
            assert time.monotonic() - start < 2.0
        fb = retryd.fallback.exponential(max_attempts=2)
        async with retryd.aio.Client(addr, timeout=0.5, fallback=fb) as c:
            start = time.monotonic()
            d = await c.report_failure("j", TimeoutError("t"), attempt=2)
            assert time.monotonic() - start < 2.0
            assert (d.local, d.retry, d.reason) == (True, False, "retries_exhausted")
            assert "local decision" in d.explanation

    run(main())
