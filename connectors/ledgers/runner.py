"""The ledger connector process (`hub ledger run`): consumes voucher_posted (pika, manual ack),
keeps each voucher and its push state per ledger, pushes on its own schedule, and serves its
gRPC API. A plain process: no eventlet."""
from __future__ import annotations

import json
import logging
import signal
import time
from datetime import datetime, timezone

import pika

from connectors.ledgers import clients, config as ledger_config, mapping, pusher, store
from connectors.ledgers.grpc_api import LedgerServicer
from hubapi.ledger.v1 import ledger_service_pb2_grpc as pb_grpc
from hubkit import clock
from hubkit import grpc_server, metrics
from hubkit.db import Database, dialect_insert
from hubkit.envelope import Envelope, EnvelopeError
from hubkit.inbox import handle_once

log = logging.getLogger(__name__)
QUEUE = "ledger.voucher_posted"
PREFETCH = 200


def keep_voucher(ledgers):
    """Effect of a voucher_posted event: the voucher and one pending push per ledger, in one transaction."""
    def effect(uow, envelope: Envelope):
        v, now = envelope.payload, clock.now()
        s = uow.session
        s.execute(dialect_insert(s, store.vouchers).values(
            voucher_id=v["id"], number=v["number"], period=v["period"],
            body=json.dumps(v, ensure_ascii=False), received_at=now).on_conflict_do_nothing())
        for ledger in ledgers:
            s.execute(dialect_insert(s, store.pushes).values(
                ledger=ledger, voucher_id=v["id"], external_number=mapping.external_number(v),
                status=store.PENDING, next_attempt_at=now, created_at=now, updated_at=now).on_conflict_do_nothing())
    return effect


class Connector:
    def __init__(self, settings, configs: dict):
        self.settings = settings
        self.db = Database(settings.ledger_db_url, store.metadata, pool_size=settings.db_pool_size)
        self.pushers = [pusher.Pusher(name, clients.make(name, cfg), self.db) for name, cfg in configs.items()]
        self.effect = keep_voucher(list(configs))
        self.stopping = False
        self.connection = None

    def on_message(self, channel, method, _properties, body):
        try:
            envelope = Envelope.from_json(body)
        except EnvelopeError as exc:
            log.error("dead-lettering an invalid voucher_posted message: %s", exc)
            channel.basic_nack(method.delivery_tag, requeue=False)  # the queue's dead-letter exchange keeps it
            return
        handle_once(self.db, "ledger", QUEUE, envelope, self.effect)
        channel.basic_ack(method.delivery_tag)

    def _connect(self):
        params = pika.URLParameters(self.settings.amqp_uri)
        params.heartbeat = 120
        self.connection = pika.BlockingConnection(params)
        channel = self.connection.channel()
        channel.basic_qos(prefetch_count=PREFETCH)
        channel.basic_consume(QUEUE, self.on_message)
        log.info("consuming %s for %s", QUEUE, ", ".join(p.ledger for p in self.pushers))

    def run(self) -> None:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        gauges_at = 0.0
        while not self.stopping:
            try:
                if self.connection is None or self.connection.is_closed:
                    self._connect()
                self.connection.process_data_events(time_limit=0.1)
            except pika.exceptions.AMQPError as exc:
                log.warning("broker connection lost (%s); pushing goes on, reconnecting", exc)
                self.connection = None
                time.sleep(0.5)
            for p in self.pushers:  # the ledgers are served whether or not the broker is up
                p.tick()
            if time.monotonic() - gauges_at > 1:
                for p in self.pushers:
                    p.update_gauges()
                gauges_at = time.monotonic()
        if self.connection is not None and self.connection.is_open:
            self.connection.close()

    def _stop(self, *_):
        self.stopping = True


def main() -> None:
    from hubkit import logging as hublog
    from hubkit import settings as hubsettings

    settings = hubsettings.load()
    hublog.setup("ledger-connector", settings.log_level)
    if not settings.ledgers:
        raise SystemExit("no ledger configured: set HUB_LEDGERS (kingdee, ufida or both)")
    configs = ledger_config.load(settings.ledgers)
    metrics.serve(settings.metrics_port)
    connector = Connector(settings, configs)
    server, _health = grpc_server.start("ledger", settings.ledger_grpc_port, lambda s: pb_grpc.add_LedgerServiceServicer_to_server(
        LedgerServicer(connector.db, configs, settings.grpc_target("accounting")), s))
    try:
        connector.run()
    finally:
        server.stop(grace=3).wait()
