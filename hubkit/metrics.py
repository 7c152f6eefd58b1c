"""Prometheus metrics shared by every process; names follow hub_<noun>_<unit>."""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import Counter, Gauge, Histogram, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import REGISTRY, Collector
from sqlalchemy.exc import SQLAlchemyError

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
# registered by serve() in the processes that have a readiness (workers, relays, connectors), not by
# the api processes, which would export it as a constant 0
READY = Gauge("hub_process_ready", "1 while every loop of the process is attached and ticking (its /readyz "
              "answers 200): a worker at 0 consumes nothing", registry=None)
HTTP_LATENCY = Histogram("hub_http_request_latency_seconds", "Gateway request handling time",
                         ["method", "route", "status"])

SERVE_POLL_SECONDS = 3600.0  # see serve()


class Tally:
    """A gauge's labelled value kept as a plain int and read when scraped, for a count moved on every
    message: a prometheus value takes a lock at each move, and in a worker (eventlet) that lock is
    eventlet's pure-Python one. One per gauge and labels (`tally`); a worker's green threads are not
    preempted, so `value += 1` needs no lock there."""

    def __init__(self, gauge: Gauge, labels: tuple[str, ...]):
        self.value = 0
        gauge.labels(*labels).set_function(lambda: self.value)


_tallies: dict[tuple[int, tuple[str, ...]], Tally] = {}


def tally(gauge: Gauge, *labels: str) -> Tally:
    """The Tally of `gauge`'s series `labels`, shared by everybody who moves it."""
    key = (id(gauge), labels)
    if key not in _tallies:
        _tallies[key] = Tally(gauge, labels)
    return _tallies[key]


def count_handler(service: str, handler: str) -> None:
    """The handler's outcome counters at 0 from its start: Prometheus's increase() sees no growth in a
    series whose first sample is already 1, so a first dead letter would not alert."""
    for counter in (MESSAGES_HANDLED, MESSAGES_DUPLICATE, MESSAGES_FAILED, MESSAGES_DEAD_LETTERED):
        counter.labels(service, handler)

log = logging.getLogger(__name__)


class Snapshot(Collector):
    """Business gauges read from a database when Prometheus scrapes, off every event's path: `read()`
    returns the metric families; it runs at most once per `seconds` (a scrape in between gets the
    last families), and while the database cannot be read the last families stand (the process's
    own /readyz and the outbox gauges say that the database is away)."""

    def __init__(self, read: Callable[[], Iterable[Metric]], seconds: float):
        self.read, self.seconds = read, seconds
        self.lock = threading.Lock()
        self.at: float | None = None
        self.families: list[Metric] = []

    def collect(self) -> Iterable[Metric]:
        with self.lock:
            if self.at is None or time.monotonic() - self.at >= self.seconds:
                try:
                    self.families = list(self.read())
                except SQLAlchemyError as exc:
                    log.warning("business metrics unreadable: %s", exc)
                self.at = time.monotonic()
            return list(self.families)

    def describe(self) -> Iterable[Metric]:
        return []  # registering must not read the database


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
    if health is not None:
        READY.set_function(lambda: 0 if health.readiness() else 1)
        try:
            REGISTRY.register(READY)
        except ValueError:  # served before in this process (tests): registered already
            pass

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
