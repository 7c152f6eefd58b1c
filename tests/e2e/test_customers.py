"""One customer across channels through the gateway: a storefront business buyer and a phone-only
Taobao buyer with the same phone are one customer by the phone's keyed hash; an operator unmerges and
merges them (audited); a tier rule set gives the customer their tier as their orders arrive (the order
service's review hears of it), and takes back a tier set by hand when it is handed back; and the
credit exposure follows the shipment's sale voucher and a payment, from events. Bad input is a
problem+json 4xx that changes nothing."""
from __future__ import annotations

import json
import random
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from services.order.models import customer_terms
from tests.e2e.helpers import order_body, stock_sku, unique, wait_settled
from tests.support.hub import wait_for

pytestmark = pytest.mark.e2e


def _order(client, sku, price, channel, buyer, street="1 Test Road") -> str:
    body = order_body(sku, unique("CU"), price=price, channel=channel)
    body["buyer"], body["shipping_address"]["street"] = buyer, street
    placed = client.post("/orders", json=body)
    assert placed.status_code == 201, placed.text
    return placed.json()["id"]


def _customer_of(client, order_id) -> dict:
    return wait_for(lambda: client.get("/customers", params={"order_id": order_id}).json()["customers"] or None,
                    60, 0.3, f"the customer of {order_id}")[0]


def test_one_customer_across_two_channels_merged_unmerged_tiered_and_within_credit(pg_hub):
    sku, warehouse, buyer = unique("CUS"), unique("WCU")[:12], unique("biz")
    digits = "139" + "".join(random.choices("0123456789", k=8))
    tag = unique("tiers").lower()
    with pg_hub.client("admin") as admin, pg_hub.client("finance") as finance:
        stock_sku(admin, sku, warehouse=warehouse, quantity=100, cost="10.00")
        # storefront is no marketplace: its buyer owes the merchant (customer:storefront:<buyer>)
        a = _order(admin, sku, "300.00", "storefront", {"external_id": buyer, "name": "Biz Co", "phone": digits})
        b = _order(admin, sku, "50.00", "taobao", {"name": "Biz Co", "phone": f"{digits[:3]} {digits[3:7]}-{digits[7:]}"})
        home = _customer_of(admin, a)["id"]
        joined = wait_for(lambda: (lambda c: c if c["merged_into"] else None)(_customer_of(admin, b)),
                          60, 0.3, "the phone-only buyer merged by the phone hash")
        one = admin.get(f"/customers/{joined['id']}").json()
        assert (joined["merged_into"], one["id"], one["merged_ids"], one["order_count"], one["channels"]) == \
            (home, home, [joined["id"]], 2, ["storefront", "taobao"])
        assert sorted((x["action"], x["actor"]) for x in one["audit"]) == [("merge", "dedup"), ("merged", "dedup")]
        assert digits not in json.dumps([one["audit"], one["tier_history"], one["duplicate_ids"]])

        # bad input: a problem+json 4xx, nothing changed
        refused = {
            "self": admin.post(f"/customers/{home}/merge", json={"into": home, "why": "x"}),
            "unknown": admin.post(f"/customers/{unique('nobody')}/merge", json={"into": home, "why": "x"}),
            "no why": admin.post(f"/customers/{joined['id']}/unmerge", json={"why": ""}),
            "negative limit": finance.put(f"/customers/{home}/terms", json={"tier": "standard", "credit_limit": "-1"}),
            "bad rules": admin.post("/customer-tiers/rules", json={"document": {
                "name": "bad", "tiers": [{"tier": "vip", "when": "spend >"}]}}),
            "bad tag": admin.post(f"/customers/{home}/tags", json={"tag": "no tags!"}),
            "unknown tier": admin.get(f"/customers/{unique('nobody')}/tier")}
        assert {k: (r.status_code, r.headers["content-type"]) for k, r in refused.items()} == {
            "self": (422, "application/problem+json"), "unknown": (404, "application/problem+json"),
            "no why": (422, "application/problem+json"), "negative limit": (422, "application/problem+json"),
            "bad rules": (422, "application/problem+json"), "bad tag": (422, "application/problem+json"),
            "unknown tier": (404, "application/problem+json")}
        assert [e["field"] for e in refused["bad rules"].json()["errors"]] == ["tiers[0].when"]
        assert admin.get(f"/customers/{home}").json() == one

        # an operator takes them apart, and puts them together again: audited
        apart = admin.post(f"/customers/{joined['id']}/unmerge", json={"why": "a different person"})
        assert apart.status_code == 200, apart.text
        assert (apart.json()["id"], apart.json()["order_count"]) == (joined["id"], 1)
        assert (admin.get(f"/customers/{home}").json()["order_count"]) == 1
        merged = admin.post(f"/customers/{joined['id']}/merge", json={"into": home, "why": "the same company"})
        assert merged.status_code == 200, merged.text
        by = merged.json()["audit"][0]
        assert (merged.json()["order_count"], by["actor"].startswith("test-admin"), by["why"]) == \
            (2, True, "the same company")

        # tiers by rules (scoped by a tag of this test's own: the hub is shared), as orders arrive
        rules = admin.post("/customer-tiers/rules", json={"note": "e2e", "document": {
            "name": "e2e", "period_days": 30, "default_tier": "standard",
            "tiers": [{"tier": "gold", "when": f'"{tag}" in tags and spend >= 500'}]}})
        assert rules.status_code == 201 and rules.json()["in_force"], rules.text
        assert rules.json()["customers_retiered"] >= 1 and rules.json()["tiers_changed"] >= 0  # everyone, at once
        assert admin.post(f"/customers/{home}/tags", json={"tag": tag}).json()["tier"] == "standard"  # 350 spent
        # another address: not merged into one shipment (合单) with the first order
        c = _order(admin, sku, "200.00", "storefront", {"external_id": buyer, "name": "Biz Co"}, street="2 Other Road")
        gold = wait_for(lambda: (lambda x: x if x["tier"] == "gold" else None)(admin.get(f"/customers/{home}").json()),
                        60, 0.3, "the tier recomputed")
        change = gold["tier_history"][0]
        assert (change["previous"], change["source"], change["facts"]["spend"]) == ("standard", "rules", "550.00")
        why = admin.get(f"/customers/{home}/tier").json()
        assert (why["would_be"], why["matched"], why["trace"][0]["matched"]) == ("gold", "gold", True)

        def projected():  # the order service's review reads it per channel buyer
            with pg_hub.dbs["order"].reader() as s:
                return s.execute(select(customer_terms.c.tier).where(customer_terms.c.channel == "storefront",
                                                                     customer_terms.c.external_id == buyer)).scalar()
        wait_for(lambda: projected() == "gold", 60, 0.3, "the tier in the order service")

        # credit: what the books say is owed plus orders placed and not shipped
        assert finance.put(f"/customers/{home}/terms", json={"tier": "gold", "credit_limit": "1000.00"}).status_code == 200
        wait_settled(admin, [a, b, c])
        assert admin.post(f"/orders/{a}/shipment", json={"carrier": "SF", "tracking_number": "SF-CU-1"}).status_code == 200
        paid = finance.post("/accounting/payments", json={
            "direction": "received", "counterparty": f"customer:storefront:{buyer}", "amount": "100.00",
            "business_date": datetime.now(UTC).date().isoformat(), "reference": unique("BANK")})
        assert paid.status_code == 201, paid.text
        credit = wait_for(lambda: (lambda x: x if x["credit"]["receivable"] == "200.00" and x["payments"] else None)(
            admin.get(f"/customers/{home}").json()), 60, 0.3, "the sale and the payment in the exposure")
        # a tier set by hand, handed back to the rules: they decide again (gold: the tag and 550 spent), audited
        kept = finance.delete(f"/customers/{home}/tier")
        assert (kept.status_code, kept.headers["content-type"]) == (409, "application/problem+json")  # the rules'
        assert finance.put(f"/customers/{home}/terms", json={"tier": "partner", "credit_limit": "1000.00"}).json()[
            "tier"] == "partner"
        back = finance.delete(f"/customers/{home}/tier", params={"why": "e2e: the rules decide"})
        assert back.status_code == 200, back.text
        assert (back.json()["tier"], back.json()["tier_history"][0]["source"], back.json()["audit"][0]["action"],
                back.json()["audit"][0]["why"]) == ("gold", "rules", "tier_to_rules", "e2e: the rules decide")
    assert credit["credit"] == {"limit": "1000.00", "exposure": "450.00", "receivable": "200.00",
                                "open_orders": "250.00", "available": "550.00"}
    assert [p["amount"] for p in credit["payments"]] == ["100.00"]
    assert (credit["returns"]["orders"], credit["returns"]["rate"]) == (3, "0.0000")
