"""The project's own nameko entry point for domain events.

nameko's event_handler acks and drops a message whose handler raised; ours never
drops: a failed message is re-published to its retry queue with a growing delay,
and after the last attempt to the dead-letter queue with the error, and only then
acked (the policy is hubkit.delivery's, shared with the connectors). Queue arguments (quorum,
dead-lettering) come from hubkit.topology."""
from __future__ import annotations

import logging
import time
from functools import partial

from kombu import Exchange, Queue
from nameko.amqp.publish import get_producer
from nameko.constants import AMQP_URI_CONFIG_KEY
from nameko.exceptions import ContainerBeingKilled
from nameko.messaging import Consumer, QueueConsumer

from hubkit import delivery, metrics, topology
from hubkit.delivery import ATTEMPTS_HEADER, ERROR_HEADER, FAILED_AT_HEADER, retry_delay  # noqa: F401 (re-exported)
from hubkit.envelope import Envelope, EnvelopeError

log = logging.getLogger(__name__)

HUB_CONFIG_KEY = "HUB"  # nameko config section: max_attempts, retry_base_seconds, retry_max_seconds


class _QueueConsumer(QueueConsumer):
    """nameko's queue consumer, plus: a body that cannot be decoded is dead-lettered
    (kombu would otherwise raise inside the consume loop)."""

    def get_consumers(self, consumer_cls, channel):
        consumers = super().get_consumers(consumer_cls, channel)
        for provider, consumer in self._consumers.items():
            consumer.on_decode_error = provider.on_decode_error
        return consumers


class EventConsumer(Consumer):
    queue_consumer = _QueueConsumer()

    def __init__(self, event_type: str, **kwargs):
        self.event_type = event_type
        super().__init__(queue=None, **kwargs)

    def setup(self):
        service = self.container.service_name
        if (service, self.event_type) not in topology.SUBSCRIPTIONS:
            raise RuntimeError(f"{service} handles {self.event_type} but hubkit.topology "
                               "does not declare that subscription")
        self.subscription = topology.Subscription(service, self.event_type)
        self.queue = Queue(self.subscription.queue,
                           exchange=Exchange(topology.EVENTS_EXCHANGE, "topic", durable=True),
                           routing_key=self.event_type, durable=True,
                           queue_arguments=topology.main_queue_arguments(self.subscription))
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


handle_event = EventConsumer.decorator
