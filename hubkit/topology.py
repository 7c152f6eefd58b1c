"""Broker topology, declared by our own code (`hub migrate`) before anything publishes.

One topic exchange carries every domain event, routed by event type. Each (consumer, event
type) subscription has a quorum queue, a retry queue whose expired messages flow back into it,
and a dead-letter queue. A consumer sets a failed message aside through a second topic exchange,
routed by the queue's name, so the broker's topic permissions can confine each consumer's user to
its own queues there as they confine it to its own event types on the first (hubkit.broker).
Which subscriptions exist is not the kernel's business: they come from the event contracts
(hubkit.events.Catalog.subscriptions, only those of configured consumers) and are handed in."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

EVENTS_EXCHANGE = "hub.events"
DEAD_LETTER_EXCHANGE = "hub.dlx"  # where the broker itself dead-letters (past the delivery limit)
SET_ASIDE_EXCHANGE = "hub.set-aside"  # where a consumer sends a failed message: retry or dead-letter queue
# Poison that crashes the worker itself is dead-lettered by the broker after this many deliveries.
DELIVERY_LIMIT = 20
# A latest-only queue (a newer message supersedes an older one) keeps at most this many and drops
# the oldest when its consumer is away for long.
LATEST_ONLY_BACKLOG = 50_000
# Any other queue refuses new messages beyond this many (reject-publish: the publisher's confirm is a
# nack, so the relay keeps the event in its outbox and tries again later): a consumer that is away
# never grows its queue without bound, and the alert on queue depth (deploy/prometheus) fires first.
BACKLOG_LIMIT = 100_000


@dataclass(frozen=True)
class Subscription:
    service: str
    event_type: str
    latest_only: bool = False

    @property
    def queue(self) -> str:
        return f"{self.service}.{self.event_type}"

    @property
    def retry_queue(self) -> str:
        return f"{self.queue}.retry"

    @property
    def dead_letter_queue(self) -> str:
        return f"{self.queue}.dlq"


_QUORUM = {"x-queue-type": "quorum"}
# at-least-once dead-lettering needs reject-publish overflow on the source queue
_SAFE_DEAD_LETTERING = {"x-dead-letter-strategy": "at-least-once", "x-overflow": "reject-publish"}


def main_queue_arguments(sub: Subscription) -> dict:
    bounded = ({"x-max-length": LATEST_ONLY_BACKLOG, "x-overflow": "drop-head"} if sub.latest_only
               else {**_SAFE_DEAD_LETTERING, "x-max-length": BACKLOG_LIMIT})
    return {**_QUORUM, **bounded, "x-delivery-limit": DELIVERY_LIMIT,
            "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE, "x-dead-letter-routing-key": sub.queue}


def retry_queue_arguments(sub: Subscription) -> dict:
    # A message waits here for its per-message TTL, then is dead-lettered back
    # into the main queue through the default exchange.
    return {**_QUORUM, **_SAFE_DEAD_LETTERING,
            "x-dead-letter-exchange": "", "x-dead-letter-routing-key": sub.queue}


def declare(channel, subscriptions: Iterable[Subscription], keep: Iterable[str] = ()) -> None:
    """Declare the exchanges and every subscription's queues on a pika channel; idempotent. The
    main queues named in `keep` exist with older arguments (a queue's arguments never change):
    they are used as they are."""
    keep = set(keep)
    channel.exchange_declare(EVENTS_EXCHANGE, exchange_type="topic", durable=True)
    channel.exchange_declare(DEAD_LETTER_EXCHANGE, exchange_type="direct", durable=True)
    channel.exchange_declare(SET_ASIDE_EXCHANGE, exchange_type="topic", durable=True)
    for sub in subscriptions:
        if sub.queue in keep:
            channel.queue_declare(sub.queue, passive=True)
        else:
            channel.queue_declare(sub.queue, durable=True, arguments=main_queue_arguments(sub))
        channel.queue_bind(sub.queue, EVENTS_EXCHANGE, routing_key=sub.event_type)
        channel.queue_declare(sub.retry_queue, durable=True, arguments=retry_queue_arguments(sub))
        channel.queue_bind(sub.retry_queue, SET_ASIDE_EXCHANGE, routing_key=sub.retry_queue)
        channel.queue_declare(sub.dead_letter_queue, durable=True, arguments=dict(_QUORUM))
        channel.queue_bind(sub.dead_letter_queue, DEAD_LETTER_EXCHANGE, routing_key=sub.queue)
        channel.queue_bind(sub.dead_letter_queue, SET_ASIDE_EXCHANGE, routing_key=sub.dead_letter_queue)
