"""From exceptions to what retryd is sent (no sidecar needed)."""

from __future__ import annotations

import datetime as dt
import email.utils

import pytest

import retryd
from retryd import _convert as cv
from retryd.v1 import retryd_pb2 as pb


class Outer:
    class InnerError(Exception):
        pass


class HTTPError(Exception):
    def __init__(self, status_code, retry_after=None):
        super().__init__(f"HTTP {status_code}")
        self.status_code = status_code
        self.retry_after = retry_after


def test_type_is_module_and_qualified_name() -> None:
    assert retryd.ErrorInfo.from_exception(ConnectionResetError("x")).type == "ConnectionResetError"
    assert retryd.ErrorInfo.from_exception(Outer.InnerError("x")).type == f"{__name__}.Outer.InnerError"


def test_status_and_retry_after_from_attributes() -> None:
    e = HTTPError(503, retry_after=7)
    assert retryd.ErrorInfo.from_exception(e).http_status == 503
    assert cv.retry_after_of(e) == 7.0
    assert retryd.ErrorInfo.from_exception(HTTPError(42)).http_status == 0  # not a status


def test_retry_after_values() -> None:
    assert cv.parse_retry_after("120") == 120.0
    assert cv.parse_retry_after("1.5") == 1.5
    assert cv.parse_retry_after("-3") == 0.0
    assert cv.parse_retry_after("soon") is None
    assert cv.parse_retry_after("") is None
    assert cv.parse_retry_after(str(10**9)) is None  # past retryd's bound: dropped
    now = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
    date = email.utils.format_datetime(now + dt.timedelta(seconds=90), usegmt=True)
    assert cv.parse_retry_after(date, now=now.timestamp()) == pytest.approx(90)
    past = email.utils.format_datetime(now - dt.timedelta(seconds=90), usegmt=True)
    assert cv.parse_retry_after(past, now=now.timestamp()) == 0.0


def test_request_fields() -> None:
    req = cv.failure_request(
        pb.ReportFailureRequest, "j", HTTPError(429, retry_after="2.5"), job_type="t", attempt=3,
        target="s3", policy="p", priority=0, retry_after=None,
    )
    assert (req.job_id, req.job_type, req.attempt, req.target, req.policy) == ("j", "t", 3, "s3", "p")
    assert req.HasField("priority") and req.priority == 0
    assert (req.error.http_status, req.retry_after_hint.seconds, req.retry_after_hint.nanos) == (429, 2, 500_000_000)
    assert not req.error.HasField("retryable")
    # An explicit hint wins; no priority, no field.
    req = cv.failure_request(
        pb.ExplainRequest, "j", retryd.ErrorInfo(type="X", retryable=False), job_type=None, attempt=None,
        target=None, policy=None, priority=None, retry_after=0.25,
    )
    assert not req.HasField("priority") and req.attempt == 0
    assert req.error.HasField("retryable") and req.error.retryable is False
    assert req.retry_after_hint.nanos == 250_000_000


def test_message_and_type_cut_on_a_character_boundary() -> None:
    info = retryd.ErrorInfo.from_exception(RuntimeError("é" * 40_000))
    assert len(info.message.encode()) <= 64 * 1024
    assert info.message == "é" * (64 * 1024 // 2)


def test_error_must_be_an_exception_or_error_info() -> None:
    with pytest.raises(TypeError):
        cv.failure_request(pb.ReportFailureRequest, "j", "boom", job_type=None, attempt=None,  # type: ignore[arg-type]
                           target=None, policy=None, priority=None, retry_after=None)
