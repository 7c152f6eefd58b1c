"""Notifications end to end below the gateway: a real notifier process (`hub notify run`) on the real
broker, and a real receiving HTTP server that answers 503 to the first attempts of every event. Each
event reaches each target once with a 2xx despite the 5xx, an event the broker carries twice is one
delivery, the JSON target can check the signature, the WeCom-style target gets its markdown, and the
delivery log shows the attempts; its gRPC API (the gateway's) lists the log and sends a failed delivery
again, and refuses to send a delivered one again."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from contextlib import contextmanager

import grpc
import pika
import pytest
from sqlalchemy import select

from connectors.notify import store
from contracts import CATALOG
from hub import components
from hub.supervisor import free_port, spawn
from hubapi.notify.v1 import notify_service_pb2 as pb
from hubapi.notify.v1 import notify_service_pb2_grpc as pb_grpc
from hubkit import broker, clock, topology
from hubkit.db import Database
from hubkit.envelope import Envelope
from tests.support import infra
from tests.support.hub import wait_for
from tests.support.webhooks import Receiver
from tests.unit.contracts.samples import PAYLOADS

pytestmark = pytest.mark.integration
SUBS = components.subscriptions("notify")  # every kind a person acts on: 18 queues, in this test's vhost only
SECRET = "whsec-test"
FAILURES = 2  # the receiver answers 503 this many times to each event before it answers 200


@pytest.fixture(scope="module")
def receiver():
    with Receiver(FAILURES, SECRET) as server:
        yield server


@pytest.fixture(scope="module")
def amqp_uri(session_name):
    vhost = f"{session_name}_ntf"
    uri = infra.create_vhost(vhost)
    try:
        connection = broker.connect(uri, attempts=3)
        topology.declare(connection.channel(), SUBS)
        connection.close()
        broker.set_up_accounts(uri, {broker.Account("notify", (), True): broker.account_uri(uri, "notify")})
        yield uri
    finally:
        infra.delete_vhost(vhost)


@contextmanager
def _running_notifier(amqp_uri, var, receiver):
    db_url, grpc_port = f"sqlite:///{var / 'notify.db'}", free_port()
    components.migrate("notify", db_url)
    targets = {"targets": [
        {"name": "ops-json", "url": f"{receiver.url}/json", "format": "json", "secret": SECRET,
         "events": [s.event_type for s in SUBS]},
        {"name": "ops-wecom", "url": f"{receiver.url}/wecom?key=k1", "format": "wecom", "events": ["low_stock"]}]}
    (var / "notify.json").write_text(json.dumps(targets))
    env = {**os.environ, "HUB_AMQP_URI": broker.account_uri(amqp_uri, "notify"), "HUB_VAR_DIR": str(var),
           "HUB_NOTIFY_DB_URL": db_url, "HUB_NOTIFY_FILE": str(var / "notify.json"),
           "HUB_NOTIFY_RETRY_BASE_SECONDS": "0.2", "HUB_NOTIFY_RETRY_MAX_SECONDS": "0.5",
           "HUB_METRICS_PORT": str(free_port()), "HUB_LOG_LEVEL": "INFO", "HUB_NOTIFY_GRPC_PORT": str(grpc_port)}
    log_path = var / "notifier.log"
    with open(log_path, "ab") as log:
        proc = spawn([sys.executable, "-m", "hub.cli", "notify", "run"], env=env, stdout=log,
                     stderr=subprocess.STDOUT, cwd=components.PROJECT_ROOT)
    proc.db = Database(db_url, store.metadata)
    proc.grpc_target = f"127.0.0.1:{grpc_port}"
    try:
        wait_for(lambda: proc.poll() is not None or _consumers(amqp_uri) == len(SUBS), 60, 0.2,
                 "the notifier to consume")
        assert proc.poll() is None, log_path.read_text()
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


def _consumers(amqp_uri) -> int:
    connection = broker.connect(amqp_uri)
    try:
        channel = connection.channel()
        return sum(channel.queue_declare(s.queue, passive=True).method.consumer_count for s in SUBS)
    finally:
        connection.close()


def _publish(amqp_uri, envelope: Envelope) -> None:
    connection = broker.connect(amqp_uri)
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_publish(topology.EVENTS_EXCHANGE, envelope.type, envelope.to_json().encode(),
                              pika.BasicProperties(content_type="application/json", delivery_mode=2), mandatory=True)
    finally:
        connection.close()


def _held(order_id: str) -> Envelope:
    return Envelope(type="order_held", source="order", aggregate_id=order_id, sequence=1, correlation_id="c",
                    actor="review", payload={"order_id": order_id, "hold_id": uuid.uuid4().hex,
                                             "reason": "needs_review", "rule": "big-amount", "note": "over 5000",
                                             "approval": False, "placed_by": "review",
                                             "placed_at": "2026-12-06T05:00:00+00:00"})


def _low(sku: str) -> Envelope:
    return Envelope(type="low_stock", source="inventory", aggregate_id=f"{sku}:SH", sequence=1, correlation_id="c",
                    actor="inventory", payload={"sku": sku, "warehouse": "SH", "available": 1, "minimum": 5,
                                                "maximum": 20, "shortfall": 4,
                                                "occurred_at": "2026-12-06T05:00:00+00:00"})


def test_each_event_reaches_each_target_once_despite_its_5xx(amqp_uri, receiver, tmp_path):
    run = uuid.uuid4().hex[:6]
    held = [_held(f"o-{run}-{i}") for i in range(3)]
    low = [_low(f"TEA-{run}-{i}") for i in range(2)]
    with _running_notifier(amqp_uri, tmp_path, receiver) as proc:
        for envelope in (*held, *low, held[0]):  # held[0] twice: the broker carries it again
            _publish(amqp_uri, envelope)

        def log():
            with proc.db.reader() as s:
                return [dict(r) for r in s.execute(select(store.deliveries)).mappings()]
        expected = {(e.event_id, "ops-json") for e in (*held, *low)} | {(e.event_id, "ops-wecom") for e in low}
        wait_for(lambda: {(r["event_id"], r["target"]) for r in log() if r["status"] == store.DELIVERED} == expected,
                 60, 0.2, "every delivery")
        rows = log()
    # the log: one row per event and target, each delivered on the attempt after the receiver's 503s
    assert len(rows) == len(expected) == 7
    assert {(r["attempts"], r["last_status"], r["last_error"]) for r in rows} == {(FAILURES + 1, 200, None)}
    # the receiver: each event accepted once per target, its signature right
    json_keys = [key for path, key, _, _ in receiver.accepted if path == "/json"]
    assert sorted(json_keys) == sorted(e.event_id for e in (*held, *low))
    assert all(valid for path, _, valid, _ in receiver.accepted if path == "/json")
    wecom = [json.loads(body) for path, _, _, body in receiver.accepted if path.startswith("/wecom")]
    assert len(wecom) == 2 and {w["msgtype"] for w in wecom} == {"markdown"}
    assert {e.payload["sku"] for e in low} == {sku for sku in (f"TEA-{run}-{i}" for i in range(2))
                                               if any(sku in w["markdown"]["content"] for w in wecom)}
    # every 503 was retried, nothing more: FAILURES + 1 requests per event and target
    assert {n for (path, key), n in receiver.seen.items()} == {FAILURES + 1}


def _announcement(event_type: str, aggregate_id: str) -> Envelope:
    """One of the kinds a person acts on, as its publisher writes it (its contract checks the payload)."""
    payload = {**PAYLOADS[event_type]}
    key = {"approval_waiting": "document_id", "voucher_refused": "voucher_id", "shop_failing": "shop",
           "dead_lettered": "aggregate_id"}[event_type]
    payload[key] = aggregate_id
    contract = CATALOG[event_type]
    return contract.model_validate(payload).envelope(aggregate_id=aggregate_id, sequence=1, correlation_id="c",
                                                     actor="test")


def test_approvals_refused_vouchers_failing_shops_and_dead_letters_reach_their_target_once(
        amqp_uri, receiver, tmp_path):
    run = uuid.uuid4().hex[:6]
    kinds = ("approval_waiting", "voucher_refused", "shop_failing", "dead_lettered")
    sent = {kind: _announcement(kind, f"{kind[:4]}-{run}") for kind in kinds}
    with _running_notifier(amqp_uri, tmp_path, receiver) as proc:
        for envelope in (*sent.values(), sent["dead_lettered"]):  # a dead letter announced twice: one id
            _publish(amqp_uri, envelope)

        def delivered():
            with proc.db.reader() as s:
                return s.execute(select(store.deliveries.c.event_type, store.deliveries.c.attempts).where(
                    store.deliveries.c.event_id.in_([e.event_id for e in sent.values()]),
                    store.deliveries.c.status == store.DELIVERED)).all()
        rows = wait_for(lambda: len(delivered()) == len(kinds) and delivered(), 60, 0.2, "every announcement")
    assert sorted(rows) == sorted((kind, FAILURES + 1) for kind in kinds)  # one each, after the 503s
    bodies = {b["type"]: b for b in receiver.accepted_json() if b["event_id"] in {e.event_id for e in sent.values()}}
    assert set(bodies) == set(kinds)
    assert bodies["approval_waiting"]["title"] == f"Approval waiting: purchase order appr-{run}"
    assert bodies["voucher_refused"]["title"] == "Voucher refused by kingdee: HUB-202603-JZ-0007"
    assert bodies["shop_failing"]["title"] == f"Shop connector in error: taobao shop-{run}"
    assert "hub dlq list" in bodies["dead_lettered"]["text"]
    assert all(receiver.seen[("/json", e.event_id)] == FAILURES + 1 for e in sent.values())  # 503s retried, no more


def test_the_log_is_read_and_a_failed_delivery_sent_again_through_the_api(amqp_uri, receiver, tmp_path):
    with _running_notifier(amqp_uri, tmp_path, receiver) as proc:
        stub = pb_grpc.NotifyServiceStub(grpc.insecure_channel(proc.grpc_target))
        wait_for(lambda: _answers(stub), 30, 0.2, "the notifier's API")
        now = clock.now()
        with proc.db.session() as s:  # a delivery that failed for good (a 404 from a target since fixed)
            s.execute(store.deliveries.insert().values(
                event_id="f" * 32, target="ops-json", event_type="order_held", aggregate_id="o-f",
                occurred_at=now.isoformat(), payload=json.dumps(_held("o-f").payload), status=store.FAILED,
                attempts=1, last_status=404, last_error="HTTP 404: no such hook", next_attempt_at=now,
                created_at=now, updated_at=now))
        [failed] = stub.ListDeliveries(pb.ListDeliveriesRequest(status="failed")).deliveries
        assert (failed.event_id, failed.last_status, failed.last_error) == ("f" * 32, 404, "HTTP 404: no such hook")
        with pytest.raises(grpc.RpcError) as refused:
            stub.ListDeliveries(pb.ListDeliveriesRequest(status="lost"))
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(grpc.RpcError) as missing:
            stub.RetryDelivery(pb.RetryDeliveryRequest(event_id="0" * 32, target="ops-json"))
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND
        again = stub.RetryDelivery(pb.RetryDeliveryRequest(event_id="f" * 32, target="ops-json")).delivery
        assert (again.status, again.attempts) == ("pending", 0)
        wait_for(lambda: stub.ListDeliveries(pb.ListDeliveriesRequest(target="ops-json", status="delivered"))
                 .deliveries, 30, 0.2, "the re-sent delivery")
        [done] = [d for d in stub.ListDeliveries(pb.ListDeliveriesRequest()).deliveries if d.event_id == "f" * 32]
        assert (done.status, done.attempts, done.last_status) == ("delivered", FAILURES + 1, 200)
        with pytest.raises(grpc.RpcError) as conflict:  # delivered is final: a re-send is refused, nothing changes
            stub.RetryDelivery(pb.RetryDeliveryRequest(event_id="f" * 32, target="ops-json"))
        assert conflict.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def _answers(stub) -> bool:
    try:
        stub.ListDeliveries(pb.ListDeliveriesRequest(limit=1), timeout=2)
        return True
    except grpc.RpcError:
        return False
