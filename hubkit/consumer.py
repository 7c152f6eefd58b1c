"""The project's own nameko entry point for domain events.

nameko's event_handler acks and drops a message whose handler raised; ours never
drops: a failed message is re-published to its retry queue with a growing delay,
and after the last attempt to the dead-letter queue with the error, and only then
acked. Queue arguments (quorum, dead-lettering) come from hubkit.topology."""
from __future__ import annotations

import logging
import time
import traceback
from functools import partial

from kombu import Exchange, Queue
from nameko.amqp.publish import get_producer
from nameko.constants import AMQP_URI_CONFIG_KEY
from nameko.exceptions import ContainerBeingKilled
from nameko.messaging import Consumer, QueueConsumer

from hubkit import metrics, topology
from hubkit.envelope import Envelope, EnvelopeError
from hubkit.inbox import PredecessorMissing

log = logging.getLogger(__name__)

ATTEMPTS_HEADER = "x-hub-attempts"
ERROR_HEADER = "x-hub-error"
FAILED_AT_HEADER = "x-hub-failed-at"
PREDECESSOR_ATTEMPTS = 12  # with the back-off cap, several minutes of waiting
HUB_CONFIG_KEY = "HUB"  # nameko config section: max_attempts, retry_base_seconds, retry_max_seconds


def retry_delay(attempt: int, base: float, cap: float) -> float:
    """Exponential back-off: base, 2*base, 4*base ... capped."""
    return min(base * 2 ** (attempt - 1), cap)


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
        self.max_attempts = int(hub.get("max_attempts", 5))
        self.retry_base = float(hub.get("retry_base_seconds", 1.0))
        self.retry_max = float(hub.get("retry_max_seconds", 60.0))
        self.labels = (service, self.method_name)
        super().setup()

    # -- receiving --------------------------------------------------------
    def handle_message(self, body, message):
        try:
            envelope = Envelope.from_dict(body)
        except EnvelopeError as exc:
            self._give_up(message, f"EnvelopeError: {exc}", attempts=1)
            return
        handle_result = partial(self.handle_result, message, started=time.perf_counter())
        try:
            self.container.spawn_worker(self, (envelope,), {}, context_data={},
                                        handle_result=handle_result)
        except ContainerBeingKilled:
            self.queue_consumer.requeue_message(message)

    def on_decode_error(self, message, exc):
        self._give_up(message, f"undecodable body: {exc}", attempts=1)

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
        error = "".join(traceback.format_exception_only(exc_info[0], exc_info[1])).strip()
        attempts = int((message.headers or {}).get(ATTEMPTS_HEADER, 0)) + 1
        # an event that waits for its predecessor is not failing: it keeps waiting (with back-off)
        # well past the budget of a handler that raised
        waiting = issubclass(exc_info[0], PredecessorMissing)
        if attempts < (max(self.max_attempts, PREDECESSOR_ATTEMPTS) if waiting else self.max_attempts):
            delay = retry_delay(attempts, self.retry_base, self.retry_max)
            log.warning("%s failed (attempt %d/%d), retrying in %.1fs: %s", self.subscription.queue,
                        attempts, self.max_attempts, delay, error)
            self._republish(message, "", self.subscription.retry_queue, attempts, error, expiration=delay)
        else:
            self._give_up(message, error, attempts)

    def _give_up(self, message, error: str, attempts: int):
        log.error("%s dead-lettered after %d attempt(s): %s", self.subscription.queue, attempts, error)
        self._republish(message, topology.DEAD_LETTER_EXCHANGE, self.subscription.queue, attempts, error)
        metrics.MESSAGES_DEAD_LETTERED.labels(*self.labels).inc()

    def _republish(self, message, exchange, routing_key, attempts, error, expiration=None):
        """Publish a copy (confirmed), then ack the original. If the publish fails the
        original stays unacked and the broker redelivers it: never dropped."""
        headers = dict(message.headers or {})
        headers.update({ATTEMPTS_HEADER: attempts, ERROR_HEADER: error[:2000],
                        FAILED_AT_HEADER: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
        try:
            with get_producer(self.container.config[AMQP_URI_CONFIG_KEY], confirms=True) as producer:
                producer.publish(message.body, exchange=exchange, routing_key=routing_key,
                                 headers=headers, content_type=message.content_type or "application/json",
                                 content_encoding=message.content_encoding or "utf-8",
                                 delivery_mode=2, expiration=expiration, mandatory=True,
                                 retry=True, retry_policy={"max_retries": 3})
        except Exception:
            log.exception("could not set %s aside; leaving it unacked for redelivery",
                          self.subscription.queue)
            return
        self.queue_consumer.ack_message(message)


handle_event = EventConsumer.decorator
