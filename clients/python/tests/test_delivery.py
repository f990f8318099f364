"""Delivery with no broker at all: retryd is the queue of retries.

The client's delivery calls, its fencing (``retryd.LeaseLost``) and argument
checks, and ``retryd.Worker`` against a live sidecar (conftest.DELIVERY_CONFIG:
100 ms between attempts, 4 attempts, dead after 2 hand-outs whose leases ran
out), including workers in subprocesses killed or stopped by a signal.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import List

import pytest

import retryd
from conftest import DELIVERY_CONFIG, MAX_ATTEMPTS, free_port, running_retryd, wait_until


class ValidationError(Exception):
    pass


def name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def park(client: retryd.Client, queue: str, payload: bytes = b'{"to": "a@example.com"}', job_id: str = "") -> str:
    """A job's first run failed: retryd holds it, due in 100 ms on ``queue``."""
    job_id = job_id or name("job")
    d = client.report_failure(job_id, ConnectionResetError("reset"), job_type="mail", attempt=1,
                              payload=payload, queue=queue)
    assert d.retry
    return job_id


def claim_one(client: retryd.Client, queue: str, lease: float = 5.0) -> retryd.DueJob:
    jobs = wait_until(f"a due job on {queue}", lambda: client.claim_due(queue, lease=lease))
    assert len(jobs) == 1
    return jobs[0]


# --- the client's calls -------------------------------------------------------


def test_park_claim_and_settle(dclient: retryd.Client) -> None:
    q = name("q")
    j = park(dclient, q, b"\x00\x01payload")
    held = dclient.get_job(j)
    assert held is not None
    assert (held.queue, held.payload_bytes, held.deliveries, held.lease_until) == (q, 9, 0, None)
    assert dclient.claim_due(q) == []  # due in 100 ms, not yet
    before = dt.datetime.now(dt.timezone.utc)
    job = claim_one(dclient, q, lease=5.0)
    assert (job.job_id, job.job_type, job.queue, job.payload) == (j, "mail", q, b"\x00\x01payload")
    assert (job.attempt, job.deliveries) == (2, 1)
    assert job.last_error.type == "ConnectionResetError" and job.last_error.message == "reset"
    assert job.due_at is not None and job.due_at <= before + dt.timedelta(seconds=1)
    assert job.lease_id and job.lease_until is not None
    assert before + dt.timedelta(seconds=4) < job.lease_until < before + dt.timedelta(seconds=7)
    stats = {s.queue: s for s in dclient.list_queues()}[q]
    assert (stats.parked, stats.due, stats.leased, stats.parked_bytes, stats.oldest_due_at) == (0, 0, 1, 9, None)
    held = dclient.get_job(j)
    assert held is not None and held.deliveries == 1 and held.lease_until == job.lease_until
    until = dclient.extend_lease(j, job.lease_id, 60)
    assert until > job.lease_until + dt.timedelta(seconds=50)
    s = dclient.report_success(j, job_type="mail", lease_id=job.lease_id)
    assert (s.known, s.failures_before_success) == (True, 1)
    assert dclient.get_job(j) is None
    assert q not in {s.queue for s in dclient.list_queues()}


def test_failure_with_the_lease_parks_again_and_release_counts_none(dclient: retryd.Client) -> None:
    q = name("q")
    j = park(dclient, q)
    job = claim_one(dclient, q)
    dclient.release_job(j, job.lease_id, delay=0.2)
    held = dclient.get_job(j)
    assert held is not None and held.failure_count == 1 and held.lease_until is None
    assert dclient.claim_due(q) == []  # the release's delay
    again = claim_one(dclient, q)
    assert (again.attempt, again.deliveries) == (2, 2)  # no failure counted
    d = dclient.report_failure(j, TimeoutError("t"), job_type="mail", attempt=again.attempt, lease_id=again.lease_id)
    assert d.retry and d.failure_count == 2
    third = claim_one(dclient, q)
    assert third.attempt == 3 and third.payload == b'{"to": "a@example.com"}'  # the payload kept
    dclient.report_success(j, lease_id=third.lease_id)


def test_fencing_a_lost_lease_changes_nothing(dclient: retryd.Client) -> None:
    q = name("q")
    j = park(dclient, q)
    old = claim_one(dclient, q)
    dclient.release_job(j, old.lease_id)
    new = claim_one(dclient, q)
    assert new.lease_id != old.lease_id
    calls = [
        (old.lease_id, lambda: dclient.report_success(j, lease_id=old.lease_id)),
        (old.lease_id, lambda: dclient.report_failure(j, TimeoutError("t"), attempt=2, lease_id=old.lease_id)),
        (old.lease_id, lambda: dclient.extend_lease(j, old.lease_id, 5)),
        (old.lease_id, lambda: dclient.release_job(j, old.lease_id)),
        ("", lambda: dclient.report_success(j)),  # none, for a job handed out under one
        ("", lambda: dclient.report_failure(j, TimeoutError("t"), attempt=2)),
    ]
    for lease_id, call in calls:
        with pytest.raises(retryd.LeaseLost) as e:
            call()
        assert e.value.code == "FAILED_PRECONDITION"
        assert e.value.details.startswith("lease_id:")
        assert (e.value.job_id, e.value.lease_id) == (j, lease_id)
        assert isinstance(e.value, retryd.RetrydError) and not isinstance(e.value, retryd.Unavailable)
    # Even a client with a fallback raises it: a lost lease is not an outage.
    with retryd.Client(dclient.addr, timeout=2.0, fallback=retryd.fallback.exponential()) as fb:
        with pytest.raises(retryd.LeaseLost):
            fb.report_failure(j, TimeoutError("t"), attempt=2, lease_id=old.lease_id)
    held = dclient.get_job(j)
    assert held is not None and held.failure_count == 1 and held.deliveries == 2
    assert dclient.report_success(j, lease_id=new.lease_id).known


def test_a_payload_too_large_is_an_error_even_with_a_fallback(delivery_addr: str) -> None:
    with retryd.Client(delivery_addr, timeout=2.0, fallback=retryd.fallback.exponential()) as c:
        with pytest.raises(retryd.RetrydError) as e:
            c.report_failure(name("big"), TimeoutError("t"), payload=b"x" * (256 * 1024 + 1))
    assert not isinstance(e.value, retryd.Unavailable)
    assert e.value.code == "RESOURCE_EXHAUSTED" and e.value.details.startswith("payload:")


def test_a_permanent_error_keeps_the_payload_with_the_dead_job(dclient: retryd.Client) -> None:
    j = name("job")
    d = dclient.report_failure(j, ValidationError("bad address"), payload=b"p", queue=name("q"))
    assert (d.retry, d.reason) == (False, "permanent_error")
    dead = dclient.get_job(j)
    assert dead is not None and dead.state == "dead" and dead.payload_bytes == 1


def test_watch_due_streams_jobs_and_cancel_ends_it(dclient: retryd.Client) -> None:
    q = name("q")
    ids = [park(dclient, q) for _ in range(3)]
    got: List[retryd.DueJob] = []
    with dclient.watch_due(q, max_in_flight=2, lease=5) as stream:
        for job in stream:
            got.append(job)
            if len(got) == 2:
                break
        # Two are out and unsettled: the third waits for a slot.
        assert {j.job_id for j in got} <= set(ids)
        dclient.report_success(got[0].job_id, lease_id=got[0].lease_id)
        got.append(next(stream))
    assert sorted(j.job_id for j in got) == sorted(ids)
    for job in got[1:]:
        dclient.report_success(job.job_id, lease_id=job.lease_id)
    stream = dclient.watch_due(q)
    threading.Timer(0.2, stream.cancel).start()
    start = time.monotonic()
    assert list(stream) == []  # the cancel ends the iteration, quietly
    assert time.monotonic() - start < 2


def test_arguments_are_checked_before_anything_is_sent(closed_port: str) -> None:
    with retryd.Client(closed_port, timeout=0.5) as c:
        cases = [
            ("queue", TypeError, lambda: c.claim_due(None)),  # type: ignore[arg-type]
            ("queue", ValueError, lambda: c.claim_due("")),
            ("queue", ValueError, lambda: c.claim_due("q" * 129)),
            ("max_jobs", ValueError, lambda: c.claim_due("q", max_jobs=0)),
            ("max_jobs", ValueError, lambda: c.claim_due("q", max_jobs=1001)),
            ("max_jobs", TypeError, lambda: c.claim_due("q", max_jobs=1.5)),  # type: ignore[arg-type]
            ("lease", ValueError, lambda: c.claim_due("q", lease=0)),
            ("lease", ValueError, lambda: c.claim_due("q", lease=-1)),
            ("lease", ValueError, lambda: c.claim_due("q", lease=dt.timedelta(hours=13))),
            ("lease", TypeError, lambda: c.claim_due("q", lease="30s")),  # type: ignore[arg-type]
            ("max_in_flight", ValueError, lambda: c.watch_due("q", max_in_flight=0)),
            ("lease", ValueError, lambda: c.watch_due("q", lease=float("nan"))),
            ("lease_id", ValueError, lambda: c.extend_lease("j", "")),
            ("job_id", ValueError, lambda: c.extend_lease("", "l")),
            ("lease", ValueError, lambda: c.extend_lease("j", "l", lease=0)),
            ("lease_id", ValueError, lambda: c.release_job("j", "")),
            ("delay", ValueError, lambda: c.release_job("j", "l", delay=-0.5)),
            ("payload", TypeError,
             lambda: c.report_failure("j", TimeoutError("t"), payload="text")),  # type: ignore[arg-type]
            ("queue", ValueError, lambda: c.report_failure("j", TimeoutError("t"), queue="q" * 129)),
            ("lease_id", TypeError, lambda: c.report_success("j", lease_id=7)),  # type: ignore[arg-type]
        ]
        for arg, kind, call in cases:
            start = time.monotonic()
            with pytest.raises(kind) as e:
                call()
            assert str(e.value).startswith(f"{arg}:"), (arg, str(e.value))
            assert time.monotonic() - start < 0.1  # refused here, not by a call that times out
        # In range: the zero delay, a timedelta lease, 1000 jobs (then the
        # sidecar is asked, and it is not there).
        for call in (lambda: c.release_job("j", "l", delay=0),
                     lambda: c.claim_due("q", max_jobs=1000, lease=dt.timedelta(hours=12))):
            with pytest.raises(retryd.Unavailable):
                call()
    bad_workers = [
        ("handler", TypeError, lambda: retryd.Worker("q", "not callable", addr=closed_port)),  # type: ignore[arg-type]
        ("concurrency", ValueError, lambda: retryd.Worker("q", print, concurrency=0, addr=closed_port)),
        ("queue", ValueError, lambda: retryd.Worker("", print, addr=closed_port)),
        ("lease", ValueError, lambda: retryd.Worker("q", print, lease=0, addr=closed_port)),
        ("client", TypeError, lambda: retryd.Worker("q", print, client=object())),  # type: ignore[arg-type]
        ("publish", TypeError, lambda: retryd.relay("q", None, addr=closed_port)),  # type: ignore[arg-type]
        ("max_in_flight", ValueError, lambda: retryd.relay("q", print, max_in_flight=1001, addr=closed_port)),
        ("release_delay", ValueError, lambda: retryd.relay("q", print, release_delay=-1, addr=closed_port)),
    ]
    for arg, kind, call in bad_workers:
        with pytest.raises(kind) as e:
            call()
        assert str(e.value).startswith(f"{arg}:"), (arg, str(e.value))


# --- retryd.Worker --------------------------------------------------------------


def test_worker_runs_a_job_until_it_succeeds(dclient: retryd.Client) -> None:
    q = name("q")
    j = park(dclient, q, b'{"n": 1}')
    runs: List[retryd.DueJob] = []

    def handler(job: retryd.DueJob) -> None:
        runs.append(job)
        if job.attempt < 3:
            raise ConnectionResetError("smtp: connection reset")

    with retryd.Worker(q, handler, lease=5, client=dclient) as w:
        wait_until("the job settled", lambda: dclient.get_job(j) is None)
    assert [(r.attempt, r.payload, r.deliveries) for r in runs] == [(2, b'{"n": 1}', 1), (3, b'{"n": 1}', 2)]
    assert runs[1].last_error.type == "ConnectionResetError"
    stats = w.stats
    assert (stats.received, stats.succeeded, stats.retried, stats.dead, stats.lost) == (2, 1, 1, 0, 0)
    assert dclient.report_success(j).known is False


def test_worker_reports_give_ups(dclient: retryd.Client, caplog: pytest.LogCaptureFixture) -> None:
    q = name("q")
    permanent, transient = park(dclient, q), park(dclient, q)
    attempts: List[int] = []

    def handler(job: retryd.DueJob) -> None:
        if job.job_id == permanent:
            raise ValidationError("no such mailbox")
        attempts.append(job.attempt)
        raise TimeoutError("smtp timed out")

    caplog.set_level(logging.INFO, logger="retryd.worker")
    with retryd.Worker(q, handler, concurrency=2, lease=5, client=dclient) as w:
        for j in (permanent, transient):
            wait_until(f"{j} dead", lambda: (dclient.get_job(j) or retryd.Job(j)).state == "dead")
    assert attempts == list(range(2, MAX_ATTEMPTS + 1))
    dead = {j: dclient.get_job(j) for j in (permanent, transient)}
    reasons = {j: d.last_decision.reason for j, d in dead.items() if d and d.last_decision}
    assert reasons == {permanent: "permanent_error", transient: "retries_exhausted"}
    assert all(d is not None and d.payload_bytes > 0 for d in dead.values())  # kept for a RetryJob
    assert (w.stats.dead, w.stats.retried) == (2, MAX_ATTEMPTS - 2)
    assert any("retryd gave up (permanent_error)" in r.getMessage() for r in caplog.records)


def test_a_long_run_keeps_its_lease(dclient: retryd.Client) -> None:
    q = name("q")
    j = park(dclient, q)
    leases: List[dt.datetime] = []
    started = threading.Event()

    def handler(job: retryd.DueJob) -> None:
        started.set()
        time.sleep(2.2)  # more than twice the lease

    with retryd.Worker(q, handler, lease=0.9, client=dclient) as w:
        assert started.wait(5)
        deadline = time.monotonic() + 10
        while (held := dclient.get_job(j)) is not None:
            assert time.monotonic() < deadline, "the job did not settle"
            if held.lease_until is not None:
                leases.append(held.lease_until)
            time.sleep(0.1)
    # Extended again and again: a lease that ran out would have made it due,
    # counted a second delivery and fenced the report.
    assert len(set(leases)) >= 3 and leases == sorted(leases)
    assert leases[-1] - leases[0] >= dt.timedelta(seconds=1)
    assert w.stats.extended >= 4 and (w.stats.succeeded, w.stats.lost, w.stats.received) == (1, 0, 1)


def test_worker_logs_a_lost_lease_and_reports_nothing(dclient: retryd.Client,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    q = name("q")
    j = park(dclient, q)
    runs: List[retryd.DueJob] = []

    def handler(job: retryd.DueJob) -> None:
        runs.append(job)
        if len(runs) == 1:
            # Its lease goes (as if it had run out): retryd hands the job out
            # again, here to this same worker, which waits for a free slot.
            dclient.release_job(job.job_id, job.lease_id)
            wait_until("handed out again", lambda: (dclient.get_job(j) or retryd.Job(j)).deliveries == 2)
            raise TimeoutError("this failure must not be counted")

    caplog.set_level(logging.WARNING, logger="retryd.worker")
    with retryd.Worker(q, handler, lease=5, client=dclient) as w:
        wait_until("the job settled", lambda: dclient.get_job(j) is None)
    assert len(runs) == 2 and runs[0].lease_id != runs[1].lease_id
    assert runs[1].attempt == 2  # the fenced failure was not counted
    assert (w.stats.lost, w.stats.succeeded, w.stats.retried) == (1, 1, 0)
    assert any("lease lost" in r.getMessage() and j in r.getMessage() for r in caplog.records)


def test_stop_waits_for_running_handlers_then_leaves_the_rest_to_their_leases(dclient: retryd.Client) -> None:
    q = name("q")
    quick, slow = park(dclient, q), park(dclient, q)
    running = threading.Semaphore(0)
    let_go = threading.Event()
    done: List[str] = []

    def handler(job: retryd.DueJob) -> None:
        running.release()
        if job.job_id == slow:
            let_go.wait(10)
        else:
            time.sleep(0.4)
        done.append(job.job_id)

    w = retryd.Worker(q, handler, concurrency=2, lease=5, addr=dclient.addr, stop_timeout=1.0).start()
    try:
        assert running.acquire(timeout=5) and running.acquire(timeout=5)
        start = time.monotonic()
        stats = w.stop()
        took = time.monotonic() - start
        # The quick one finished and was settled; the slow one was waited for
        # until stop_timeout, then left running: its lease stays with it.
        assert 0.9 < took < 2.5, took
        assert done == [quick] and stats.succeeded == 1 and stats.unsettled == 1
        assert dclient.get_job(quick) is None
        held = dclient.get_job(slow)
        assert held is not None and held.lease_until is not None
        assert not [t for t in threading.enumerate() if t.name.startswith(("retryd-worker", "retryd-leases"))]
        assert w.stop().succeeded == 1  # twice is fine
    finally:
        let_go.set()
    # Its handler ends later, after the worker stopped: nothing is reported,
    # and the job waits for its lease to run out to be handed out again.
    wait_until("the slow handler ended", lambda: done == [quick, slow])
    time.sleep(0.2)
    held = dclient.get_job(slow)
    assert held is not None and held.lease_until is not None and held.deliveries == 1
    assert w.stats.unsettled == 1


def test_worker_finds_a_restarted_sidecar_again(retryd_bin: str, tmp_path: Path) -> None:
    addr = f"127.0.0.1:{free_port()}"
    q = name("q")
    seen: List[str] = []
    with running_retryd(retryd_bin, tmp_path, addr, DELIVERY_CONFIG):
        with retryd.Client(addr, timeout=2.0) as c:
            first = park(c, q)
            w = retryd.Worker(q, lambda job: seen.append(job.job_id), lease=5, addr=addr).start()
            wait_until("the first job run", lambda: first in seen)
    try:
        # The sidecar is gone (and with it, its memory): the worker waits.
        time.sleep(0.3)
        with running_retryd(retryd_bin, tmp_path, addr, DELIVERY_CONFIG):
            with retryd.Client(addr, timeout=2.0) as c:
                second = park(c, q)
                wait_until("the second job run", lambda: second in seen, timeout=10)
                wait_until("the second job settled", lambda: c.get_job(second) is None)
    finally:
        stats = w.stop(timeout=2)
    assert seen == [first, second]
    assert stats.succeeded == 2 and stats.reconnects >= 1


# --- workers in their own processes -------------------------------------------

WORKER = """
import json, logging, pathlib, sys, time
import retryd

logging.basicConfig(level=logging.INFO)

addr, queue, mode, marker = sys.argv[1:5]

def handler(job):
    pathlib.Path(marker).write_text(json.dumps({"job_id": job.job_id, "lease_id": job.lease_id}))
    if mode == "hang":
        time.sleep(60)
    else:
        time.sleep(0.8)

stats = retryd.Worker(queue, handler, lease=1.0, addr=addr).run()
print(json.dumps(stats.__dict__), flush=True)
"""


def _worker_process(addr: str, queue: str, mode: str, marker: Path) -> "subprocess.Popen[str]":
    return subprocess.Popen([sys.executable, "-c", WORKER, addr, queue, mode, str(marker)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _stop_process(proc: "subprocess.Popen[str]") -> None:
    if proc.poll() is None:
        proc.kill()
    proc.communicate(timeout=10)


def test_a_killed_workers_job_goes_to_another_worker_after_its_lease(dclient: retryd.Client,
                                                                     tmp_path: Path) -> None:
    q = name("q")
    j = park(dclient, q)
    marker = tmp_path / "started"
    proc = _worker_process(dclient.addr, q, "hang", marker)
    try:
        first = json.loads(wait_until("the job started", lambda: marker.exists() and marker.read_text()))
        assert first["job_id"] == j
        os.kill(proc.pid, signal.SIGKILL)  # mid-job: nothing is reported
        proc.wait(timeout=10)
    finally:
        _stop_process(proc)
    killed_at = time.monotonic()
    runs: List[retryd.DueJob] = []
    with retryd.Worker(q, runs.append, lease=5, client=dclient):
        wait_until("the job settled", lambda: dclient.get_job(j) is None, timeout=10)
    # It came back once its lease (1 s, extended until the kill) ran out.
    assert time.monotonic() - killed_at < 5
    assert len(runs) == 1 and runs[0].job_id == j
    assert runs[0].deliveries == 2 and runs[0].lease_id != first["lease_id"]
    assert runs[0].attempt == 2  # the killed run was no reported failure


def test_sigterm_stops_a_worker_cleanly(dclient: retryd.Client, tmp_path: Path) -> None:
    q = name("q")
    j = park(dclient, q)
    marker = tmp_path / "started"
    proc = _worker_process(dclient.addr, q, "finish", marker)
    try:
        wait_until("the job started", lambda: marker.exists())
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    finally:
        _stop_process(proc)
    # It finished the job it was running, settled it, and exited 0.
    assert proc.returncode == 0, err
    stats = json.loads(out.strip().splitlines()[-1])
    assert (stats["received"], stats["succeeded"], stats["unsettled"]) == (1, 1, 0)
    assert dclient.get_job(j) is None
    assert "SIGTERM: stopping" in err


def test_a_sidecar_without_delivery_ends_the_worker_with_its_error(retryd_bin: str, tmp_path: Path) -> None:
    addr = f"127.0.0.1:{free_port()}"
    with running_retryd(retryd_bin, tmp_path, addr, DELIVERY_CONFIG.replace("[delivery]", "[delivery]\nenabled = false")):
        start = time.monotonic()
        with pytest.raises(retryd.RetrydError) as e:
            retryd.Worker(name("q"), print, addr=addr).run()
        assert e.value.code == "FAILED_PRECONDITION" and not isinstance(e.value, retryd.LeaseLost)
        # Started in the background, the error is kept and stop() raises it.
        w = retryd.relay(name("q"), print, addr=addr).start()
        wait_until("the relay ended", lambda: w.error is not None)
        with pytest.raises(retryd.RetrydError):
            w.stop()
        assert time.monotonic() - start < 5
    never = retryd.Worker(name("q"), print, addr=addr)
    assert never.stop() == retryd.WorkerStats()
    with pytest.raises(RuntimeError):
        never.run()
