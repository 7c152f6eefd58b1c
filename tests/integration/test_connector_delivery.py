"""The connectors consume with the workers' policy (hubkit.amqp_consumer): a real ledger connector
process on the real broker sends a voucher its effect cannot keep through the retry queue to its
dead-letter queue with the error, keeps running, applies the next voucher, reconnects when the
broker drops its connection, and `hub dlq replay` re-drives the dead letter. A voucher that does
not fit its contract is dead-lettered at once. A connector whose consumer the broker cancelled says
so on /readyz and /livez, and consumes again once its queue is back."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager

import httpx
import pika
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from connectors.ledgers import store
from contracts import DeadLettered
from hub import components
from hub.supervisor import free_port, spawn
from hubkit import broker, dlq, events, topology
from hubkit.db import Database
from hubkit.envelope import Envelope
from tests.support import infra
from tests.support.hub import wait_for

pytestmark = pytest.mark.integration
# only this subscription's part of the topology (the broker has few file descriptors to spare)
[SUB] = components.subscriptions("ledger")
HANDLER = {"service": "ledger", "handler": "on_voucher_posted"}
TAP = "test.dead_lettered"


@pytest.fixture(scope="module")
def amqp_uri(session_name):
    with _ledger_vhost(f"{session_name}_cdl") as uri:
        yield uri


@contextmanager
def _ledger_vhost(vhost):
    """The vhost's administrator URI (for the test's own publishing and `hub dlq`); the connector
    connects as its own broker user, as `hub migrate` makes it."""
    uri = infra.create_vhost(vhost)
    try:
        connection = broker.connect(uri, attempts=3)
        channel = connection.channel()
        topology.declare(channel, [SUB])
        # what the notifier's queue would get: the connector's announcements of its dead letters
        channel.queue_declare(TAP)
        channel.queue_bind(TAP, topology.EVENTS_EXCHANGE, routing_key="dead_lettered")
        connection.close()
        broker.set_up_accounts(uri, {broker.Account("ledger", ("dead_lettered",), True):
                                     broker.account_uri(uri, "ledger")})
        yield uri
    finally:
        infra.delete_vhost(vhost)


@contextmanager
def _running_connector(amqp_uri, var, db_url):
    """`hub ledger run` as the hub starts it, with fast retries, keeping its state in `db_url`; its
    ledger (U8-style) is not reachable, which only delays the pushes."""
    components.migrate("ledger", db_url)
    metrics_port = free_port()
    env = {**os.environ, "HUB_AMQP_URI": broker.account_uri(amqp_uri, "ledger"), "HUB_VAR_DIR": str(var),
           "HUB_LEDGER_DB_URL": db_url,
           "HUB_LEDGERS": "ufida", "HUB_LEDGER_GRPC_PORT": str(free_port()), "HUB_METRICS_PORT": str(metrics_port),
           "HUB_UFIDA_URL": f"http://127.0.0.1:{free_port()}", "HUB_UFIDA_FROM_ACCOUNT": "hub",
           "HUB_UFIDA_TO_ACCOUNT": "u8demo", "HUB_UFIDA_APP_KEY": "k", "HUB_UFIDA_APP_SECRET": "s",
           "HUB_UFIDA_TIMEOUT_SECONDS": "1",
           "HUB_RETRY_BASE_SECONDS": "0.2", "HUB_CONSUMER_MAX_ATTEMPTS": "3", "HUB_LOG_LEVEL": "INFO",
           "HUB_LIVENESS_GRACE_SECONDS": "2"}
    with open(var / "ledger-connector.log", "ab") as log:
        proc = spawn([sys.executable, "-m", "hub.cli", "ledger", "run"], env=env, stdout=log, stderr=subprocess.STDOUT,
                     cwd=components.PROJECT_ROOT)
    proc.db = Database(db_url, store.metadata)
    proc.metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
    proc.log_path = var / "ledger-connector.log"
    try:
        wait_for(lambda: proc.poll() is not None or _consumers(amqp_uri) == 1, 60, 0.2, "the connector to consume")
        assert proc.poll() is None, proc.log_path.read_text()
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        proc.db.dispose()


@pytest.fixture(scope="module")
def connector(amqp_uri, tmp_path_factory):
    var = tmp_path_factory.mktemp("ledger-connector")
    with _running_connector(amqp_uri, var, f"sqlite:///{var / 'ledger.db'}") as proc:
        yield proc


def _consumers(amqp_uri) -> int:
    connection = broker.connect(amqp_uri)
    try:
        return connection.channel().queue_declare(SUB.queue, passive=True).method.consumer_count
    finally:
        connection.close()


def _publish(amqp_uri, body) -> None:
    connection = broker.connect(amqp_uri)
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_publish(topology.EVENTS_EXCHANGE, SUB.event_type, body,
                              pika.BasicProperties(content_type="application/json", delivery_mode=2), mandatory=True)
    finally:
        connection.close()


def _voucher(*drop, **change) -> Envelope:
    vid = uuid.uuid4().hex
    payload = {"id": vid, "number": f"记-2025-01-{int(vid[:4], 16) % 9999:04d}", "voucher_type": "记",
               "period": "2025-01", "kind": "payment", "source_type": "payment", "source_id": vid,
               "business_date": "2025-01-15", "total": "10.00", "posted_at": "2025-01-15T08:00:00+00:00",
               "posted_by": "test", "export_status": "pending", "reverses": None,
               "lines": [{"line_no": 1, "account": "1002", "summary": "bank", "debit": "10.00", "credit": "0",
                          "aux": "", "cost_centre": ""},
                         {"line_no": 2, "account": "1122", "summary": "customer", "debit": "0", "credit": "10.00",
                          "aux": "", "cost_centre": ""}]}
    for key in drop:
        payload.pop(key)
    payload.update(change)
    return Envelope(type=SUB.event_type, source="accounting", aggregate_id=f"voucher:{vid}", sequence=1,
                    payload=payload, correlation_id=vid, actor="test")


def _kept(proc, voucher_id) -> bool:
    with proc.db.reader() as s:
        return s.execute(select(store.vouchers.c.voucher_id).where(store.vouchers.c.voucher_id == voucher_id)
                         ).first() is not None


def _metric(proc, name) -> float:
    text = httpx.get(proc.metrics_url, timeout=5).text
    return sum(sample.value for family in text_string_to_metric_families(text) for sample in family.samples
               if sample.name == name and all(sample.labels.get(k) == v for k, v in HANDLER.items()))


def _dead_letter(amqp_uri, event_id):
    return [d for d in dlq.list_dead_letters(amqp_uri, [SUB], SUB.queue) if d["event_id"] == event_id]


def _announced(amqp_uri, event_id) -> list[Envelope]:
    """The dead_lettered announcements of the message `event_id` that reached the tap queue so far."""
    connection = broker.connect(amqp_uri)
    found = []
    try:
        channel = connection.channel()
        while True:
            method, _props, body = channel.basic_get(TAP, auto_ack=False)
            if method is None:
                break
            envelope = Envelope.from_json(body)
            if envelope.payload["event_id"] == event_id:
                found.append(envelope)
    finally:
        connection.close()  # unacked: back in the tap for the next look
    return found


def _assert_alive(proc):
    assert proc.poll() is None, f"the connector exited ({proc.returncode}):\n{proc.log_path.read_text()[-3000:]}"


def test_a_voucher_the_connector_cannot_keep_is_retried_then_dead_lettered_and_the_next_is_applied(
        amqp_uri, connector):
    failed, dead = _metric(connector, "hub_messages_failed_total"), _metric(connector, "hub_messages_dead_lettered_total")
    poison, good = _voucher(number="NODASHES"), _voucher()  # fits its contract, cannot be mapped
    _publish(amqp_uri, poison.to_json())
    _publish(amqp_uri, good.to_json())

    [letter] = wait_for(lambda: _dead_letter(amqp_uri, poison.event_id), 60, 0.3, "the poison in the dead-letter queue")
    assert letter["queue"] == SUB.queue and letter["attempts"] == 3
    assert letter["error"] == "IndexError: list index out of range" and letter["failed_at"]
    wait_for(lambda: _kept(connector, good.payload["id"]), 30, 0.2, "the good voucher kept")
    _assert_alive(connector)
    assert not _kept(connector, poison.payload["id"])
    assert _metric(connector, "hub_messages_failed_total") == failed + 3
    assert _metric(connector, "hub_messages_dead_lettered_total") == dead + 1
    assert _metric(connector, "hub_messages_handled_total") >= 1

    # replayed (attempts reset), it goes through the connector's retries again and comes back
    assert dlq.replay(amqp_uri, [SUB], SUB.queue, event_id=poison.event_id) == 1
    wait_for(lambda: _metric(connector, "hub_messages_failed_total") == failed + 6, 30, 0.3, "three more attempts")
    [again] = wait_for(lambda: _dead_letter(amqp_uri, poison.event_id), 30, 0.3, "the poison dead-lettered again")
    assert again["attempts"] == 3 and again["error"] == "IndexError: list index out of range"
    _assert_alive(connector)
    # each dead-lettering announced (dead_lettered, for the notifier), the replayed one under a new id
    first, second = wait_for(lambda: len(_announced(amqp_uri, poison.event_id)) == 2 and
                             _announced(amqp_uri, poison.event_id), 30, 0.3, "two announcements")
    notice = events.parse(DeadLettered, first)
    assert (notice.queue, notice.dead_letter_queue, notice.attempts, notice.event_type) == (
        SUB.queue, SUB.dead_letter_queue, 3, "voucher_posted")
    assert notice.error == "IndexError: list index out of range" and first.source == "ledger"
    assert first.event_id != second.event_id


def test_a_voucher_that_does_not_fit_its_contract_is_dead_lettered_at_once(amqp_uri, connector):
    failed, dead = _metric(connector, "hub_messages_failed_total"), _metric(connector, "hub_messages_dead_lettered_total")
    misfit = _voucher("number")
    _publish(amqp_uri, misfit.to_json())
    [letter] = wait_for(lambda: _dead_letter(amqp_uri, misfit.event_id), 30, 0.3, "the misfit in the dead-letter queue")
    assert letter["attempts"] == 1
    assert letter["error"] == "InvalidEvent: voucher_posted payload does not fit its contract: number: Field required"
    wait_for(lambda: _metric(connector, "hub_messages_dead_lettered_total") == dead + 1, 10, 0.2, "the metric")
    assert _metric(connector, "hub_messages_failed_total") == failed  # the handler never saw it
    assert not _kept(connector, misfit.payload["id"])
    _assert_alive(connector)


def test_a_message_that_is_no_envelope_is_dead_lettered_at_once_and_a_dropped_connection_is_reopened(
        amqp_uri, connector):
    _publish(amqp_uri, b"{this is not json")

    def garbage():
        return [d for d in dlq.list_dead_letters(amqp_uri, [SUB], SUB.queue) if d["event_id"] is None]
    [letter] = wait_for(garbage, 30, 0.3, "the garbage in the dead-letter queue")
    assert letter["attempts"] == 1 and letter["error"].startswith("EnvelopeError: not JSON")

    # the broker drops the connector's connection (as a broker restart would)
    pids = subprocess.run(["rabbitmqctl", "--silent", "list_connections", "-p", amqp_uri.rsplit("/", 1)[1], "pid"],
                          check=True, capture_output=True, text=True).stdout.split()
    assert pids
    for pid in pids:  # one that closed meanwhile (a short-lived publisher's) needs no closing: no check
        subprocess.run(["rabbitmqctl", "-q", "close_connection", pid, "test: broker goes away"], capture_output=True)
    good = _voucher()
    _publish(amqp_uri, good.to_json())
    wait_for(lambda: _kept(connector, good.payload["id"]), 30, 0.2, "the voucher kept after reconnecting")
    _assert_alive(connector)
    assert _consumers(amqp_uri) == 1


def _probe(proc, path) -> tuple[int, str]:
    answer = httpx.get(proc.metrics_url.replace("/metrics", path), timeout=5)
    return answer.status_code, answer.text


def test_a_connector_whose_consumer_the_broker_cancelled_is_not_ready_until_it_consumes_again(amqp_uri, connector):
    wait_for(lambda: _probe(connector, "/readyz")[0] == 200, 30, 0.2, "the connector to be ready")
    assert _probe(connector, "/livez")[0] == 200
    connection = broker.connect(amqp_uri)
    try:  # the broker cancels the consumer: its queue is deleted (an operator's slip, a quorum queue lost)
        connection.channel().queue_delete(SUB.queue)
    finally:
        connection.close()
    status, why = wait_for(lambda: (answer := _probe(connector, "/readyz"))[0] == 503 and answer, 30, 0.2,
                           "/readyz to fail")
    assert "consumer" in why and "not consuming" in why
    # not ready for longer than its grace (HUB_LIVENESS_GRACE_SECONDS=2): its supervisor would restart it
    wait_for(lambda: _probe(connector, "/livez")[0] == 503, 30, 0.2, "/livez to fail")
    _assert_alive(connector)

    connection = broker.connect(amqp_uri)
    try:  # the queue is back (as `hub migrate` declares it)
        topology.declare(connection.channel(), [SUB])
    finally:
        connection.close()
    wait_for(lambda: _probe(connector, "/readyz")[0] == 200, 60, 0.3, "the connector to consume again")
    assert _probe(connector, "/livez")[0] == 200
    good = _voucher()
    _publish(amqp_uri, good.to_json())
    wait_for(lambda: _kept(connector, good.payload["id"]), 30, 0.2, "the voucher kept")
    assert _consumers(amqp_uri) == 1


def test_a_database_restart_does_not_end_the_connector(session_name, tmp_path_factory):
    """The connector's PostgreSQL database away for a few seconds (a restart: every connection dropped,
    new ones refused): it rides it out and keeps the next voucher, instead of exiting for a supervisor
    to start again."""
    import psycopg2

    name = f"{session_name}_cdb"  # its own vhost: the module's connector consumes the other one
    [db_url] = infra.create_databases(name, ["ledger"]).values()
    try:
        with _ledger_vhost(name) as amqp_uri, \
                _running_connector(amqp_uri, tmp_path_factory.mktemp("ledger-connector-pg"), db_url) as proc:
            before = _voucher()
            _publish(amqp_uri, before.to_json())
            wait_for(lambda: _kept(proc, before.payload["id"]), 30, 0.2, "the first voucher kept")
            url = proc.db.engine.url
            conn = psycopg2.connect(host=url.host, port=url.port, user=url.username, dbname="postgres")
            conn.autocommit = True
            with conn.cursor() as cur:  # down for a few seconds: connections dropped, new ones refused
                cur.execute(f'ALTER DATABASE "{url.database}" ALLOW_CONNECTIONS false')
                cur.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s",
                            (url.database,))
                assert cur.fetchone()[0] > 0
                time.sleep(4)
                _assert_alive(proc)
                cur.execute(f'ALTER DATABASE "{url.database}" ALLOW_CONNECTIONS true')
            conn.close()
            proc.db.engine.dispose()  # the test's own connections were dropped too
            after = _voucher()
            _publish(amqp_uri, after.to_json())
            wait_for(lambda: proc.poll() is not None or _kept(proc, after.payload["id"]), 60, 0.3,
                     "the next voucher kept")
            time.sleep(1)  # a pusher round or two more on the healed pool
            _assert_alive(proc)
    finally:
        infra.drop_databases(name, ["ledger"])
