"""Smart allocation through the whole hub: an order goes whole to the most preferred warehouse of its
region that covers every line, else the fewest parcels with the reason; a shop's restriction holds;
every decision is explained at GET /stock/allocations/{order_id}; and arriving stock fills the most
urgent backorder first, not the oldest."""
from __future__ import annotations

import pytest

from tests.e2e.helpers import stock_sku, unique, wait_settled
from tests.support.hub import wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture
def rules(pg_hub):
    """The hub's allocation rules, put back as they were after the test (other tests share the hub)."""
    with pg_hub.client("admin") as c:
        before = c.get("/allocation-rules").json()
        yield before
        assert c.put("/allocation-rules", json=before).status_code == 200


def _ok(reply, status=200):
    assert reply.status_code == status, reply.text
    return reply.json()


def _order(sku_quantities: dict[str, int], province: str = "", city: str = "", shop: str = "test-shop",
           priority: int = 0) -> dict:
    return {"channel": "web", "shop": shop, "external_order_id": unique("AL"), "priority": priority,
            "shipping_address": {"recipient": "Buyer", "province": province, "city": city, "street": "1 Road"},
            "lines": [{"sku": sku, "quantity": q, "unit_price": "10.00"} for sku, q in sku_quantities.items()]}


def _place(pg_hub, *bodies: dict) -> list[dict]:
    with pg_hub.client("sales") as c:
        ids = [_ok(c.post("/orders", json=body), 201)["id"] for body in bodies]
        return wait_settled(c, ids)


def _allocation(pg_hub, order_id: str) -> dict:
    with pg_hub.client("sales") as c:
        return _ok(c.get(f"/stock/allocations/{order_id}"))


def _setup(pg_hub, stock: dict[tuple[str, str], int]) -> None:
    """Warehouses (priority in the order first named) and SKUs with stock; 0 creates without stock."""
    with pg_hub.client("admin") as c:
        warehouses = list(dict.fromkeys(w for _, w in stock))
        for (sku, warehouse), quantity in stock.items():
            stock_sku(c, sku, warehouse, quantity, priority=warehouses.index(warehouse))


def test_the_whole_order_goes_to_the_one_warehouse_of_its_region_that_covers_every_line(pg_hub, rules):
    w1, w2, a, b = unique("W1"), unique("W2"), unique("A"), unique("B")
    province = unique("PROV")
    _setup(pg_hub, {(a, w1): 5, (a, w2): 5, (b, w2): 5})
    with pg_hub.client("admin") as c:
        set_ = _ok(c.put("/allocation-rules", json={**rules, "coverage": [
            *rules["coverage"], {"province": province, "city": "", "warehouses": [w1, w2]}]}))
    assert {"province": province, "city": "", "warehouses": [w1, w2]} in set_["coverage"]
    both, only_a = _place(pg_hub, _order({a: 1, b: 1}, province, "Anycity"), _order({a: 1}, province))
    # W1 comes first for the line of A, but only W2 has both: one parcel from W2 (per line it was W1 + W2)
    assert both["status"] == "reserved" and {l["warehouse"] for l in both["lines"]} == {w2}
    explained = _allocation(pg_hub, both["id"])
    assert (explained["chosen"], explained["parcels"], explained["split_reason"]) == ([w2], 1, None)
    assert explained["reason"] == f"{w2}: one parcel, the most preferred that covers all lines ({w1} lacks {b})"
    assert [(x["warehouse"], x["rank"], x["source"], x["lacks"]) for x in explained["candidates"]] == [
        (w1, 1, "province", [b]), (w2, 2, "province", [])]
    assert (explained["province"], explained["city"]) == (province, "Anycity")
    assert [[(x["warehouse"], x["quantity"]) for x in l["allocations"]] for l in explained["lines"]] == [
        [(w2, 1)], [(w2, 1)]]
    # an order W1 covers whole goes to W1, the region's first choice
    assert _allocation(pg_hub, only_a["id"])["chosen"] == [w1]


def test_a_split_is_the_last_resort_and_says_why(pg_hub, rules):
    w1, w2, a, b = unique("W1"), unique("W2"), unique("A"), unique("B")
    province = unique("PROV")
    _setup(pg_hub, {(a, w1): 5, (b, w2): 5})
    with pg_hub.client("admin") as c:
        _ok(c.put("/allocation-rules", json={**rules, "coverage": [
            *rules["coverage"], {"province": province, "city": "", "warehouses": [w1, w2]}]}))
    order, = _place(pg_hub, _order({a: 2, b: 1}, province))
    assert order["status"] == "reserved"
    assert {l["sku"]: l["warehouse"] for l in order["lines"]} == {a: w1, b: w2}
    explained = _allocation(pg_hub, order["id"])
    assert (explained["parcels"], explained["split_reason"]) == (2, "no_single_warehouse")
    assert explained["reason"] == (f"split: no single warehouse covers {', '.join(sorted([a, b]))}; fewest parcels = 2 "
                                   f"({w1}: {a}; {w2}: {b})")


def test_a_shops_orders_ship_only_from_its_warehouses(pg_hub, rules):
    near, far, a = unique("WN"), unique("WF"), unique("A")
    province, shop = unique("PROV"), unique("jd-shop").lower()
    _setup(pg_hub, {(a, near): 5, (a, far): 5})
    with pg_hub.client("admin") as c:
        _ok(c.put("/allocation-rules", json={
            "coverage": [*rules["coverage"], {"province": province, "city": "", "warehouses": [near, far]}],
            "shops": [*rules["shops"], {"channel": "web", "shop": shop, "warehouses": [far]}]}))
    restricted, other = _place(pg_hub, _order({a: 1}, province, shop=shop), _order({a: 1}, province))
    assert restricted["lines"][0]["warehouse"] == far and other["lines"][0]["warehouse"] == near
    explained = _allocation(pg_hub, restricted["id"])
    assert [x["warehouse"] for x in explained["candidates"]] == [far]


def test_rules_naming_an_unknown_warehouse_are_refused_and_change_nothing(pg_hub, rules):
    w1 = unique("W1")
    with pg_hub.client("admin") as c:
        _ok(c.post("/warehouses", json={"code": w1, "name": w1}), 201)
        reply = c.put("/allocation-rules", json={"coverage": [{"province": "P", "city": "C",
                                                               "warehouses": [w1, "NO-SUCH-WH"]}]})
        assert reply.status_code == 422
        assert reply.headers["content-type"].startswith("application/problem+json")
        assert [e["field"] for e in reply.json()["errors"]] == ["coverage[0].warehouses[1]"]
        city_alone = c.put("/allocation-rules", json={"coverage": [{"city": "C", "warehouses": [w1]}]})
        assert city_alone.status_code == 422
        assert [e["field"] for e in city_alone.json()["errors"]] == ["coverage[0].province"]
        assert c.get("/allocation-rules").json() == rules
    with pg_hub.client("sales") as c:
        missing = c.get("/stock/allocations/no-such-order")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("application/problem+json")


def test_arriving_stock_fills_the_higher_priority_backorder_first_though_it_is_younger(pg_hub):
    w, sku = unique("WP"), unique("HOT")
    _setup(pg_hub, {(sku, w): 0})
    old, = _place(pg_hub, _order({sku: 1}))
    young, = _place(pg_hub, _order({sku: 1}, priority=5))
    assert (old["status"], young["status"]) == ("backordered", "backordered")
    with pg_hub.client("admin") as c:
        _ok(c.post("/stock/receipts", json={"sku": sku, "warehouse": w, "quantity": 1, "unit_cost": "4.00"}), 201)
        wait_for(lambda: c.get(f"/orders/{young['id']}").json()["status"] == "reserved", 60, 0.3,
                 "the higher priority order to be reserved")
        assert c.get(f"/orders/{old['id']}").json()["status"] == "backordered"
        explained = _allocation(pg_hub, young["id"])
        assert explained["priority"] == 5
        # the first decision (backordered) as it was, and the later one that filled it appended
        assert explained["chosen"] == [] and explained["reason"].startswith("backordered")
        [later] = explained["later"]
        assert later["why"] == f"stock arrived: receipt of 1 {sku} into {w}"
        assert later["chosen"] == [w] and later["filled"] == [{"line_no": 1, "sku": sku, "warehouse": w, "quantity": 1}]
        assert later["decided_at"] >= explained["decided_at"]
        assert _allocation(pg_hub, old["id"])["later"] == []
        _ok(c.post("/stock/receipts", json={"sku": sku, "warehouse": w, "quantity": 1, "unit_cost": "4.00"}), 201)
        wait_for(lambda: c.get(f"/orders/{old['id']}").json()["status"] == "reserved", 60, 0.3,
                 "the older order to be reserved once more stock arrives")


def test_a_priority_a_review_rule_sets_fills_that_backorder_first_though_it_is_younger(pg_hub):
    """The rule decides after inventory reserved the order: order_prioritised carries it to inventory."""
    w, sku, shop = unique("WR"), unique("RUSH"), unique("rush-shop").lower()
    rush = {"name": "rush", "otherwise": "approve", "rules": [
        {"id": "rush-shop", "description": "the rush shop's orders first", "when": f'shop == "{shop}"',
         "actions": [{"kind": "set_priority", "priority": 20}]}]}
    _setup(pg_hub, {(sku, w): 0})
    with pg_hub.client("admin") as admin:
        applied = admin.post("/review/rule-sets", json={"document": rush, "note": "rush shop first"})
        assert applied.status_code == 201, applied.text
        try:
            old, = _place(pg_hub, _order({sku: 1}))
            young, = _place(pg_hub, _order({sku: 1}, shop=shop))
            assert (old["status"], young["status"]) == ("backordered", "backordered")
            wait_for(lambda: admin.get(f"/orders/{young['id']}").json()["priority"] == 20, 60, 0.3,
                     "the review to raise the young order's priority")
            wait_for(lambda: _allocation(pg_hub, young["id"])["priority"] == 20, 60, 0.3,
                     "inventory to learn the raised priority")
        finally:
            assert admin.post("/review/rule-sets/0/rollback").status_code == 201
        assert admin.get(f"/orders/{old['id']}").json()["priority"] == 0
        assert _allocation(pg_hub, old["id"])["priority"] == 0
        _ok(admin.post("/stock/receipts", json={"sku": sku, "warehouse": w, "quantity": 1, "unit_cost": "4.00"}), 201)
        wait_for(lambda: admin.get(f"/orders/{young['id']}").json()["status"] == "reserved", 60, 0.3,
                 "the prioritised order to be reserved")
        assert admin.get(f"/orders/{old['id']}").json()["status"] == "backordered"
