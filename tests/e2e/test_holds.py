"""Holds and the review queue through the gateway (issue 13): a held order keeps its reservation and
is refused at shipment (single and batch) until released; a reject cancels it and inventory releases
its stock; a finance hold needs the finance role; a gateway order can be cancelled before shipment;
an action in the wrong state is a 409 problem+json that changes nothing; the queue filters by reason,
oldest first; a bulk hold (by ids or a filter) answers per order. The package's conftest checks
the books against the stock after each test."""
from __future__ import annotations

import pytest

from tests.e2e.helpers import order_body, row_counts, stock_sku, unique, wait_settled
from tests.support.hub import wait_for

pytestmark = pytest.mark.e2e
SHIPMENT = {"carrier": "SF", "tracking_number": "SF20261206001"}


def _reserved_order(client, sku, quantity=2, stock=5) -> str:
    stock_sku(client, sku, quantity=stock)
    reply = client.post("/orders", json=order_body(sku, unique("HOLD"), quantity=quantity))
    assert reply.status_code == 201, reply.text
    return reply.json()["id"]


def _available(client, sku) -> int:
    return sum(level["available"] for level in client.get(f"/stock/{sku}").json()["levels"])


def _conflict(reply) -> None:
    assert reply.status_code == 409, reply.text
    assert reply.headers["content-type"] == "application/problem+json"
    assert reply.json()["type"].endswith("/conflict")


def test_a_held_order_is_refused_at_shipment_and_ships_once_released(pg_hub):
    sku = unique("HLD")
    with pg_hub.client("admin") as admin, pg_hub.client("sales") as sales, pg_hub.client("warehouse") as floor:
        order_id = _reserved_order(admin, sku)
        assert wait_settled(admin, [order_id])[0]["status"] == "reserved"
        held = sales.post(f"/orders/{order_id}/holds", json={"reason": "address_check", "note": "street missing"})
        assert held.status_code == 201, held.text
        order = held.json()["order"]
        assert order["status"] == "held"
        [hold] = order["holds"]
        assert (hold["id"], hold["reason"], hold["note"], hold["outcome"], hold["rule"]) == \
            (held.json()["hold_id"], "address_check", "street missing", None, None)
        assert hold["placed_by"].startswith("test-sales")
        # the reservation stays, per line: reserved where, nothing backordered
        [line] = order["lines"]
        assert (line["reservation"], line["warehouse"], line["reserved_quantity"], line["backordered_quantity"]) == \
            ("reserved", "WH-MAIN", 2, 0)
        assert _available(admin, sku) == 3

        pg_hub.wait_quiet(60)  # the events of what came before applied: only the refusal could change a row
        before = row_counts(pg_hub)
        _conflict(floor.post(f"/orders/{order_id}/shipment", json=SHIPMENT))
        batch = floor.post("/shipments/batch", json={"shipments": [{"order_id": order_id, **SHIPMENT}]})
        assert batch.status_code == 200 and batch.json()["results"][0]["status"] == 409, batch.text
        assert row_counts(pg_hub) == before and admin.get(f"/orders/{order_id}").json()["status"] == "held"

        released = sales.post(f"/orders/{order_id}/release", json={"note": "buyer confirmed the street"})
        assert released.status_code == 200, released.text
        [hold] = released.json()["holds"]
        assert released.json()["status"] == "reserved"
        assert (hold["outcome"], hold["outcome_note"]) == ("released", "buyer confirmed the street")
        assert hold["released_by"].startswith("test-sales") and hold["released_at"]
        shipped = floor.post(f"/orders/{order_id}/shipment", json=SHIPMENT)
        assert shipped.status_code == 200 and shipped.json()["status"] == "shipped", shipped.text
        audit = sales.get(f"/orders/{order_id}/audit")
        assert audit.status_code == 200, audit.text
        assert [(e["action"], e["note"], e["detail"].get("status_before"), e["detail"].get("status_after"))
                for e in audit.json()["entries"]] == [("hold", "street missing", "reserved", None),
                                                      ("release", "buyer confirmed the street", None, "reserved")]
        assert floor.get(f"/orders/{order_id}/audit").status_code == 403  # it may name addresses


def test_a_rejected_order_is_cancelled_and_its_stock_released(pg_hub):
    sku = unique("REJ")
    with pg_hub.client("admin") as admin, pg_hub.client("sales") as sales:
        order_id = _reserved_order(admin, sku, quantity=3, stock=3)
        wait_settled(admin, [order_id])
        assert _available(admin, sku) == 0
        assert sales.post(f"/orders/{order_id}/holds", json={"reason": "fraud_suspicion"}).status_code == 201
        rejected = sales.post(f"/orders/{order_id}/reject", json={"note": "stolen card"})
        assert rejected.status_code == 200, rejected.text
        assert rejected.json()["status"] == "cancelled"
        assert [(h["outcome"], h["outcome_note"]) for h in rejected.json()["holds"]] == [("rejected", "stolen card")]
        wait_for(lambda: _available(admin, sku) == 3, 60, 0.3, "the rejected order's stock to be released")
        # rejected twice, released or held after: 409, nothing changed
        pg_hub.wait_quiet(60)  # the events of what came before applied: only the refusal could change a row
        before = row_counts(pg_hub)
        _conflict(sales.post(f"/orders/{order_id}/reject", json={}))
        _conflict(sales.post(f"/orders/{order_id}/release", json={}))
        _conflict(sales.post(f"/orders/{order_id}/holds", json={"reason": "manual"}))
        assert row_counts(pg_hub) == before


def test_a_finance_hold_is_released_by_finance_only(pg_hub):
    sku = unique("FIN")
    with pg_hub.client("admin") as admin, pg_hub.client("sales") as sales, pg_hub.client("finance") as finance:
        order_id = _reserved_order(admin, sku)
        wait_settled(admin, [order_id])
        assert sales.post(f"/orders/{order_id}/holds", json={"reason": "finance_approval"}).status_code == 201
        pg_hub.wait_quiet(60)  # the events of what came before applied: only the refusal could change a row
        before = row_counts(pg_hub)
        refused = sales.post(f"/orders/{order_id}/release", json={"note": "looks fine"})
        assert refused.status_code == 403, refused.text
        assert sales.post(f"/orders/{order_id}/reject", json={}).status_code == 403
        assert row_counts(pg_hub) == before
        released = finance.post(f"/orders/{order_id}/release", json={"note": "credit approved"})
        assert released.status_code == 200 and released.json()["status"] == "reserved", released.text


def test_a_backordered_gateway_order_can_be_cancelled_once_and_a_shipped_one_not(pg_hub):
    sku = unique("CXL")
    with pg_hub.client("admin") as admin, pg_hub.client("sales") as sales:
        stock_sku(admin, sku, quantity=1)
        short = admin.post("/orders", json=order_body(sku, unique("SHORT"), quantity=5)).json()["id"]
        assert wait_settled(admin, [short])[0]["status"] == "backordered"
        [line] = admin.get(f"/orders/{short}").json()["lines"]
        assert (line["reserved_quantity"], line["backordered_quantity"]) == (0, 5)
        cancelled = sales.post(f"/orders/{short}/cancel", json={"note": "buyer withdrew"})
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled", cancelled.text
        pg_hub.wait_quiet(60)  # the events of what came before applied: only the refusal could change a row
        before = row_counts(pg_hub)
        _conflict(sales.post(f"/orders/{short}/cancel"))  # a second cancel changes nothing
        assert row_counts(pg_hub) == before

        shipped = admin.post("/orders", json=order_body(sku, unique("SHIP"), quantity=1)).json()["id"]
        wait_settled(admin, [shipped])
        assert admin.post(f"/orders/{shipped}/shipment", json=SHIPMENT).status_code == 200
        pg_hub.wait_quiet(60)  # the events of what came before applied: only the refusal could change a row
        before = row_counts(pg_hub)
        _conflict(sales.post(f"/orders/{shipped}/cancel"))
        _conflict(sales.post(f"/orders/{shipped}/shipping-address",
                             json={"shipping_address": {"recipient": "X", "street": "2 Road"}}))
        _conflict(sales.post(f"/orders/{shipped}/release", json={}))
        assert row_counts(pg_hub) == before


def test_the_queue_filters_by_reason_oldest_first_and_bulk_release_answers_per_order(pg_hub):
    sku = unique("QUE")
    with pg_hub.client("admin") as admin, pg_hub.client("sales") as sales:
        stock_sku(admin, sku, quantity=10)
        ids = [admin.post("/orders", json=order_body(sku, unique("Q"), quantity=1)).json()["id"] for _ in range(3)]
        wait_settled(admin, ids)
        for order_id, reason in zip(ids, ("double_check", "manual", "double_check")):
            assert sales.post(f"/orders/{order_id}/holds", json={"reason": reason}).status_code == 201
        queue = admin.get("/orders", params={"status": "held", "reason": "double_check", "page_size": 500}).json()
        mine = [o["id"] for o in queue["orders"] if o["id"] in ids]
        assert mine == [ids[0], ids[2]]  # oldest first, the manual one not among them
        assert all(any(h["reason"] == "double_check" and h["outcome"] is None for h in o["holds"])
                   for o in queue["orders"])
        bad = admin.get("/orders", params={"status": "held", "reason": "whim"})
        assert bad.status_code == 422, bad.text

        address = {"recipient": "Han Meimei", "city": "Suzhou", "street": "8 Canal Street"}
        moved = sales.post(f"/orders/{ids[1]}/shipping-address", json={"shipping_address": address, "note": "typo"})
        assert moved.status_code == 200 and moved.json()["shipping_address"]["street"] == "8 Canal Street", moved.text
        [edit] = [e for e in sales.get(f"/orders/{ids[1]}/audit").json()["entries"] if e["action"] == "edit_address"]
        assert (edit["note"], edit["detail"]["old"]["street"], edit["detail"]["new"]["street"]) == \
            ("typo", "1 Test Road", "8 Canal Street")

        bulk = sales.post("/orders/holds:release", json={"order_ids": [ids[1], ids[0], unique("NONE")], "note": "ok"})
        assert bulk.status_code == 200, bulk.text
        assert [(r["order_id"], r["status"]) for r in bulk.json()["results"]] == \
            [(ids[1], 200), (ids[0], 200), (bulk.json()["results"][2]["order_id"], 404)]
        assert [r["order"]["status"] for r in bulk.json()["results"][:2]] == ["reserved", "reserved"]
        again = sales.post("/orders/holds:release", json={"order_ids": [ids[0]]})
        assert again.json()["results"][0]["status"] == 409
        rejected = sales.post("/orders/holds:reject", json={"reason": "double_check", "note": "duplicate"})
        assert rejected.status_code == 200, rejected.text
        assert ids[2] in [r["order_id"] for r in rejected.json()["results"] if r["status"] == 200]
        assert admin.get(f"/orders/{ids[2]}").json()["status"] == "cancelled"


def test_an_operator_moves_an_order_to_another_warehouse_or_is_refused_changing_nothing(pg_hub):
    sku, first, second, bare = unique("MOV"), unique("WM1")[:12], unique("WM2")[:12], unique("WM3")[:12]
    with pg_hub.client("admin") as admin, pg_hub.client("sales") as desk, pg_hub.client("warehouse") as floor:
        stock_sku(admin, sku, first, 5, priority=0)
        stock_sku(admin, sku, second, 2, priority=1)
        stock_sku(admin, sku, bare, 0, priority=2)
        reply = admin.post("/orders", json=order_body(sku, unique("MOVE"), quantity=2))
        assert reply.status_code == 201, reply.text
        order_id = reply.json()["id"]
        [order] = wait_settled(admin, [order_id])
        assert (order["status"], order["lines"][0]["warehouse"]) == ("reserved", first)

        pg_hub.wait_quiet(60)  # what came before applied: only a refusal could change a row now
        before = row_counts(pg_hub)
        lacking = desk.post(f"/orders/{order_id}/warehouse", json={"warehouse": bare})
        unknown = desk.post(f"/orders/{order_id}/warehouse", json={"warehouse": "NO-SUCH-WH"})
        _conflict(lacking)
        assert sku in lacking.json()["title"]
        assert unknown.status_code == 422 and unknown.json()["errors"] == \
            [{"field": "warehouse", "message": "unknown warehouse"}], unknown.text
        assert row_counts(pg_hub) == before

        moved = desk.post(f"/orders/{order_id}/warehouse", json={"warehouse": second, "note": "nearer the buyer"})
        assert moved.status_code == 200, moved.text
        wait_for(lambda: admin.get(f"/orders/{order_id}").json()["lines"][0]["warehouse"] == second, 60, 0.3,
                 "the order's line to show the new warehouse")
        levels = {l["warehouse"]: l["available"] for l in admin.get(f"/stock/{sku}").json()["levels"]}
        assert (levels[first], levels[second]) == (5, 0)
        # the audit entry comes from inventory's order_moved, through the order worker's inbox
        wait_for(lambda: any(e["action"] == "change_warehouse"
                             for e in admin.get(f"/orders/{order_id}/audit").json()["entries"]), 60, 0.3,
                 "the move's audit entry")
        [entry] = [e for e in admin.get(f"/orders/{order_id}/audit").json()["entries"]
                   if e["action"] == "change_warehouse"]
        assert entry["note"] == "nearer the buyer" and entry["actor"].startswith("test-sales")
        allocation = admin.get(f"/stock/allocations/{order_id}").json()
        assert allocation["chosen"] == [second] and allocation["reason"].startswith(f"moved to {second}")
        assert allocation["later"][-1]["why"] == f"moved to {second} by {entry['actor']} (nearer the buyer)"

        shipped = floor.post(f"/orders/{order_id}/shipment", json=SHIPMENT)
        assert shipped.status_code == 200, shipped.text
        _conflict(desk.post(f"/orders/{order_id}/warehouse", json={"warehouse": first}))
        wait_for(lambda: {l["warehouse"]: l["on_hand"] for l in admin.get(f"/stock/{sku}").json()["levels"]}
                 .get(second) == 0, 60, 0.3, "the goods to leave the new warehouse")


def test_bulk_hold_by_ids_or_a_filter_answers_per_order_and_a_bad_request_changes_nothing(pg_hub):
    sku, buyer = unique("BLK"), unique("b-bulk")
    with pg_hub.client("admin") as admin, pg_hub.client("sales") as sales, \
            pg_hub.client("warehouse") as floor:
        stock_sku(admin, sku, quantity=10)
        bodies = [order_body(sku, unique("BLK")) for _ in range(3)]
        for body in bodies[:2]:  # one buyer, one address, one shop: a merge group to filter by
            body["buyer"]["external_id"] = buyer
        first, second, third = (admin.post("/orders", json=b).json()["id"] for b in bodies)
        settled = {o["id"]: o for o in wait_settled(admin, [first, second, third])}
        group = settled[first]["merge_group"]
        assert group and settled[second]["merge_group"] == group
        assert sales.post(f"/orders/{third}/cancel", json={"note": "buyer asked"}).status_code == 200

        pg_hub.wait_quiet()  # inventory has released the cancelled order's stock
        before = row_counts(pg_hub)
        for bad in ({"order_ids": [first], "filter": {"merge_group": group}}, {"reason": "manual"},
                    {"order_ids": [first], "reason": "whim"}, {"filter": {}},
                    {"filter": {"status": "lost"}, "reason": "manual"}):
            reply = sales.post("/orders/holds:place", json=bad)
            assert reply.status_code == 422 and reply.headers["content-type"] == "application/problem+json", bad
        assert floor.post("/orders/holds:place", json={"order_ids": [first]}).status_code == 403
        assert row_counts(pg_hub) == before

        by_filter = sales.post("/orders/holds:place", json={"filter": {"merge_group": group},
                                                            "reason": "address_check", "note": "call the buyer"})
        assert by_filter.status_code == 200, by_filter.text
        assert {(r["order_id"], r["status"], r["order"]["status"]) for r in by_filter.json()["results"]} == {
            (first, 200, "held"), (second, 200, "held")}
        by_ids = sales.post("/orders/holds:place", json={"order_ids": [third, first], "reason": "fraud_suspicion"})
        assert by_ids.status_code == 200, by_ids.text
        results = by_ids.json()["results"]
        assert [(r["order_id"], r["status"]) for r in results] == [(third, 409), (first, 200)]
        assert results[0]["problem"]["type"].endswith("/conflict") and by_ids.json()["refused"] == 1
        assert admin.get(f"/orders/{third}").json()["status"] == "cancelled"
        holds = admin.get(f"/orders/{first}").json()["holds"]
        assert sorted((h["reason"], h["note"]) for h in holds) == [
            ("address_check", "call the buyer"), ("fraud_suspicion", "")]
        assert all(h["placed_by"].startswith("test-sales") for h in holds)
        assert [e["action"] for e in sales.get(f"/orders/{first}/audit").json()["entries"]].count("hold") == 2
        released = sales.post("/orders/holds:release", json={"order_ids": [first, second], "note": "verified"})
        assert [r["order"]["status"] for r in released.json()["results"]] == ["reserved", "reserved"]
