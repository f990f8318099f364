"""Delivery from asyncio: retryd.aio.Client's calls, retryd.aio.Worker and
retryd.aio.relay against a live sidecar (conftest.DELIVERY_CONFIG)."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any, Dict, List

import pytest

import retryd
import retryd.aio
import retryd.rabbitmq


def name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def until(what: str, predicate: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"not within {timeout}s: {what}"
        await asyncio.sleep(0.02)


async def park(c: retryd.aio.Client, queue: str, payload: bytes = b"{}") -> str:
    j = name("job")
    d = await c.report_failure(j, ConnectionResetError("reset"), job_type="mail", attempt=1, payload=payload,
                               queue=queue)
    assert d.retry
    return j


async def gone(c: retryd.aio.Client, j: str) -> bool:
    return await c.get_job(j) is None


def test_calls_and_fencing(delivery_addr: str) -> None:
    async def main() -> None:
        async with retryd.aio.Client(delivery_addr, timeout=2.0) as c:
            q = name("q")
            j = await park(c, q, b"abc")
            [job] = await until("due", lambda: c.claim_due(q, max_jobs=5, lease=5))
            assert (job.job_id, job.payload, job.attempt, job.deliveries) == (j, b"abc", 2, 1)
            assert [s.leased for s in await c.list_queues() if s.queue == q] == [1]
            until_ = await c.extend_lease(j, job.lease_id, 30)
            assert job.lease_until is not None and until_ > job.lease_until
            await c.release_job(j, job.lease_id)
            with pytest.raises(retryd.LeaseLost) as e:
                await c.report_success(j, lease_id=job.lease_id)
            assert (e.value.job_id, e.value.lease_id) == (j, job.lease_id)
            got = []
            async with c.watch_due(q, max_in_flight=1, lease=5) as stream:
                async for again in stream:
                    got.append(again)
                    break
            assert got[0].deliveries == 2 and got[0].lease_id != job.lease_id
            with pytest.raises(retryd.LeaseLost):
                await c.extend_lease(j, job.lease_id)
            s = await c.report_success(j, lease_id=got[0].lease_id)
            assert s.known and s.failures_before_success == 1
            with pytest.raises(ValueError, match="^max_jobs:"):
                await c.claim_due(q, max_jobs=0)
            with pytest.raises(ValueError, match="^queue:"):
                c.watch_due("")

    asyncio.run(main())


def test_aio_worker_runs_jobs_concurrently_until_they_succeed(delivery_addr: str) -> None:
    async def main() -> None:
        async with retryd.aio.Client(delivery_addr, timeout=2.0) as c:
            q = name("q")
            ids = [await park(c, q) for _ in range(3)]
            runs: Dict[str, List[int]] = {j: [] for j in ids}
            active = 0
            most = 0

            async def handler(job: retryd.DueJob) -> None:
                nonlocal active, most
                runs[job.job_id].append(job.attempt)
                active += 1
                most = max(most, active)
                try:
                    await asyncio.sleep(0.2)
                    if job.attempt < 3:
                        raise ConnectionResetError("reset")
                finally:
                    active -= 1

            async with retryd.aio.Worker(q, handler, concurrency=3, lease=5, client=c) as w:
                for j in ids:
                    await until(f"{j} settled", lambda: gone(c, j))
            assert runs == {j: [2, 3] for j in ids}
            assert most == 3  # the three ran at once
            assert (w.stats.succeeded, w.stats.retried, w.stats.received) == (3, 3, 6)

    asyncio.run(main())


def test_aio_worker_extends_long_runs_and_stop_cancels_past_its_timeout(delivery_addr: str) -> None:
    async def main() -> None:
        async with retryd.aio.Client(delivery_addr, timeout=2.0) as c:
            q = name("q")
            long_run, hung = await park(c, q), await park(c, q)
            started: Dict[str, asyncio.Event] = {long_run: asyncio.Event(), hung: asyncio.Event()}
            cancelled: List[str] = []

            async def handler(job: retryd.DueJob) -> None:
                started[job.job_id].set()
                try:
                    await asyncio.sleep(1.6 if job.job_id == long_run else 60)
                except asyncio.CancelledError:
                    cancelled.append(job.job_id)
                    raise

            w = retryd.aio.Worker(q, handler, concurrency=2, lease=0.6, client=c, stop_timeout=0.5)
            task = asyncio.get_running_loop().create_task(w.run())
            await asyncio.wait_for(asyncio.gather(*(e.wait() for e in started.values())), 5)
            await until("the long run settled", lambda: gone(c, long_run))
            # 1.6 s on a 0.6 s lease: kept by extensions, never handed out again.
            assert w.stats.extended >= 4 and w.stats.received == 2 and w.stats.lost == 0
            start = time.monotonic()
            w.stop()
            stats = await asyncio.wait_for(task, 5)
            assert time.monotonic() - start < 2.0
            # The hung one was cancelled after stop_timeout and handed back.
            assert cancelled == [hung] and stats.released == 1 and stats.succeeded == 1
            held = await c.get_job(hung)
            assert held is not None and held.lease_until is None and held.failure_count == 1
            [again] = await until("due again at once", lambda: c.claim_due(q, lease=5))
            assert again.job_id == hung and again.attempt == 2
            await c.report_success(hung, lease_id=again.lease_id)

    asyncio.run(main())


def test_aio_relay_hands_jobs_to_a_broker_and_the_consumer_settles(delivery_addr: str) -> None:
    """A broker in memory (an asyncio.Queue of messages with headers): the
    relay publishes, the consumer reports with the lease the message carries."""

    async def main() -> None:
        async with retryd.aio.Client(delivery_addr, timeout=2.0) as c:
            q = name("q")
            broker: "asyncio.Queue[tuple[dict[str, Any], bytes]]" = asyncio.Queue()
            fail_publish = [True]

            async def publish(job: retryd.DueJob) -> None:
                if fail_publish[0]:
                    fail_publish[0] = False
                    raise ConnectionError("broker down")
                await broker.put((retryd.rabbitmq.headers(job), job.payload))

            # The job's first run, outside retryd: it fails, retryd holds it.
            decision = await retryd.rabbitmq.asettle(c, {}, b"body-1", TimeoutError("t"), job_id=name("m"), queue=q)
            assert isinstance(decision, retryd.Decision) and decision.retry
            async with retryd.aio.relay(q, publish, lease=5, release_delay=0.1, client=c) as r:
                headers, body = await asyncio.wait_for(broker.get(), 5)
                lease = retryd.rabbitmq.lease_of(headers)
                assert lease is not None and body == b"body-1" and lease.attempt == 2
                # The first publish failed: released, published again 0.1 s later.
                assert (r.stats.released, r.stats.published) == (1, 1)
                held = await c.get_job(lease.job_id)
                assert held is not None and held.lease_until is not None  # the lease travels with it
                s = await retryd.rabbitmq.asettle(c, headers, body)
                assert isinstance(s, retryd.Success) and s.failures_before_success == 1
                assert await c.get_job(lease.job_id) is None
                # The same message again (a broker's redelivery): its lease
                # is gone, nothing is reported, the consumer acks it.
                assert await retryd.rabbitmq.asettle(c, headers, body) is None

    asyncio.run(main())


def test_aio_arguments_are_checked(closed_port: str) -> None:
    def plain(job: retryd.DueJob) -> None:
        pass

    with pytest.raises(TypeError, match="^handler:"):
        retryd.aio.Worker("q", plain, addr=closed_port)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="^publish:"):
        retryd.aio.relay("q", plain, addr=closed_port)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="^client:"):
        retryd.aio.Worker("q", asyncio.sleep, client=retryd.Client(closed_port))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="^concurrency:"):
        retryd.aio.Worker("q", asyncio.sleep, concurrency=0, addr=closed_port)  # type: ignore[arg-type]
