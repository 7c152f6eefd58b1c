"""Prometheus metrics shared by every process; names follow hub_<noun>_<unit>."""
from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

MESSAGES_HANDLED = Counter("hub_messages_handled_total", "Events applied", ["service", "handler"])
MESSAGES_DUPLICATE = Counter("hub_messages_duplicate_total",
                             "Events skipped as duplicates or stale versions", ["service", "handler"])
MESSAGES_FAILED = Counter("hub_messages_failed_total", "Handler failures (each attempt)",
                          ["service", "handler"])
MESSAGES_DEAD_LETTERED = Counter("hub_messages_dead_lettered_total", "Events sent to the dead-letter queue",
                                 ["service", "handler"])
HANDLER_LATENCY = Histogram("hub_message_handler_latency_seconds", "Time to apply one event",
                            ["service", "handler"])
OUTBOX_PENDING = Gauge("hub_outbox_pending", "Outbox rows not yet confirmed by the broker", ["service"])
OUTBOX_OLDEST_AGE = Gauge("hub_outbox_oldest_age_seconds", "Age of the oldest unpublished outbox row",
                          ["service"])
OUTBOX_PUBLISHED = Counter("hub_outbox_published_total", "Outbox rows published and confirmed", ["service"])
OUTBOX_RETURNED = Counter("hub_outbox_returned_total", "Outbox rows the broker could not route", ["service"])
OUTBOX_UNCONSUMED = Counter("hub_outbox_unconsumed_total",
                            "Outbox rows of an event no configured consumer subscribes to, counted as delivered",
                            ["service", "event"])
OUTBOX_REFUSED = Counter("hub_outbox_refused_total",
                         "Outbox rows the broker refused (nack: a full queue), published again later", ["service"])
GRPC_LATENCY = Histogram("hub_grpc_server_latency_seconds", "gRPC server handling time",
                         ["service", "method", "code"])
HTTP_LATENCY = Histogram("hub_http_request_latency_seconds", "Gateway request handling time",
                         ["method", "route", "status"])


def serve(port: int) -> None:
    """Expose /metrics on `port` (0 = off)."""
    if port:
        start_http_server(port, addr="0.0.0.0")
