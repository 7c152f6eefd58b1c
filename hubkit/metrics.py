"""Prometheus metrics shared by every process; names follow hub_<noun>_<unit>."""
from __future__ import annotations

import threading
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import Counter, Gauge, Histogram, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

from hubkit.health import Health

MESSAGES_HANDLED = Counter("hub_messages_handled_total", "Events applied", ["service", "handler"])
MESSAGES_DUPLICATE = Counter("hub_messages_duplicate_total",
                             "Events skipped as duplicates or stale versions", ["service", "handler"])
MESSAGES_FAILED = Counter("hub_messages_failed_total", "Handler failures (each attempt)",
                          ["service", "handler"])
MESSAGES_DEAD_LETTERED = Counter("hub_messages_dead_lettered_total", "Events sent to the dead-letter queue",
                                 ["service", "handler"])
HANDLER_LATENCY = Histogram("hub_message_handler_latency_seconds", "Time to apply one event",
                            ["service", "handler"])
MESSAGES_IN_HAND = Gauge("hub_messages_in_hand",
                         "Deliveries a worker has taken from its queues and not yet settled (acked, set aside or "
                         "requeued): being applied or gathered into a batch", ["service"])
BATCH_SIZE = Histogram("hub_message_batch_size", "Events handed to a batched handler at once (one transaction)",
                       ["service", "handler"], buckets=(1, 2, 5, 10, 20, 50, 100, 200))
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

SERVE_POLL_SECONDS = 3600.0  # see serve()


def _answer(start_response, reasons: list[str]) -> list[bytes]:
    start_response("503 Service Unavailable" if reasons else "200 OK", [("Content-Type", "text/plain; charset=utf-8")])
    return [("\n".join(reasons) or "ok").encode() + b"\n"]


class _Quiet(WSGIRequestHandler):
    def log_message(self, *_args) -> None:  # probed every few seconds: not worth a log line
        pass


def serve(port: int, health: Health | None = None) -> None:
    """Expose /metrics on `port` (0 = off), from a daemon thread; with `health` also /readyz and
    /livez (200, or 503 with the reasons)."""
    if not port:
        return
    metrics_app = make_wsgi_app()

    def app(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if health is not None and path == "/readyz":
            return _answer(start_response, health.readiness())
        if health is not None and path == "/livez":
            return _answer(start_response, health.liveness())
        return metrics_app(environ, start_response)

    server = make_server("0.0.0.0", port, app, ThreadingWSGIServer, handler_class=_Quiet)
    # serve_forever's poll interval only bounds how soon a shutdown() is noticed, and this daemon
    # thread is never shut down (it ends with its process): its default 0.5 s woke every idle process
    # twice a second for nothing
    threading.Thread(target=server.serve_forever, args=(SERVE_POLL_SECONDS,), name="metrics", daemon=True).start()
