"""Fixtures: a retryd sidecar, a Redis server, an HTTP server and a black hole,
each started by the tests on free 127.0.0.1 ports and stopped after them.

retryd is ``$RETRYD_BIN`` (default: the repository's ``target/debug/retryd``,
which ``cargo test`` and ``cargo build`` make); Redis is ``redis-server``
from ``PATH``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

import retryd

ROOT = Path(__file__).resolve().parents[3]

# Small delays so that the tests are fast: 4 attempts, 100 ms apart.
CONFIG = """
[policies.default]
max_attempts = 4
backoff = { kind = "constant", delay = "100ms" }
"""
MAX_ATTEMPTS = 4
DELAY = 0.1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _wait_for(what: str, ready, proc: subprocess.Popen, log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{log.read_text(errors='replace')}")
        if ready():
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} not ready after {timeout}s:\n{log.read_text(errors='replace')}")


@pytest.fixture(scope="session")
def retryd_bin() -> str:
    path = os.environ.get("RETRYD_BIN") or str(ROOT / "target/debug/retryd")
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"no retryd binary at {path}: run `cargo build` or set RETRYD_BIN")
    return path


@contextlib.contextmanager
def running_retryd(binary: str, directory: Path, addr: str):
    """Runs ``binary`` serving on ``addr`` with CONFIG until the block ends."""
    config = directory / "retryd.toml"
    config.write_text(CONFIG)
    log = directory / f"retryd-{addr.rsplit(':', 1)[1]}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [binary, "--grpc-addr", addr, "--metrics-addr", f"127.0.0.1:{free_port()}",
             "--config", str(config)],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    try:
        _wait_for("retryd", lambda: "retryd serving" in log.read_text(errors="replace"), proc, log)
        yield addr
    finally:
        _stop(proc)


@pytest.fixture(scope="session")
def retryd_addr(retryd_bin: str, tmp_path_factory: pytest.TempPathFactory):
    """A retryd sidecar with CONFIG; its address."""
    with running_retryd(retryd_bin, tmp_path_factory.mktemp("retryd"), f"127.0.0.1:{free_port()}") as addr:
        yield addr


@pytest.fixture
def client(retryd_addr: str):
    c = retryd.Client(retryd_addr, timeout=2.0)
    yield c
    c.close()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory):
    """A redis-server of our own (no persistence); its URL."""
    exe = shutil.which("redis-server")
    if exe is None:
        raise RuntimeError("redis-server is not on PATH (Debian: apt-get install redis-server)")
    d = tmp_path_factory.mktemp("redis")
    log = d / "redis.log"
    port = free_port()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(d)],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )

    def pong() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    try:
        _wait_for("redis-server", pong, proc, log)
        yield f"redis://127.0.0.1:{port}"
    finally:
        _stop(proc)


class _Handler(BaseHTTPRequestHandler):
    """``GET /STATUS?retry_after=VALUE``: answers STATUS with that Retry-After."""

    def do_GET(self) -> None:  # noqa: N802
        url = urlparse(self.path)
        status = int(url.path.strip("/") or 200)
        self.send_response(status)
        for value in parse_qs(url.query).get("retry_after", []):
            self.send_header("Retry-After", value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="session")
def http_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def black_hole():
    """A TCP server that accepts connections and never answers: a hung sidecar."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    srv.settimeout(0.1)
    held = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            held.append(conn)

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        yield f"127.0.0.1:{srv.getsockname()[1]}"
    finally:
        stop.set()
        t.join(timeout=5)
        for c in held:
            c.close()
        srv.close()


@pytest.fixture
def closed_port() -> str:
    """An address where nothing listens."""
    return f"127.0.0.1:{free_port()}"
