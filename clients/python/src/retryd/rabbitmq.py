"""RabbitMQ and retryd's delivery: the relay's publisher and the consumer's settle.

RabbitMQ has no delayed requeue of its own (without a plugin); with these,
retryd holds the failed messages and hands them back to the RabbitMQ queue
when they are due::

    # the relay: retryd's due jobs of "mail" back to RabbitMQ's "mail" queue
    publisher = retryd.rabbitmq.Publisher("amqp://guest:guest@localhost/", routing_key="mail")
    retryd.relay("mail", publisher).run()

    # the consumer (pika): run the message, then tell retryd how it went
    def on_message(channel, method, properties, body):
        try:
            send(json.loads(body))
        except Exception as exc:
            retryd.rabbitmq.settle(client, properties, body, exc, queue="mail")
        else:
            retryd.rabbitmq.settle(client, properties, body, queue="mail")
        channel.basic_ack(method.delivery_tag)

A message the relay published carries the job's lease in its headers
(``retryd-job-id``, ``retryd-lease-id``, ``retryd-attempt``,
``retryd-job-type``): ``settle`` reports the outcome with it. A message that
did not come from retryd (no such headers) is a job's first run: its failure
is reported with the body as the payload and no lease, which parks it in
retryd; its success needs no report. Settle before you ack: a consumer that
dies in between leaves the message to RabbitMQ's redelivery, and the job's
lease to retryd's.

Needs pika (``pip install "retryd[rabbitmq]"``) for :class:`Publisher` and
:func:`publish_job`; :func:`headers`, :func:`lease_of` and :func:`settle` read
and write plain dicts and work with any AMQP client.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Dict, Mapping, Optional, Sequence, Union

from ._types import Decision, DueJob, ErrorInfo, LeaseLost, Success

if TYPE_CHECKING:  # pragma: no cover
    from .aio import Client as AsyncClient
    from .client import Client

log = logging.getLogger("retryd.rabbitmq")

__all__ = [
    "HEADER_ATTEMPT", "HEADER_JOB_ID", "HEADER_JOB_TYPE", "HEADER_LEASE_ID",
    "MessageLease", "Publisher", "asettle", "headers", "lease_of", "publish_job", "settle",
]

HEADER_JOB_ID = "retryd-job-id"
HEADER_LEASE_ID = "retryd-lease-id"
HEADER_ATTEMPT = "retryd-attempt"
HEADER_JOB_TYPE = "retryd-job-type"


def headers(job: DueJob) -> Dict[str, Any]:
    """The headers that carry ``job``'s lease with its message."""
    return {
        HEADER_JOB_ID: job.job_id,
        HEADER_LEASE_ID: job.lease_id,
        HEADER_ATTEMPT: job.attempt,
        HEADER_JOB_TYPE: job.job_type,
    }


@dataclass(frozen=True)
class MessageLease:
    """What a message's retryd headers say: the job, its lease, the attempt
    this run is, its job type."""

    job_id: str
    lease_id: str
    attempt: int
    job_type: str = ""


def _headers_of(properties: Any) -> Mapping[str, Any]:
    if properties is None:
        return {}
    if isinstance(properties, Mapping):
        return properties
    h = getattr(properties, "headers", None)  # pika.BasicProperties, aio-pika's IncomingMessage
    return h if isinstance(h, Mapping) else {}


def _text(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    return "" if value is None else str(value)


def lease_of(properties: Any) -> Optional[MessageLease]:
    """The lease a message carries (its ``properties``, e.g. pika's
    ``BasicProperties``, or its headers as a dict), ``None`` when it did not
    come from retryd."""
    h = _headers_of(properties)
    job_id, lease_id = _text(h.get(HEADER_JOB_ID)), _text(h.get(HEADER_LEASE_ID))
    if not job_id or not lease_id:
        return None
    try:
        attempt = int(_text(h.get(HEADER_ATTEMPT)) or 0)
    except ValueError:
        attempt = 0
    return MessageLease(job_id=job_id, lease_id=lease_id, attempt=max(0, attempt),
                        job_type=_text(h.get(HEADER_JOB_TYPE)))


def _first_job_id(properties: Any, job_id: Optional[str]) -> str:
    jid = job_id or _text(getattr(properties, "message_id", None))
    if not jid:
        raise ValueError("job_id: a message without retryd headers needs a job id: give job_id=, "
                         "or publish it with a message_id")
    return jid


Outcome = Union[Decision, Success, None]


def settle(
    client: "Client",
    properties: Any,
    body: bytes,
    error: Optional[Union[BaseException, ErrorInfo]] = None,
    *,
    job_id: Optional[str] = None,
    job_type: Optional[str] = None,
    queue: Optional[str] = None,
) -> Outcome:
    """Tells retryd how a message's run went: ``error`` is what it raised,
    ``None`` for a success.

    - From retryd (its headers carry a lease): a success is reported with the
      lease (retryd forgets the job); a failure with the lease, its attempt
      and ``body`` as the payload (retryd parks it again, or gives up).
    - Not from retryd: a failure is the job's first, reported with ``body`` as
      the payload, on ``queue`` (the relay's queue; default: the job type),
      as job ``job_id`` (default: the message's ``message_id``); a success
      needs no report (``None``).

    Returns retryd's :class:`~retryd.Decision` or :class:`~retryd.Success`, or
    ``None``: nothing to report, or the lease was lost (the job was handed
    out again, or already settled; logged). Ack the message afterwards
    either way: retryd holds what is left to do.
    """
    lease = lease_of(properties)
    try:
        if lease is not None:
            jt = job_type or lease.job_type or None
            if error is None:
                return client.report_success(lease.job_id, job_type=jt, lease_id=lease.lease_id)
            return client.report_failure(lease.job_id, error, job_type=jt, attempt=lease.attempt or None,
                                         lease_id=lease.lease_id, payload=bytes(body), queue=queue)
        if error is None:
            return None
        return client.report_failure(_first_job_id(properties, job_id), error, job_type=job_type, attempt=1,
                                     payload=bytes(body), queue=queue)
    except LeaseLost as e:
        log.warning("job %s: lease lost, nothing reported (%s)", e.job_id, e.details)
        return None


async def asettle(
    client: "AsyncClient",
    properties: Any,
    body: bytes,
    error: Optional[Union[BaseException, ErrorInfo]] = None,
    *,
    job_id: Optional[str] = None,
    job_type: Optional[str] = None,
    queue: Optional[str] = None,
) -> Outcome:
    """:func:`settle` with a :class:`retryd.aio.Client` (e.g. from an aio-pika consumer)."""
    lease = lease_of(properties)
    try:
        if lease is not None:
            jt = job_type or lease.job_type or None
            if error is None:
                return await client.report_success(lease.job_id, job_type=jt, lease_id=lease.lease_id)
            return await client.report_failure(lease.job_id, error, job_type=jt, attempt=lease.attempt or None,
                                               lease_id=lease.lease_id, payload=bytes(body), queue=queue)
        if error is None:
            return None
        return await client.report_failure(_first_job_id(properties, job_id), error, job_type=job_type, attempt=1,
                                           payload=bytes(body), queue=queue)
    except LeaseLost as e:
        log.warning("job %s: lease lost, nothing reported (%s)", e.job_id, e.details)
        return None


# --- pika ---------------------------------------------------------------------

RoutingKey = Union[str, Callable[[DueJob], str], None]


def _routing_key(routing_key: RoutingKey, job: DueJob) -> str:
    if routing_key is None:
        return job.queue
    if callable(routing_key):
        return routing_key(job)
    return routing_key


def publish_job(
    channel: Any,
    job: DueJob,
    *,
    exchange: str = "",
    routing_key: RoutingKey = None,
    properties: Any = None,
) -> None:
    """Publishes ``job`` (its payload as the body, its lease in the headers,
    its id as ``message_id``, persistent unless ``properties`` says otherwise)
    on a pika ``BlockingChannel`` in confirm mode (``channel.confirm_delivery()``),
    ``mandatory`` so that an unroutable message is an error: returns once the
    broker confirmed it, raises pika's ``UnroutableError`` / ``NackError``
    otherwise. ``routing_key`` is a string or a function of the job (default:
    the job's retryd queue)."""
    import pika  # type: ignore[import-untyped,unused-ignore]  # pika ships no hints

    props = pika.BasicProperties() if properties is None else properties
    merged = dict(props.headers or {})
    merged.update(headers(job))
    out = pika.BasicProperties(
        content_type=props.content_type,
        content_encoding=props.content_encoding,
        headers=merged,
        delivery_mode=props.delivery_mode if props.delivery_mode is not None else pika.DeliveryMode.Persistent,
        priority=props.priority,
        correlation_id=props.correlation_id,
        reply_to=props.reply_to,
        expiration=props.expiration,
        message_id=props.message_id or job.job_id,
        timestamp=props.timestamp,
        type=props.type,
        user_id=props.user_id,
        app_id=props.app_id,
        cluster_id=props.cluster_id,
    )
    channel.basic_publish(exchange=exchange, routing_key=_routing_key(routing_key, job), body=job.payload,
                          properties=out, mandatory=True)


class Publisher:
    """A relay's ``publish`` for RabbitMQ, on a pika ``BlockingConnection`` of its own.

    ``parameters``: an ``amqp://`` URL, a ``pika.ConnectionParameters`` or a
    list of them. It connects on first use and puts its channel in confirm
    mode; a call returns once RabbitMQ confirmed the message (see
    :func:`publish_job`). A connection found dead (the broker restarted, or
    dropped it while the relay was idle) is made again and the message sent
    once more at once; any other failure is raised, and the relay releases the
    job, due again shortly. Use it from one thread (the relay's).
    """

    def __init__(
        self,
        parameters: Union[str, Any, Sequence[Any]],
        *,
        exchange: str = "",
        routing_key: RoutingKey = None,
        properties: Any = None,
    ) -> None:
        import pika  # type: ignore[import-untyped,unused-ignore]  # pika ships no hints

        if isinstance(parameters, str):
            parameters = pika.URLParameters(parameters)
        self._parameters = parameters
        self.exchange = exchange
        self.routing_key = routing_key
        self.properties = properties
        self._connection: Any = None
        self._channel: Any = None

    def _open(self) -> Any:
        import pika  # type: ignore[import-untyped,unused-ignore]  # pika ships no hints

        if self._channel is None or not self._channel.is_open or not self._connection.is_open:
            self.close()
            self._connection = pika.BlockingConnection(self._parameters)
            self._channel = self._connection.channel()
            self._channel.confirm_delivery()
        return self._channel

    def __call__(self, job: DueJob) -> None:
        from pika import exceptions as px  # type: ignore[import-untyped,unused-ignore]

        stale = (px.StreamLostError, px.ConnectionClosed, px.ConnectionWrongStateError,
                 px.ChannelWrongStateError, px.AMQPHeartbeatTimeout)
        try:
            publish_job(self._open(), job, exchange=self.exchange, routing_key=self.routing_key,
                        properties=self.properties)
            return
        except stale as e:
            log.info("RabbitMQ connection lost (%s: %s): connecting again", type(e).__name__, e)
            self.close()
        except (px.UnroutableError, px.NackError):
            raise  # the broker refused it; the channel is still good
        except Exception:
            self.close()
            raise
        try:
            publish_job(self._open(), job, exchange=self.exchange, routing_key=self.routing_key,
                        properties=self.properties)
        except Exception:
            self.close()
            raise

    def close(self) -> None:
        """Closes its connection (the next call opens a new one)."""
        conn, self._connection, self._channel = self._connection, None, None
        if conn is not None:
            try:
                if conn.is_open:
                    conn.close()
            except Exception:  # noqa: BLE001 - it is going anyway
                pass

    def __enter__(self) -> "Publisher":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
