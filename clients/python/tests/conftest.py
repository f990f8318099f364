"""Fixtures: a retryd sidecar, a Redis server, a RabbitMQ broker, an HTTP
server and a black hole, each started by the tests on free 127.0.0.1 ports and
stopped after them.

retryd is ``$RETRYD_BIN`` (default: the repository's ``target/debug/retryd``,
which ``cargo test`` and ``cargo build`` make); Redis is ``redis-server``
from ``PATH``; RabbitMQ is Debian's ``rabbitmq-server`` (``$RABBITMQ_SERVER``
names another start script).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
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

# Delivery's tests: the same policy, and a poison job dead after two
# hand-outs whose leases ran out.
DELIVERY_CONFIG = CONFIG + """
[delivery]
max_deliveries = 2
"""
MAX_DELIVERIES = 2


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
def running_retryd(binary: str, directory: Path, addr: str, config_text: str = CONFIG):
    """Runs ``binary`` serving on ``addr`` with ``config_text`` (CONFIG) until the block ends."""
    port = addr.rsplit(':', 1)[1]
    config = directory / f"retryd-{port}.toml"
    config.write_text(config_text)
    log = directory / f"retryd-{port}.log"
    with open(log, "ab") as out:
        start = out.tell()
        proc = subprocess.Popen(
            [binary, "--grpc-addr", addr, "--metrics-addr", f"127.0.0.1:{free_port()}",
             "--config", str(config)],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    try:
        _wait_for("retryd", lambda: b"retryd serving" in log.read_bytes()[start:], proc, log)
        yield addr
    finally:
        _stop(proc)


@contextlib.contextmanager
def redis_cluster(directory: Path):
    """A Redis Cluster of 3 primaries and 3 replicas on free ports; its seed URLs."""
    exe = shutil.which("redis-server")
    cli = shutil.which("redis-cli")
    if exe is None or cli is None:
        raise RuntimeError("redis-server / redis-cli are not on PATH (Debian: apt-get install redis-server redis-tools)")
    ports = [cluster_port() for _ in range(6)]
    procs = []
    try:
        for port in ports:
            d = directory / f"node-{port}"
            d.mkdir()
            log = open(d / "redis.log", "wb")
            procs.append(subprocess.Popen(
                [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                 "--cluster-enabled", "yes", "--cluster-config-file", str(d / "nodes.conf"),
                 "--cluster-node-timeout", "2000", "--dir", str(d)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            ))
        for port in ports:
            wait_until(f"redis node {port}", lambda: _pong(port), timeout=20)
        subprocess.run(
            [cli, "--cluster", "create", *[f"127.0.0.1:{p}" for p in ports],
             "--cluster-replicas", "1", "--cluster-yes"],
            check=True, capture_output=True, timeout=60,
        )

        def ok() -> bool:
            out = subprocess.run([cli, "-p", str(ports[0]), "cluster", "info"],
                                 capture_output=True, text=True, timeout=5).stdout
            return "cluster_state:ok" in out

        wait_until("the cluster", ok, timeout=30)
        yield [f"redis://127.0.0.1:{p}" for p in ports]
    finally:
        for proc in procs:
            _stop(proc)


def cluster_port() -> int:
    """A free port a cluster node can take: its bus port (port + 10000) must
    exist and be free too."""
    while True:
        port = free_port()
        if port > 55535:
            continue
        with socket.socket() as bus:
            try:
                bus.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port


def _pong(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextlib.contextmanager
def round_robin(backends: list):
    """A TCP proxy on a free port handing each new connection to the next of
    ``backends`` in turn: each client (each gRPC channel) of a test talks to
    another sidecar of the fleet. Its address."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    stop = threading.Event()
    turn = [0]

    def pump(a: socket.socket, b: socket.socket) -> None:
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            host, port = backends[turn[0] % len(backends)].rsplit(":", 1)
            turn[0] += 1
            try:
                up = socket.create_connection((host, int(port)), timeout=5)
            except OSError:
                conn.close()
                continue
            for s in (conn, up):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                s.settimeout(None)
            threading.Thread(target=pump, args=(conn, up), daemon=True).start()
            threading.Thread(target=pump, args=(up, conn), daemon=True).start()

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        t.join(2)
        listener.close()


@pytest.fixture(scope="session", params=["one-sidecar", "fleet-on-a-redis-cluster"])
def delivery_addr(request: pytest.FixtureRequest, retryd_bin: str,
                  tmp_path_factory: pytest.TempPathFactory):
    """The sidecar delivery's end-to-end tests run against (DELIVERY_CONFIG),
    twice: one sidecar in memory, and three sidecars sharing a Redis Cluster
    behind a round-robin proxy (each client of a test reaches another
    sidecar). Its address."""
    d = tmp_path_factory.mktemp("delivery")
    if request.param == "one-sidecar":
        with running_retryd(retryd_bin, d, f"127.0.0.1:{free_port()}", DELIVERY_CONFIG) as addr:
            yield addr
        return
    with contextlib.ExitStack() as stack:
        nodes = stack.enter_context(redis_cluster(d))
        fleet = DELIVERY_CONFIG + (
            "[state]\nbackend = \"redis\"\n[state.redis]\n"
            f"cluster_nodes = [{', '.join(repr(n).replace(chr(39), chr(34)) for n in nodes)}]\n"
            f"key_prefix = \"py{os.getpid()}\"\ntimeout = \"2s\"\n"
        )
        addrs = [
            stack.enter_context(running_retryd(retryd_bin, d, f"127.0.0.1:{free_port()}", fleet))
            for _ in range(3)
        ]
        yield stack.enter_context(round_robin(addrs))


@pytest.fixture
def dclient(delivery_addr: str):
    """A client of the delivery sidecar."""
    c = retryd.Client(delivery_addr, timeout=2.0)
    yield c
    c.close()


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


# --- RabbitMQ -------------------------------------------------------------------
# One broker for the whole session: it takes about ten seconds to boot, so it
# is started as soon as collection shows a test that needs it, and boots while
# the tests before that one run. Its node name, ports, epmd port, database and
# logs are its own, in a temporary directory removed at the end.


class RabbitMQ:
    def __init__(self) -> None:
        self.proc: "subprocess.Popen[bytes] | None" = None
        self.epmd: "subprocess.Popen[bytes] | None" = None
        self.directory = ""
        self.port = 0
        self.started_at = 0.0
        self.ready_after: "float | None" = None

    @staticmethod
    def script() -> str:
        # Debian's /usr/sbin/rabbitmq-server switches to the rabbitmq user when
        # run as root; the script it calls runs the broker as whoever we are.
        path = os.environ.get("RABBITMQ_SERVER") or "/usr/lib/rabbitmq/bin/rabbitmq-server"
        if not os.access(path, os.X_OK):
            raise RuntimeError(f"no RabbitMQ at {path} (Debian: apt-get install rabbitmq-server; "
                               "or set RABBITMQ_SERVER to its rabbitmq-server script)")
        return path

    def start(self) -> None:
        if self.proc is not None:
            return
        script = self.script()
        epmd = shutil.which("epmd") or next(iter(sorted(Path("/usr/lib/erlang").glob("erts-*/bin/epmd"))), None)
        if epmd is None:
            raise RuntimeError("no epmd (Erlang's port mapper) next to RabbitMQ's Erlang")
        self.directory = tempfile.mkdtemp(prefix="retryd-rabbitmq-")
        d = Path(self.directory)
        self.port, dist, epmd_port = free_port(), free_port(), free_port()
        (d / "enabled_plugins").write_text("[].\n")
        env = dict(
            os.environ,
            HOME=str(d),  # its .erlang.cookie
            RABBITMQ_NODENAME=f"retryd-test-{os.getpid()}@localhost",
            RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(dist),
            ERL_EPMD_PORT=str(epmd_port),
            ERL_EPMD_ADDRESS="127.0.0.1",
            RABBITMQ_MNESIA_BASE=str(d / "mnesia"),
            RABBITMQ_LOG_BASE=str(d / "log"),
            RABBITMQ_LOGS="-",
            RABBITMQ_CONFIG_FILE=str(d / "rabbitmq"),
            RABBITMQ_ADVANCED_CONFIG_FILE=str(d / "advanced.config"),
            RABBITMQ_CONF_ENV_FILE=str(d / "rabbitmq-env.conf"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(d / "enabled_plugins"),
            RABBITMQ_PID_FILE=str(d / "rabbitmq.pid"),
            ERL_CRASH_DUMP=str(d / "erl_crash.dump"),  # not in the working directory
        )
        self.started_at = time.monotonic()
        with open(d / "rabbitmq.log", "wb") as out:
            # Erlang's port mapper, ours on its own port and in the
            # foreground: the broker finds it instead of starting a daemon
            # that would outlive the tests.
            self.epmd = subprocess.Popen([epmd, "-port", str(epmd_port)], env=env, stdout=out,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            self.proc = subprocess.Popen([script], env=env, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/%2F"

    def wait(self, timeout: float = 60.0) -> str:
        """Waits until it takes an AMQP connection; its URL."""
        import pika

        assert self.proc is not None
        log = Path(self.directory) / "rabbitmq.log"

        def connects() -> bool:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    pass
                params = pika.URLParameters(self.url + "?connection_attempts=1&socket_timeout=2")
                pika.BlockingConnection(params).close()
                return True
            except Exception:  # noqa: BLE001 - not up yet
                return False

        if self.ready_after is None:
            _wait_for("rabbitmq-server", connects, self.proc, log, timeout=timeout)
            self.ready_after = time.monotonic() - self.started_at
        return self.url

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            # The start script stops the broker on SIGTERM and waits for it
            # (about two seconds): then no process of it is left behind.
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        epmd, self.epmd = self.epmd, None
        if epmd is not None:
            _stop(epmd)
        if self.directory:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = ""


_RABBITMQ = RabbitMQ()


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list) -> None:
    # trylast: after -k and -m have deselected what they deselect.
    if any("rabbitmq_url" in getattr(item, "fixturenames", ()) for item in items):
        _RABBITMQ.start()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _RABBITMQ.stop()


@pytest.fixture(scope="session")
def rabbitmq_url():
    """A RabbitMQ broker of our own; its amqp:// URL (user guest)."""
    _RABBITMQ.start()
    try:
        yield _RABBITMQ.wait()
    finally:
        _RABBITMQ.stop()


def wait_until(what: str, predicate, timeout: float = 10.0, every: float = 0.02):
    """Polls ``predicate`` until it returns something true (which is returned),
    failing the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        time.sleep(every)
