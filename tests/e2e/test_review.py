"""Review (审单) through the gateway: the default rule set approves a VIP's order, holds one over the
customer's credit limit (set before their first order) for finance, holds a buyer whose returns exceed
5% of their orders for finance and flags a line worth more than 10,000 for a double check (its facts
carry the buyer's message and the SKU's category); a bad rule set is refused with the rule, field and
position at fault; rule sets are versioned and rolled back; and a draft replayed over 1,000
past orders reports exactly the orders it would decide otherwise, changing nothing."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from services.order.models import customer_terms, review_decisions, sku_categories
from tests.e2e.helpers import order_body, row_counts, stock_sku, unique, wait_settled
from tests.support.hub import wait_for

pytestmark = pytest.mark.e2e


def _decision(client, order_id) -> dict:
    [decision] = wait_for(lambda: client.get(f"/orders/{order_id}/decisions").json()["decisions"] or None,
                          60, 0.3, f"the decision on {order_id}")
    return decision


def _order(client, sku, price, quantity=1, buyer=None, message="") -> str:
    body = order_body(sku, unique("RV"), quantity=quantity, price=price)
    if buyer:
        body["buyer"]["external_id"] = buyer
    if message:
        body["buyer_message"] = message
    placed = client.post("/orders", json=body)
    assert placed.status_code == 201, placed.text
    return placed.json()["id"]


def _order_rows(hub) -> dict:
    """Rows per table of the order database (the other services may still be applying the orders)."""
    return {table: n for table, n in row_counts(hub).items() if table.startswith("order.")}


def _terms(hub, client, sku, buyer, tier, credit_limit) -> str:
    """The buyer's terms set at the customer service, which knows the buyer from a first order, and
    projected into the order service; that first order's id."""
    first = _order(client, sku, "100.00", buyer=buyer)
    customer = wait_for(lambda: client.get("/customers", params={"channel": "taobao", "external_id": buyer})
                        .json()["customers"], 60, 0.3, f"customer {buyer}")[0]
    reply = client.put(f"/customers/{customer['id']}/terms", json={"tier": tier, "credit_limit": credit_limit})
    assert reply.status_code == 200, reply.text
    assert (reply.json()["tier"], reply.json()["credit_limit"]) == (tier, credit_limit)

    def projected():
        with hub.dbs["order"].reader() as s:
            return s.execute(select(customer_terms.c.tier).where(customer_terms.c.channel == "taobao",
                                                                 customer_terms.c.external_id == buyer)).scalar()
    wait_for(lambda: projected() == tier, 60, 0.3, f"{buyer}'s terms in the order service")
    return first


def _projected(hub, what: str, query, expected) -> None:
    def seen():
        with hub.dbs["order"].reader() as s:
            return s.execute(query).scalar()
    wait_for(lambda: seen() == expected, 60, 0.3, f"{what} in the order service")


def test_default_rules_approve_a_vip_hold_over_the_credit_limit_and_flag_a_big_line(pg_hub):
    sku, warehouse = unique("RVS"), unique("WRV")[:12]
    vip, careful = unique("vip"), unique("cred")
    with pg_hub.client("admin") as admin:
        stock_sku(admin, sku, warehouse=warehouse, quantity=100, cost="10.00")
        _terms(pg_hub, admin, sku, vip, "vip", "50000.00")
        # a business customer's limit set before their first order (the buyer not seen yet)
        before = admin.put("/customers/terms", json={"channel": "taobao", "external_id": careful,
                                                     "tier": "standard", "credit_limit": "1000.00"})
        assert before.status_code == 200, before.text
        assert (before.json()["order_count"], before.json()["credit_limit"]) == (0, "1000.00")
        _projected(pg_hub, f"{careful}'s terms", select(customer_terms.c.credit_limit).where(
            customer_terms.c.channel == "taobao", customer_terms.c.external_id == careful), 1000)
        assert admin.post("/skus", json={"code": sku, "name": f"Test {sku}", "category": "tea"}).status_code in (200, 201)
        _projected(pg_hub, f"{sku}'s category", select(sku_categories.c.category).where(sku_categories.c.sku == sku),
                   "tea")
        wait_settled(admin, [_order(admin, sku, "100.00", buyer=careful)])  # released, not shipped: 100.00 owed
        approved = _order(admin, sku, "100.00", buyer=vip)
        held = _order(admin, sku, "1500.00", buyer=careful)
        # one line worth 12,000; no terms: no limit
        big = _order(admin, sku, "6000.00", quantity=2, message="请尽快发货")
        first, second, third = (_decision(admin, o) for o in (approved, held, big))
        orders = {o["id"]: o for o in wait_settled(admin, [approved, held, big])}
        ship_held = admin.post(f"/orders/{held}/shipment", json={"carrier": "SF", "tracking_number": "SF-RV-1"})
        # the shipped default (0), or an earlier test's roll back to it (the hub is shared)
        [in_force] = [v for v in admin.get("/review/rule-sets").json()["versions"] if v["in_force"]]

    assert in_force["name"] == "default" and (in_force["version"] == 0 or in_force["note"] == "rolled back to version 0")
    assert (first["outcome"], first["rule"], first["reason"], first["rule_set_version"]) == \
        ("approve", "vip-auto-approve", None, in_force["version"])
    vip_rule = next(t for t in first["trace"] if t["rule"] == "vip-auto-approve")
    assert vip_rule == {"rule": "vip-auto-approve", "matched": True, "stopped": True,
                        "facts": {"customer_tier": "vip", "amount": "100.00", "stock_covers": True}}
    assert (orders[approved]["status"], orders[approved]["priority"], orders[approved]["double_check"]) == \
        ("reserved", 10, False)

    assert (second["outcome"], second["reason"], second["rule"]) == ("hold", "finance_approval", "credit-limit")
    credit = next(t for t in second["trace"] if t["rule"] == "credit-limit")
    assert credit["matched"] and credit["facts"] == {"has_credit_limit": True, "exposure": "1600.00",
                                                      "credit_limit": "1000.00"}
    assert second["facts"]["customer_tier"] == "standard"
    assert orders[held]["status"] == "held"
    assert ship_held.status_code == 409  # a held order does not ship

    assert (third["outcome"], third["rule"]) == ("approve", None)  # no rule decided: `otherwise`
    assert {"rule": "high-value-line", "kind": "double_check"} in third["actions"]
    assert third["facts"]["max_line_value"] == "12000.00" and third["facts"]["line_values"] == ["12000.00"]
    assert (third["facts"]["buyer_message"], third["facts"]["categories"]) == (True, ["tea"])
    assert (second["facts"]["buyer_message"], orders[big]["buyer_message"]) == (False, "请尽快发货")
    assert (orders[big]["status"], orders[big]["priority"], orders[big]["double_check"]) == ("reserved", 0, True)


def test_a_buyer_whose_returns_exceed_the_rate_waits_for_finance(pg_hub):
    sku, warehouse, buyer = unique("RVR"), unique("WRR")[:12], unique("ret")
    with pg_hub.client("admin") as admin:
        stock_sku(admin, sku, warehouse=warehouse, quantity=10, cost="10.00")
        first = _order(admin, sku, "100.00", buyer=buyer)
        assert _decision(admin, first)["outcome"] == "approve"  # no returns yet
        wait_settled(admin, [first])
        shipped = admin.post(f"/orders/{first}/shipment", json={"carrier": "SF", "tracking_number": unique("SFR")})
        assert shipped.status_code == 200, shipped.text
        returned = admin.post(f"/orders/{first}/returns", json={"reason": "does not fit"})
        assert returned.status_code == 201, returned.text
        second = _order(admin, sku, "100.00", buyer=buyer)
        decision = _decision(admin, second)
        [order] = wait_settled(admin, [second])

    assert (decision["outcome"], decision["reason"], decision["rule"]) == ("hold", "finance_approval", "return-rate")
    rate = next(t for t in decision["trace"] if t["rule"] == "return-rate")
    assert rate["matched"] and rate["facts"] == {"return_rate": "0.5000"}  # 1 of the buyer's 2 orders
    assert (order["status"], [h["reason"] for h in order["holds"]]) == ("held", ["finance_approval"])


def test_a_bad_rule_set_is_refused_with_the_rule_field_and_position_and_changes_nothing(pg_hub):
    bad = {"name": "bad", "rules": [
        {"id": "ok", "when": "amount > 100", "actions": [{"kind": "hold", "reason": "needs_review"}]},
        {"id": "typo", "when": "amount > 100 and custmer_tier == \"vip\"", "actions": [{"kind": "approve"}]},
        {"id": "types", "when": "amount > \"lots\"", "actions": [{"kind": "approve"}]},
        {"id": "broken", "when": "amount > 100 and (stock_covers", "actions": [{"kind": "approve"}]},
        {"id": "reason", "when": "true", "actions": [{"kind": "hold", "reason": "whim"}]}]}
    with pg_hub.client("admin") as admin:
        before = admin.get("/review/rule-sets").json()["versions"]
        checked = admin.post("/review/rule-sets/validate", json={"document": bad})
        applied = admin.post("/review/rule-sets", json={"document": bad})
        yaml_text = admin.post("/review/rule-sets/validate", json={"document": "name: x\nrules: [\n"})
        after = admin.get("/review/rule-sets").json()["versions"]
    with pg_hub.client("warehouse") as floor:
        forbidden = floor.post("/review/rule-sets/validate", json={"document": bad})
    assert checked.status_code == 422 and checked.headers["content-type"].startswith("application/problem+json")
    errors = {e["rule"]: e for e in checked.json()["errors"]}
    assert errors["typo"]["field"] == "rules[1].when" and errors["typo"]["position"] == 17
    assert "unknown fact 'custmer_tier'" in errors["typo"]["message"]
    assert errors["types"]["field"] == "rules[2].when" and errors["types"]["position"] == 9
    assert "type mismatch" in errors["types"]["message"]
    assert errors["broken"]["position"] == 30 and "does not parse" in errors["broken"]["message"]
    assert errors["reason"]["field"] == "rules[4].actions[0].reason"
    assert "ok" not in errors
    assert applied.status_code == 422 and applied.json()["errors"] == checked.json()["errors"]
    assert yaml_text.status_code == 422 and yaml_text.json()["errors"][0]["field"] == "document"
    assert forbidden.status_code == 403
    assert after == before


def test_rule_sets_are_versioned_and_rolled_back(pg_hub):
    strict = {"name": "strict", "otherwise": "hold", "otherwise_reason": "needs_review", "rules": []}
    sku, warehouse = unique("RVV"), unique("WRV")[:12]
    with pg_hub.client("admin") as admin:
        stock_sku(admin, sku, warehouse=warehouse, quantity=5)
        try:
            applied = admin.post("/review/rule-sets", json={"document": strict, "note": "hold everything"})
            assert applied.status_code == 201, applied.text
            held = _order(admin, sku, "10.00")
            decision = _decision(admin, held)
        finally:
            back = admin.post("/review/rule-sets/0/rollback")
        versions = admin.get("/review/rule-sets").json()["versions"]
        approved = _decision(admin, _order(admin, sku, "10.00"))
        missing = admin.post("/review/rule-sets/999999/rollback")
    with pg_hub.client("sales") as sales:
        refused = sales.post("/review/rule-sets", json={"document": strict})
    version = applied.json()["version"]
    assert (decision["outcome"], decision["reason"], decision["rule"], decision["rule_set_version"]) == \
        ("hold", "needs_review", None, version)
    assert back.status_code == 201 and back.json()["version"] == version + 1
    assert back.json()["note"] == "rolled back to version 0" and back.json()["name"] == "default"
    assert [(v["version"], v["in_force"]) for v in versions[:2]] == [(version + 1, True), (version, False)]
    assert versions[-1]["version"] == 0 and versions[1]["note"] == "hold everything"
    assert (approved["outcome"], approved["rule_set_version"]) == ("approve", version + 1)
    assert missing.status_code == 404
    assert refused.status_code == 403  # only an admin changes the rules in force


def test_a_draft_replayed_over_a_thousand_past_orders_reports_what_would_change(pg_hub):
    """1,000 orders of 10.00 to 1,000.00, approved by the default rules; a draft that holds orders over
    500.00 would hold exactly the 500 of them above it, names its rule, and changes nothing."""
    sku, warehouse = unique("RVR"), unique("WRV")[:12]
    since = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    bodies = [order_body(sku, unique("RP"), price=f"{10 * (i % 100 + 1)}.00") for i in range(1000)]
    with pg_hub.client("admin") as admin:
        stock_sku(admin, sku, warehouse=warehouse, quantity=1000)
        ids = {}
        for start in range(0, 1000, 200):
            reply = admin.post("/orders/batch", json={"orders": bodies[start:start + 200]})
            assert reply.status_code == 200 and reply.json()["succeeded"] == 200, reply.text
            ids.update({r["order"]["id"]: r["order"]["total"] for r in reply.json()["results"]})

        def decided():
            with pg_hub.dbs["order"].reader() as s:
                return s.execute(select(func.count()).select_from(review_decisions)
                                 .where(review_decisions.c.order_id.in_(list(ids)))).scalar() == 1000
        wait_for(decided, 180, 0.5, "1,000 decisions")
        until = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
        draft = ("name: draft\nrules:\n  - id: over-500\n    when: amount > 500\n"
                 "    actions: [{kind: hold, reason: needs_review}]\n")
        counts = _order_rows(pg_hub)
        replayed = admin.post("/review/replay", json={"document": draft, "since": since, "until": until,
                                                      "limit": 1000})
        assert replayed.status_code == 200, replayed.text
        assert _order_rows(pg_hub) == counts  # a replay changes nothing
        empty = admin.post("/review/replay", json={"document": draft, "since": until, "until": since})
    body = replayed.json()
    assert body["evaluated"] >= 1000
    mine = [d for d in body["differences"] if d["order_id"] in ids]
    expected = {i for i, total in ids.items() if float(total) > 500}
    assert len(expected) == 500 and {d["order_id"] for d in mine} == expected
    assert all(d["was"] == {"outcome": "approve", "reason": None, "rule": None, "rule_set_version": d["was"]
                            ["rule_set_version"]} for d in mine)
    assert all(d["would"] == {"outcome": "hold", "reason": "needs_review", "rule": "over-500"} for d in mine)
    assert empty.status_code == 422 and empty.json()["errors"][0]["field"] == "until"


def test_an_order_whose_address_changes_is_reviewed_again_and_its_hold_stays(pg_hub):
    remote = {"name": "addresses", "otherwise": "approve", "rules": [
        {"id": "remote", "description": "a remote city is checked", "when": 'city == "Faraway"',
         "actions": [{"kind": "hold", "reason": "address_check"}]}]}
    near = {"recipient": "Test Buyer", "phone": "13900000000", "city": "Hangzhou", "street": "1 Test Road"}
    sku, warehouse = unique("RVA"), unique("WRV")[:12]
    with pg_hub.client("admin") as admin, pg_hub.client("sales") as desk:
        stock_sku(admin, sku, warehouse=warehouse, quantity=5)
        try:
            applied = admin.post("/review/rule-sets", json={"document": remote, "note": "remote cities"})
            assert applied.status_code == 201, applied.text
            order_id = _order(admin, sku, "10.00")
            first = _decision(admin, order_id)
            assert wait_settled(admin, [order_id])[0]["status"] == "reserved"
            moved = desk.post(f"/orders/{order_id}/shipping-address",
                              json={"shipping_address": {**near, "city": "Faraway"}, "note": "buyer moved"})
            held = moved.json()
            back = desk.post(f"/orders/{order_id}/shipping-address", json={"shipping_address": near})
            listed = admin.get(f"/orders/{order_id}/decisions").json()["decisions"]
            audit = admin.get(f"/orders/{order_id}/audit").json()["entries"]
        finally:
            admin.post("/review/rule-sets/0/rollback")
        released = desk.post(f"/orders/{order_id}/release", json={"note": "address confirmed"})

    assert (first["outcome"], first["rule_set_version"]) == ("approve", applied.json()["version"])
    assert moved.status_code == 200, moved.text
    assert held["status"] == "held" and [(h["reason"], h["rule"]) for h in held["holds"]] == \
        [("address_check", "remote")]
    [again, last] = listed[1:]
    assert (again["outcome"], again["reason"], again["rule"], again["facts"]["city"]) == \
        ("hold", "address_check", "remote", "Faraway")
    # back to a near city: the rules approve, but the hold a person may have seen stays until released
    assert (last["outcome"], last["facts"]["city"]) == ("approve", "Hangzhou")
    assert back.json()["status"] == "held"
    assert [e["detail"]["outcome"] for e in audit if e["action"] == "review"] == ["hold", "approve"]
    assert released.status_code == 200 and released.json()["status"] == "reserved"


def _requests_to_reserve(hub, order_id) -> int:
    """How many order_placed (inventory's request to reserve) the order service wrote for the order."""
    outbox = hub.dbs["order"].metadata.tables["outbox"]
    with hub.dbs["order"].reader() as s:
        return s.execute(select(func.count()).select_from(outbox).where(
            outbox.c.event_type == "order_placed", outbox.c.body.contains(order_id))).scalar()


def _order_api(hub, client, env=None) -> None:
    """The order api restarted (with `env`), once the gateway reaches it again."""
    hub.stack.stop("order-api")
    hub.restart("order-api", env=env)
    wait_for(lambda: client.get("/review/rule-sets").status_code == 200, 30, 0.2, "the gateway to reach the order api")


def test_reviewed_before_reservation_a_held_order_reserves_only_once_released(pg_hub):
    """HUB_ORDER_REVIEW_STAGE=before_reservation on the order api (restarted with it, and back after)."""
    sku, warehouse = unique("RVB"), unique("WRV")[:12]
    big = {"name": "big-first", "otherwise": "approve", "rules": [
        {"id": "big", "description": "more than 2 waits for a person", "when": f'"{sku}" in skus and total_quantity > 2',
         "actions": [{"kind": "hold", "reason": "needs_review"}]}]}
    with pg_hub.client("admin") as admin, pg_hub.client("sales") as desk:
        stock_sku(admin, sku, warehouse=warehouse, quantity=5)
        _order_api(pg_hub, admin, {"HUB_ORDER_REVIEW_STAGE": "before_reservation"})
        try:
            assert admin.post("/review/rule-sets", json={"document": big}).status_code == 201
            held, rejected, approved = (_order(admin, sku, "10.00", quantity=q) for q in (3, 4, 1))
            placed = {i: admin.get(f"/orders/{i}").json() for i in (held, rejected, approved)}
            assert wait_settled(admin, [approved])[0]["status"] == "reserved"  # asked at once
            pg_hub.wait_quiet(60)
            available = sum(l["available"] for l in admin.get(f"/stock/{sku}").json()["levels"])
            refused = desk.post(f"/orders/{rejected}/reject", json={"note": "not this one"})
            released = desk.post(f"/orders/{held}/release", json={"note": "checked"})
            settled = wait_settled(admin, [held])[0]
            pg_hub.wait_quiet(60)
            after = sum(l["available"] for l in admin.get(f"/stock/{sku}").json()["levels"])
            decisions = {i: admin.get(f"/orders/{i}/decisions").json()["decisions"] for i in placed}
        finally:
            admin.post("/review/rule-sets/0/rollback")
            _order_api(pg_hub, admin)
    assert [placed[i]["status"] for i in (held, rejected)] == ["held", "held"]
    assert [l["reservation"] for l in placed[held]["lines"]] == ["pending"]
    assert available == 4  # only the approved order reserved: the held ones asked nothing
    assert refused.status_code == 200 and refused.json()["status"] == "cancelled", refused.text
    assert released.status_code == 200 and released.json()["status"] == "pending", released.text
    assert settled["status"] == "reserved" and after == 1  # the released one reserved its 3
    assert {i: _requests_to_reserve(pg_hub, i) for i in placed} == {held: 1, rejected: 0, approved: 1}
    assert {i: [(d["outcome"], d["facts"]["review_stage"]) for d in decisions[i]] for i in placed} == {
        held: [("hold", "before_reservation")], rejected: [("hold", "before_reservation")],
        approved: [("approve", "before_reservation")]}  # reviewed once, not again on inventory's answer
