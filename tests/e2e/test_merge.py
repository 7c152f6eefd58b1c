"""Merge (合单) through the gateway (issue 13): two orders of one buyer to one address from one shop
merge and ship as one (both shipped with the same tracking number, each confirmed on its own); the
same buyer's order from another shop or to another address does not merge; a held member blocks the
group's shipment with a 409 naming it that changes nothing; an unmerged order ships alone. The
package's conftest checks the books against the stock after each test."""
from __future__ import annotations

import pytest

from tests.e2e.helpers import order_body, row_counts, stock_sku, unique, wait_settled

pytestmark = pytest.mark.e2e


def _place(client, sku, buyer, shop="test-shop", street="1 Test Road") -> str:
    body = order_body(sku, unique("MRG"))
    body["buyer"]["external_id"], body["shop"] = buyer, shop
    body["shipping_address"]["street"] = street
    reply = client.post("/orders", json=body)
    assert reply.status_code == 201, reply.text
    return reply.json()["id"]


def _ship(client, order_id, tracking):
    return client.post(f"/orders/{order_id}/shipment", json={"carrier": "SF", "tracking_number": tracking})


def test_one_buyers_orders_merge_ship_as_one_and_a_held_member_blocks_them(pg_hub):
    sku, buyer = unique("MRG"), unique("b-merge")
    with pg_hub.client("admin") as admin, pg_hub.client("sales") as sales, pg_hub.client("warehouse") as floor:
        stock_sku(admin, sku, quantity=10)
        first, second = _place(admin, sku, buyer), _place(admin, sku, buyer, street="  1   test road ")
        other_shop, other_address = _place(admin, sku, buyer, shop="other-shop"), \
            _place(admin, sku, buyer, street="2 Test Road")
        settled = {o["id"]: o for o in wait_settled(admin, [first, second, other_shop, other_address])}
        group = settled[first]["merge_group"]
        assert group and settled[second]["merge_group"] == group
        assert (settled[first]["merged_with"], settled[second]["merged_with"]) == ([second], [first])
        assert settled[other_shop]["merge_group"] is None and settled[other_address]["merge_group"] is None
        listed = admin.get("/orders", params={"merge_group": group})
        assert listed.status_code == 200 and {o["id"] for o in listed.json()["orders"]} == {first, second}
        [why] = [e for e in sales.get(f"/orders/{second}/audit").json()["entries"] if e["action"] == "merge"]
        assert buyer in why["note"] and "window 30 min" in why["note"], why

        assert sales.post(f"/orders/{second}/holds", json={"reason": "address_check"}).status_code == 201
        pg_hub.wait_quiet(60)  # the events of what came before applied: only the refusal could change a row
        before = row_counts(pg_hub)
        refused = _ship(floor, first, "SF20261206101")
        assert refused.status_code == 409 and refused.headers["content-type"] == "application/problem+json"
        assert f"order {second} of the group is held" in refused.json()["title"], refused.text
        assert row_counts(pg_hub) == before

        assert sales.post(f"/orders/{second}/release", json={"note": "address confirmed"}).status_code == 200
        shipped = _ship(floor, first, "SF20261206102")
        assert shipped.status_code == 200, shipped.text
        for order_id in (first, second):
            order = admin.get(f"/orders/{order_id}").json()
            assert (order["status"], order["shipment"]["tracking_number"]) == ("shipped", "SF20261206102")
        for order_id in (other_shop, other_address):
            assert admin.get(f"/orders/{order_id}").json()["status"] == "reserved"
            assert _ship(floor, order_id, f"SF{order_id[:12]}").status_code == 200


def test_an_unmerged_order_ships_alone(pg_hub):
    sku, buyer = unique("UNM"), unique("b-unmerge")
    with pg_hub.client("admin") as admin, pg_hub.client("sales") as sales, pg_hub.client("warehouse") as floor:
        stock_sku(admin, sku, quantity=4)
        first, second = _place(admin, sku, buyer), _place(admin, sku, buyer)
        assert wait_settled(admin, [first, second])[0]["merge_group"]
        out = sales.post(f"/orders/{second}/unmerge", json={"note": "the buyer wants it first"})
        assert out.status_code == 200, out.text
        assert (out.json()["merge_group"], out.json()["merged_with"]) == (None, [])
        assert sales.post(f"/orders/{second}/unmerge", json={}).status_code == 409  # in no group now
        assert _ship(floor, second, "SF20261206103").status_code == 200
        assert admin.get(f"/orders/{first}").json()["status"] == "reserved"
        assert _ship(floor, first, "SF20261206104").status_code == 200
        entries = sales.get(f"/orders/{second}/audit").json()["entries"]
        assert [(e["action"], e["note"]) for e in entries if e["action"] == "unmerge"] == \
            [("unmerge", "the buyer wants it first")]
