"""clients/conformance/cases.json: every case the Python way, against a live
retryd started with the table's configuration."""

from __future__ import annotations

import json
import re
import socket
import ssl
import stat
import struct
import subprocess
import threading
import uuid
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterator

import grpc
import pytest
import requests

import retryd
from retryd import _convert as cv
from conftest import ROOT, _stop, _wait_for

TABLE_PATH = ROOT / "clients" / "conformance" / "cases.json"
TABLE = json.loads(TABLE_PATH.read_text())


def _raisings() -> list[Any]:
    out = []
    for case in TABLE["cases"]:
        ways = case.get("python") or [None]
        for way in ways:
            out.append(pytest.param(case, way, id=f"{case['id']}/{way['via'] if way else 'none'}"))
    return out


class ValidationError(ValueError):
    """The application's own validation error (as pydantic, Django and
    marshmallow name theirs)."""


@pytest.fixture(scope="module")
def client(retryd_bin: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[retryd.Client]:
    """A retryd of its own with the table's configuration, on a free port."""
    directory = tmp_path_factory.mktemp("conformance")
    config = directory / "retryd.toml"
    config.write_text(TABLE["config"])
    log = directory / "retryd.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [retryd_bin, "--grpc-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0", "--config", str(config)],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    try:
        _wait_for("retryd", lambda: "retryd serving" in log.read_text(errors="replace"), proc, log)
        addr = re.search(r"retryd serving grpc=(\S+)", log.read_text()).group(1)  # type: ignore[union-attr]
        with retryd.Client(addr, timeout=5.0) as c:
            yield c
    finally:
        _stop(proc)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- servers the cases need, each on a free 127.0.0.1 port -------------------


class _Server:
    """A TCP server running ``handle(conn)`` for each connection until closed."""

    def __init__(self, handle: Callable[[socket.socket], None]) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, args=(handle,), daemon=True)
        self.thread.start()

    def _serve(self, handle: Callable[[socket.socket], None]) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            conn.settimeout(5)
            self.held.append(conn)
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.sock.close()
        for c in self.held:
            c.close()


def _reset(conn: socket.socket) -> None:
    conn.recv(64)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def _tls_handshake(conn: socket.socket) -> None:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls = TABLE_PATH.parent / "tls"
    ctx.load_cert_chain(tls / "cert.pem", tls / "key.pem")
    try:
        with ctx.wrap_socket(conn, server_side=True):
            pass
    except (ssl.SSLError, OSError):
        pass


def _http_server(status: int, headers: dict[str, str]) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _grpc_server(code: str, message: str, trailers: dict[str, str]) -> tuple[grpc.Server, int]:
    class Handler(grpc.GenericRpcHandler):
        def service(self, details):  # type: ignore[no-untyped-def]
            def unary(request, context):  # type: ignore[no-untyped-def]
                context.set_trailing_metadata(tuple(trailers.items()))
                context.abort(getattr(grpc.StatusCode, code), message)

            return grpc.unary_unary_rpc_method_handler(unary)

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers((Handler(),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port


def _raised(f: Callable[[], Any]) -> BaseException:
    try:
        f()
    except BaseException as e:  # noqa: BLE001 - what the job would raise
        return e
    raise AssertionError("no error was raised")


def provoke(provoke: dict[str, Any], via: str, tmp_path: Path) -> BaseException:
    kind = provoke["kind"]
    if kind == "refused":
        port = free_port()
        if via == "socket":
            return _raised(lambda: socket.create_connection(("127.0.0.1", port), timeout=5))
        if via == "requests":
            return _raised(lambda: requests.get(f"http://127.0.0.1:{port}/", timeout=5))
    elif kind == "reset" and via == "socket":
        server = _Server(_reset)
        try:
            def reset() -> None:
                with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
                    s.sendall(b"hello\n")
                    s.recv(16)
            return _raised(reset)
        finally:
            server.close()
    elif kind == "dns" and via == "socket":
        return _raised(lambda: socket.getaddrinfo(provoke["host"], 80))
    elif kind == "timeout":
        after = provoke["after_ms"] / 1000
        server = _Server(lambda conn: None)  # accepts, never answers
        try:
            if via == "socket":
                def read() -> None:
                    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
                        s.settimeout(after)
                        s.recv(16)
                return _raised(read)
            if via == "requests":
                return _raised(lambda: requests.get(f"http://127.0.0.1:{server.port}/", timeout=after))
        finally:
            server.close()
    elif kind == "tls_untrusted" and via == "ssl":
        server = _Server(_tls_handshake)
        try:
            def handshake() -> None:
                with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
                    ssl.create_default_context().wrap_socket(s, server_hostname="localhost").close()
            return _raised(handshake)
        finally:
            server.close()
    elif kind == "http" and via == "requests":
        http = _http_server(provoke["status"], provoke["headers"])
        try:
            url = f"http://127.0.0.1:{http.server_address[1]}/"
            return _raised(lambda: requests.get(url, timeout=5).raise_for_status())
        finally:
            http.shutdown()
            http.server_close()
    elif kind == "grpc" and via == "grpcio":
        server, port = _grpc_server(provoke["code"], provoke["message"], provoke["trailers"])
        try:
            with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
                return _raised(lambda: ch.unary_unary("/downstream.v1.Orders/Place")(b"", timeout=5))
        finally:
            server.stop(None)
    elif kind == "exec_denied" and via == "subprocess":
        script = tmp_path / "job.sh"
        script.write_text("#!/bin/sh\nexit 0\n")
        script.chmod(stat.S_IRUSR | stat.S_IWUSR)
        return _raised(lambda: subprocess.run([str(script)], check=True))
    elif kind == "validation" and via == "class":
        return ValidationError(provoke["message"])
    elif kind == "bad_value" and via == "int":
        return _raised(lambda: int(provoke["value"]))
    raise AssertionError(f"provoke kind {kind!r} via {via!r}: the Python conformance test has no code for it")


def _full(pattern: str, s: str) -> bool:
    return re.fullmatch(pattern, s, re.DOTALL) is not None


@pytest.mark.parametrize(("case", "way"), _raisings())
def test_case(case: dict[str, Any], way: Any, client: retryd.Client, tmp_path: Path) -> None:
    assert way is not None, f"case {case['id']} has no Python raising"
    exc = provoke(case["provoke"], way["via"], tmp_path)
    want = way.get("expect") or case["expect"]

    # What the client sends.
    info = retryd.ErrorInfo.from_exception(exc)
    assert info.type == way["type"]
    assert _full(way["message"], info.message), info.message
    assert (info.http_status, info.grpc_code) == (way.get("http_status", 0), way.get("grpc_code", 0))
    hint = cv.retry_after_of(exc)
    expected_hint = way.get("retry_after_ms")
    assert (None if hint is None else round(hint * 1000)) == expected_hint
    pushback = cv.pushback_ms_of(exc)
    assert (pushback if pushback is not None and pushback < 0 else None) == way.get("retry_pushback_ms")

    # What retryd decides: Explain changes nothing, ReportFailure the same.
    job = f"conformance-{case['id']}-{uuid.uuid4().hex[:8]}"
    for d in (client.explain(job, exc, attempt=1), client.report_failure(job, exc, attempt=1)):
        assert (d.retry, d.error_class, d.category, d.reason) == (
            want["retry"], want["error_class"], want["category"], want["reason"]), d.explanation
        if want.get("retry_after_ms") is not None:
            assert round(d.retry_after * 1000) == want["retry_after_ms"], d.explanation

    # What arrived.
    held = client.get_job(job)
    assert held is not None
    e = held.last_error
    assert e.type == way["type"] and _full(way["message"], e.message)
    assert (e.http_status, e.grpc_code) == (way.get("http_status", 0), way.get("grpc_code", 0))


def test_every_case_has_every_language() -> None:
    langs = ("python", "node", "go", "java", "ruby")
    for case in TABLE["cases"]:
        for lang in langs:
            assert case.get(lang), f"case {case['id']} has no {lang} raising"
        assert set(case["expect"]) == {"retry", "error_class", "category", "reason", "retry_after_ms"}, case["id"]
    assert len({c["id"] for c in TABLE["cases"]}) == len(TABLE["cases"])
