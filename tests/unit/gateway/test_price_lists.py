"""The price lists' routes: a bad list is a 422 naming its fields before the order service is asked, a
line's SKU must be known to inventory, and the price answer says which list and why (or that none applies)."""
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from hubapi.inventory.v1 import inventory_service_pb2 as inv
from hubapi.order.v1 import order_service_pb2 as pb
from hubkit import money


class _Stub:
    def __init__(self, **replies):
        self.calls: list[tuple[str, object]] = []
        self.replies = replies

    def __getattr__(self, name):
        def call(request, metadata=None, timeout=None):
            self.calls.append((name, request))
            return self.replies[name](request)
        return call


def _put_reply(request):
    return pb.PriceListResponse(price_list=pb.PriceList(
        code=request.code, name=request.name, currency=request.currency or "CNY", lines=request.lines,
        updated_by="admin", updated_at="2026-12-06T00:00:00+00:00"), changed=True)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    from gateway import auth
    from gateway import config as gateway_config
    from gateway.app import create_app
    from gateway.models import metadata as gateway_metadata
    from hubkit import settings as hub_settings
    from hubkit.db import Database

    settings = hub_settings.load(gateway_config.Settings, {"HUB_VAR_DIR": str(tmp_path_factory.mktemp("prices"))})
    gateway_db = Database(settings.gateway_db_url, gateway_metadata)
    gateway_metadata.create_all(gateway_db.engine)
    admin = {"X-API-Key": auth.add_user(gateway_db, "admin", "admin")}
    order = _Stub(PutPriceList=_put_reply, GetPrice=lambda r: pb.GetPriceResponse(
        found=False, explanation=f"no price list in force has a line for {r.sku}"))
    inventory = _Stub(GetSkus=lambda r: inv.GetSkusResponse(skus=[inv.Sku(code=c) for c in r.codes if c != "GHOST"]))
    clients = SimpleNamespace(order=order, inventory=inventory, procurement=None, customer=None, accounting=None,
                              ledger=None, shops={}, channels=[], inventory_reports=None, review=None, notify=None,
                              close=lambda: None)
    with TestClient(create_app(settings, clients)) as http:
        yield http, admin, order
    gateway_db.dispose()


@pytest.mark.parametrize("body,field", [
    ({"name": "R", "lines": []}, "lines"),
    ({"name": "R", "lines": [{"sku": "TEA", "unit_price": "1.005"}]}, "unit_price"),
    ({"name": "R", "valid_from": "2026-13-01", "lines": [{"sku": "TEA", "unit_price": "1.00"}]}, "valid_from"),
    ({"name": "R", "lines": [{"sku": "TEA", "unit_price": "1.00", "min_quantity": -1}]}, "min_quantity"),
    ({"name": "R", "lines": [{"sku": "TEA", "unit_price": "1.00"}, {"sku": "GHOST", "unit_price": "1.00"}]},
     "lines[1].sku"),
])
def test_a_bad_list_is_a_422_naming_the_field_and_the_order_service_is_not_asked(gateway, body, field):
    http, admin, order = gateway
    order.calls.clear()
    reply = http.put("/price-lists/RETAIL", json=body, headers=admin)
    assert reply.status_code == 422 and reply.headers["content-type"].startswith("application/problem+json")
    assert any(field in str(e.get("field", "")) for e in reply.json()["errors"]), reply.json()
    assert order.calls == []


def test_a_list_is_sent_whole_and_the_price_answer_explains(gateway):
    http, admin, order = gateway
    order.calls.clear()
    reply = http.put("/price-lists/RETAIL", headers=admin, json={
        "name": "Retail", "currency": "USD", "tier": "vip",
        "lines": [{"sku": "TEA", "unit_price": "59.90"}, {"sku": "TEA", "unit_price": "49.90", "min_quantity": 10}]})
    assert reply.status_code == 200, reply.text
    (name, sent), = order.calls
    assert (name, sent.code, sent.currency, sent.tier) == ("PutPriceList", "RETAIL", "USD", "vip")
    assert [(l.sku, money.from_proto(l.unit_price), l.unit_price.currency_code, l.min_quantity)
            for l in sent.lines] == [("TEA", money.to_decimal("59.90"), "USD", 1), ("TEA", money.to_decimal("49.9"),
                                                                                   "USD", 10)]
    assert reply.json()["lines"][1] == {"sku": "TEA", "unit_price": "49.90", "min_quantity": 10}

    answer = http.get("/price-lists/price", params={"sku": "CUP", "quantity": 3, "on": "2026-06-01"}, headers=admin)
    assert answer.status_code == 200 and answer.json()["found"] is False and answer.json()["unit_price"] is None
    assert "CUP" in answer.json()["explanation"]
    assert (order.calls[-1][1].quantity, order.calls[-1][1].on) == (3, "2026-06-01")
    assert http.get("/price-lists/price", params={"sku": "CUP", "on": "June"}, headers=admin).status_code == 422


def test_a_sku_inventory_knows_is_asked_once_per_gateway_and_an_unknown_one_every_time(gateway):
    http, admin, _ = gateway
    inventory = http.app.state.clients.inventory
    inventory.calls.clear()
    body = {"name": "R", "lines": [{"sku": "MUG", "unit_price": "1.00"}, {"sku": "GHOST", "unit_price": "1.00"}]}
    for _ in range(2):  # GHOST is unknown: 422 naming it, and inventory asked again the second time
        reply = http.put("/price-lists/KNOWN", json=body, headers=admin)
        assert reply.status_code == 422 and reply.json()["errors"][0]["field"] == "lines[1].sku", reply.text
    asked = [sorted(r.codes) for name, r in inventory.calls if name == "GetSkus"]
    assert asked == [["GHOST", "MUG"], ["GHOST"]]  # MUG, known since the first answer, is not asked again
    reply = http.put("/price-lists/KNOWN", headers=admin, json={"name": "R", "lines": [{"sku": "MUG", "unit_price": "1.00"}]})
    assert reply.status_code == 200, reply.text
    assert len([name for name, _ in inventory.calls if name == "GetSkus"]) == 2  # nothing asked: MUG is known
