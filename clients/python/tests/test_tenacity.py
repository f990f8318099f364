"""tenacity driven by retryd: retries, waits and give-ups as retryd decides."""

from __future__ import annotations

import uuid
from typing import List

import pytest
import tenacity

import retryd
import retryd.tenacity as rt
from conftest import DELAY, MAX_ATTEMPTS


class ValidationError(Exception):
    pass


class CountingClient(retryd.Client):
    """Counts the reports, to check that retryd is asked once per attempt."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.failures: List[int] = []
        self.successes = 0

    def report_failure(self, job_id, error, **kw):  # type: ignore[override]
        self.failures.append(kw.get("attempt"))
        return super().report_failure(job_id, error, **kw)

    def report_success(self, job_id, **kw):  # type: ignore[override]
        self.successes += 1
        return super().report_success(job_id, **kw)


@pytest.fixture
def counting(retryd_addr: str):
    c = CountingClient(retryd_addr, timeout=2.0)
    yield c
    c.close()


def flaky(failures: int, exc: BaseException):
    """A function that fails ``failures`` times, then returns its call count."""
    calls = []

    def fn() -> int:
        calls.append(1)
        if len(calls) <= failures:
            raise exc
        return len(calls)

    return fn, calls


def test_transient_failures_then_success(counting: CountingClient) -> None:
    sleeps: List[float] = []
    job_id = f"ten-{uuid.uuid4().hex[:8]}"
    fn, calls = flaky(2, ConnectionResetError("[Errno 104] Connection reset by peer"))
    r = tenacity.Retrying(sleep=sleeps.append, **rt.strategy(counting, job_id=job_id, job_type="tenacity"))
    assert r(fn) == 3
    assert len(calls) == 3
    # Asked once per failed attempt (not once per hook), with tenacity's numbers.
    assert counting.failures == [1, 2]
    # Waited what retryd said.
    assert sleeps == [pytest.approx(DELAY)] * 2
    # The success was reported: retryd forgot the job.
    assert counting.successes == 1
    assert counting.get_job(job_id) is None


def test_permanent_error_raises_at_once_with_retryd_reason(counting: CountingClient) -> None:
    fn, calls = flaky(100, ValidationError("amount must be positive"))

    @tenacity.retry(**rt.strategy(counting))
    def charge() -> int:
        return fn()

    with pytest.raises(ValidationError) as e:
        charge()
    assert len(calls) == 1
    assert counting.failures == [1]
    notes = getattr(e.value, "__notes__", [])
    assert any("retryd gave up after attempt 1: permanent_error" in n for n in notes), notes


def test_retries_exhausted_after_max_attempts(counting: CountingClient) -> None:
    job_id = f"ten-{uuid.uuid4().hex[:8]}"
    fn, calls = flaky(100, TimeoutError("read timed out"))
    r = tenacity.Retrying(sleep=lambda s: None, **rt.strategy(counting, job_id=job_id))
    with pytest.raises(TimeoutError) as e:
        r(fn)
    assert len(calls) == MAX_ATTEMPTS
    assert counting.failures == list(range(1, MAX_ATTEMPTS + 1))
    assert any("retries_exhausted" in n for n in e.value.__notes__)
    job = counting.get_job(job_id)
    assert job is not None and (job.state, job.failure_count) == ("dead", MAX_ATTEMPTS)


def test_hooks_one_by_one_with_a_retry_of_your_own(counting: CountingClient) -> None:
    fn, calls = flaky(100, ConnectionError("connection reset by peer"))
    sleeps: List[float] = []
    r = tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(ConnectionError),
        wait=rt.wait_retryd(counting),
        stop=rt.stop_retryd(counting),
        sleep=sleeps.append,
    )
    with pytest.raises(tenacity.RetryError) as e:
        r(fn)
    assert len(calls) == MAX_ATTEMPTS
    assert e.value.last_attempt.attempt_number == MAX_ATTEMPTS
    # wait and stop share one decision per attempt.
    assert counting.failures == list(range(1, MAX_ATTEMPTS + 1))
    assert sleeps == [pytest.approx(DELAY)] * (MAX_ATTEMPTS - 1)


def test_the_decision_is_at_hand_in_tenacity_callbacks(counting: CountingClient) -> None:
    fn, _ = flaky(100, TimeoutError("t"))
    seen: List[retryd.Decision] = []
    r = tenacity.Retrying(
        sleep=lambda s: None,
        before_sleep=lambda rs: seen.append(rt.decision(rs)),
        retry=tenacity.retry_if_exception_type(TimeoutError),
        wait=rt.wait_retryd(counting),
        stop=rt.stop_retryd(counting),
        retry_error_callback=rt.decision,
    )
    last = r(fn)
    assert [d.failure_count for d in seen] == list(range(1, MAX_ATTEMPTS))
    assert all(d.retry for d in seen)
    assert last is not None and (last.retry, last.reason) == (False, "retries_exhausted")


def test_each_call_is_its_own_job(counting: CountingClient) -> None:
    @tenacity.retry(**rt.strategy(counting), sleep=lambda s: None)
    def sometimes(fails: List[int]) -> str:
        if fails:
            fails.pop()
            raise TimeoutError("t")
        return "ok"

    # Two calls, each failing twice: each starts again at attempt 1.
    assert sometimes([1, 1]) == "ok"
    assert sometimes([1, 1]) == "ok"
    assert counting.failures == [1, 2, 1, 2]
    assert counting.successes == 2


def test_first_try_success_costs_no_call(counting: CountingClient) -> None:
    @tenacity.retry(**rt.strategy(counting))
    def fine() -> int:
        return 1

    assert fine() == 1
    assert (counting.failures, counting.successes) == ([], 0)


def test_unavailable_sidecar_with_fallback_keeps_retrying(closed_port: str) -> None:
    c = retryd.Client(closed_port, timeout=0.5, fallback=retryd.fallback.exponential(max_attempts=3, base=0.01))
    try:
        fn, calls = flaky(100, TimeoutError("t"))
        sleeps: List[float] = []
        r = tenacity.Retrying(sleep=sleeps.append, **rt.strategy(c))
        with pytest.raises(TimeoutError) as e:
            r(fn)
        assert len(calls) == 3
        assert sleeps == [0.01, 0.02]
        assert any("local decision" in n for n in e.value.__notes__)
    finally:
        c.close()


def test_unavailable_sidecar_without_fallback_raises_unavailable(closed_port: str) -> None:
    c = retryd.Client(closed_port, timeout=0.5)
    try:
        fn, calls = flaky(100, TimeoutError("t"))
        with pytest.raises(retryd.Unavailable):
            tenacity.Retrying(**rt.strategy(c))(fn)
        assert len(calls) == 1
    finally:
        c.close()
