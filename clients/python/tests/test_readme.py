"""The README's delivery examples run as written: each block marked
``<!-- readme-test: NAME -->`` is saved as NAME and run as a program of its own,
against the delivery sidecar (``RETRYD_ADDR``) and the session's RabbitMQ
(``AMQP_URL``), then stopped the way its comments say (SIGTERM)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Dict, Iterator, List

import pytest

import retryd
from conftest import ROOT, wait_until

README = ROOT / "clients/python/README.md"


def examples() -> Dict[str, str]:
    return dict(re.findall(r"<!-- readme-test: (\S+) -->\n```python\n(.*?)```", README.read_text(), re.S))


class Program:
    """An example running in its own interpreter; its output, line by line."""

    def __init__(self, path: Path, env: Dict[str, str]) -> None:
        self.proc = subprocess.Popen([sys.executable, str(path)], env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self.lines: List[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float = 15.0) -> None:
        wait_until(f"{text!r} in the output; got {self.lines}", lambda: any(text in x for x in self.lines)
                   or self.proc.poll() is not None, timeout=timeout)
        assert any(text in x for x in self.lines), (self.proc.returncode, self.lines)

    def sigterm(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=15)
        finally:
            self.close()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._reader.join(5)


@pytest.fixture
def run(tmp_path: Path, delivery_addr: str) -> Iterator:
    started: List[Program] = []
    env = dict(os.environ, RETRYD_ADDR=delivery_addr)

    def start(name: str, **extra: str) -> Program:
        path = tmp_path / name
        path.write_text(examples()[name])
        p = Program(path, dict(env, **extra))
        started.append(p)
        return p

    yield start
    for p in started:
        p.close()


def test_every_marked_example_is_run_here() -> None:
    assert sorted(examples()) == ["aio_worker.py", "consumer.py", "relay.py", "worker.py"]


def test_the_worker_example(run, dclient: retryd.Client) -> None:
    worker = run("worker.py")
    worker.wait_for("sent 'Your invoice' to a@example.com on attempt 3")
    wait_until("mail-1 settled", lambda: dclient.get_job("mail-1") is None)
    assert worker.sigterm() == 0, worker.lines


def test_the_asyncio_worker_example(run, dclient: retryd.Client) -> None:
    worker = run("aio_worker.py")
    worker.wait_for("sent 'Welcome' to b@example.com")
    wait_until("mail-2 settled", lambda: dclient.get_job("mail-2") is None)
    assert worker.sigterm() == 0, worker.lines


def test_the_rabbitmq_relay_and_consumer_examples(run, rabbitmq_url: str,
                                                  dclient: retryd.Client) -> None:
    relay = run("relay.py", AMQP_URL=rabbitmq_url)
    consumer = run("consumer.py", AMQP_URL=rabbitmq_url)
    # Two failures parked in retryd, published back by the relay, then a success.
    consumer.wait_for("sent 'Your receipt' to c@example.com on attempt 3")
    wait_until("mail-3 settled", lambda: dclient.get_job("mail-3") is None)
    assert relay.sigterm() == 0, relay.lines
    assert consumer.sigterm() == -signal.SIGTERM  # pika's start_consuming: the signal's default
