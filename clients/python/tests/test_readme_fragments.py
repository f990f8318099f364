"""The README's short Python blocks run as written too: each is run here, in
this interpreter, after a prelude that defines what the application around
it would (its job, its functions, its Celery app), against a live sidecar;
then what it did is checked. The marked examples run as programs of their
own (test_readme.py)."""

from __future__ import annotations

import re
from typing import Any, Dict, List

import pytest

import retryd
from conftest import ROOT

README = ROOT / "clients/python/README.md"
BLOCK = re.compile(r"(<!-- readme-test: \S+ -->\n)?```python\n(.*?)```", re.S)


def fragments() -> Dict[str, str]:
    """The unmarked blocks, by their first line."""
    return {code.splitlines()[0]: code for marker, code in BLOCK.findall(README.read_text()) if not marker}


def run(first_line: str, prelude: str) -> Dict[str, Any]:
    scope: Dict[str, Any] = {"__name__": "readme"}
    exec(compile(prelude, "prelude", "exec"), scope)
    exec(compile(fragments()[first_line], f"README: {first_line}", "exec"), scope)
    return scope


CLIENT = "import retryd"
FALLBACK = "client = retryd.Client(timeout=0.5, fallback=retryd.fallback.exponential(max_attempts=3, base=1.0, max_delay=60))"
CELERY = "from retryd.celery import RetrydTask"
TENACITY = "import tenacity, retryd.tenacity"


def test_every_fragment_is_run_here() -> None:
    assert sorted(fragments()) == sorted([CLIENT, FALLBACK, CELERY, TENACITY])


# The application around the first block: a job, its work, its queue.
APP = """
import itertools, uuid

class Invoice:
    def __init__(self):
        self.id = f"readme-{uuid.uuid4()}"
        self.attempt = 1

invoice = Invoice()
requeued, dead, charged = [], [], []

def charge(invoice):
    if FAIL_WITH is not None:
        raise FAIL_WITH
    charged.append(invoice.id)

def requeue(invoice, delay):
    requeued.append(delay)

def dead_letter(invoice, why):
    dead.append(why)
"""


@pytest.mark.parametrize("fail_with, outcome", [
    ("TimeoutError('payment gateway timed out')", "requeued"),
    ("PermissionError('card declined')", "dead"),
    ("None", "charged"),
])
def test_the_first_block(retryd_addr: str, monkeypatch: pytest.MonkeyPatch, fail_with: str, outcome: str) -> None:
    monkeypatch.setenv("RETRYD_ADDR", retryd_addr)
    scope = run(CLIENT, f"FAIL_WITH = {fail_with}\n{APP}")
    results: Dict[str, List[Any]] = {k: scope[k] for k in ("requeued", "dead", "charged")}
    assert [k for k, v in results.items() if v] == [outcome], results
    if outcome == "requeued":
        assert results["requeued"][0] > 0
        job = scope["client"].get_job(scope["invoice"].id)
        assert job is not None and job.failure_count == 1
    if outcome == "dead":
        assert results["dead"][0].startswith("permanent_error: "), results


def test_the_fallback_block(closed_port: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETRYD_ADDR", closed_port)  # nothing listens: the fallback decides
    client: retryd.Client = run(FALLBACK, "import retryd\n")["client"]
    try:
        d = client.report_failure("readme-fallback", TimeoutError("timed out"), attempt=1)
        assert d.local and d.retry and d.explanation.startswith("local decision, retryd unavailable")
        assert not client.report_failure("readme-fallback", TimeoutError("timed out"), attempt=3).retry
    finally:
        client.close()


def test_the_celery_block(retryd_addr: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETRYD_ADDR", retryd_addr)
    scope = run(CELERY, "from celery import Celery\napp = Celery('readme', broker='memory://')\n")
    charge = scope["charge"]
    assert isinstance(charge, scope["RetrydTask"])
    # The body (`...`) returns: the task succeeds, and its success is reported.
    result = charge.apply(args=("inv-readme",), task_id="readme-celery-1")
    assert result.successful(), result.traceback


def test_the_tenacity_block(retryd_addr: str) -> None:
    prelude = f"import retryd\nclient = retryd.Client({retryd_addr!r}, timeout=2.0)\n"
    scope = run(TENACITY, prelude)
    try:
        fetch = scope["fetch"]
        assert fetch("https://example.com") is None  # the block's body: returns at once
        assert fetch.retry.stop is not None and fetch.retry.wait is not None  # retryd's strategy
    finally:
        scope["client"].close()
