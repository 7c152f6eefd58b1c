"""The ledger connector process (`hub ledger run`): consumes voucher_posted (hubkit.amqp_consumer,
with the workers' retry and dead-letter policy), keeps each voucher and its push state per ledger,
pushes on its own schedule, and serves its gRPC API. A plain process: no eventlet.

Its loop sleeps in the consumer's poll until there is something to do, instead of waking every
0.1 s: a voucher kept (a round of pushes right after it, at most every PUSH_GAP_SECONDS), the next
push falling due (a retry's back-off, a summary voucher's day: the pushes' own next_attempt_at), a
person's re-push over gRPC (`wake`), the gauges' refresh, and in any case every IDLE_LOOK_SECONDS;
a poll with nothing to do returns after at most POLL_MAX_SECONDS, and only a round queries."""
from __future__ import annotations

import json
import logging
import signal
import time
from dataclasses import replace

from connectors.ledgers import clients, mapping, pusher, store, summary
from connectors.ledgers import config as ledger_config
from connectors.ledgers.grpc_api import LedgerServicer
from contracts import VoucherPosted, VoucherRefused
from hubapi.ledger.v1 import ledger_service_pb2_grpc as pb_grpc
from hubkit import clock, delivery, grpc_server, heap, metrics
from hubkit.amqp_consumer import Consumer
from hubkit.db import DATABASE_AWAY, AwayBackoff, Database, dialect_insert, pool_size
from hubkit.envelope import Envelope
from hubkit.health import Health
from hubkit.inbox import handle_many
from hubkit.publisher import ConfirmedPublisher
from hubkit.sql import many_rows, once_per_dialect

log = logging.getLogger(__name__)
CONSUMER = "ledger"
HANDLERS = ((VoucherPosted, "on_voucher_posted"),)  # what the connector consumes, and its handler
INBOX = f"{CONSUMER}.{VoucherPosted.type}"  # the inbox's consumer name (its queue's name, as it always was)
PREFETCH = 200
LOOP_STALE_SECONDS = 60.0  # a round of pushes may wait on slow ledgers (each call times out and retries)
# vouchers arriving this close together share one round of pushes (and one batch save), as they did
# when the loop woke every 0.1 s; an idle connector pushes a new voucher at once
PUSH_GAP_SECONDS = 0.1
# what the loop is not told of is seen within this: pushes written by another process, and the
# summary vouchers' composing (summary.COMPOSE_EVERY) runs on a round; well inside LOOP_STALE_SECONDS
IDLE_LOOK_SECONDS = 5.0
# the gauges (three counting queries): after busy rounds at most every second, as before; when
# nothing moves, every 15 s, Prometheus's default scrape interval
GAUGE_BUSY_SECONDS, GAUGE_IDLE_SECONDS = 1.0, 15.0
# the longest poll: SIGTERM's handler can only set a flag, so the loop sees it within this (a turn
# with nothing due costs microseconds: what cost CPU were the queries of a round every 0.1 s)
POLL_MAX_SECONDS = 1.0
UNANNOUNCED_MAX = 1000  # refusals kept for announcing while the broker is away (the oldest dropped beyond)


@once_per_dialect
def _keep(s):  # built once, values at execute (as every statement of a hot path)
    return many_rows(dialect_insert(s, store.vouchers).on_conflict_do_nothing())


@once_per_dialect
def _owe(s):
    return many_rows(dialect_insert(s, store.pushes).on_conflict_do_nothing())


def keep_voucher(ledgers: dict):
    """Effect of voucher_posted events: each voucher and one pending push per ledger, in one transaction
    (two multi-row statements for the lot). `ledgers` maps each ledger to its summary grace period, or
    None when it takes every voucher as it is; a voucher to be summed waits until its day is due
    (summary.due_at)."""
    def effect(uow, envelopes: list[Envelope]) -> None:
        now, s = clock.now(), uow.session
        kept, owed = [], []
        for envelope in envelopes:
            v = envelope.payload
            kept.append(dict(voucher_id=v["id"], number=v["number"], period=v["period"],
                             body=json.dumps(v, ensure_ascii=False), received_at=now))
            for ledger, grace in ledgers.items():
                due = now if grace is None else max(now, summary.due_at(v["business_date"], grace))
                owed.append(dict(ledger=ledger, voucher_id=v["id"], external_number=mapping.external_number(v),
                                 status=store.PENDING, next_attempt_at=due, created_at=now, updated_at=now))
        if kept:
            s.execute(_keep(s), kept)
        if owed:
            s.execute(_owe(s), owed)
    return effect


class Connector:
    def __init__(self, settings, configs: dict):
        self.settings = settings
        # threads that may hold a connection at once: each ledger's pushers, the gRPC API's, this loop
        threads = len(configs) * pusher.PARALLEL + grpc_server.API_THREADS + 1
        self.db = Database(settings.ledger_db_url, store.metadata, pool_size=pool_size(settings, threads),
                           prepare=settings.db_prepared_statements)
        graces = {name: summary.grace_of(cfg) for name, cfg in configs.items()}
        self.pushers = [pusher.Pusher(name, clients.make(name, cfg), self.db,
                                      summariser=summary.summariser(name, self.db, graces[name]))
                        for name, cfg in configs.items()]
        self.effect = keep_voucher(graces)
        self.publisher = ConfirmedPublisher(settings.amqp_uri)
        self.unannounced: list[dict] = []  # refusals the broker did not yet confirm (voucher_refused)
        self.stopping = False
        self.push_asked = False  # a voucher was kept, or a person re-pushed one: a round soon
        self.consumer = Consumer(settings.amqp_uri, delivery.Policy.from_settings(settings), prefetch=PREFETCH,
                                 stale_after=LOOP_STALE_SECONDS)
        for contract, method in HANDLERS:
            self.consumer.subscribe(contract, CONSUMER, getattr(self, method), method, batched=True)

    def on_voucher_posted(self, batch: list[tuple[VoucherPosted, Envelope]]) -> list:
        # the voucher is kept as it travelled (envelope.payload), for the pushes to map; a batch in
        # one transaction
        outcomes = handle_many(self.db, "ledger", INBOX, [envelope for _, envelope in batch], self.effect)
        self.push_asked = self.push_asked or any(outcome is True for outcome in outcomes)
        return outcomes

    def wake(self) -> None:
        """From any thread (the gRPC API's re-push): a round of pushes now."""
        self.push_asked = True
        self.consumer.wake()

    def run(self) -> None:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        log.info("pushing vouchers to %s", ", ".join(p.ledger for p in self.pushers))
        away = AwayBackoff()
        push_at = gauges_at = round_at = 0.0  # monotonic; both at once on start
        while not self.stopping:
            try:
                self.consumer.poll(max(0.0, min(push_at - time.monotonic(), gauges_at - time.monotonic(),
                                                POLL_MAX_SECONDS)))
                if self.push_asked:
                    self.push_asked = False
                    push_at = min(push_at, round_at + PUSH_GAP_SECONDS)
                now = time.monotonic()
                if now >= push_at:  # the ledgers are served whether or not the broker is up
                    round_at, (busy, push_in) = now, self._push_round()
                    push_at = now + push_in
                    if busy:
                        gauges_at = min(gauges_at, now + GAUGE_BUSY_SECONDS)
                    self._announce_refusals()
                if time.monotonic() >= gauges_at:
                    for p in self.pushers:
                        p.update_gauges()
                    gauges_at = time.monotonic() + GAUGE_IDLE_SECONDS
                away.succeeded()
            except DATABASE_AWAY as exc:  # a restart: every step is its own transaction, so go on later
                time.sleep(away.failed(exc, "ledger connector"))
        self.consumer.close()
        self.publisher.close()

    def _announce_refusals(self) -> None:
        """voucher_refused for each voucher a ledger refused in the rounds so far, for the notifier (not
        mandatory: a hub without a notifier that wants it routes it nowhere). One the broker did not
        confirm is tried again after the next round (kept in memory: a connector that stops before
        loses it; the voucher stays rejected, listed and counted, hub_ledger_rejected_vouchers)."""
        for p in self.pushers:
            self.unannounced += p.take_refusals()
        while self.unannounced:
            r = self.unannounced[0]
            envelope = VoucherRefused(**{k: v for k, v in r.items() if k != "event_id"}).envelope(
                aggregate_id=f"{r['ledger']}:{r['voucher_id']}"[:64], sequence=1, correlation_id="",
                actor=f"connector:{CONSUMER}")
            try:
                self.publisher.publish(replace(envelope, event_id=r["event_id"]), mandatory=False)
            except Exception as exc:
                log.warning("could not announce %d refused voucher(s): %s", len(self.unannounced), exc)
                del self.unannounced[:-UNANNOUNCED_MAX]
                return
            self.unannounced.pop(0)

    def _push_round(self) -> tuple[bool, float]:
        """Every ledger's due pushes; (whether any was handled, seconds until the next round)."""
        handled = [(p, p.tick()) for p in self.pushers]
        if any(n >= p.per_round for p, n in handled):
            return True, 0.0  # more was due than one round takes
        due = [d for d in (p.due_in() for p in self.pushers) if d is not None]
        # never sooner than the gap: a push that stays due cannot make the loop spin
        return any(n for _, n in handled), max(PUSH_GAP_SECONDS, min([IDLE_LOOK_SECONDS, *due]))

    def _stop(self, *_):
        self.stopping = True


def main(settings: ledger_config.Settings) -> None:
    from hubkit import logging as hublog

    hublog.setup("ledger-connector", settings.log_level)
    if not settings.ledgers:
        raise SystemExit("no ledger configured: set HUB_LEDGERS (kingdee, ufida or both)")
    configs = ledger_config.load(settings.ledgers)
    connector = Connector(settings, configs)
    metrics.serve(settings.metrics_port, Health(settings.liveness_grace_seconds, connector.consumer.beat))
    server, _health = grpc_server.start(
        "ledger", settings.ledger_grpc_port, lambda s: pb_grpc.add_LedgerServiceServicer_to_server(
        LedgerServicer(connector.db, configs, settings.grpc_target("accounting"), connector.wake), s))
    heap.started()
    try:
        connector.run()
    finally:
        server.stop(grace=3).wait()
