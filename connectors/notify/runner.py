"""The notifier process (`hub notify run`): consumes the events some target of HUB_NOTIFY_FILE wants
(hubkit.amqp_consumer, with the workers' retry and dead-letter policy), keeps one delivery per event
and target (the delivery log, connectors/notify/store.py), and delivers them: a 2xx (a robot's
errcode 0) is final, a 5xx, 408, 429, a timeout or a refused connection is tried again after a
back-off, another 4xx or the last attempt marks the delivery failed. A plain process: no eventlet.

Once per event and target from the hub's side: the delivery's key is (event id, target), so an event
the broker delivers twice is one delivery, and a delivered row is never sent again. What is not
promised: a process that dies after the target answered 2xx but before the answer was recorded sends
it again; the json format carries the event id (X-Hub-Event-Id) for a receiver to drop the repeat."""
from __future__ import annotations

import json
import logging
import signal
import time
from datetime import timedelta

import httpx
from prometheus_client import Counter, Gauge
from sqlalchemy import func, select, update

from connectors.notify import config as notify_config
from connectors.notify import formats, store
from connectors.notify.grpc_api import NotifyServicer
from contracts import CATALOG
from hubapi.notify.v1 import notify_service_pb2_grpc as pb_grpc
from hubkit import clock, delivery, grpc_server, heap, metrics
from hubkit.amqp_consumer import Consumer
from hubkit.db import DATABASE_AWAY, AwayBackoff, Database, as_utc, changed, dialect_insert, pool_size
from hubkit.envelope import Envelope
from hubkit.events import Event
from hubkit.health import Health

log = logging.getLogger(__name__)
CONSUMER = "notify"
PREFETCH = 200
PER_ROUND = 50  # deliveries sent per round; more due: the next round follows at once
POLL_MAX_SECONDS = 1.0  # the longest poll (SIGTERM's flag is seen within it)
GAUGE_SECONDS = 15.0  # the gauges' refresh when nothing was sent (Prometheus's default scrape interval)
LOOP_STALE_SECONDS = 120.0  # a round may wait on slow targets (PER_ROUND x each target's timeout, at worst)

DELIVERIES = Counter("hub_notify_attempts_total", "Notification delivery attempts, by target and outcome",
                     ["target", "outcome"])
WAITING = Gauge("hub_notify_deliveries", "Notification deliveries, by status", ["status"])


def backoff(attempts: int, base: float, cap: float) -> float:
    """Seconds before the next attempt after `attempts` failed ones."""
    return min(cap, base * 2 ** max(0, attempts - 1))


def keep_deliveries(s, targets: dict[str, notify_config.Target], envelope: Envelope) -> bool:
    """One pending delivery per target that wants the event's type, in the caller's transaction;
    whether any is new (the same event again is no new row: the key is (event id, target))."""
    now, new = clock.now(), False
    for target in targets.values():
        if envelope.type in target.events:
            new = bool(changed(s, dialect_insert(s, store.deliveries).on_conflict_do_nothing(), dict(
                event_id=envelope.event_id, target=target.name, event_type=envelope.type,
                aggregate_id=envelope.aggregate_id[:128], occurred_at=envelope.occurred_at,
                payload=json.dumps(envelope.payload, ensure_ascii=False), status=store.PENDING, attempts=0,
                next_attempt_at=now, created_at=now, updated_at=now))) or new
    return new


class Notifier:
    def __init__(self, settings, targets: dict[str, notify_config.Target], http: httpx.Client | None = None):
        self.settings, self.targets = settings, targets
        # threads that may hold a connection at once: the gRPC API's and this loop
        self.db = Database(settings.notify_db_url, store.metadata,
                           pool_size=pool_size(settings, grpc_server.API_THREADS + 1),
                           prepare=settings.db_prepared_statements)
        self.http = http or httpx.Client(follow_redirects=False)
        self.stopping = False
        self.gauges_at = 0.0  # monotonic: when the gauges are counted next
        self.consumer = Consumer(settings.amqp_uri, delivery.Policy.from_settings(settings), prefetch=PREFETCH,
                                 stale_after=LOOP_STALE_SECONDS)
        for event_type in sorted(notify_config.wanted(targets)):
            self.consumer.subscribe(CATALOG[event_type], CONSUMER, self.on_events, f"on_{event_type}", batched=True)

    def on_events(self, batch: list[tuple[Event, Envelope]]) -> list:
        """What one poll brought: kept in one transaction; if that fails, each event alone, so that
        one that cannot be kept fails by itself (its outcome the exception: retried, dead-lettered)."""
        envelopes = [envelope for _, envelope in batch]
        if len(envelopes) > 1:
            try:
                with self.db.session() as s:
                    return [keep_deliveries(s, self.targets, e) for e in envelopes]
            except Exception as exc:
                log.warning("a batch of %d events failed (%s); keeping them one at a time", len(envelopes), exc)
        outcomes: list = []
        for envelope in envelopes:
            try:
                with self.db.session() as s:
                    outcomes.append(keep_deliveries(s, self.targets, envelope))
            except Exception as exc:
                outcomes.append(exc)
        return outcomes

    # -- delivering ---------------------------------------------------------------------------
    def deliver_due(self, limit: int = PER_ROUND) -> int:
        """Send the deliveries that are due (at most `limit`); how many were tried."""
        now = clock.now()
        with self.db.reader() as s:
            # a target removed from the file: its deliveries wait, untouched (and never fill a round)
            due = s.execute(select(store.deliveries).where(
                store.deliveries.c.status == store.PENDING, store.deliveries.c.next_attempt_at <= now,
                store.deliveries.c.target.in_(list(self.targets)))
                .order_by(store.deliveries.c.next_attempt_at).limit(limit)).mappings().all()
        for row in due:
            self._attempt(row)
        return len(due)

    def _attempt(self, row) -> None:
        target = self.targets[row["target"]]
        event = {"event_id": row["event_id"], "type": row["event_type"], "aggregate_id": row["aggregate_id"],
                 "occurred_at": row["occurred_at"], "payload": json.loads(row["payload"])}
        request = formats.render(target, event, time.time())
        status: int | None = None
        try:
            answer = self.http.post(request.url, content=request.body, headers=request.headers,
                                    timeout=target.timeout_seconds)
            status = answer.status_code
            verdict = formats.judge(target, status, answer.text)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:  # a timeout, a refused connection: no answer, try again
            verdict = formats.Verdict(False, True, f"{type(exc).__name__}: {exc}"[:500])
        attempts, now = row["attempts"] + 1, clock.now()
        values: dict = dict(attempts=attempts, last_status=status, updated_at=now)
        if verdict.delivered:
            values.update(status=store.DELIVERED, delivered_at=now, last_error=None)
            outcome = "delivered"
        elif verdict.retry and attempts < target.max_attempts:
            wait = backoff(attempts, self.settings.notify_retry_base_seconds, self.settings.notify_retry_max_seconds)
            values.update(last_error=verdict.error[:500], next_attempt_at=now + timedelta(seconds=wait))
            outcome = "retry"
        else:
            values.update(status=store.FAILED, last_error=verdict.error[:500])
            outcome = "failed"
        with self.db.session() as s:
            s.execute(update(store.deliveries).where(
                store.deliveries.c.event_id == row["event_id"], store.deliveries.c.target == row["target"],
                store.deliveries.c.status == store.PENDING).values(**values))
        DELIVERIES.labels(target.name, outcome).inc()
        if outcome != "delivered":
            log.warning("notification %s of %s to %s: %s (attempt %d)", outcome, row["event_id"], target.name,
                        verdict.error, attempts)

    def due_in(self) -> float | None:
        """Seconds until the next pending delivery is due (None: none is pending)."""
        with self.db.reader() as s:
            nxt = s.execute(select(func.min(store.deliveries.c.next_attempt_at)).where(
                store.deliveries.c.status == store.PENDING,
                store.deliveries.c.target.in_(list(self.targets)))).scalar()
        if nxt is None:
            return None
        return max(0.0, (as_utc(nxt) - clock.now()).total_seconds())

    def update_gauges(self) -> None:
        with self.db.reader() as s:
            counts = dict(s.execute(select(store.deliveries.c.status, func.count())
                                    .group_by(store.deliveries.c.status)).all())
        for status in (store.PENDING, store.DELIVERED, store.FAILED):
            WAITING.labels(status).set(counts.get(status, 0))

    # -- the loop -----------------------------------------------------------------------------
    def run(self) -> None:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        log.info("notifying %s", ", ".join(f"{t.name} ({t.format}: {', '.join(t.events)})"
                                            for t in self.targets.values()))
        away, wait = AwayBackoff(), 0.0
        while not self.stopping:
            try:
                self.consumer.poll(min(wait, POLL_MAX_SECONDS))
                wait = self.turn()
                away.succeeded()
            except DATABASE_AWAY as exc:
                time.sleep(away.failed(exc, "notifier"))
        self.consumer.close()
        self.http.close()

    def turn(self) -> float:
        """One round: deliver what is due; the seconds the next poll may wait."""
        tried = self.deliver_due()
        if tried or time.monotonic() >= self.gauges_at:
            self.update_gauges()
            self.gauges_at = time.monotonic() + GAUGE_SECONDS
        if tried >= PER_ROUND:
            return 0.0
        due = self.due_in()
        return POLL_MAX_SECONDS if due is None else min(due, POLL_MAX_SECONDS)

    def _stop(self, *_):
        self.stopping = True


def main(settings: notify_config.Settings) -> None:
    from hubkit import logging as hublog

    hublog.setup("notifier", settings.log_level)
    targets = notify_config.load(settings.notify_file)
    if not targets:
        raise SystemExit("no notification target configured: set HUB_NOTIFY_FILE")
    notifier = Notifier(settings, targets)
    metrics.serve(settings.metrics_port, Health(settings.liveness_grace_seconds, notifier.consumer.beat))
    server, _health = grpc_server.start("notify", settings.notify_grpc_port, lambda s: (
        pb_grpc.add_NotifyServiceServicer_to_server(NotifyServicer(notifier.db, notifier.consumer.wake), s)))
    heap.started()
    try:
        notifier.run()
    finally:
        server.stop(grace=3).wait()
