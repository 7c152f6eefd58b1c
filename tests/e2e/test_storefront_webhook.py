"""A storefront pushes its orders by signed webhook; the newest version wins, a cancellation
before shipping releases the reservation, and forged, stale or replayed deliveries change nothing."""
from __future__ import annotations

import json
import time

import httpx
import pytest

from gateway import webhooks
from tests.e2e.helpers import quiet_row_counts, row_counts, stock_sku, unique, wait_settled
from tests.support.hub import wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def storefront(pg_hub):
    name = unique("web").lower()
    return name, webhooks.add_storefront(pg_hub.gateway_db, name)


def _deliver(hub, name, secret, body: dict, timestamp=None, sign_with=None):
    raw = json.dumps(body).encode()
    ts = str(int(timestamp if timestamp is not None else time.time()))
    sig = webhooks.signature(sign_with or secret, ts, raw)
    return httpx.post(f"{hub.stack.gateway_url}/webhooks/storefront/{name}", content=raw, timeout=30,
                      headers={"content-type": "application/json", "X-Hub-Timestamp": ts,
                               "X-Hub-Signature": f"sha256={sig}"})


def _order(sku, external_id, version, status="paid"):
    return {"external_order_id": external_id, "version": version, "status": status,
            "buyer": {"external_id": "web-1", "name": "Web Buyer"},
            "shipping_address": {"recipient": "Web Buyer", "street": "9 Web Street"},
            "lines": [{"sku": sku, "quantity": 2, "unit_price": "30.00", "amount": "55.00"}]}


def _available(hub, sku):
    with hub.client("warehouse") as c:
        return c.get(f"/stock/{sku}").json()["levels"][0]["available"]


def test_a_pushed_order_is_placed_and_a_newer_cancellation_releases_its_stock(pg_hub, storefront):
    name, secret = storefront
    sku, external = unique("WEB"), unique("W")
    with pg_hub.client("admin") as c:
        stock_sku(c, sku, quantity=5)
    first = _deliver(pg_hub, name, secret, _order(sku, external, 1000))
    assert first.status_code == 200, first.text
    assert first.json()["outcome"] == "created"
    order = first.json()["order"]
    assert order["total"] == "55.00"  # the discounted amount the buyer paid, not 2 x 30.00
    with pg_hub.client("sales") as c:
        assert wait_settled(c, [order["id"]])[0]["status"] == "reserved"
    assert _available(pg_hub, sku) == 3

    replay = _deliver(pg_hub, name, secret, _order(sku, external, 1000), timestamp=int(first.request.headers["x-hub-timestamp"]))
    assert replay.status_code == 409

    cancelled = _deliver(pg_hub, name, secret, _order(sku, external, 2000, status="cancelled"))
    assert cancelled.json()["outcome"] == "cancelled"
    wait_for(lambda: _available(pg_hub, sku) == 5, 30, 0.2, "the reservation released")
    older = _deliver(pg_hub, name, secret, _order(sku, external, 1500, status="paid"))
    assert older.json()["outcome"] == "stale"
    with pg_hub.client("sales") as c:
        assert c.get(f"/orders/{order['id']}").json()["status"] == "cancelled"

        def history():
            found = c.get("/customers", params={"order_id": order["id"]}).json()["customers"]
            orders = c.get(f"/customers/{found[0]['id']}").json()["orders"] if found else []
            return [o["status"] for o in orders if o["order_id"] == order["id"]] == ["cancelled"]
        wait_for(history, 30, 0.3, "the customer's history to show the cancellation")


@pytest.mark.parametrize("case", ["wrong secret", "stale timestamp", "unknown storefront", "bad body"])
def test_a_forged_stale_or_malformed_delivery_is_refused_and_changes_nothing(pg_hub, storefront, case):
    name, secret = storefront
    body = _order(unique("NOSKU"), unique("W"), 1000)
    before = quiet_row_counts(pg_hub)
    if case == "wrong secret":
        reply = _deliver(pg_hub, name, secret, body, sign_with="not-the-secret")
    elif case == "stale timestamp":
        reply = _deliver(pg_hub, name, secret, body, timestamp=time.time() - 3600)
    elif case == "unknown storefront":
        reply = _deliver(pg_hub, "no-such-front", secret, body)
    else:
        reply = _deliver(pg_hub, name, secret, {**body, "version": "soon"})
    assert reply.status_code == (422 if case == "bad body" else 401), reply.text
    assert reply.headers["content-type"].startswith("application/problem+json")
    assert row_counts(pg_hub) == before
