"""The ledger connector process (`hub ledger run`): consumes voucher_posted (hubkit.amqp_consumer,
with the workers' retry and dead-letter policy), keeps each voucher and its push state per ledger,
pushes on its own schedule, and serves its gRPC API. A plain process: no eventlet."""
from __future__ import annotations

import json
import logging
import signal
import time

from connectors.ledgers import clients, mapping, pusher, store, summary
from connectors.ledgers import config as ledger_config
from connectors.ledgers.grpc_api import LedgerServicer
from contracts import VoucherPosted
from hubapi.ledger.v1 import ledger_service_pb2_grpc as pb_grpc
from hubkit import clock, delivery, grpc_server, metrics
from hubkit.amqp_consumer import Consumer
from hubkit.db import DATABASE_AWAY, AwayBackoff, Database, dialect_insert, pool_size
from hubkit.envelope import Envelope
from hubkit.health import Health
from hubkit.inbox import handle_many

log = logging.getLogger(__name__)
CONSUMER = "ledger"
HANDLERS = ((VoucherPosted, "on_voucher_posted"),)  # what the connector consumes, and its handler
INBOX = f"{CONSUMER}.{VoucherPosted.type}"  # the inbox's consumer name (its queue's name, as it always was)
PREFETCH = 200
LOOP_STALE_SECONDS = 60.0  # a round of pushes may wait on slow ledgers (each call times out and retries)


def keep_voucher(ledgers: dict):
    """Effect of a voucher_posted event: the voucher and one pending push per ledger, in one
    transaction. `ledgers` maps each ledger to its summary grace period, or None when it takes
    every voucher as it is; a voucher to be summed waits until its day is due (summary.due_at)."""
    def effect(uow, envelope: Envelope):
        v, now = envelope.payload, clock.now()
        s = uow.session
        s.execute(dialect_insert(s, store.vouchers).values(
            voucher_id=v["id"], number=v["number"], period=v["period"],
            body=json.dumps(v, ensure_ascii=False), received_at=now).on_conflict_do_nothing())
        for ledger, grace in ledgers.items():
            due = now if grace is None else max(now, summary.due_at(v["business_date"], grace))
            s.execute(dialect_insert(s, store.pushes).values(
                ledger=ledger, voucher_id=v["id"], external_number=mapping.external_number(v),
                status=store.PENDING, next_attempt_at=due, created_at=now, updated_at=now).on_conflict_do_nothing())
    return effect


class Connector:
    def __init__(self, settings, configs: dict):
        self.settings = settings
        # threads that may hold a connection at once: each ledger's pushers, the gRPC API's, this loop
        threads = len(configs) * pusher.PARALLEL + grpc_server.API_THREADS + 1
        self.db = Database(settings.ledger_db_url, store.metadata, pool_size=pool_size(settings, threads))
        graces = {name: summary.grace_of(cfg) for name, cfg in configs.items()}
        self.pushers = [pusher.Pusher(name, clients.make(name, cfg), self.db,
                                      summariser=summary.summariser(name, self.db, graces[name]))
                        for name, cfg in configs.items()]
        self.effect = keep_voucher(graces)
        self.stopping = False
        self.consumer = Consumer(settings.amqp_uri, delivery.Policy.from_settings(settings), prefetch=PREFETCH,
                                 stale_after=LOOP_STALE_SECONDS)
        for contract, method in HANDLERS:
            self.consumer.subscribe(contract, CONSUMER, getattr(self, method), method, batched=True)

    def on_voucher_posted(self, batch: list[tuple[VoucherPosted, Envelope]]) -> list:
        # the voucher is kept as it travelled (envelope.payload), for the pushes to map; a batch in
        # one transaction
        def keep(uow, fresh: list[Envelope]) -> None:
            for envelope in fresh:
                self.effect(uow, envelope)
        return handle_many(self.db, "ledger", INBOX, [envelope for _, envelope in batch], keep)

    def run(self) -> None:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        log.info("pushing vouchers to %s", ", ".join(p.ledger for p in self.pushers))
        gauges_at, away = 0.0, AwayBackoff()
        while not self.stopping:
            try:
                self.consumer.poll(0.1)
                for p in self.pushers:  # the ledgers are served whether or not the broker is up
                    p.tick()
                if time.monotonic() - gauges_at > 1:
                    for p in self.pushers:
                        p.update_gauges()
                    gauges_at = time.monotonic()
                away.succeeded()
            except DATABASE_AWAY as exc:  # a restart: every step is its own transaction, so go on later
                time.sleep(away.failed(exc, "ledger connector"))
        self.consumer.close()

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
        LedgerServicer(connector.db, configs, settings.grpc_target("accounting")), s))
    try:
        connector.run()
    finally:
        server.stop(grace=3).wait()
