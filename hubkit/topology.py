"""Broker topology, declared by our own code (`hub migrate`) before anything publishes.

One topic exchange carries every domain event, routed by event type. Each
(consumer service, event type) pair has a quorum queue, a retry queue whose
expired messages flow back into it, and a dead-letter queue."""
from __future__ import annotations

from dataclasses import dataclass

EVENTS_EXCHANGE = "hub.events"
DEAD_LETTER_EXCHANGE = "hub.dlx"
# Poison that crashes the worker itself is dead-lettered by the broker after this many deliveries.
DELIVERY_LIMIT = 20

# Event type -> the service that publishes it.
EVENTS = {
    "order_placed": "order",
    "order_shipped": "order",
    "order_returned": "order",
    "order_cancelled": "order",
    "channel_order_changed": "shops",  # the shop connectors (connectors/shops)
    "stock_reserved": "inventory",
    "stock_short": "inventory",
    "goods_issued": "inventory",
    "goods_returned": "inventory",
    "stock_adjusted": "inventory",
    "stock_changed": "inventory",
    "purchase_received": "procurement",
    "purchase_returned": "procurement",
    "purchase_return_shipped": "inventory",
    "stock_transferred": "inventory",
    "kit_changed": "inventory",
    "low_stock": "inventory",
    "lot_expiring": "inventory",
    "lot_hold_changed": "inventory",
    "reservation_expired": "inventory",
    "voucher_posted": "accounting",
}

# (consumer service, event type): every event type has at least one subscriber,
# so a published event always finds a queue (the relay publishes `mandatory`).
SUBSCRIPTIONS = (
    ("inventory", "order_placed"),
    ("inventory", "order_shipped"),
    ("inventory", "purchase_received"),
    ("inventory", "order_returned"),
    ("inventory", "order_cancelled"),
    ("order", "channel_order_changed"),
    ("inventory", "purchase_returned"),
    ("order", "stock_reserved"),
    ("order", "stock_short"),
    ("customer", "order_placed"),
    ("customer", "order_shipped"),
    ("customer", "order_cancelled"),
    ("accounting", "order_shipped"),
    ("accounting", "goods_issued"),
    ("accounting", "purchase_received"),
    ("accounting", "order_returned"),
    ("accounting", "goods_returned"),
    ("accounting", "stock_adjusted"),
    ("accounting", "purchase_return_shipped"),
    ("accounting", "stock_transferred"),
    ("accounting", "kit_changed"),
    # purchasing turns stock signals into suggestions and alerts
    ("procurement", "low_stock"),
    ("procurement", "lot_expiring"),
    ("procurement", "lot_hold_changed"),
    # an abandoned order whose reservation expired is cancelled
    ("order", "reservation_expired"),
    # the ledger connector (connectors/ledgers) pushes every voucher to the external ledgers
    ("ledger", "voucher_posted"),
    # the shop connectors confirm shipments on the platforms and push sellable stock
    ("shops_taobao", "order_shipped"),
    ("shops_taobao", "stock_changed"),
    ("shops_jd", "order_shipped"),
    ("shops_jd", "stock_changed"),
)
# Only the newest of these matters (a newer quantity supersedes an older one): their queues keep
# a bounded backlog and drop the oldest when a consumer is away for long.
LATEST_ONLY = {"stock_changed"}
LATEST_ONLY_BACKLOG = 50_000


@dataclass(frozen=True)
class Subscription:
    service: str
    event_type: str

    @property
    def queue(self) -> str:
        return f"{self.service}.{self.event_type}"

    @property
    def retry_queue(self) -> str:
        return f"{self.queue}.retry"

    @property
    def dead_letter_queue(self) -> str:
        return f"{self.queue}.dlq"


def subscriptions(service: str | None = None) -> list[Subscription]:
    return [Subscription(s, e) for s, e in SUBSCRIPTIONS if service in (None, s)]


def subscription_for_queue(queue: str) -> Subscription:
    for sub in subscriptions():
        if queue in (sub.queue, sub.dead_letter_queue):
            return sub
    raise KeyError(f"unknown queue {queue!r}; known: {[s.queue for s in subscriptions()]}")


_QUORUM = {"x-queue-type": "quorum"}
# at-least-once dead-lettering needs reject-publish overflow on the source queue
_SAFE_DEAD_LETTERING = {"x-dead-letter-strategy": "at-least-once", "x-overflow": "reject-publish"}


def main_queue_arguments(sub: Subscription) -> dict:
    bounded = ({"x-max-length": LATEST_ONLY_BACKLOG, "x-overflow": "drop-head"} if sub.event_type in LATEST_ONLY
               else _SAFE_DEAD_LETTERING)
    return {**_QUORUM, **bounded, "x-delivery-limit": DELIVERY_LIMIT,
            "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE, "x-dead-letter-routing-key": sub.queue}


def retry_queue_arguments(sub: Subscription) -> dict:
    # A message waits here for its per-message TTL, then is dead-lettered back
    # into the main queue through the default exchange.
    return {**_QUORUM, **_SAFE_DEAD_LETTERING,
            "x-dead-letter-exchange": "", "x-dead-letter-routing-key": sub.queue}


def declare(channel) -> None:
    """Declare everything on a pika channel; idempotent."""
    channel.exchange_declare(EVENTS_EXCHANGE, exchange_type="topic", durable=True)
    channel.exchange_declare(DEAD_LETTER_EXCHANGE, exchange_type="direct", durable=True)
    for sub in subscriptions():
        channel.queue_declare(sub.queue, durable=True, arguments=main_queue_arguments(sub))
        channel.queue_bind(sub.queue, EVENTS_EXCHANGE, routing_key=sub.event_type)
        channel.queue_declare(sub.retry_queue, durable=True, arguments=retry_queue_arguments(sub))
        channel.queue_declare(sub.dead_letter_queue, durable=True, arguments=dict(_QUORUM))
        channel.queue_bind(sub.dead_letter_queue, DEAD_LETTER_EXCHANGE, routing_key=sub.queue)
