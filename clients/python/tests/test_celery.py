"""Celery tasks on RetrydTask, run by a real worker on a real Redis broker."""

from __future__ import annotations

import time
import uuid

import pytest
import redis
from celery import Celery
from celery.contrib.testing.worker import start_worker

import retryd
from retryd.celery import RetrydTask
from conftest import DELAY, MAX_ATTEMPTS

TIMEOUT = 30


class ValidationError(Exception):
    pass


@pytest.fixture(scope="module")
def store(redis_url: str):
    r = redis.Redis.from_url(f"{redis_url}/2")
    yield r
    r.close()


@pytest.fixture(scope="module")
def celery_app(redis_url: str, retryd_addr: str, store: redis.Redis):
    app = Celery("retryd_tests", broker=f"{redis_url}/0", backend=f"{redis_url}/1", set_as_current=False)
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        result_expires=600,
    )
    client = retryd.Client(retryd_addr, timeout=2.0)

    def attempt(key: str) -> int:
        """Counts the task's runs, and when each started."""
        store.rpush(f"{key}:t", time.time())
        return int(store.incr(key))

    @app.task(base=RetrydTask, bind=True, retryd_client=client, name="tests.flaky")
    def flaky(self, key: str, failures: int) -> int:
        n = attempt(key)
        if n <= failures:
            raise ConnectionResetError("[Errno 104] Connection reset by peer")
        return n

    @app.task(base=RetrydTask, bind=True, retryd_client=client, name="tests.invalid",
              retryd_job_type="billing")
    def invalid(self, key: str) -> None:
        attempt(key)
        raise ValidationError("amount must be positive")

    with start_worker(app, pool="solo", concurrency=1, perform_ping_check=False,
                      shutdown_timeout=10, loglevel="WARNING"):
        yield app, client
    client.close()


def runs(store: redis.Redis, key: str) -> list:
    return [float(t) for t in store.lrange(f"{key}:t", 0, -1)]


def test_transient_failures_then_success(celery_app, store: redis.Redis) -> None:
    app, client = celery_app
    key = f"k-{uuid.uuid4().hex[:8]}"
    res = app.tasks["tests.flaky"].delay(key, 2)
    assert res.get(timeout=TIMEOUT) == 3
    assert res.state == "SUCCESS"
    times = runs(store, key)
    assert len(times) == 3
    # Each retry waited retryd's delay (Celery's countdown).
    assert all(b - a >= DELAY * 0.9 for a, b in zip(times, times[1:])), times
    # retryd was told of the success: it holds nothing for the task.
    assert client.get_job(res.id) is None


def test_permanent_error_fails_after_one_attempt(celery_app, store: redis.Redis) -> None:
    app, client = celery_app
    key = f"k-{uuid.uuid4().hex[:8]}"
    res = app.tasks["tests.invalid"].delay(key)
    res.get(timeout=TIMEOUT, propagate=False)
    assert res.state == "FAILURE"
    assert len(runs(store, key)) == 1
    assert "permanent_error" in str(res.result)
    assert "ValidationError: amount must be positive" in str(res.result)
    job = client.get_job(res.id)
    assert job is not None and (job.state, job.failure_count, job.job_type) == ("dead", 1, "billing")


def test_failures_end_after_max_attempts(celery_app, store: redis.Redis) -> None:
    app, client = celery_app
    key = f"k-{uuid.uuid4().hex[:8]}"
    res = app.tasks["tests.flaky"].delay(key, 100)
    res.get(timeout=TIMEOUT, propagate=False)
    assert res.state == "FAILURE"
    assert len(runs(store, key)) == MAX_ATTEMPTS
    assert "retries_exhausted" in str(res.result)
    assert type(res.result).__name__ == "GaveUp"
    job = client.get_job(res.id)
    assert job is not None and (job.state, job.failure_count, job.job_type) == ("dead", MAX_ATTEMPTS, "tests.flaky")
