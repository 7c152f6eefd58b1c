"""Consuming domain events in a plain process (the connectors): pika's BlockingConnection, manual
ack, a prefetch, no eventlet, with the workers' failure policy (hubkit.delivery).

An envelope is parsed into its contract and acked once its handler returned; one that is not an
envelope, or does not fit the contract, is dead-lettered at once; a handler that raised (any
Exception) sends the message to its retry queue with back-off, after the last attempt to its
dead-letter queue with the error, through a confirmed publish before the ack. A handler's failure
never ends the process. The owning process calls `poll` in its own loop, so its periodic work goes
on between polls and while the broker is away; a poll returns as soon as messages were handled, and
`wake()` (from any thread) makes it return at once, so an idle owner can poll for long stretches.

Its `beat` (hubkit.health) is ready only while every subscribed queue has its consumer on an open
connection and the owner keeps polling: a consumer the broker cancelled (its queue deleted, a
quorum queue's leader lost) makes it reconnect, and it is not ready until every queue is consumed
again.

A route subscribed with `batched=True` gets what one poll brought in, as a list of
(event, envelope), and answers an outcome for each (True applied, False duplicate, or the exception
that event's own transaction raised: hubkit.inbox.handle_many); each message is acked or set aside by
its own outcome."""
from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, cast

import pika

from hubkit import delivery, events, metrics, topology
from hubkit.broker import CONNECTION_ERRORS
from hubkit.envelope import Envelope, EnvelopeError
from hubkit.health import STALE_SECONDS, Beat

log = logging.getLogger(__name__)

RECONNECT_FIRST, RECONNECT_MAX = 0.5, 10.0  # seconds between attempts, doubling

# handler(event, envelope); returns False for a duplicate (counted, acked)
Handler = Callable[[events.Event, Envelope], "bool | None"]
# batched: handler([(event, envelope)]) -> an outcome per pair (True, False, or its exception)
BatchHandler = Callable[[list[tuple[events.Event, Envelope]]], "list[bool | Exception]"]


class SetAsideFailed(Exception):
    """The copy of a failed message was not confirmed: the original stays unacked, and the
    connection is dropped so that the broker redelivers it."""


class ConsumerCancelled(Exception):
    """The broker cancelled one of our consumers: reconnecting subscribes it again (once its queue
    is back), instead of living on without it."""


@dataclass(frozen=True)
class _Route:
    subscription: topology.Subscription
    contract: type[events.Event]
    versions: tuple | None
    handler: Handler | BatchHandler
    labels: tuple  # (service, handler) of the hub_messages_* metrics
    batched: bool = False


class Consumer:
    def __init__(self, amqp_uri: str, policy: delivery.Policy, prefetch: int = 100, heartbeat: int = 120,
                 stale_after: float = STALE_SECONDS):
        self.amqp_uri, self.policy, self.prefetch, self.heartbeat = amqp_uri, policy, prefetch, heartbeat
        self.routes: dict[str, _Route] = {}
        self.connection: pika.BlockingConnection | None = None
        self._reconnect_at, self._reconnect_delay = 0.0, RECONNECT_FIRST
        self._cancelled: list[str] = []  # queues whose consumer the broker cancelled
        self._gathered: dict[str, list] = {}  # batched queue -> [(channel, method, props, body, event, envelope)]
        self.beat = Beat("consumer", stale_after)  # the owner polls at least this often
        self._woken = threading.Event()  # wake() while the broker is away
        self._notices: Any = None  # the channel dead letters are announced on (opened when one is)

    def subscribe(self, contract: type[events.Event], service: str, handler: Handler | BatchHandler,
                  name: str | None = None, versions=None, batched: bool = False) -> None:
        """Consume `service`'s queue of `contract` (declared by `hub migrate`), calling
        `handler(event, envelope)` with each message parsed into the contract, or with `batched`
        `handler([(event, envelope), ...])` with what each poll brought in. `versions`: the schema
        versions accepted (default: the contract's own)."""
        sub = events.subscription(contract, service)  # refuses one the contract lacks
        name = name or getattr(handler, "__name__", sub.event_type)
        self.routes[sub.queue] = _Route(sub, contract, tuple(versions) if versions else None, handler,
                                        (sub.service, name), batched)
        metrics.count_handler(*self.routes[sub.queue].labels)

    def poll(self, time_limit: float = 0.1) -> None:
        """Handle what arrives within about `time_limit` seconds, (re)connecting first if needed.
        Broker trouble is logged and retried on a later poll, never raised."""
        self.beat.tick()
        try:
            connection = self.connection
            if connection is None:
                if time.monotonic() < self._reconnect_at:  # the owner's loop keeps its pace while the broker is away
                    self._woken.wait(min(time_limit, self._reconnect_at - time.monotonic()))
                    self._woken.clear()
                    return
                connection = self._connect()
            connection.process_data_events(time_limit=time_limit)
            self._hand_over()
            if self._cancelled:
                raise ConsumerCancelled(f"the broker cancelled the consumer of {', '.join(self._cancelled)}")
        except (*CONNECTION_ERRORS, SetAsideFailed, ConsumerCancelled) as exc:
            log.warning("broker connection lost (%s: %s); reconnecting in %.1fs", type(exc).__name__, exc,
                        self._reconnect_delay)
            self.close()
            self.beat.down(f"not consuming ({type(exc).__name__}: {exc})")
            self._reconnect_at = time.monotonic() + self._reconnect_delay
            self._reconnect_delay = min(self._reconnect_delay * 2, RECONNECT_MAX)

    def wake(self) -> None:
        """Make a poll in progress (or the next one) return at once; from any thread, e.g. the gRPC
        API's, which asked the owner's loop for work."""
        self._woken.set()
        connection = self.connection
        if connection is not None:
            try:
                connection.add_callback_threadsafe(lambda: None)  # process_data_events returns after it
            except Exception:  # a connection closing: its poll returns anyway
                pass

    def close(self) -> None:
        """Close the connection; unacked messages go back to their queues."""
        connection, self.connection = self.connection, None
        self._notices = None
        self._gathered = {}  # unacked: the broker delivers them again
        try:
            if connection is not None and connection.is_open:
                connection.close()
        except Exception:  # closing a broken connection: nothing left to save
            pass

    # -- receiving ------------------------------------------------------------
    def _connect(self) -> pika.BlockingConnection:
        params = pika.URLParameters(self.amqp_uri)
        params.heartbeat = self.heartbeat
        self.connection = connection = pika.BlockingConnection(params)
        channel = connection.channel()
        channel.confirm_delivery()  # a set-aside copy must be confirmed before the original is acked
        channel.basic_qos(prefetch_count=self.prefetch)
        self._cancelled = []
        queues: dict[str, str] = {}  # consumer tag -> queue
        channel.add_on_cancel_callback(lambda frame: self._cancelled.append(queues.get(frame.method.consumer_tag, "?")))
        for queue, route in self.routes.items():
            queues[channel.basic_consume(queue, partial(self._deliver, route=route))] = queue
        self._reconnect_delay = RECONNECT_FIRST
        log.info("consuming %s", ", ".join(self.routes))
        self.beat.up()
        return connection

    def _deliver(self, channel, method, props, body, route: _Route) -> None:
        # a context of its own per message, as a nameko worker has: its log lines carry its
        # correlation id, and the next message's do not
        contextvars.copy_context().run(self._handle, channel, method, props, body, route)

    def _handle(self, channel, method, props, body, route: _Route) -> None:
        try:
            envelope = Envelope.from_json(body)
            event = events.parse(route.contract, envelope, route.versions)
        except EnvelopeError as exc:  # InvalidEvent too: neither can succeed on a retry
            self._set_aside(channel, method, props, body, route,
                            delivery.poison(route.subscription, f"{type(exc).__name__}: {exc}"))
            return
        if route.batched:
            self._gathered.setdefault(route.subscription.queue, []).append((channel, method, props, body, event, envelope))
            return
        started = time.perf_counter()
        try:
            result = cast(Handler, route.handler)(event, envelope)
        except Exception as exc:  # the handler's trouble, whatever it is, is the policy's to decide
            metrics.MESSAGES_FAILED.labels(*route.labels).inc()
            self._set_aside(channel, method, props, body, route,
                            delivery.after_failure(route.subscription, props.headers, exc, self.policy))
            return
        finally:
            metrics.HANDLER_LATENCY.labels(*route.labels).observe(time.perf_counter() - started)
        (metrics.MESSAGES_DUPLICATE if result is False else metrics.MESSAGES_HANDLED).labels(*route.labels).inc()
        channel.basic_ack(method.delivery_tag)

    def _hand_over(self) -> None:
        """Each batched queue's gathered messages to its handler; each acked or set aside by its outcome."""
        gathered, self._gathered = self._gathered, {}
        for queue, batch in gathered.items():
            route = self.routes[queue]
            metrics.BATCH_SIZE.labels(*route.labels).observe(len(batch))
            started = time.perf_counter()
            try:
                outcomes = cast(BatchHandler, route.handler)([(event, envelope) for *_, event, envelope in batch])
            except Exception as exc:  # a handler that failed as a whole failed each message
                outcomes = [exc] * len(batch)
            metrics.HANDLER_LATENCY.labels(*route.labels).observe(time.perf_counter() - started)
            for (channel, method, props, body, _, _), outcome in zip(batch, outcomes, strict=True):
                if isinstance(outcome, Exception):
                    metrics.MESSAGES_FAILED.labels(*route.labels).inc()
                    self._set_aside(channel, method, props, body, route,
                                    delivery.after_failure(route.subscription, props.headers, outcome, self.policy))
                    continue
                (metrics.MESSAGES_DUPLICATE if outcome is False else metrics.MESSAGES_HANDLED).labels(*route.labels).inc()
                channel.basic_ack(method.delivery_tag)

    def _set_aside(self, channel, method, props, body, route: _Route, decision: delivery.Decision) -> None:
        decision.log()
        copy = pika.BasicProperties(
            content_type=props.content_type or "application/json", content_encoding=props.content_encoding,
            message_id=props.message_id, type=props.type, app_id=props.app_id, correlation_id=props.correlation_id,
            timestamp=props.timestamp, delivery_mode=2, headers=decision.headers(props.headers),
            expiration=None if decision.dead_letter else str(max(1, round((decision.delay or 0.0) * 1000))))  # in ms
        try:
            channel.basic_publish(decision.exchange, decision.routing_key, body, copy, mandatory=True)
        except Exception as exc:
            log.exception("could not set %s aside; leaving it unacked for redelivery", route.subscription.queue)
            raise SetAsideFailed(f"{type(exc).__name__}: {exc}") from exc
        if decision.dead_letter:
            self._announce(channel, delivery.notice(decision, body, props.headers))
        channel.basic_ack(method.delivery_tag)
        if decision.dead_letter:
            metrics.MESSAGES_DEAD_LETTERED.labels(*route.labels).inc()

    def _announce(self, channel, notice) -> None:
        """Publish a dead letter's announcement (dead_lettered) before the original is acked, on a
        channel of its own: a broker that refuses it (a user without the right, from an older
        `hub migrate`) closes that channel, never the consuming one. Not mandatory: a hub without a
        notifier that wants it routes it nowhere. Lost only if it cannot be published (logged)."""
        try:
            if self._notices is None or self._notices.is_closed:
                self._notices = channel.connection.channel()
                self._notices.confirm_delivery()
            self._notices.basic_publish(topology.EVENTS_EXCHANGE, notice.type, notice.to_json(), pika.BasicProperties(
                content_type="application/json", delivery_mode=2, message_id=notice.event_id, type=notice.type,
                app_id=notice.source))
        except Exception as exc:
            log.warning("could not announce the dead letter of %s: %s: %s", notice.aggregate_id,
                        type(exc).__name__, exc)
            self._notices = None
