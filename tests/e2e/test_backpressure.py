"""Backpressure with real processes: while the order service counts as many orders awaiting
inventory as the high watermark, the gateway answers new orders 429 with Retry-After (an
Idempotency-Key is not held by it) and the shop connector puts its pulls off; reads and cancellations
go on; once the backlog is down at the low watermark both take orders again, and the connector reads
every order changed meanwhile (its watermark stayed).

The hub runs the gateway, the api processes, the order worker (which places the connector's orders)
and the Taobao-style connector, but no inventory worker: nothing answers the orders, so the backlog
moves only when the test cancels orders."""
from __future__ import annotations

import json
import time

import httpx
import pytest
from sqlalchemy import func, select

from gateway import webhooks
from hub import components
from hub.supervisor import free_port
from services.order.models import orders
from tests.e2e.helpers import order_body, stock_sku, unique
from tests.e2e.test_channels import SHOPS
from tests.e2e.test_ledgers import _simulator
from tests.e2e.test_storefront_webhook import _deliver
from tests.e2e.test_storefront_webhook import _order as storefront_order
from tests.support import infra
from tests.support.hub import Hub, wait_for

pytestmark = pytest.mark.e2e
HIGH, LOW = 4, 1
RUNS = ("gateway", "order-worker", "shops-taobao")


@pytest.fixture(scope="module")
def behind_hub(session_name, tmp_path_factory):
    name, log_dir = f"{session_name}_bp", tmp_path_factory.mktemp("backpressure-hub-logs")
    databases = (*components.SERVICES, "gateway", "ledger", "shops")
    urls = infra.create_databases(name, databases)
    port = free_port()
    sim = _simulator("taobao", port, log_dir)
    shops_file = log_dir / "shops.json"
    taobao = {**SHOPS["taobao"], "shops": SHOPS["taobao"]["shops"][:1], "url": f"http://127.0.0.1:{port}",
              "timeout_seconds": 1, "max_wait_seconds": 2}
    shops_file.write_text(json.dumps({"taobao": taobao}))
    hub = Hub(infra.create_vhost(name), urls, log_dir, processes=lambda p: p in RUNS or p.endswith("-api"),
              extra_env={"HUB_SHOPS_FILE": str(shops_file), "HUB_SHOPS_POLL_SECONDS": "0.3",
                         "HUB_INTAKE_HIGH_WATERMARK": str(HIGH), "HUB_INTAKE_LOW_WATERMARK": str(LOW),
                         "HUB_INTAKE_REFRESH_SECONDS": "0.1"})
    hub.sim = f"http://127.0.0.1:{port}"
    hub.storefront, hub.sku, hub.open_storefront_orders = unique("bp").lower(), unique("BP"), []
    try:
        hub.start()
        hub.secret = webhooks.add_storefront(hub.gateway_db, hub.storefront)
        with hub.client("admin") as admin:
            stock_sku(admin, hub.sku, quantity=100)
        yield hub
    finally:
        hub.stop()
        sim.terminate()
        sim.wait(10)
        infra.delete_vhost(name, wait=False)
        infra.drop_databases(name, databases)


def _pending(hub) -> int:
    with hub.dbs["order"].reader() as s:
        return s.execute(select(func.count()).where(orders.c.status == "pending")).scalar_one()


def _gateway_metric(hub, name: str) -> float:
    """The gateway serves its metrics on its own port."""
    text = httpx.get(f"{hub.stack.gateway_url}/metrics", timeout=5).text
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " "))


def _fill_to_high(hub) -> None:
    """Storefront orders until the backlog is at the high watermark (nothing answers them)."""
    while _pending(hub) < HIGH:
        external = unique("W")
        reply = _deliver(hub, hub.storefront, hub.secret, storefront_order(hub.sku, external, 1000))
        assert reply.status_code == 200 and reply.json()["outcome"] == "created", reply.text
        hub.open_storefront_orders.append(external)


def _cancel_one(hub) -> httpx.Response:
    """A cancellation: taken whatever the backlog."""
    reply = _deliver(hub, hub.storefront, hub.secret,
                     storefront_order(hub.sku, hub.open_storefront_orders.pop(), 2000, status="cancelled"))
    assert reply.status_code == 200 and reply.json()["outcome"] == "cancelled", reply.text
    return reply


def _drain_to_low(hub) -> None:
    while _pending(hub) > LOW:
        _cancel_one(hub)


def test_the_gateway_answers_429_while_the_hub_is_behind_and_takes_the_order_once_it_caught_up(behind_hub):
    hub = behind_hub
    _fill_to_high(hub)
    # the order service's count and the gateway's view of it are each kept for 0.1 s: a request sent
    # sooner may still be taken, and under this key its 201 would then be the key's answer for good
    time.sleep(0.5)
    key = {"Idempotency-Key": unique("bp-key")}
    body = order_body(hub.sku, unique("G"))
    with hub.client("sales") as sales:
        refused = wait_for(lambda: (r := sales.post("/orders", json=body, headers=key)).status_code == 429 and r,
                           15, 0.1, "the gateway to refuse new orders")
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["type"].endswith("/hub-behind")
        assert int(refused.headers["retry-after"]) >= 1
        again = sales.post("/orders", json=body, headers=key)  # the 429 was not kept as the key's answer
        assert again.status_code == 429 and "idempotent-replayed" not in again.headers
        assert sales.post("/orders/batch", json={"orders": [order_body(hub.sku, unique("G"))]}).status_code == 429
        paid = _deliver(hub, hub.storefront, hub.secret, storefront_order(hub.sku, unique("W"), 1000))
        assert paid.status_code == 429 and int(paid.headers["retry-after"]) >= 1
        assert sales.get("/orders", params={"status": "pending"}).status_code == 200  # reads go on
        assert _gateway_metric(hub, "hub_intake_refusing") == 1
        assert hub.metric("order-api", "hub_intake_behind") == 1

        _cancel_one(hub)  # below the high watermark, above the low one: still behind (no flapping)
        time.sleep(0.5)  # several refreshes of the order service's count and the gateway's view
        assert sales.post("/orders", json=body, headers=key).status_code == 429

        _drain_to_low(hub)
        accepted = wait_for(lambda: (r := sales.post("/orders", json=body, headers=key)).status_code != 429 and r,
                            15, 0.1, "the gateway to take orders again")
        assert accepted.status_code == 201, accepted.text
        replayed = sales.post("/orders", json=body, headers=key)
        assert replayed.status_code == 201 and replayed.headers["idempotent-replayed"] == "true"
        assert replayed.json()["id"] == accepted.json()["id"]
        assert _gateway_metric(hub, "hub_intake_refusing") == 0


def _in_hub(hub, external_id: str) -> bool:
    with hub.dbs["order"].reader() as s:
        return s.execute(select(orders.c.id).where(orders.c.channel == "taobao",
                                                   orders.c.external_order_id == external_id)).first() is not None


def _caught_up(hub) -> None:
    """The connector starts a day back and reads it in 30-minute windows: until it reads the present."""
    wait_for(lambda: 0 < hub.metric("shops-taobao", "hub_shop_ingest_lag_seconds", shop="tb-main") < 10, 90, 0.2,
             "the connector to catch up with now")


def test_the_shop_connector_pauses_its_pulls_while_the_hub_is_behind_and_misses_nothing(behind_hub):
    hub = behind_hub
    _drain_to_low(hub)
    _caught_up(hub)  # else a pull that is not paused would still be reading the past day
    _fill_to_high(hub)
    wait_for(lambda: hub.metric("shops-taobao", "hub_shop_pulls_paused", platform="taobao") == 1, 15, 0.1,
             "the connector to pause its pulls")
    pulled = hub.metric("shops-taobao", "hub_shop_orders_pulled_total")
    made = httpx.post(f"{hub.sim}/__sim/orders/generate", timeout=10,
                      json={"shop": "tb-main", "count": 1, "seed": 7, "paid_ratio": 1.0}).json()["orders"]
    external = str(made[0].get("trade", made[0])["tid"])
    time.sleep(6)  # unpaused, a pull would have read it within about 2.5 s (the 2 s settle and a 0.3 s poll)
    assert not _in_hub(hub, external)
    assert hub.metric("shops-taobao", "hub_shop_orders_pulled_total") == pulled
    _drain_to_low(hub)
    wait_for(lambda: _in_hub(hub, external), 30, 0.2, "the order made during the pause to reach the hub")
    assert hub.metric("shops-taobao", "hub_shop_pulls_paused", platform="taobao") == 0
