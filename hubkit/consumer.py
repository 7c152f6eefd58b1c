"""The project's own nameko entry point for domain events: `@handle_event(Contract)`.

nameko's event_handler acks and drops a message whose handler raised; ours never
drops: a failed message is re-published to its retry queue with a growing delay,
and after the last attempt to the dead-letter queue with the error, and only then
acked (the policy is hubkit.delivery's, shared with the connectors). An envelope that does not
fit its contract is dead-lettered at once. The queue (hubkit.topology) is declared by `hub
migrate`, the subscription comes from the contract. `CONSUMING` (hubkit.health) is ready while
the worker's consumers are attached and its consume loop turns."""
from __future__ import annotations

import functools
import logging
import time
from functools import partial

from kombu import Exchange, Queue
from nameko.amqp.publish import get_producer
from nameko.constants import AMQP_URI_CONFIG_KEY
from nameko.exceptions import ContainerBeingKilled
from nameko.messaging import Consumer, QueueConsumer

from hubkit import delivery, events, metrics, topology
from hubkit.envelope import Envelope, EnvelopeError
from hubkit.health import Beat
from hubkit.inbox import handle_once

log = logging.getLogger(__name__)

HUB_CONFIG_KEY = "HUB"  # nameko config section: max_attempts, retry_base_seconds, retry_max_seconds
CONSUMING = Beat("consumers")  # a worker process runs one container, with one queue consumer


class _QueueConsumer(QueueConsumer):
    """nameko's queue consumer, plus: a body that cannot be decoded is dead-lettered
    (kombu would otherwise raise inside the consume loop); it reports to CONSUMING."""

    def get_consumers(self, consumer_cls, channel):
        consumers = super().get_consumers(consumer_cls, channel)
        for provider, consumer in self._consumers.items():
            consumer.on_decode_error = provider.on_decode_error
        return consumers

    def on_consume_ready(self, connection, channel, consumers, **kwargs):
        super().on_consume_ready(connection, channel, consumers, **kwargs)
        CONSUMING.up()

    def on_iteration(self):  # before each wait for the broker (at least once a second)
        super().on_iteration()
        CONSUMING.tick()

    def on_connection_error(self, exc, interval):
        super().on_connection_error(exc, interval)
        CONSUMING.down(f"cannot connect to the broker: {exc}")

    def consume(self, *args, **kwargs):
        # kombu reconnects and consumes again after a lost connection or a cancelled consumer
        # (a deleted queue is declared again); in between, the consumers are not attached
        try:
            yield from super().consume(*args, **kwargs)
            CONSUMING.down("the consumers stopped")
        except BaseException as exc:
            CONSUMING.down(f"consumers lost ({type(exc).__name__}: {exc})")
            raise


class EventConsumer(Consumer):
    queue_consumer = _QueueConsumer()

    def __init__(self, contract: type[events.Event], versions=None, **kwargs):
        self.contract, self.versions = contract, versions  # what the handler parses (and accepts)
        super().__init__(queue=None, **kwargs)

    def setup(self):
        service = self.container.service_name
        self.subscription = events.subscription(self.contract, service)  # refuses one the contract lacks
        # `hub migrate` declared the queue: the worker's broker user may consume it, never
        # (re)declare it or the exchange (no configure permission, hubkit.broker)
        self.queue = Queue(self.subscription.queue,
                           exchange=Exchange(topology.EVENTS_EXCHANGE, "topic", durable=True),
                           routing_key=self.subscription.event_type, durable=True,
                           queue_arguments=topology.main_queue_arguments(self.subscription), no_declare=True)
        hub = self.container.config.get(HUB_CONFIG_KEY, {})
        self.policy = delivery.Policy(int(hub.get("max_attempts", 5)), float(hub.get("retry_base_seconds", 1.0)),
                                      float(hub.get("retry_max_seconds", 60.0)))
        self.labels = (service, self.method_name)
        super().setup()

    # -- receiving --------------------------------------------------------
    def handle_message(self, body, message):
        try:
            envelope = Envelope.from_dict(body)
        except EnvelopeError as exc:
            self._set_aside(message, delivery.poison(self.subscription, f"EnvelopeError: {exc}"))
            return
        handle_result = partial(self.handle_result, message, started=time.perf_counter())
        try:
            self.container.spawn_worker(self, (envelope,), {}, context_data={},
                                        handle_result=handle_result)
        except ContainerBeingKilled:
            self.queue_consumer.requeue_message(message)

    def on_decode_error(self, message, exc):
        self._set_aside(message, delivery.poison(self.subscription, f"undecodable body: {exc}"))

    def handle_result(self, message, worker_ctx, result=None, exc_info=None, started=None):
        if started is not None:
            metrics.HANDLER_LATENCY.labels(*self.labels).observe(time.perf_counter() - started)
        self.handle_message_processed(message, result, exc_info)
        return result, exc_info

    # -- after the handler ------------------------------------------------
    def handle_message_processed(self, message, result=None, exc_info=None):
        if exc_info is None:
            counter = metrics.MESSAGES_DUPLICATE if result is False else metrics.MESSAGES_HANDLED
            counter.labels(*self.labels).inc()
            self.queue_consumer.ack_message(message)
            return
        metrics.MESSAGES_FAILED.labels(*self.labels).inc()
        self._set_aside(message, delivery.after_failure(self.subscription, message.headers, exc_info[1],
                                                        self.policy))

    def _set_aside(self, message, decision: delivery.Decision):
        """Publish a copy (confirmed), then ack the original. If the publish fails the
        original stays unacked and the broker redelivers it: never dropped."""
        decision.log()
        try:
            with get_producer(self.container.config[AMQP_URI_CONFIG_KEY], confirms=True) as producer:
                producer.publish(message.body, exchange=decision.exchange, routing_key=decision.routing_key,
                                 headers=decision.headers(message.headers),
                                 content_type=message.content_type or "application/json",
                                 content_encoding=message.content_encoding or "utf-8",
                                 delivery_mode=2, expiration=decision.delay, mandatory=True,
                                 retry=True, retry_policy={"max_retries": 3})
        except Exception:
            log.exception("could not set %s aside; leaving it unacked for redelivery",
                          self.subscription.queue)
            return
        self.queue_consumer.ack_message(message)
        if decision.dead_letter:
            metrics.MESSAGES_DEAD_LETTERED.labels(*self.labels).inc()


def handle_event(contract: type[events.Event], *, consumer: str | None = None, versions=None):
    """Make a worker method the handler of `contract`'s events:

        @handle_event(OrderPlaced)
        def on_order_placed(self, uow, event, envelope): ...

    The method runs at most once per event, inside the unit of work that records the event in
    the worker's inbox (`self.db`, the service's Database), and receives the parsed event. The
    decorated method takes the envelope and returns False for a duplicate or stale event.
    `consumer` names the inbox sequence (default `<service>.<event type>`; two events that must
    be ordered against each other share one); `versions` are the schema versions accepted
    (default: the contract's own). An envelope that does not fit is dead-lettered at once."""
    def decorate(method):
        @functools.wraps(method)
        def handle(self, envelope: Envelope) -> bool:
            event = events.parse(contract, envelope, versions)
            return handle_once(self.db, self.name, consumer or f"{self.name}.{contract.type}", envelope,
                               lambda uow, env: method(self, uow, event, env))
        return EventConsumer.decorator(contract, versions)(handle)
    return decorate
