"""retryd holds RabbitMQ's retries: a real broker (conftest: one per session),
a pika consumer, retryd.relay with retryd.rabbitmq.Publisher, and the sidecar
of conftest.DELIVERY_CONFIG (100 ms between attempts, 4 attempts, dead after 2
hand-outs whose leases ran out).

The consumer runs each message, settles it with retryd.rabbitmq.settle, then
acks it: a failure parks the job in retryd (payload and all), and the relay
publishes it back to the RabbitMQ queue when it is due.
"""

from __future__ import annotations

import contextlib
import subprocess
import threading
import time
import uuid
from typing import Any, Callable, Iterator, List, Optional, Tuple

import pika
import pytest

import retryd
import retryd.rabbitmq
from conftest import MAX_ATTEMPTS, MAX_DELIVERIES, wait_until

CRASH = object()  # the consumer acks the message, then dies before it reports


class ValidationError(Exception):
    pass


def name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


Seen = Tuple[Optional[retryd.rabbitmq.MessageLease], bytes]


class Consumer:
    """A pika consumer on a thread of its own; ``handler(lease, body)`` returns
    None (success), an exception (the failure), or CRASH."""

    def __init__(self, url: str, queue: str, retryd_queue: str, client: retryd.Client,
                 handler: Callable[[Optional[retryd.rabbitmq.MessageLease], bytes], Any]) -> None:
        self.url, self.queue, self.retryd_queue, self.client, self.handler = url, queue, retryd_queue, client, handler
        self.seen: List[Seen] = []
        self.results: List[Any] = []
        self.errors: List[BaseException] = []
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "Consumer":
        self._thread.start()
        assert self._ready.wait(10), self.errors
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)
        assert not self._thread.is_alive()
        assert not self.errors, self.errors

    def _on_message(self, channel: Any, method: Any, properties: Any, body: bytes) -> None:
        lease = retryd.rabbitmq.lease_of(properties)
        self.seen.append((lease, body))
        outcome = self.handler(lease, body)
        if outcome is not CRASH:
            error = outcome if isinstance(outcome, BaseException) else None
            self.results.append(retryd.rabbitmq.settle(self.client, properties, body, error,
                                                       queue=self.retryd_queue, job_type="mail"))
        channel.basic_ack(method.delivery_tag)

    def _run(self) -> None:
        try:
            conn = pika.BlockingConnection(pika.URLParameters(self.url))
            try:
                ch = conn.channel()
                ch.queue_declare(self.queue)
                ch.basic_consume(self.queue, self._on_message)
                self._ready.set()
                while not self._stop.is_set():
                    conn.process_data_events(time_limit=0.05)
            finally:
                conn.close()
        except BaseException as e:  # noqa: BLE001 - reported by __exit__
            self.errors.append(e)
            self._ready.set()


def produce(url: str, queue: str, job_id: str, body: bytes) -> None:
    """The application's own message: no retryd headers, its id as message_id."""
    with contextlib.closing(pika.BlockingConnection(pika.URLParameters(url))) as conn:
        ch = conn.channel()
        ch.queue_declare(queue)
        ch.basic_publish("", queue, body, pika.BasicProperties(message_id=job_id))


@contextlib.contextmanager
def pipeline(url: str, client: retryd.Client, handler: Any, *, lease: float = 5.0
             ) -> Iterator[Tuple[Consumer, retryd.Relay, str]]:
    """A RabbitMQ queue, its consumer, and a relay from retryd's queue of the
    same name back to it."""
    q = name("mail")
    with Consumer(url, q, q, client, handler) as consumer:
        with retryd.rabbitmq.Publisher(url, routing_key=q) as publisher:
            with retryd.relay(q, publisher, lease=lease, release_delay=0.2, client=client) as relay:
                yield consumer, relay, q


def test_failures_park_in_retryd_and_come_back_until_the_job_succeeds(
        rabbitmq_url: str, dclient: retryd.Client) -> None:
    runs: List[int] = []

    def handler(lease: Optional[retryd.rabbitmq.MessageLease], body: bytes) -> Any:
        runs.append(1)
        return ConnectionResetError("smtp: connection reset") if len(runs) <= 2 else None

    j = name("job")
    with pipeline(rabbitmq_url, dclient, handler) as (consumer, relay, q):
        produce(rabbitmq_url, q, j, b'{"to": "a@example.com"}')
        wait_until("three runs", lambda: len(consumer.results) == 3)
        assert dclient.get_job(j) is None  # retryd forgot it
    leases = [lease for lease, _ in consumer.seen]
    assert leases[0] is None  # the application's message
    assert [(x.job_id, x.attempt, x.job_type) for x in leases[1:] if x] == [(j, 2, "mail"), (j, 3, "mail")]
    assert leases[1] and leases[2] and leases[1].lease_id != leases[2].lease_id
    assert [body for _, body in consumer.seen] == [b'{"to": "a@example.com"}'] * 3
    first, second, last = consumer.results
    assert isinstance(first, retryd.Decision) and first.retry and first.failure_count == 1
    assert isinstance(second, retryd.Decision) and second.retry and second.failure_count == 2
    assert isinstance(last, retryd.Success) and last.failures_before_success == 2
    assert (relay.stats.published, relay.stats.released) == (2, 0)


def test_a_permanent_error_dies_at_once_and_transient_ones_after_max_attempts(
        rabbitmq_url: str, dclient: retryd.Client) -> None:
    def handler(lease: Optional[retryd.rabbitmq.MessageLease], body: bytes) -> Any:
        return ValidationError("no such mailbox") if body == b"invalid" else TimeoutError("smtp timed out")

    invalid, flaky = name("invalid"), name("flaky")
    with pipeline(rabbitmq_url, dclient, handler) as (consumer, relay, q):
        produce(rabbitmq_url, q, invalid, b"invalid")
        produce(rabbitmq_url, q, flaky, b"flaky")
        for j in (invalid, flaky):
            wait_until(f"{j} dead", lambda: (dclient.get_job(j) or retryd.Job(j)).state == "dead")
        time.sleep(0.3)  # three backoffs: a dead job is published no more
        runs = [(lease.job_id if lease else None, body) for lease, body in consumer.seen]
    assert runs.count((None, b"invalid")) == 1 and len([r for r in runs if r[1] == b"invalid"]) == 1
    assert len([r for r in runs if r[1] == b"flaky"]) == MAX_ATTEMPTS
    dead_invalid, dead_flaky = dclient.get_job(invalid), dclient.get_job(flaky)
    assert dead_invalid and dead_invalid.last_decision and dead_invalid.last_decision.reason == "permanent_error"
    assert dead_flaky and dead_flaky.last_decision and dead_flaky.last_decision.reason == "retries_exhausted"
    assert dead_flaky.failure_count == MAX_ATTEMPTS
    assert dead_invalid.payload_bytes == len(b"invalid") and dead_flaky.payload_bytes == len(b"flaky")


def test_a_poison_message_dies_after_max_deliveries(rabbitmq_url: str, dclient: retryd.Client) -> None:
    def handler(lease: Optional[retryd.rabbitmq.MessageLease], body: bytes) -> Any:
        # Its first run fails; every run after that kills the consumer after
        # its ack and before its report.
        return TimeoutError("t") if lease is None else CRASH

    j = name("poison")
    with pipeline(rabbitmq_url, dclient, handler, lease=0.5) as (consumer, relay, q):
        produce(rabbitmq_url, q, j, b"poison")
        dead = wait_until("dead", lambda: (x := dclient.get_job(j)) is not None and x.state == "dead" and x)
        time.sleep(0.3)
        seen = list(consumer.seen)
    assert dead.last_decision is not None and dead.last_decision.reason == "delivery_limit"
    assert dead.deliveries == MAX_DELIVERIES and dead.payload_bytes == len(b"poison")
    assert dead.failure_count == 1  # the crashes counted no failure
    assert len(seen) == 1 + MAX_DELIVERIES
    assert relay.stats.published == MAX_DELIVERIES


def test_an_operators_retry_of_a_dead_job_runs_it_again(
        rabbitmq_url: str, dclient: retryd.Client, retryd_bin: str) -> None:
    fixed = threading.Event()

    def handler(lease: Optional[retryd.rabbitmq.MessageLease], body: bytes) -> Any:
        return None if fixed.is_set() else ValidationError("template missing")

    j = name("job")
    with pipeline(rabbitmq_url, dclient, handler) as (consumer, relay, q):
        produce(rabbitmq_url, q, j, b"mail")
        wait_until("dead", lambda: (dclient.get_job(j) or retryd.Job(j)).state == "dead")
        fixed.set()  # the template is deployed; the operator retries the job
        out = subprocess.run([retryd_bin, "jobs", "retry", j, "--addr", dclient.addr], capture_output=True,
                             text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        assert j in out.stdout
        wait_until("settled", lambda: dclient.get_job(j) is None)
    assert len(consumer.seen) == 2
    lease, body = consumer.seen[1]
    assert lease is not None and lease.job_id == j and body == b"mail"
    assert isinstance(consumer.results[-1], retryd.Success) and consumer.results[-1].known


def test_a_failed_publish_is_released_and_published_again(rabbitmq_url: str, dclient: retryd.Client) -> None:
    q = name("mail")
    j = name("job")
    dclient.report_failure(j, TimeoutError("t"), job_type="mail", attempt=1, payload=b"m", queue=q)
    with retryd.rabbitmq.Publisher(rabbitmq_url, routing_key=q) as publisher:
        with retryd.relay(q, publisher, lease=5, release_delay=0.2, client=dclient) as relay:
            # No RabbitMQ queue yet: the message is unroutable, the job released.
            wait_until("released", lambda: relay.stats.released >= 1)
            assert relay.stats.published == 0
            held = dclient.get_job(j)
            assert held is not None and held.failure_count == 1 and held.lease_until is None
            with contextlib.closing(pika.BlockingConnection(pika.URLParameters(rabbitmq_url))) as conn:
                ch = conn.channel()
                ch.queue_declare(q)
                method, props, body = wait_until(
                    "published", lambda: (m := ch.basic_get(q, auto_ack=True)) and m[0] is not None and m)
                lease = retryd.rabbitmq.lease_of(props)
                assert lease is not None and lease.job_id == j and body == b"m" and props.message_id == j
                assert props.delivery_mode == 2  # persistent
                s = retryd.rabbitmq.settle(dclient, props, body)
                assert isinstance(s, retryd.Success) and s.failures_before_success == 1
    assert relay.stats.published == 1


def test_settle_without_headers_or_job_id_is_refused(dclient: retryd.Client) -> None:
    assert retryd.rabbitmq.settle(dclient, pika.BasicProperties(), b"x") is None  # a first success: nothing to say
    with pytest.raises(ValueError, match="^job_id:"):
        retryd.rabbitmq.settle(dclient, pika.BasicProperties(), b"x", TimeoutError("t"))
    assert retryd.rabbitmq.lease_of({"retryd-job-id": b"j", "retryd-lease-id": "l", "retryd-attempt": "3"}) == \
        retryd.rabbitmq.MessageLease(job_id="j", lease_id="l", attempt=3, job_type="")
    assert retryd.rabbitmq.lease_of({"retryd-job-id": "j"}) is None
