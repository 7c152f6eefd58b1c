"""Idempotency-Key on POST: a retry creates nothing new; the key with another body is refused."""
from __future__ import annotations

import json

import httpx
import pytest
from sqlalchemy import select

from tests.e2e.helpers import order_body, quiet_row_counts, row_counts, stock_sku, unique, wait_settled
from tests.support.approvals import approve_through_gateway
from tests.support.hub import wait_for

pytestmark = pytest.mark.e2e


def test_retried_order_post_with_the_same_key_returns_the_first_answer(pg_hub):
    sku = unique("IDEM")
    with pg_hub.client("admin") as c:
        stock_sku(c, sku, quantity=3)
    # Two different external ids: without the key, the second POST would create a second order.
    client, key = pg_hub.client("sales"), unique("key")
    with client:
        first = client.post("/orders", json=order_body(sku, unique("A")), headers={"Idempotency-Key": key})
        wait_settled(client, [first.json()["id"]])  # the first order has run its course
        before = quiet_row_counts(pg_hub)
        retry = client.post("/orders", content=first.request.content,
                            headers={"Idempotency-Key": key, "content-type": "application/json"})
        assert row_counts(pg_hub) == before
        other = client.post("/orders", json=order_body(sku, unique("B")), headers={"Idempotency-Key": key})
    assert first.status_code == 201 and retry.status_code == 201
    assert retry.json()["id"] == first.json()["id"]
    assert retry.headers["idempotent-replayed"] == "true"
    assert other.status_code == 422
    assert other.headers["content-type"].startswith("application/problem+json")
    assert row_counts(pg_hub) == before


def test_retried_stock_receipt_with_the_same_key_adds_stock_once(pg_hub):
    sku = unique("IDEMR")
    with pg_hub.client("admin") as c:
        stock_sku(c, sku)
    receipt = {"sku": sku, "warehouse": "WH-MAIN", "quantity": 7, "unit_cost": "3.50"}
    with pg_hub.client("warehouse") as c:
        replies = [c.post("/stock/receipts", json=receipt, headers={"Idempotency-Key": f"{sku}-r1"})
                   for _ in range(3)]
        [level] = c.get(f"/stock/{sku}").json()["levels"]
    assert [r.status_code for r in replies] == [201, 201, 201]
    assert len({r.json()["movement_id"] for r in replies}) == 1
    assert level["on_hand"] == 7


def test_keys_belong_to_their_user(pg_hub):
    sku = unique("IDEMU")
    with pg_hub.client("admin") as c:
        stock_sku(c, sku)
    key = unique("shared")
    receipt = {"sku": sku, "warehouse": "WH-MAIN", "quantity": 1}
    with pg_hub.client("warehouse") as alice, pg_hub.client("purchasing") as bob:
        assert alice.post("/stock/receipts", json=receipt, headers={"Idempotency-Key": key}).status_code == 201
        assert bob.post("/stock/receipts", json=receipt, headers={"Idempotency-Key": key}).status_code == 201
        assert alice.get(f"/stock/{sku}").json()["levels"][0]["on_hand"] == 2


def _answer_lost(hub, path: str, body: dict, key: str, role: str = "warehouse") -> None:
    """POST with `key` through a gateway that dies after the service answered, before it answered
    or kept the answer; then a healthy gateway again."""
    hub.stack.stop("gateway")
    hub.restart("gateway", env={"HUB_FAULT_GATEWAY_EXIT_BEFORE_ANSWER": "1"})
    try:
        with hub.client(role) as c, pytest.raises(httpx.TransportError):
            c.post(path, json=body, headers={"Idempotency-Key": key})
    finally:
        hub.stack.stop("gateway")
        hub.restart("gateway")


def _shipped_events(hub, order_id) -> list[dict]:
    outbox = hub.dbs["order"].metadata.tables["outbox"]
    with hub.dbs["order"].reader() as s:
        bodies = s.execute(select(outbox.c.body).where(outbox.c.event_type == "order_shipped")).scalars().all()
    return [e for e in map(json.loads, bodies) if e["aggregate_id"] == order_id]


def test_a_shipment_retried_after_its_gateway_died_gets_the_original_success(pg_hub):
    sku = unique("IDEMS")
    with pg_hub.client("admin") as c:
        stock_sku(c, sku, quantity=2)
        order_id = c.post("/orders", json=order_body(sku, unique("S"))).json()["id"]
        wait_settled(c, [order_id])
    shipment, key = {"carrier": "SF", "tracking_number": unique("SF")}, unique("ship")
    _answer_lost(pg_hub, f"/orders/{order_id}/shipment", shipment, key)
    assert len(_shipped_events(pg_hub, order_id)) == 1  # it did ship

    with pg_hub.client("warehouse") as c:
        retry = c.post(f"/orders/{order_id}/shipment", json=shipment, headers={"Idempotency-Key": key})
        replay = c.post(f"/orders/{order_id}/shipment", json=shipment, headers={"Idempotency-Key": key})
        other = c.post(f"/orders/{order_id}/shipment", json={**shipment, "tracking_number": unique("SF")},
                       headers={"Idempotency-Key": unique("ship")})
    assert retry.status_code == 200, retry.text  # the original outcome, not 409 "in progress" or "already shipped"
    assert retry.json()["status"] == "shipped" and retry.json()["shipment"]["tracking_number"] == shipment["tracking_number"]
    assert replay.status_code == 200 and replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == retry.json()
    assert other.status_code == 409 and "already shipped" in other.json()["title"]
    assert len(_shipped_events(pg_hub, order_id)) == 1  # shipped once


def test_a_receipt_and_a_return_retried_after_their_gateway_died_are_applied_once(pg_hub):
    """Commands that are not idempotent by nature: the service records the command id (from the
    Idempotency-Key) with the effect and answers the repeat with the first reply."""
    sku = unique("IDEMC")
    with pg_hub.client("admin") as c:
        stock_sku(c, sku, quantity=3)
        order_id = c.post("/orders", json=order_body(sku, unique("C"), quantity=2)).json()["id"]
        wait_settled(c, [order_id])
        assert c.post(f"/orders/{order_id}/shipment", json={"carrier": "SF", "tracking_number": unique("SF")}
                      ).status_code == 200
        wait_for(lambda: c.get(f"/stock/{sku}").json()["levels"][0]["on_hand"] == 1, 60, 0.3, "the goods issued")
    receipt, receipt_key = {"sku": sku, "warehouse": "WH-MAIN", "quantity": 5, "unit_cost": "4.00"}, unique("rcpt")
    _answer_lost(pg_hub, "/stock/receipts", receipt, receipt_key)
    giving_back, return_key = {"lines": [{"line_no": 1, "quantity": 1}], "reason": "damaged"}, unique("ret")
    _answer_lost(pg_hub, f"/orders/{order_id}/returns", giving_back, return_key)

    with pg_hub.client("warehouse") as c:
        received = c.post("/stock/receipts", json=receipt, headers={"Idempotency-Key": receipt_key})
        returned = c.post(f"/orders/{order_id}/returns", json=giving_back, headers={"Idempotency-Key": return_key})
        wait_for(lambda: c.get(f"/stock/{sku}").json()["levels"][0]["on_hand"] >= 7, 60, 0.3, "the return restocked")
        [level] = c.get(f"/stock/{sku}").json()["levels"]
        order = c.get(f"/orders/{order_id}").json()
    assert received.status_code == 201, received.text
    assert returned.status_code == 201, returned.text
    assert level["on_hand"] == 3 - 2 + 5 + 1  # received once, one unit returned once
    assert [l["returned_quantity"] for l in order["lines"]] == [1]
    assert returned.json()["return_id"] and returned.json()["order"]["id"] == order_id


def _purchase_order(c, sku: str, quantity: int, hub) -> dict:
    """A purchase order for `quantity` of a new SKU from a new supplier."""
    supplier = unique("SUP")
    stock_sku(c, sku)
    assert c.post("/suppliers", json={"code": supplier, "name": "Supplier"}).status_code == 201
    po = c.post("/purchase-orders", json={"supplier": supplier, "warehouse": "WH-MAIN",
                                          "lines": [{"sku": sku, "quantity": quantity, "unit_cost": "2.50"}]}).json()
    return approve_through_gateway(hub, po["id"])


def test_a_purchase_receipt_retried_after_its_gateway_died_answers_the_first_receipt(pg_hub):
    with pg_hub.client("admin") as c:
        po = _purchase_order(c, unique("IDEMP"), 4, pg_hub)
    delivery, key = {"reference": unique("DN")}, unique("grn")  # everything open
    _answer_lost(pg_hub, f"/purchase-orders/{po['id']}/receipts", delivery, key, role="purchasing")
    with pg_hub.client("purchasing") as c:
        retry = c.post(f"/purchase-orders/{po['id']}/receipts", json=delivery, headers={"Idempotency-Key": key})
        receipts = c.get(f"/purchase-orders/{po['id']}").json()["receipts"]
    assert retry.status_code == 201, retry.text  # not 409 "nothing open": the receipt it made
    assert [r["id"] for r in receipts] == [retry.json()["receipt"]["id"]]


def test_a_purchase_return_retried_after_its_gateway_died_answers_the_first_return(pg_hub):
    """The gateway asks inventory before a return to the supplier is accepted; the retry of one already
    applied must get its first answer, not a refusal by that check (its goods have left: what is
    left in stock is reserved for an order)."""
    sku = unique("IDEMR")
    with pg_hub.client("admin") as c:
        po = _purchase_order(c, sku, 10, pg_hub)
        assert c.post(f"/purchase-orders/{po['id']}/receipts", json={}).status_code == 201
        wait_for(lambda: [l["on_hand"] for l in c.get(f"/stock/{sku}").json()["levels"]] == [10], 60, 0.3,
                 "the receipt in stock")
        order_id = c.post("/orders", json=order_body(sku, unique("R"), quantity=6)).json()["id"]
        assert wait_settled(c, [order_id])[0]["status"] == "reserved"
    giving_back, key = {"lines": [{"line_no": 1, "quantity": 4}], "reason": "damaged"}, unique("rtv")
    _answer_lost(pg_hub, f"/purchase-orders/{po['id']}/returns", giving_back, key, role="purchasing")
    with pg_hub.client("purchasing") as c:
        wait_for(lambda: c.get(f"/stock/{sku}").json()["levels"][0]["on_hand"] == 6, 60, 0.3, "the goods gone back")
        retry = c.post(f"/purchase-orders/{po['id']}/returns", json=giving_back, headers={"Idempotency-Key": key})
        returns = c.get(f"/purchase-orders/{po['id']}").json()["returns"]
    assert retry.status_code == 201, retry.text  # not 409 "not free to take": the return it made
    assert [r["id"] for r in returns] == [retry.json()["return_id"]]


def test_a_transfer_receipt_retried_after_its_gateway_died_answers_the_transfer_received(pg_hub):
    sku = unique("IDEMT")
    with pg_hub.client("admin") as c:
        stock_sku(c, sku, warehouse="WH-FROM", quantity=5)
        stock_sku(c, sku, warehouse="WH-TO")
        shipped = c.post("/transfers", json={"from_warehouse": "WH-FROM", "to_warehouse": "WH-TO",
                                             "lines": [{"sku": sku, "quantity": 3}]})
        assert shipped.status_code == 201, shipped.text
    path, key = f"/transfers/{shipped.json()['transfer_id']}/receive", unique("trf")
    _answer_lost(pg_hub, path, {}, key)
    with pg_hub.client("warehouse") as c:
        retry = c.post(path, json={}, headers={"Idempotency-Key": key})
        levels = {l["warehouse"]: l for l in c.get(f"/stock/{sku}").json()["levels"]}
    assert retry.status_code == 200, retry.text  # not 409 "already received": the receipt it made
    assert retry.json()["status"] == "received"
    assert (levels["WH-TO"]["on_hand"], levels["WH-TO"]["in_transit"]) == (3, 0)


def test_a_purchase_order_retried_after_its_gateway_died_is_made_once(pg_hub):
    sku, supplier = unique("IDEMPO"), unique("SUP")
    with pg_hub.client("admin") as c:
        stock_sku(c, sku)
        assert c.post("/suppliers", json={"code": supplier, "name": "Supplier"}).status_code == 201
    body, key = {"supplier": supplier, "warehouse": "WH-MAIN",
                 "lines": [{"sku": sku, "quantity": 4, "unit_cost": "2.50"}]}, unique("po")
    _answer_lost(pg_hub, "/purchase-orders", body, key, role="purchasing")
    with pg_hub.client("purchasing") as c:
        retry = c.post("/purchase-orders", json=body, headers={"Idempotency-Key": key})
    purchase_orders = pg_hub.dbs["procurement"].metadata.tables["purchase_orders"]
    with pg_hub.dbs["procurement"].reader() as s:
        made = s.execute(select(purchase_orders.c.id).where(purchase_orders.c.supplier == supplier)).scalars().all()
    assert retry.status_code == 201, retry.text
    assert made == [retry.json()["id"]]  # the goods are ordered once
