"""Orders from Taobao-style and JD-style shops reach the hub exactly once however badly the
platforms behave (rate limits, 5xx, timeouts, pages shifting while read, repeated records, a
connector killed -9), cancellations release stock, unmapped SKUs wait as exceptions, shipments
and sellable stock go back to the platforms."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select

from hub import components
from hub.supervisor import free_port
from services.order.models import orders as orders_table
from tests.e2e.helpers import stock_sku
from tests.e2e.test_ledgers import _simulator
from tests.support import infra
from tests.support.hub import Hub, wait_for

pytestmark = pytest.mark.e2e
ORDERS = int(os.environ.get("HUB_SOAK_ORDERS", "80"))  # scaled down; `make soak` pulls 5,000
FAULTS = {"rate_limit": 0.06, "server_error": 0.07, "timeout": 0.07, "hang_seconds": 1.5, "shift_pages": 0.2,
          "repeat_records": 0.1, "seed": 5}
TB_MINI_SESSION = "6100aaaa0000bbbb1111cccc2222dddd3333eeee4444ffff5555666677778888"
HUB_SKUS = ("TEE-M", "TEE-L", "TEE-BLK-L", "MUG", "BAG", "TEA-250", "TEA-500", "CUP", "POT")
SHOPS = {
    "taobao": {"app_key": "23456789", "app_secret": "5f1a9c3e7b2d4e6f8a0b1c2d3e4f5a6b", "shops": [
        {"shop": "tb-main", "access_token": "6100a7e3c1f94b2d8e5f60718293a4b5c6d7e8f90123456789abcdef2206",
         "refresh_token": "6102b8f4d2a05c3e9f6071829304b5c6d7e8f9a01234567890abcdef2206", "stock_ratio": 0.3,
         "safety_buffer": 2},
        {"shop": "tb-outlet", "access_token": "6100c9a5e3b16d4f0a71829304a5b6c7d8e9f0a12345678901bcdef03307",
         "refresh_token": "6102d0b6f4c27e5a1b82930415b6c7d8e9f0a1b23456789012cdef03307", "stock_ratio": 0.1},
        {"shop": "tb-mini", "access_token": TB_MINI_SESSION, "refresh_token": "tb-mini-refresh", "stock_ratio": 0.1}],
        "skus": {"TEE-WHT-M": [{"sku": "TEE-M", "quantity": 1}], "TEE-WHT-L": [{"sku": "TEE-L", "quantity": 1}],
                 "TEE-BLK-L": [{"sku": "TEE-BLK-L", "quantity": 1}], "MUG-350": [{"sku": "MUG", "quantity": 1}],
                 "BAG-CANVAS": [{"sku": "BAG", "quantity": 1}], "TEA-LJ-250": [{"sku": "TEA-250", "quantity": 1}],
                 "TEA-LJ-500": [{"sku": "TEA-500", "quantity": 1}]}},
    "jd": {"app_key": "C8A7F3D1E2B94F60A1D3E5C7B9F20468", "app_secret": "5f2e8c1a9b7d4e60a3c5b7d9e1f20486", "shops": [
        {"shop": "jd-main", "access_token": "jdsim-at-main-0001", "refresh_token": "jdsim-rt-main-0001",
         "stock_ratio": 0.3, "safety_buffer": 1},
        {"shop": "jd-outlet", "access_token": "jdsim-at-outlet-0001", "refresh_token": "jdsim-rt-outlet-0001",
         "stock_ratio": 0.2}],
        "skus": {"HUB-TEA-250": [{"sku": "TEA-250", "quantity": 1}], "HUB-TEA-500": [{"sku": "TEA-500", "quantity": 1}],
                 "HUB-CUP-01": [{"sku": "CUP", "quantity": 1}], "HUB-POT-01": [{"sku": "POT", "quantity": 1}],
                 # a combination: one gift set is a tea and two cups
                 "HUB-SET-01": [{"sku": "TEA-250", "quantity": 1}, {"sku": "CUP", "quantity": 2}]}},
}
UNMAPPED_JD_SKU = "100031122579"
TB_MINI_SESSION = "6100aaaa0000bbbb1111cccc2222dddd3333eeee4444ffff5555666677778888"
# (the JD catalogue's SKU without an outer id has no mapping on purpose)
SHOP_COUNTS = (("taobao", ("tb-main", "tb-outlet", "tb-mini")), ("jd", ("jd-main", "jd-outlet")))


@pytest.fixture(scope="module")
def channel_hub(session_name, tmp_path_factory):
    name, log_dir = f"{session_name}_chn", tmp_path_factory.mktemp("channel-hub-logs")
    databases = (*components.SERVICES, "gateway", "ledger", "shops")
    urls = infra.create_databases(name, databases)
    ports = {"taobao": free_port(), "jd": free_port()}
    # a third Taobao shop besides the simulator's two: 3 Taobao-style and 2 JD-style shops
    from simulators.taobao import DEFAULT_CONFIG
    taobao_config = log_dir / "taobao-sim.json"
    taobao_config.write_text(json.dumps({"shops": [*DEFAULT_CONFIG["shops"], {
        "shop": "tb-mini", "seller_nick": "mini", "session": TB_MINI_SESSION, "refresh_token": "tb-mini-refresh",
        "token_seconds": 86400}]}))
    sims = {p: _simulator(p, port, log_dir, config=taobao_config if p == "taobao" else None)
            for p, port in ports.items()}
    carrier_port = free_port()  # the carrier's e-waybill API (not a shop: kept out of hub.sims)
    sims["cainiao"] = _simulator("cainiao", carrier_port, log_dir)
    from simulators.cainiao import DEFAULT_CONFIG as CARRIER
    shops_file = log_dir / "shops.json"
    shops_file.write_text(json.dumps({p: {**cfg, "url": f"http://127.0.0.1:{ports[p]}", "timeout_seconds": 1,
                                          "max_wait_seconds": 2} for p, cfg in SHOPS.items()}))
    from simulators.jd import OAUTH_PREFIX  # JD's OAuth has its own host: here its own path
    shops = json.loads(shops_file.read_text())
    shops["jd"]["oauth_url"] = f"http://127.0.0.1:{ports['jd']}{OAUTH_PREFIX}"
    shops_file.write_text(json.dumps(shops))
    hub = Hub(infra.create_vhost(name), urls, log_dir, extra_env={
        "HUB_SHOPS_FILE": str(shops_file), "HUB_SHOPS_POLL_SECONDS": "0.5",
        "HUB_CARRIER_URL": f"http://127.0.0.1:{carrier_port}", "HUB_CARRIER_APP_KEY": CARRIER["app_key"],
        "HUB_CARRIER_APP_SECRET": CARRIER["app_secret"], "HUB_CARRIER_SESSION": CARRIER["session"],
        "HUB_CARRIER_TIMEOUT_SECONDS": "0.5"})
    hub.sims = {p: f"http://127.0.0.1:{port}" for p, port in ports.items()}
    hub.shops_url = urls["shops"]  # the shop connectors' store
    hub.carrier = f"http://127.0.0.1:{carrier_port}"
    try:
        hub.start()
        with hub.client("admin") as admin:
            for sku in HUB_SKUS:
                stock_sku(admin, sku, quantity=1000, cost="5.00")
        yield hub
    finally:
        hub.stop()
        for proc in sims.values():
            proc.terminate()
            proc.wait(10)
        infra.delete_vhost(name, wait=False)
        infra.drop_databases(name, databases)


def _sim_orders(hub, platform) -> list[dict]:
    return httpx.get(f"{hub.sims[platform]}/__sim/orders", timeout=30).json()


def _hub_orders(hub) -> dict:
    with hub.dbs["order"].reader() as s:
        rows = s.execute(select(orders_table.c.channel, orders_table.c.shop, orders_table.c.external_order_id,
                                orders_table.c.status, orders_table.c.total, orders_table.c.buyer_message)).all()
    counts = Counter((r.channel, r.external_order_id) for r in rows)
    assert max(counts.values(), default=1) == 1  # never twice
    return {(r.channel, r.external_order_id): r for r in rows}


def _expected(hub) -> dict:
    """What the hub must hold: every paid order (and every later state), keyed like the hub's."""
    out = {}
    for o in _sim_orders(hub, "taobao"):
        trade = o.get("trade", o)
        if trade["status"] not in ("WAIT_BUYER_PAY", "TRADE_NO_CREATE_PAY") and trade.get("pay_time"):
            out[("taobao", str(trade["tid"]))] = (trade["status"], Decimal(trade["payment"]))
    for o in _sim_orders(hub, "jd"):
        if o["orderState"] != "WAIT_BUYER_PAY" and o.get("paymentConfirmTime") and \
                not any(i["skuId"] == UNMAPPED_JD_SKU for i in o["itemInfoList"]):
            out[("jd", o["orderId"])] = (o["orderState"], Decimal(o["orderPayment"]))
    return out


def test_every_order_reaches_the_hub_exactly_once_despite_faults_and_a_kill(channel_hub):
    hub = channel_hub
    for url in hub.sims.values():
        assert httpx.post(f"{url}/__sim/faults", json=FAULTS).status_code == 200
    per_shop = ORDERS // 5
    for platform, shops in SHOP_COUNTS:
        for i, shop in enumerate(shops):
            reply = httpx.post(f"{hub.sims[platform]}/__sim/orders/generate",
                               json={"shop": shop, "count": per_shop, "seed": 10 + i, "paid_ratio": 0.9}, timeout=30)
            assert reply.status_code == 200, reply.text
    wait_for(lambda: len(_hub_orders(hub)) >= ORDERS // 4, 120, 0.5, "the first orders")
    hub.stack.kill("shops-taobao")  # mid-run
    for platform, shops in SHOP_COUNTS:
        for i, shop in enumerate(shops):
            httpx.post(f"{hub.sims[platform]}/__sim/churn", json={"shop": shop, "count": per_shop // 3, "seed": 20 + i},
                       timeout=30)
    hub.restart("shops-taobao")

    def arrived():
        expected, held = _expected(hub), _hub_orders(hub)
        return (expected, held) if set(expected) <= set(held) else None
    expected, held = wait_for(arrived, 240, 1.0, "every paid platform order in the hub")
    cancelled = {"TRADE_CLOSED", "TRADE_CLOSED_BY_TAOBAO", "TRADE_CANCELED"}
    def reflected():  # read once per round; an order the churn made paid since arrived() is waited for
        expected_now, held_now = _expected(hub), _hub_orders(hub)
        return all(k in held_now and (held_now[k].status == "shipped"
                                      or (held_now[k].status == "cancelled") == (state in cancelled))
                   for k, (state, _) in expected_now.items())
    wait_for(reflected, 120, 1.0, "cancellations reflected")
    for key, (_state, paid) in expected.items():
        assert held[key].total == paid, (key, held[key].total, paid)  # the lines add up to what the buyer paid
    # the buyers' messages (Taobao buyer_message, JD orderRemark) reach some orders of each platform, not all
    for platform in ("taobao", "jd"):
        messages = [held[k].buyer_message for k in expected if k[0] == platform]
        assert 0 < sum(bool(m) for m in messages) < len(messages), (platform, Counter(messages))
    for platform in hub.sims:
        stats = httpx.get(f"{hub.sims[platform]}/__sim/stats").json()
        assert sum(v for k, v in stats.get("faults", stats.get("faults_fired", {})).items()
                   if isinstance(v, int)) > 0, stats  # the faults really happened


def test_a_cancelled_order_releases_its_reservation(channel_hub):
    hub = channel_hub

    def reserved_matches_open_orders():
        from services.inventory.models import reservations, stock_levels
        with hub.dbs["inventory"].reader() as s:
            held = s.execute(select(reservations.c.sku, reservations.c.quantity)
                             .where(reservations.c.status == "reserved")).all()
            levels = dict(s.execute(select(stock_levels.c.sku, stock_levels.c.reserved)).all())
        per_sku = Counter()
        for sku, qty in held:
            per_sku[sku] += qty
        return all(levels.get(sku, 0) == per_sku.get(sku, 0) for sku in HUB_SKUS)
    assert wait_for(reserved_matches_open_orders, 60, 0.5, "reservations of cancelled orders released")
    from services.inventory.models import reservations
    from services.order.models import orders
    with hub.dbs["order"].reader() as s:
        cancelled = s.execute(select(orders.c.id).where(orders.c.status == "cancelled")).scalars().all()
    assert cancelled  # churn cancelled some

    def none_still_reserved():
        # a cancel that overtook its order's reservation waits (with back-off) for it, then releases it
        with hub.dbs["inventory"].reader() as s:
            return not s.execute(select(reservations.c.order_id).where(reservations.c.order_id.in_(cancelled),
                                                                       reservations.c.status == "reserved")).all()
    assert wait_for(none_still_reserved, 90, 0.5, "every cancelled order's reservation released")


def test_an_unmapped_sku_holds_the_order_until_it_is_mapped(channel_hub):
    hub = channel_hub
    httpx.post(f"{hub.sims['jd']}/__sim/faults", json={})
    with hub.client("sales") as sales:
        held = sales.get("/connectors/jd/exceptions").json()["exceptions"]
        status = {s["shop"]: s for s in sales.get("/connectors/jd/status").json()["shops"]}
    assert held and all(h["reason"] == "unmapped_sku" and UNMAPPED_JD_SKU in h["detail"] for h in held), held
    assert sum(s["open_exceptions"] for s in status.values()) == len(held)
    paid = {o["orderId"] for o in _sim_orders(hub, "jd") if o.get("paymentConfirmTime")}
    external_ids = {h["external_order_id"] for h in held} & paid  # an unpaid order waits for payment anyway
    assert external_ids
    with hub.client("warehouse") as warehouse:
        unknown = warehouse.put(f"/connectors/jd/sku-mappings/{UNMAPPED_JD_SKU}", json={"components": [{"sku": "NO-SUCH"}]})
        assert unknown.status_code == 422
        mapped = warehouse.put(f"/connectors/jd/sku-mappings/{UNMAPPED_JD_SKU}", json={"components": [{"sku": "MUG"}]})
        assert mapped.status_code == 200, mapped.text
    wait_for(lambda: external_ids <= {ext for (ch, ext) in _hub_orders(hub) if ch == "jd"}, 60, 0.5,
             "the held orders in the hub")
    status = subprocess.run([sys.executable, "-m", "hub.cli", "connectors", "status"], env=hub.stack.env,
                            capture_output=True, text=True, timeout=60, cwd=components.PROJECT_ROOT)
    assert status.returncode == 0, status.stderr
    assert sorted(line.split()[1] for line in status.stdout.splitlines()) == sorted(
        shop for _, shops in SHOP_COUNTS for shop in shops)
    assert all("watermark" in line and "lag" in line and "exceptions" in line for line in status.stdout.splitlines())
    # re-pulling the last hour of one shop reads its orders again and publishes none twice
    now = datetime.now(ZoneInfo("Asia/Shanghai")).replace(tzinfo=None, microsecond=0)
    repull = subprocess.run([sys.executable, "-m", "hub.cli", "connectors", "repull", "--platform", "jd",
                             "--shop", "jd-main", "--from", (now - timedelta(hours=1)).isoformat(),
                             "--to", now.isoformat()],
                            env=hub.stack.env, capture_output=True, text=True, timeout=120, cwd=components.PROJECT_ROOT)
    assert repull.returncode == 0, repull.stdout + repull.stderr
    stats = json.loads(repull.stdout)
    assert stats["read"] > 0 and stats["published"] == 0 and stats["duplicates"] + stats["held"] == stats["read"]


def test_shipments_and_sellable_stock_go_back_to_the_platforms(channel_hub):
    hub = channel_hub
    for url in hub.sims.values():
        httpx.post(f"{url}/__sim/faults", json={})
    with hub.dbs["order"].reader() as s:
        order = s.execute(select(orders_table).where(orders_table.c.channel == "taobao",
                                                     orders_table.c.status == "reserved").limit(1)).first()
    assert order is not None
    with hub.client("warehouse") as c:
        assert c.post(f"/orders/{order.id}/shipment", json={"carrier": "SF", "tracking_number": "SF77001"}).status_code == 200
    wait_for(lambda: any(str(s.get("tid")) == order.external_order_id
                         for s in httpx.get(f"{hub.sims['taobao']}/__sim/shipments").json()), 60, 0.5,
             "the shipment confirmed on Taobao")

    def caught_up():  # every shop holds the quantity for the newest availability it was told
        from connectors.shops.store import metadata, stock_pushes
        from hubkit.db import Database
        db = Database(hub.env["HUB_SHOPS_DB_URL"], metadata)
        try:
            with db.reader() as s:
                rows = s.execute(select(stock_pushes.c.version, stock_pushes.c.pushed_version)).all()
        finally:
            db.dispose()
        return rows and all(r.version == r.pushed_version for r in rows)
    wait_for(caught_up, 90, 0.5, "the stock pushes to catch up")
    with hub.client("warehouse") as c:
        available = {sku: sum(l["available"] for l in c.get(f"/stock/{sku}").json()["levels"]) for sku in HUB_SKUS}
    # the newest quantity each shop holds per product, added over all shops, never exceeds the hub's available
    latest = {}
    for platform in hub.sims:
        for push in httpx.get(f"{hub.sims[platform]}/__sim/stock").json():
            outer = push.get("outer_id") or push.get("outerSkuId") or push.get("outer_sku_id")
            latest[(platform, push["shop"], outer)] = int(push.get("quantity", push.get("stockNum", 0)))
    by_hub_sku = Counter()
    for (platform, _shop, outer), qty in latest.items():
        components = SHOPS[platform]["skus"].get(outer)
        if components and len(components) == 1:
            by_hub_sku[components[0]["sku"]] += qty
    assert by_hub_sku and all(qty <= available[sku] for sku, qty in by_hub_sku.items()), (by_hub_sku, available)


def test_waybills_under_carrier_faults_are_taken_once_and_confirmed_to_the_platform(channel_hub):
    """Each order asks the carrier for its waybill through the gateway until it gets one (a 503 when the
    carrier gave no certain answer in time: ask again), then ships on it with no number given: the carrier
    issued exactly one number per parcel despite answers lost after issue, 5xx and rate limits, and Taobao
    is told that number."""
    hub = channel_hub
    for url in hub.sims.values():
        httpx.post(f"{url}/__sim/faults", json={})
    httpx.post(f"{hub.carrier}/__sim/faults", json={"timeout_after_issue": 0.25, "server_error": 0.15,
                                                     "rate_limit": 0.15, "hang_seconds": 1.0, "seed": 3})
    with hub.dbs["order"].reader() as s:
        picked = s.execute(select(orders_table.c.id, orders_table.c.external_order_id).where(
            orders_table.c.channel == "taobao", orders_table.c.status == "reserved",
            orders_table.c.merge_group.is_(None)).limit(6)).all()
    assert len(picked) >= 3
    numbers = {}
    with hub.client("warehouse") as c:
        for order in picked:
            for _ in range(20):
                r = c.post(f"/orders/{order.id}/waybill")
                if r.status_code == 200:
                    break
                assert r.status_code in (409, 503), r.text
            assert r.status_code == 200 and r.json()["status"] == "issued", r.text
            numbers[order.external_order_id] = r.json()["tracking_number"]
            assert c.post(f"/orders/{order.id}/waybill").json()["tracking_number"] == numbers[order.external_order_id]
            shipped = c.post(f"/orders/{order.id}/shipment", json={})
            assert shipped.status_code == 200, shipped.text
            assert shipped.json()["shipment"]["tracking_number"] == numbers[order.external_order_id]
    httpx.post(f"{hub.carrier}/__sim/faults", json={})
    stats = httpx.get(f"{hub.carrier}/__sim/stats").json()
    assert sum(stats["faults"].values()) > 0
    assert stats["objects_with_more_than_one"] == [] and stats["issued"] == len(picked)
    assert sorted(w["waybill_code"] for w in httpx.get(f"{hub.carrier}/__sim/waybills").json()) == \
        sorted(numbers.values())

    def confirmed():
        told = {str(s["tid"]): s["waybill"] for s in httpx.get(f"{hub.sims['taobao']}/__sim/shipments").json()}
        return all(told.get(tid) == number for tid, number in numbers.items())
    wait_for(confirmed, 60, 0.5, "the waybills confirmed on Taobao")



def _hub_order(hub, platform: str, external_id: str):
    with hub.dbs["order"].reader() as s:
        return s.execute(select(orders_table).where(orders_table.c.channel == platform,
                                                    orders_table.c.external_order_id == external_id)).first()


def test_refunds_pulled_from_each_platform_intercept_before_shipping_and_credit_after(channel_hub):
    """A refund that succeeded on the platform reaches the hub from the connector's refund pull: before
    shipping its line is intercepted (never shipped: its reservation refunded), after shipping without
    goods back it posts the credit (sales_refund), with goods back it becomes one return document (RMA)
    however often it is read, which the warehouse receives, inspects and settles; a refund closed on the
    platform changes nothing."""
    for url in channel_hub.sims.values():
        httpx.post(f"{url}/__sim/faults", json={"repeat_records": 0.3, "seed": 11})
    for platform, shop in (("taobao", "tb-main"), ("jd", "jd-main")):
        seen = _refunds_pulled(channel_hub, platform, shop)
        assert seen["before shipping"] == "refunded", platform  # the line's reservation: never ships
        assert seen["after shipping"] == ("refund_only", "channel", "sales_refund", Decimal("5.00")), platform
        assert seen["closed"] == [], platform
        rma = seen["with goods back"]
        assert rma["external_id"] == f"{platform}.{shop}.{rma['platform_refund']}", platform
        assert rma["settled"] == "refunded" and rma["rmas"] == 1, platform
        assert rma["connector"] == ("applied", "rma", rma["id"]), platform


def _refunds_pulled(hub, platform: str, shop: str) -> dict:
    """Four refunds made on the platform's simulator (before shipping, after, closed, with goods back),
    pulled by the connector; what became of each in the hub."""
    from services.order.models import order_lines, order_refunds, rmas
    made = httpx.post(f"{hub.sims[platform]}/__sim/orders/generate", json={
        "shop": shop, "count": 8, "seed": 700, "paid_ratio": 1.0}, timeout=30).json()["orders"]
    if platform == "taobao":
        picked = [(str(o["tid"]), o["orders"]["order"][0]["oid"], "oid", "tid") for o in made[:4]]
    else:
        picked = [(o["orderId"], o["itemInfoList"][0]["skuId"], "skuId", "orderId") for o in made
                  if all(i["skuId"] != UNMAPPED_JD_SKU for i in o["itemInfoList"])][:4]
    (before, before_line, line_key, order_key), (after, after_line, _, _), (closed, closed_line, _, _), \
        (goods, goods_line, _, _) = picked
    wait_for(lambda: all(_hub_order(hub, platform, x) is not None and _hub_order(hub, platform, x).status
                         == "reserved" for x in (before, after, closed, goods)), 60, 0.3, f"{platform} orders reserved")
    with hub.client("warehouse") as c:
        for shipped in (after, goods):
            reply = c.post(f"/orders/{_hub_order(hub, platform, shipped).id}/shipment",
                           json={"carrier": "SF", "tracking_number": f"SF{shipped[-8:]}77"})
            assert reply.status_code == 200, reply.text

    def refund(external_id, line, **extra) -> str:
        reply = httpx.post(f"{hub.sims[platform]}/__sim/refunds", timeout=10, json={
            order_key: int(external_id) if platform == "taobao" else external_id, line_key: line, **extra})
        assert reply.status_code == 200, reply.text
        return str(reply.json()["refund_id"])
    refund(before, before_line, status="success")
    refund(after, after_line, fee="5.00", status="success")
    refund(closed, closed_line, fee="5.00", status="closed")
    goods_refund = refund(goods, goods_line, has_good_return=True, status="success")  # the whole line back

    hub_before, hub_after = _hub_order(hub, platform, before), _hub_order(hub, platform, after)

    def reservation():
        with hub.dbs["order"].reader() as s:
            return s.execute(select(order_lines.c.reservation).where(
                order_lines.c.order_id == hub_before.id, order_lines.c.line_no == 1)).scalar()
    wait_for(lambda: reservation() == "refunded", 60, 0.3, f"the {platform} line refunded before shipping intercepted")
    seen: dict = {"before shipping": reservation()}

    def refunded_after():
        with hub.dbs["order"].reader() as s:
            return s.execute(select(order_refunds.c.id, order_refunds.c.kind, order_refunds.c.source).where(
                order_refunds.c.order_id == hub_after.id)).all()
    [(refund_id, kind, source)] = wait_for(refunded_after, 60, 0.3, f"the {platform} refund after shipping")
    with hub.client("admin") as admin:
        [credit] = wait_for(lambda: admin.get("/accounting/vouchers", params={"source_id": refund_id})
                            .json()["vouchers"] or None, 60, 0.3, "the credit voucher")
        receivable = sum(Decimal(l["credit"]) - Decimal(l["debit"]) for l in credit["lines"]
                         if l["account"] == "1122")
        seen["after shipping"] = (kind, source, credit["kind"], receivable)
        # the line refunded before shipping never ships: the order is cancelled or ships without it
        order = admin.get(f"/orders/{hub_before.id}").json()
        assert order["lines"][0]["refund_status"] in (None, "success", "requested")
    assert _hub_order(hub, platform, before).status in ("cancelled", "reserved")
    with hub.dbs["order"].reader() as s:  # the closed refund changed nothing
        seen["closed"] = s.execute(select(order_refunds.c.id).where(
            order_refunds.c.order_id == _hub_order(hub, platform, closed).id)).all()

    # the refund with goods back: one RMA of the whole line by its platform id, read again and again
    hub_goods = _hub_order(hub, platform, goods)

    def returns():
        with hub.dbs["order"].reader() as s:
            return s.execute(select(rmas.c.id, rmas.c.external_id).where(rmas.c.order_id == hub_goods.id)).all()
    [(rma_id, external_id)] = wait_for(returns, 60, 0.3, f"the {platform} refund with goods back as an RMA")
    with hub.dbs["order"].reader() as s:
        warehouse = s.execute(select(order_lines.c.warehouse).where(order_lines.c.order_id == hub_goods.id,
                                                                    order_lines.c.line_no == 1)).scalar()
    with hub.client("warehouse") as floor, hub.client("sales") as sales:
        rma = floor.get(f"/rmas/{rma_id}").json()
        assert rma["kind"] == "return" and rma["status"] == "requested", rma
        scans = [{"sku": line["sku"], "quantity": line["quantity"]} for line in rma["lines"]]
        received = floor.post(f"/rmas/{rma_id}/receive", json={"warehouse": warehouse, "scans": scans})
        assert received.status_code == 200, received.text
        inspected = floor.post(f"/rmas/{rma_id}/inspect", json={"lines": [
            {"line_no": line["line_no"], "resellable": line["quantity"]} for line in rma["lines"]]})
        assert inspected.status_code == 200, inspected.text
        settled = sales.post(f"/rmas/{rma_id}/settle")
        assert settled.status_code == 200, settled.text
    from connectors.shops import store
    from hubkit.db import Database
    r, shops_db = store.refunds, Database(hub.shops_url, store.metadata)
    try:
        with shops_db.reader() as s:  # applied once, as the RMA; the overlapping pulls read it again
            applied = s.execute(select(r.c.outcome, r.c.kind, r.c.hub_refund_id).where(
                r.c.platform == platform, r.c.refund_id == goods_refund)).one()
    finally:
        shops_db.dispose()
    seen["with goods back"] = {"id": rma_id, "external_id": external_id, "platform_refund": goods_refund,
                               "settled": settled.json()["status"], "rmas": len(returns()),
                               "connector": tuple(applied)}
    return seen


def _split_order(hub, channel, external_ids):
    """A reserved order of the channel among these, shipping alone, of at least two units (lines, or a line
    of two)."""
    from sqlalchemy import func

    from services.order.models import order_lines
    with hub.dbs["order"].reader() as s:
        units = (select(func.sum(order_lines.c.quantity)).where(order_lines.c.order_id == orders_table.c.id)
                 .scalar_subquery())
        order = s.execute(select(orders_table.c.id, orders_table.c.shop, orders_table.c.external_order_id).where(
            orders_table.c.channel == channel, orders_table.c.status == "reserved",
            orders_table.c.merge_group.is_(None), orders_table.c.exchange_rate.is_(None), units >= 2,
            orders_table.c.external_order_id.in_(sorted(external_ids)))
            .order_by(orders_table.c.created_at).limit(1)).first()
        if order is None:
            return None
        lines = s.execute(select(order_lines.c.line_no, order_lines.c.quantity).where(
            order_lines.c.order_id == order.id).order_by(order_lines.c.line_no)).all()
    return order, [(l.line_no, l.quantity) for l in lines]


def _parcels(lines):
    """Two parcels: the first line's first unit, then the rest."""
    (first, qty), rest = lines[0], lines[1:]
    one = [{"line_no": first, "quantity": 1}]
    two = ([{"line_no": first, "quantity": qty - 1}] if qty > 1 else []) + \
        [{"line_no": n, "quantity": q} for n, q in rest]
    return one, two


def test_a_partial_shipment_is_confirmed_to_both_platforms_with_the_right_lines(channel_hub):
    """Each platform's order ships in two parcels, each on its own waybill: Taobao is told each parcel
    with its sub-orders (oid; a sub-order split over parcels goes with its first), JD (one shipment per
    order, every waybill in it) once, with both parcels' carriers and waybills."""
    hub = channel_hub
    for url in [*hub.sims.values(), hub.carrier]:
        httpx.post(f"{url}/__sim/faults", json={})
    mine = {}  # orders of its own, untouched by the other tests' churn (a JD order locked does not ship)
    for platform, shop, key in (("taobao", "tb-main", "tids"), ("jd", "jd-main", "orderIds")):
        reply = httpx.post(f"{hub.sims[platform]}/__sim/orders/generate",
                           json={"shop": shop, "count": 8, "seed": 77, "paid_ratio": 1.0}, timeout=30)
        assert reply.status_code == 200, reply.text
        mine[platform] = {str(i) for i in reply.json()[key]}
    from connectors.shops.store import metadata, published
    from hubkit.db import Database
    db = Database(hub.env["HUB_SHOPS_DB_URL"], metadata)
    try:
        with hub.client("warehouse") as c:
            # Taobao: each parcel on its own waybill from the carrier (parcel 1 and 2 of the order)
            order, lines = wait_for(lambda: _split_order(hub, "taobao", mine["taobao"]), 90, 0.5,
                                    "a Taobao order of two units")
            numbers = []
            for n, parcel in enumerate(_parcels(lines), start=1):
                w = c.post(f"/orders/{order.id}/waybill", params={"parcel": n})
                assert w.status_code == 200 and w.json()["parcel_key"] == f"{order.id}-P{n}", w.text
                numbers.append(w.json()["tracking_number"])
                shipped = c.post(f"/orders/{order.id}/shipment", json={"lines": parcel})
                assert shipped.status_code == 200, shipped.text
                assert shipped.json()["parcels"][-1]["tracking_number"] == numbers[-1]
            assert len(set(numbers)) == 2 and shipped.json()["status"] == "shipped"
            with db.reader() as s:
                oids = json.loads(s.execute(select(published.c.line_ids).where(
                    published.c.platform == "taobao", published.c.external_order_id == order.external_order_id))
                    .scalar())
            one, two = _parcels(lines)
            want = [(numbers[0], sorted({int(oids[l["line_no"] - 1]) for l in one}))]
            rest = sorted({int(oids[l["line_no"] - 1]) for l in two} - set(want[0][1]))
            if rest:
                want.append((numbers[1], rest))

            def told_taobao():
                got = [(s["waybill"], sorted(s["oids"])) for s in httpx.get(f"{hub.sims['taobao']}/__sim/shipments")
                       .json() if str(s["tid"]) == order.external_order_id]
                return got if len(got) == len(want) else None
            assert wait_for(told_taobao, 60, 0.5, "the parcels confirmed on Taobao") == want

            # JD: two parcels with carriers of their own; JD is told once, with both
            order, lines = wait_for(lambda: _split_order(hub, "jd", mine["jd"]), 90, 0.5, "a JD order of two units")
            one, two = _parcels(lines)
            zto, sf = "ZT" + order.external_order_id[-8:], "SF" + order.external_order_id[-8:]
            r = c.post(f"/orders/{order.id}/shipment", json={"carrier": "ZTO", "tracking_number": zto, "lines": one})
            assert r.status_code == 200 and r.json()["status"] == "partly_shipped", r.text
            r = c.post(f"/orders/{order.id}/shipment", json={"carrier": "SF", "tracking_number": sf, "lines": two})
            assert r.status_code == 200 and r.json()["status"] == "shipped", r.text

            def told_jd():
                got = [s for s in httpx.get(f"{hub.sims['jd']}/__sim/shipments").json()
                       if str(s["orderId"]) == order.external_order_id]
                return got or None
            [jd] = wait_for(told_jd, 60, 0.5, "the parcels confirmed on JD")
            assert jd["parcels"] == [{"logiCoprId": "1499", "logiNo": zto}, {"logiCoprId": "467", "logiNo": sf}]
    finally:
        db.dispose()
