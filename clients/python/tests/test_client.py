"""retryd.Client against a live sidecar (see conftest.CONFIG)."""

from __future__ import annotations

import datetime as dt
import email.utils
import time
import uuid

import grpc
import httpx
import pytest
import requests

import retryd
from retryd.v1 import retryd_pb2 as pb
from conftest import DELAY, MAX_ATTEMPTS, free_port, running_retryd


class ValidationError(Exception):
    pass


def job() -> str:
    return f"job-{uuid.uuid4().hex[:12]}"


def test_transient_failure_gets_a_retry(client: retryd.Client) -> None:
    before = dt.datetime.now(dt.timezone.utc)
    d = client.report_failure(job(), ConnectionResetError("[Errno 104] Connection reset by peer"),
                              job_type="invoice", attempt=1)
    assert d.retry is True
    assert d.retry_after == pytest.approx(DELAY)
    assert d.retry_at is not None and d.retry_at.tzinfo is not None
    assert before < d.retry_at < before + dt.timedelta(seconds=5)
    assert d.reason is None
    assert (d.failure_count, d.max_attempts) == (1, MAX_ATTEMPTS)
    assert (d.error_class, d.category, d.policy) == ("transient", "network", "default")
    assert "type ConnectionResetError" in d.explanation
    assert d.local is False


def test_permanent_failure_gives_up_at_once(client: retryd.Client) -> None:
    d = client.report_failure(job(), ValidationError("amount must be positive"), attempt=1)
    assert d.retry is False
    assert d.reason == "permanent_error"
    assert d.retry_after == 0 and d.retry_at is None
    assert (d.error_class, d.category) == ("permanent", "invalid_input")


def test_retries_run_out_after_max_attempts(client: retryd.Client) -> None:
    j = job()
    decisions = [client.report_failure(j, TimeoutError("read timed out"), attempt=n)
                 for n in range(1, MAX_ATTEMPTS + 1)]
    assert [d.retry for d in decisions] == [True] * (MAX_ATTEMPTS - 1) + [False]
    assert decisions[-1].reason == "retries_exhausted"
    assert [d.failure_count for d in decisions] == list(range(1, MAX_ATTEMPTS + 1))
    dead = client.get_job(j)
    assert dead is not None and dead.state == "dead" and dead.failure_count == MAX_ATTEMPTS
    assert dead.last_decision is not None and dead.last_decision.reason == "retries_exhausted"


def test_a_resent_attempt_is_not_counted_twice(client: retryd.Client) -> None:
    j = job()
    first = client.report_failure(j, TimeoutError("t"), attempt=1)
    again = client.report_failure(j, TimeoutError("t"), attempt=1)
    assert first.failure_count == again.failure_count == 1


def test_success_makes_retryd_forget_the_job(client: retryd.Client) -> None:
    j = job()
    client.report_failure(j, ConnectionError("reset"), job_type="invoice", attempt=1)
    client.report_failure(j, ConnectionError("reset"), job_type="invoice", attempt=2)
    held = client.get_job(j)
    assert held is not None
    assert (held.state, held.job_type, held.failure_count) == ("retrying", "invoice", 2)
    assert held.last_error.type == "ConnectionError" and held.last_error.message == "reset"
    assert held.next_retry_at is not None and held.first_failure_at is not None
    s = client.report_success(j, job_type="invoice")
    assert (s.failures_before_success, s.known, s.local) == (2, True, False)
    assert client.get_job(j) is None
    assert client.report_success(j).known is False


def test_explain_changes_nothing(client: retryd.Client) -> None:
    j = job()
    d = client.explain(j, TimeoutError("read timed out"), attempt=1)
    assert d.retry and d.category == "timeout"
    assert client.get_job(j) is None


def test_error_info_verdict_and_fields(client: retryd.Client) -> None:
    d = client.report_failure(job(), retryd.ErrorInfo(type="VendorError", message="quota", retryable=True))
    assert (d.retry, d.category) == (True, "caller")
    d = client.report_failure(job(), retryd.ErrorInfo(type="Odd", grpc_code=14))
    assert d.category == "unavailable"
    d = client.report_failure(job(), retryd.ErrorInfo(type="Odd", http_status=404))
    assert (d.retry, d.reason, d.category) == (False, "permanent_error", "client_error")


def test_policy_priority_and_target_are_sent(client: retryd.Client) -> None:
    d = client.report_failure(job(), TimeoutError("t"), policy="aggressive", attempt=1)
    assert d.policy == "aggressive" and d.max_attempts == 5
    d = client.report_failure(job(), TimeoutError("t"), priority=90, attempt=1)
    assert d.policy == "high_priority"
    d = client.report_failure(job(), TimeoutError("t"), target="s3", attempt=1)
    assert d.retry


def test_requests_http_error_status_and_retry_after(client: retryd.Client, http_url: str) -> None:
    with pytest.raises(requests.HTTPError) as e:
        requests.get(f"{http_url}/503?retry_after=3", timeout=5).raise_for_status()
    info = retryd.ErrorInfo.from_exception(e.value)
    assert (info.type, info.http_status) == ("requests.exceptions.HTTPError", 503)
    d = client.report_failure(job(), e.value, attempt=1)
    assert (d.retry, d.category) == (True, "server_error")
    # The server's Retry-After raises retryd's 100 ms delay to 3 s.
    assert d.retry_after == pytest.approx(3.0)


def test_httpx_status_error_with_an_http_date(client: retryd.Client, http_url: str) -> None:
    when = email.utils.format_datetime(
        dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=30), usegmt=True)
    r = httpx.get(f"{http_url}/429", params={"retry_after": when}, timeout=5)
    with pytest.raises(httpx.HTTPStatusError) as e:
        r.raise_for_status()
    d = client.report_failure(job(), e.value, attempt=1)
    assert (d.retry, d.category) == (True, "rate_limit")
    assert 27 <= d.retry_after <= 30


def test_a_4xx_from_requests_is_permanent(client: retryd.Client, http_url: str) -> None:
    with pytest.raises(requests.HTTPError) as e:
        requests.get(f"{http_url}/404", timeout=5).raise_for_status()
    d = client.report_failure(job(), e.value)
    assert (d.retry, d.reason, d.category) == (False, "permanent_error", "client_error")


def test_connection_failures_of_http_clients_are_network(client: retryd.Client, closed_port: str) -> None:
    with pytest.raises(httpx.ConnectError) as e:
        httpx.get(f"http://{closed_port}/", timeout=2)
    d = client.report_failure(job(), e.value)
    assert (d.retry, d.category) == (True, "network")
    assert "ConnectError" in d.explanation
    with pytest.raises(requests.ConnectionError) as e2:
        requests.get(f"http://{closed_port}/", timeout=2)
    assert client.report_failure(job(), e2.value).category == "network"


def test_grpc_errors_send_their_code(client: retryd.Client) -> None:
    # A real RpcError: NOT_FOUND from retryd itself.
    with pytest.raises(grpc.RpcError) as e:
        client.stub.GetJob(pb.GetJobRequest(job_id=job()), timeout=2)
    info = retryd.ErrorInfo.from_exception(e.value)
    assert info.grpc_code == grpc.StatusCode.NOT_FOUND.value[0] == 5
    d = client.report_failure(job(), e.value)
    assert (d.retry, d.category) == (False, "client_error")
    assert "gRPC NOT_FOUND" in d.explanation


def test_grpc_pushback_from_a_real_server(client: retryd.Client) -> None:
    """A gRPC server that answers UNAVAILABLE with ``grpc-retry-pushback-ms``:
    a delay is the retry's floor, a negative one makes retryd give up."""
    from concurrent import futures

    pushback = {"ms": "-1"}

    class Handler(grpc.GenericRpcHandler):
        def service(self, details):  # type: ignore[no-untyped-def]
            def unary(request, context):  # type: ignore[no-untyped-def]
                context.set_trailing_metadata((("grpc-retry-pushback-ms", pushback["ms"]),))
                context.abort(grpc.StatusCode.UNAVAILABLE, "overloaded")

            return grpc.unary_unary_rpc_method_handler(unary)

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers((Handler(),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        def failed_call() -> grpc.RpcError:
            with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
                with pytest.raises(grpc.RpcError) as e:
                    ch.unary_unary("/downstream.v1.Orders/Place")(b"", timeout=5)
            return e.value

        d = client.report_failure(job(), failed_call())
        assert (d.retry, d.reason) == (False, "pushback")
        assert "not to retry" in d.explanation
        pushback["ms"] = "3000"
        d = client.report_failure(job(), failed_call())
        assert d.retry is True and d.retry_after == pytest.approx(3.0)
    finally:
        server.stop(None)


def test_bad_input_is_a_retryd_error_not_unavailable(retryd_addr: str) -> None:
    with retryd.Client(retryd_addr, fallback=retryd.fallback.exponential()) as c:
        with pytest.raises(retryd.RetrydError) as e:
            c.report_failure("", TimeoutError("t"))
        assert not isinstance(e.value, retryd.Unavailable)
        assert e.value.code == "INVALID_ARGUMENT"
        assert "job_id" in str(e.value)


@pytest.mark.parametrize("kwargs, error, named", [
    ({"attempt": -1}, TimeoutError("t"), "attempt: must be 1-10000000 (or 0: none), got -1"),
    ({"attempt": 10_000_001}, TimeoutError("t"), "attempt: must be 1-10000000"),
    ({"priority": -1}, TimeoutError("t"), "priority: must be 0-100, got -1"),
    ({"priority": 101}, TimeoutError("t"), "priority: must be 0-100, got 101"),
    ({"retry_after": -10}, TimeoutError("t"), "retry_after: must be at least 0 seconds, got -10"),
    ({"retry_after": float("nan")}, TimeoutError("t"), "retry_after: must be a finite number"),
    ({}, retryd.ErrorInfo(type="X", http_status=-1), "error.http_status: must be 100-599 (or 0: none), got -1"),
    ({}, retryd.ErrorInfo(type="X", http_status=600), "error.http_status: must be 100-599"),
    ({}, retryd.ErrorInfo(type="X", grpc_code=17), "error.grpc_code: must be 1-16 (or 0: none), got 17"),
])
def test_a_bad_number_is_refused_before_sending_naming_its_argument(
        client: retryd.Client, kwargs, error, named: str) -> None:
    jid = job()
    for call in (client.report_failure, client.explain):
        with pytest.raises(ValueError) as e:
            call(jid, error, **kwargs)
        assert str(e.value).startswith(named), str(e.value)
    assert client.get_job(jid) is None


def test_long_messages_are_cut_to_what_retryd_accepts(client: retryd.Client) -> None:
    d = client.report_failure(job(), RuntimeError("é" * 100_000))
    assert d.category == "unknown"


# --- when retryd does not answer -------------------------------------------


@pytest.mark.parametrize("where", ["closed_port", "black_hole"])
def test_unreachable_or_hung_sidecar_raises_unavailable_in_time(where: str, request) -> None:
    addr = request.getfixturevalue(where)
    with retryd.Client(addr, timeout=0.5) as c:
        for call in (lambda: c.report_failure("j", TimeoutError("t"), attempt=1),
                     lambda: c.report_success("j"),
                     lambda: c.get_job("j"),
                     lambda: c.explain("j", TimeoutError("t"))):
            start = time.monotonic()
            with pytest.raises(retryd.Unavailable):
                call()
            assert time.monotonic() - start < 2.0


@pytest.mark.parametrize("where", ["closed_port", "black_hole"])
def test_fallback_decides_locally_when_retryd_is_unavailable(where: str, request) -> None:
    addr = request.getfixturevalue(where)
    fb = retryd.fallback.exponential(max_attempts=3, base=1.0, max_delay=60)
    with retryd.Client(addr, timeout=0.5, fallback=fb) as c:
        start = time.monotonic()
        d = c.report_failure("j", TimeoutError("read timed out"), attempt=1)
        assert time.monotonic() - start < 2.0
        assert d.local is True and d.retry is True and d.retry_after == 1.0
        assert d.explanation.startswith("local decision, retryd unavailable")
        # No attempt given: the client counts the job's failures itself.
        assert [c.report_failure("k", TimeoutError("t")).failure_count for _ in range(3)] == [1, 2, 3]
        gave_up = c.report_failure("j", TimeoutError("t"), attempt=3)
        assert (gave_up.retry, gave_up.reason, gave_up.local) == (False, "retries_exhausted", True)
        s = c.report_success("k")
        assert s.local is True and s.known is False


def test_fallback_exponential_alone() -> None:
    fb = retryd.fallback.exponential(max_attempts=5, base=1.0, max_delay=3)
    info = retryd.ErrorInfo(type="TimeoutError")
    assert [fb(n, info).retry_after for n in (1, 2, 3, 4)] == [1.0, 2.0, 3.0, 3.0]
    assert fb(5, info).reason == "retries_exhausted"
    assert fb(1, retryd.ErrorInfo(retryable=False)).reason == "permanent_error"
    with pytest.raises(ValueError):
        retryd.fallback.exponential(max_attempts=0)


def test_a_sidecar_that_comes_back_is_found_again(retryd_bin: str, tmp_path) -> None:
    # A client that met a missing sidecar uses it as soon as it is back (its
    # channel also caps gRPC's reconnect backoff at a second).
    addr = f"127.0.0.1:{free_port()}"
    with retryd.Client(addr, timeout=0.5) as c:
        for _ in range(3):
            with pytest.raises(retryd.Unavailable):
                c.report_failure("j", TimeoutError("t"))
            time.sleep(0.3)
        with running_retryd(retryd_bin, tmp_path, addr):
            deadline = time.monotonic() + 3.0
            while True:
                try:
                    d = c.report_failure("j", TimeoutError("t"), attempt=1)
                    break
                except retryd.Unavailable:
                    assert time.monotonic() < deadline, "the client did not reconnect within 3 s"
                    time.sleep(0.1)
            assert d.retry and d.local is False


def test_fallback_counts_the_failures_retryd_answered_too(retryd_bin: str, tmp_path) -> None:
    addr = f"127.0.0.1:{free_port()}"
    fb = retryd.fallback.exponential(max_attempts=5, base=1.0)
    with retryd.Client(addr, timeout=0.5, fallback=fb) as c:
        with running_retryd(retryd_bin, tmp_path, addr):
            assert [c.report_failure("k", TimeoutError("t")).local for _ in range(2)] == [False, False]
        # The sidecar is gone: the fallback decides on the job's third failure.
        d = c.report_failure("k", TimeoutError("t"))
        assert (d.local, d.failure_count, d.retry_after) == (True, 3, 4.0)
        assert c.report_success("k").local is True
        assert c.report_failure("k", TimeoutError("t")).failure_count == 1
