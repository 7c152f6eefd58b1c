"""The project's own nameko entry point for domain events: `@handle_event(Contract)`.

nameko's event_handler acks and drops a message whose handler raised; ours never
drops: a failed message is re-published to its retry queue with a growing delay,
and after the last attempt to the dead-letter queue with the error, and only then
acked (the policy is hubkit.delivery's, shared with the connectors). An envelope that does not
fit its contract is dead-lettered at once. The queue (hubkit.topology) is declared by `hub
migrate`, the subscription comes from the contract. `CONSUMING` (hubkit.health) is ready while
the worker's consumers are attached and its consume loop turns.

`@handle_events(Contract)` is the batched form: the messages that arrive together (up to
`batch_max`, gathered for at most `batch_wait_ms` after the first) go to one worker, which applies
them in one transaction (hubkit.inbox.handle_many) and acks each once that has committed; when the
batch fails, each event is applied alone, so only the one at fault is retried or dead-lettered."""
from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import eventlet
from kombu import Exchange, Queue
from nameko.amqp.publish import get_producer
from nameko.constants import AMQP_URI_CONFIG_KEY
from nameko.exceptions import ContainerBeingKilled
from nameko.messaging import Consumer, QueueConsumer

from hubkit import delivery, events, metrics, topology
from hubkit.envelope import Envelope, EnvelopeError
from hubkit.health import Beat
from hubkit.inbox import handle_many, handle_once, on_behalf_of

log = logging.getLogger(__name__)

HUB_CONFIG_KEY = "HUB"  # nameko config section: max_attempts, retry_*_seconds, batch_max, [background_]batch_wait_ms, prefetch
CONSUMING = Beat("consumers")  # a worker process runs one container, with one queue consumer


class _QueueConsumer(QueueConsumer):
    """nameko's queue consumer, plus: a body that cannot be decoded is dead-lettered
    (kombu would otherwise raise inside the consume loop); it reports to CONSUMING."""

    @property
    def prefetch_count(self):
        # nameko's default (one message per worker) would starve a batch: room for a batch and the next
        return max(self.container.max_workers, int(self.container.config.get(HUB_CONFIG_KEY, {}).get("prefetch", 0)))

    def get_consumers(self, consumer_cls, channel):
        consumers = super().get_consumers(consumer_cls, channel)
        for provider, consumer in self._consumers.items():
            consumer.on_decode_error = provider.on_decode_error
        return consumers

    def on_consume_ready(self, connection, channel, consumers, **kwargs):
        super().on_consume_ready(connection, channel, consumers, **kwargs)
        CONSUMING.up()

    def handle_message(self, provider, body, message):
        if getattr(provider, "batched", False):
            provider.handle_message(body, message)  # gathers, never waits: no green thread per message
            return
        super().handle_message(provider, body, message)

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

    def __init__(self, contract: type[events.Event], versions=None, batched: bool = False,
                 background: bool = False, **kwargs):
        self.contract, self.versions = contract, versions  # what the handler parses (and accepts)
        self.batched = batched  # the handler takes a list of envelopes and returns an outcome for each
        self.background = background  # nobody waits for its result: its batches gather longer
        self._gathered: list[tuple[Envelope, object]] = []  # (envelope, message) waiting for their batch
        self._gathering = None  # the timer that hands over what was gathered
        self._at_once = False  # that timer is due now: a full batch waits for it
        self._in_flight = 0  # batches handed to workers and not yet answered
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
        self.batch_max = int(hub.get("batch_max", 100)) if self.batched else 1
        wait_ms = hub.get("background_batch_wait_ms", 500.0) if self.background else hub.get("batch_wait_ms", 2.0)
        self.batch_wait = float(wait_ms) / 1000
        self.batches_in_flight = int(hub.get("batches_in_flight", 1))
        self.labels = (service, self.method_name)
        metrics.count_handler(*self.labels)
        # the series moved per message or batch, looked up once (labels() takes a lock each time)
        self.handled, self.duplicate, self.failed, self.dead_lettered, self.latency, self.batch_size = (
            metric.labels(*self.labels) for metric in (
                metrics.MESSAGES_HANDLED, metrics.MESSAGES_DUPLICATE, metrics.MESSAGES_FAILED,
                metrics.MESSAGES_DEAD_LETTERED, metrics.HANDLER_LATENCY, metrics.BATCH_SIZE))
        self.in_hand = metrics.tally(metrics.MESSAGES_IN_HAND, service)
        super().setup()

    # -- receiving --------------------------------------------------------
    # Each delivery counts in MESSAGES_IN_HAND from here until it is settled (acked, set aside or requeued):
    # with the queues and the outboxes, that is everything a quiet hub must have none of.
    # A batched consumer's deliveries come in the consume loop's own green thread (_QueueConsumer): they
    # are gathered, and what could wait (setting a misfit aside) gets a green thread of its own.
    def handle_message(self, body, message):
        self.in_hand.value += 1
        try:
            envelope = Envelope.from_dict(body)
        except EnvelopeError as exc:
            set_aside = partial(self._settle, self._set_aside, message,
                                delivery.poison(self.subscription, f"EnvelopeError: {exc}"))
            if self.batched:
                self.container.spawn_managed_thread(set_aside)
            else:
                set_aside()
            return
        if self.batched:
            self._gather(envelope, message)
            return
        handle_result = partial(self.handle_result, message, started=time.perf_counter())
        try:
            self.container.spawn_worker(self, (envelope,), {}, context_data={},
                                        handle_result=handle_result)
        except ContainerBeingKilled:
            self._settle(self.queue_consumer.requeue_message, message)

    def _settle(self, settle, message, *args) -> None:
        """`settle(message, *args)`, after which the delivery is no longer in hand (even when settling
        raised: on a lost channel the broker delivers it again, and it is counted again then)."""
        try:
            settle(message, *args)
        finally:
            self.in_hand.value -= 1

    def _gather(self, envelope: Envelope, message) -> None:
        self._gathered.append((envelope, message))
        if self._in_flight >= self.batches_in_flight:
            return  # the batch being applied hands over what gathered meanwhile, when it is done
        if len(self._gathered) >= self.batch_max:
            if not self._at_once:  # handed over now, by a green thread of its own (it may wait for a worker)
                if self._gathering is not None:
                    self._gathering.cancel()
                self._gathering, self._at_once = eventlet.spawn(self._hand_over), True
        elif self._gathering is None:
            self._gathering = eventlet.spawn_after(self.batch_wait, self._hand_over)

    def _hand_over(self) -> None:
        """One worker for what was gathered, up to batch_max. At most `batches_in_flight` are applied at
        once, so that under load a batch grows with what arrives while the one before is applied
        (and batches of one handler do not contend for the same rows)."""
        if self._gathering is not None and self._gathering is not eventlet.getcurrent():
            self._gathering.cancel()
        self._gathering, self._at_once = None, False
        if not self._gathered or self._in_flight >= self.batches_in_flight:
            return
        batch, self._gathered = self._gathered[:self.batch_max], self._gathered[self.batch_max:]
        messages = [message for _, message in batch]
        self.batch_size.observe(len(batch))
        handle_result = partial(self.handle_batch_result, messages, started=time.perf_counter())
        self._in_flight += 1
        try:
            self.container.spawn_worker(self, ([envelope for envelope, _ in batch],), {}, context_data={},
                                        handle_result=handle_result)
        except ContainerBeingKilled:
            self._in_flight -= 1
            for message in messages:
                self._settle(self.queue_consumer.requeue_message, message)

    def handle_batch_result(self, messages, worker_ctx, result=None, exc_info=None, started=None):
        if started is not None:
            self.latency.observe(time.perf_counter() - started)
        # the handler returns an outcome per message; had it raised as a whole, each failed with it
        outcomes = result if exc_info is None else [exc_info[1]] * len(messages)
        for message, outcome in zip(messages, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                self._settle(self.handle_message_processed, message, None,
                             (type(outcome), outcome, outcome.__traceback__))
            else:
                self._settle(self.handle_message_processed, message, outcome)
        self._in_flight -= 1
        if self._gathered:  # what arrived meanwhile has waited long enough
            eventlet.spawn_n(self._hand_over)
        return result, exc_info

    def on_decode_error(self, message, exc):
        self._set_aside(message, delivery.poison(self.subscription, f"undecodable body: {exc}"))

    def handle_result(self, message, worker_ctx, result=None, exc_info=None, started=None):
        if started is not None:
            self.latency.observe(time.perf_counter() - started)
        self._settle(self.handle_message_processed, message, result, exc_info)
        return result, exc_info

    # -- after the handler ------------------------------------------------
    def handle_message_processed(self, message, result=None, exc_info=None):
        if exc_info is None:
            (self.duplicate if result is False else self.handled).inc()
            self.queue_consumer.ack_message(message)
            return
        self.failed.inc()
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
        if decision.dead_letter:
            self._announce(delivery.notice(decision, message.body, message.headers))
        self.queue_consumer.ack_message(message)
        if decision.dead_letter:
            self.dead_lettered.inc()


    def _announce(self, notice) -> None:
        """A dead letter's announcement (dead_lettered), before the original is acked; not mandatory
        (a hub without a notifier that wants it routes it nowhere); lost only if it cannot be
        published (logged), never holding the original back."""
        try:
            with get_producer(self.container.config[AMQP_URI_CONFIG_KEY], confirms=True) as producer:
                producer.publish(notice.to_json(), exchange=topology.EVENTS_EXCHANGE, routing_key=notice.type,
                                 content_type="application/json", content_encoding="utf-8", delivery_mode=2,
                                 message_id=notice.event_id, type=notice.type, app_id=notice.source,
                                 mandatory=False, retry=True, retry_policy={"max_retries": 1})
        except Exception as exc:
            log.warning("could not announce the dead letter of %s: %s: %s", self.subscription.queue,
                        type(exc).__name__, exc)


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


def handle_events(contract: type[events.Event], *, consumer: str | None = None, versions=None,
                  wanted: Callable[[Any, events.Event], bool] | None = None, background: bool = False):
    """`handle_event` for a handler that applies a batch in one transaction:

        @handle_events(OrderPlaced)
        def on_orders_placed(self, uow, batch): ...   # batch: [(event, envelope)], in delivery order

    `background`: for a handler whose work is per batch more than per event and whose result nobody
    waits for; its batches gather for the config's background_batch_wait_ms (HUB_CONSUMER_BACKGROUND_
    BATCH_WAIT_MS, 500 ms) instead of batch_wait_ms (a few milliseconds).

    It gets only the events of the batch not applied before; what it emits for one of them must be
    emitted inside `hubkit.inbox.on_behalf_of(uow, envelope)` (or use `each(uow, batch)`), so that
    the event carries its own actor and correlation id. An envelope that does not fit the contract
    fails alone (dead-lettered); when the batch's transaction fails, each event is applied alone.

    `wanted(self, event)`: False for an event the handler would change nothing for; it is acked once
    parsed, with no transaction and no inbox record (applying it, once or again, is nothing). Only for
    events that are each the one event of their aggregate, or whose skipping cannot let an older one
    of the same aggregate through (the inbox's sequence does not see a skipped event)."""
    def decorate(method):
        @functools.wraps(method)
        def handle(self, envelopes: list[Envelope]) -> list:
            parsed: dict[str, events.Event] = {}
            outcomes: dict[str, object] = {}
            for envelope in envelopes:
                try:
                    event = events.parse(contract, envelope, versions)
                except events.InvalidEvent as exc:
                    outcomes[envelope.event_id] = exc
                    continue
                if wanted is not None and not wanted(self, event):
                    outcomes[envelope.event_id] = None  # handled: nothing to apply
                else:
                    parsed[envelope.event_id] = event
            fitting = [e for e in envelopes if e.event_id in parsed]
            if fitting:
                results = handle_many(self.db, self.name, consumer or f"{self.name}.{contract.type}", fitting,
                                      lambda uow, fresh: method(self, uow, [(parsed[e.event_id], e) for e in fresh]))
                outcomes.update(zip((e.event_id for e in fitting), results, strict=True))
            return [outcomes[e.event_id] for e in envelopes]
        return EventConsumer.decorator(contract, versions, batched=True, background=background)(handle)
    return decorate


def each(uow, batch):
    """The (event, envelope) pairs of a batch, each handled on behalf of its own envelope."""
    for event, envelope in batch:
        with on_behalf_of(uow, envelope):
            yield event, envelope
