"""Faults with every process a separate OS process: nothing lost, nothing applied twice."""
from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
from sqlalchemy import func, select

from hubapi.order.v1 import order_service_pb2 as pb
from hubapi.order.v1 import order_service_pb2_grpc as pb_grpc
from hubkit import money
from services.order.models import customer_terms, review_decisions
from services.order.models import orders as orders_table
from tests.e2e.helpers import order_body, reservation_rows, stock_sku, unique, wait_settled
from tests.support.hub import wait_for

pytestmark = pytest.mark.e2e


def _place_many(hub, sku, count, batch="a", threads=8):
    def place(n):
        with hub.client("sales") as c:
            reply = c.post("/orders", json=order_body(sku, f"{sku}-{batch}{n}"))
            assert reply.status_code == 201, reply.text
            return reply.json()["id"]
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(place, range(count)))


def _assert_each_line_answered_once(hub, sku, ids, in_stock):
    with hub.client("sales") as c:
        orders = wait_settled(c, ids)
        [level] = c.get(f"/stock/{sku}").json()["levels"]
    reserved = sum(o["status"] == "reserved" for o in orders)
    assert reserved == min(in_stock, len(ids))
    assert sum(o["status"] == "backordered" for o in orders) == len(ids) - reserved
    rows = reservation_rows(hub, sku)
    assert sorted(r.order_id for r in rows) == sorted(ids)  # exactly one answer per line
    assert level["reserved"] == reserved and level["available"] == in_stock - reserved


def test_inventory_worker_killed_mid_flight_answers_every_line_exactly_once(pg_hub):
    sku = unique("KILL")
    with pg_hub.client("admin") as c:
        stock_sku(c, sku, quantity=30)
    ids = []
    placing = threading.Thread(target=lambda: ids.extend(_place_many(pg_hub, sku, 60)))
    placing.start()
    wait_for(lambda: len(reservation_rows(pg_hub, sku)) >= 5, 30, 0.05, "some reservations")
    pg_hub.stack.kill("inventory-worker")
    placing.join()
    time.sleep(1)
    assert len(reservation_rows(pg_hub, sku)) < 60  # the kill really left work in flight
    pg_hub.restart("inventory-worker")
    _assert_each_line_answered_once(pg_hub, sku, ids, in_stock=30)


def _decisions(hub, ids) -> list:
    with hub.dbs["order"].reader() as s:
        return s.execute(select(review_decisions.c.order_id, review_decisions.c.outcome, review_decisions.c.rule)
                         .where(review_decisions.c.order_id.in_(ids))).all()


def test_order_worker_killed_mid_review_decides_each_order_once(pg_hub):
    """The order worker reviews the orders inventory answered, a batch to a transaction: killed while it
    works through them, each order still gets exactly one decision, a held one exactly one hold, and the
    decision's actions once."""
    sku, careful = unique("RVKILL"), unique("cred")
    with pg_hub.client("admin") as c:
        stock_sku(c, sku, quantity=100)
        # a limit of 1.00 set before the buyer's first order: every order of theirs waits for finance
        terms = c.put("/customers/terms", json={"channel": "taobao", "external_id": careful, "tier": "standard",
                                               "credit_limit": "1.00"})
        assert terms.status_code == 200, terms.text

    def projected():
        with pg_hub.dbs["order"].reader() as s:
            return s.execute(select(customer_terms.c.credit_limit).where(
                customer_terms.c.channel == "taobao", customer_terms.c.external_id == careful)).scalar()
    wait_for(lambda: projected() is not None, 60, 0.2, "the buyer's terms in the order service")

    def place(n):  # a line worth 12,000: flagged for the double check; every other order the careful buyer's
        body = order_body(sku, f"{sku}-{n}", price="12000.00")
        if n % 2:
            body["buyer"]["external_id"] = careful
        with pg_hub.client("sales") as c:
            reply = c.post("/orders", json=body)
            assert reply.status_code == 201, reply.text
            return n % 2 == 1, reply.json()["id"]
    placed = []

    def place_all():
        with ThreadPoolExecutor(8) as pool:
            placed.extend(pool.map(place, range(60)))
    placing = threading.Thread(target=place_all)
    placing.start()
    wait_for(lambda: len(_decisions(pg_hub, [i for _, i in placed] or [""])) >= 5, 60, 0.05, "the first decisions")
    pg_hub.stack.kill("order-worker")
    placing.join()
    ids = [i for _, i in placed]
    assert len(_decisions(pg_hub, ids)) < 60  # the kill really left reviews undone
    pg_hub.restart("order-worker")

    with pg_hub.client("admin") as c:
        orders = {o["id"]: o for o in wait_settled(c, ids)}
        audits = {i: c.get(f"/orders/{i}/audit").json()["entries"] for i in ids}
    decisions = _decisions(pg_hub, ids)
    assert sorted(d.order_id for d in decisions) == sorted(ids)  # one each, none twice
    for held, order_id in placed:
        order = orders[order_id]
        assert order["double_check"] is True, order
        if held:
            assert order["status"] == "held", order
            assert [(h["reason"], h["rule"], h["outcome"]) for h in order["holds"]] == \
                [("finance_approval", "credit-limit", None)]
        else:
            assert (order["status"], order["holds"]) == ("reserved", []), order
        assert sum(e["action"] == "hold" for e in audits[order_id]) == (1 if held else 0), audits[order_id]
    assert sorted(r.order_id for r in reservation_rows(pg_hub, sku)) == sorted(ids)  # each line answered once


def _unpublished(hub) -> int:
    outbox = hub.dbs["order"].metadata.tables["outbox"]
    with hub.dbs["order"].reader() as s:
        return s.execute(select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))).scalar()


def test_relay_killed_between_publish_and_mark_duplicates_are_absorbed(pg_hub):
    sku = unique("RELAY")
    with pg_hub.client("admin") as c:
        stock_sku(c, sku, quantity=10)
    duplicates_before = pg_hub.metric("inventory-worker", "hub_messages_duplicate_total")
    pg_hub.stack.stop("relays")
    ids = _place_many(pg_hub, sku, 20)
    assert _unpublished(pg_hub) >= 20
    # The order relay publishes, receives the broker's confirms, and its process dies before marking the rows.
    pg_hub.stack.start("relays", env={"HUB_FAULT_RELAY_EXIT_AFTER_CONFIRM": "5"})
    relay = pg_hub.stack.procs["relays"].popen
    assert relay.wait(30) == 137
    assert _unpublished(pg_hub) >= 20
    wait_for(lambda: len(reservation_rows(pg_hub, sku)) >= 5, 30, 0.1, "the first publication to be applied")
    pg_hub.restart("relays")
    _assert_each_line_answered_once(pg_hub, sku, ids, in_stock=10)
    wait_for(lambda: _unpublished(pg_hub) == 0, 30, 0.2, "the outbox to drain")
    assert pg_hub.metric("inventory-worker", "hub_messages_duplicate_total") >= duplicates_before + 5


def _rabbitmqctl(*args):
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=120)


def test_broker_stopped_and_started_mid_run_loses_nothing(pg_hub):
    sku = unique("BROKER")
    with pg_hub.client("admin") as c:
        stock_sku(c, sku, quantity=25)
    first = _place_many(pg_hub, sku, 15)
    _rabbitmqctl("stop_app")
    try:
        during = _place_many(pg_hub, sku, 15, "b")  # accepted: the order and its event wait in the outbox
        time.sleep(2)
    finally:
        _rabbitmqctl("start_app")
        _rabbitmqctl("await_startup")
    pg_hub.stack.wait_ready(90)
    after = _place_many(pg_hub, sku, 10, "c")
    for name in pg_hub.stack.procs:
        assert pg_hub.stack.running(name), f"{name} died when the broker went away"
    _assert_each_line_answered_once(pg_hub, sku, first + during + after, in_stock=25)


def _hub_cli(hub, *args) -> str:
    done = subprocess.run([sys.executable, "-m", "hub.cli", *args], env=hub.stack.env, check=True,
                          capture_output=True, text=True, timeout=60)
    return done.stdout


def test_poison_message_is_dead_lettered_with_its_error_and_replayed_once_fixed(pg_hub):
    ghost = unique("GHOST")
    # A channel connector could hand the order service a SKU inventory does not know yet:
    # the order is accepted, and inventory cannot reserve it.
    with grpc.insecure_channel(pg_hub.settings.grpc_target("order")) as channel:
        reply = pb_grpc.OrderServiceStub(channel).PlaceOrder(pb.PlaceOrderRequest(
            channel="jd", shop="test-shop", external_order_id=unique("POISON"),
            lines=[pb.OrderLineInput(sku=ghost, quantity=2, unit_price=money.to_proto("5.00"))]),
            metadata=[("x-hub-actor", "test-connector")])
    order_id = reply.order.id

    def dead_letter():
        letters = json.loads(_hub_cli(pg_hub, "dlq", "list", "--json"))
        return [d for d in letters if d["aggregate_id"] == order_id]
    [letter] = wait_for(dead_letter, 60, 0.5, "the poison message in the dead-letter queue")
    assert letter["queue"] == "inventory.order_placed"
    assert letter["attempts"] == 3
    assert ghost in letter["error"] and "NotFound" in letter["error"]
    assert pg_hub.metric("inventory-worker", "hub_messages_dead_lettered_total", handler="on_order_placed") >= 1
    with pg_hub.client("sales") as c:
        assert c.get(f"/orders/{order_id}").json()["status"] == "pending"

    with pg_hub.client("admin") as c:  # the fix: inventory learns the SKU and receives stock
        stock_sku(c, ghost, quantity=2)
    assert "replayed 1" in _hub_cli(pg_hub, "dlq", "replay", "--queue", "inventory.order_placed",
                                    "--event-id", letter["event_id"])
    with pg_hub.client("sales") as c:
        [order] = wait_settled(c, [order_id])
    assert order["status"] == "reserved"
    assert not dead_letter()
    with pg_hub.dbs["order"].reader() as s:
        assert s.execute(select(orders_table.c.created_by).where(orders_table.c.id == order_id)).scalar() \
            == "test-connector"


def test_a_service_that_is_down_gives_503_problem_and_writes_nothing(pg_hub):
    from tests.e2e.helpers import quiet_row_counts, row_counts
    sku = unique("DOWN")
    with pg_hub.client("admin") as c:
        stock_sku(c, sku, quantity=1)
    client = pg_hub.client("sales")
    pg_hub.stack.stop("inventory-api")
    try:
        before = quiet_row_counts(pg_hub)
        with client:
            reply = client.post("/orders", json=order_body(sku, unique("EXT")))
        assert reply.status_code == 503, reply.text
        assert reply.headers["content-type"].startswith("application/problem+json")
        assert row_counts(pg_hub) == before
    finally:
        pg_hub.restart("inventory-api")
    with pg_hub.client("sales") as c:  # the gateway reconnects on its own
        wait_for(lambda: c.get(f"/stock/{sku}").status_code == 200, 30, 0.2, "the gateway to reach inventory again")


def test_a_database_restart_heals_without_a_person(pg_hub):
    """Every connection of every hub process to PostgreSQL dropped at once (what a database restart
    does to them): the next order is accepted (201, no 5xx: a call that met a dead connection before it
    committed runs once more) and reserved (the workers' pools heal too)."""
    import psycopg2

    sku = unique("PGRST")
    with pg_hub.client("admin") as c:
        stock_sku(c, sku, quantity=5)
    with pg_hub.client("sales") as c:
        wait_settled(c, [c.post("/orders", json=order_body(sku, unique("BEFORE"))).json()["id"]])
    names = [db.engine.url.database for db in (*pg_hub.dbs.values(), pg_hub.gateway_db)]
    url = pg_hub.gateway_db.engine.url
    with psycopg2.connect(host=url.host, port=url.port, user=url.username, dbname="postgres") as conn, \
            conn.cursor() as cur:
        cur.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = ANY(%s)",
                    (names,))
        assert cur.fetchone()[0] > 0
    for db in (*pg_hub.dbs.values(), pg_hub.gateway_db):
        db.engine.dispose()  # this test process's own connections (for checking) were dropped too
    with pg_hub.client("sales") as c:
        reply = c.post("/orders", json=order_body(sku, unique("AFTER")))
        assert reply.status_code == 201, reply.text
        [after] = wait_settled(c, [reply.json()["id"]])
    assert after["status"] == "reserved"
