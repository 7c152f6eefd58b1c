"""The shop connectors pull refunds from the Taobao-style and JD-style simulators (real HTTP, with rate
limits, 5xx, shifting pages and repeated records) into the connector's store, and each refund that
succeeded is handed to the hub exactly once by its platform refund id: over overlapping windows, a
second read of the same window, and a connector started again on the same store. A CLOSED or still
waiting refund is never applied (a waiting one is, once it succeeds); a refund with goods sent back of
the whole line becomes one return document (RMA) by a stable external id, one of part of the line (no
quantity said) is held as an exception. The order service is the boundary here (a recording refunder
and RMA maker); the e2e test (tests/e2e/test_channels.py) drives the real one."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from sqlalchemy import select

from connectors.shops import jd, refunds, store, taobao
from connectors.shops.jd import JdClient
from connectors.shops.platform import PlatformConfig, Shop, Transient
from connectors.shops.taobao import TaobaoClient
from hub import components
from hubkit.db import Database, dialect_insert
from simulators.jd import DEFAULT_CONFIG as JD
from simulators.taobao import DEFAULT_CONFIG as TB
from tests.unit.simulators import running

pytestmark = pytest.mark.integration
FAULTS = {"rate_limit": 0.05, "server_error": 0.1, "shift_pages": 0.15, "repeat_records": 0.3, "seed": 3}


class Tokens:
    def get(self, shop):
        return None

    def save(self, shop, access, refresh):
        raise AssertionError("no token expires in this test")


class Hub:
    """The order service's refund, as the connector sees it: records each call by its command id."""

    def __init__(self):
        self.calls: list[tuple[str, str, list]] = []

    def __call__(self, platform, shop, external_order_id, lines, reason, command) -> refunds.Applied:
        self.calls.append((command, external_order_id, lines))
        return refunds.Applied("applied", kind="intercept", hub_refund_id=f"h{len(self.calls)}")


class Returns:
    """The order service's CreateRma, as the connector sees it: records each call."""

    def __init__(self):
        self.calls: list[tuple[str, str, str, list]] = []

    def __call__(self, platform, shop, external_order_id, lines, reason, external_id, command) -> refunds.Applied:
        self.calls.append((command, external_id, external_order_id, lines))
        return refunds.Applied("applied", kind="rma", hub_refund_id=f"rma{len(self.calls)}")


def _setup(platform: str, base: str):
    if platform == "taobao":
        cfg, shop = TB, TB["shops"][0]
        client = TaobaoClient(PlatformConfig(base, cfg["app_key"], cfg["app_secret"], timeout_seconds=2,
                                             max_wait_seconds=0.2, attempts=12), Tokens())
        return client, Shop("taobao", shop["shop"], shop["session"])
    cfg, shop = JD, JD["shops"][0]
    client = JdClient(PlatformConfig(base, cfg["app_key"], cfg["app_secret"], timeout_seconds=2,
                                     max_wait_seconds=0.2, attempts=12), Tokens())
    return client, Shop("jd", shop["shop"], shop["access_token"])


def _pull(client, shop, start, end) -> list:
    """One window's refunds; a pass whose pages kept shifting fails, and the window is read again (the
    connector's next poll does so, its watermark unmoved)."""
    for _ in range(10):
        try:
            return client.refunds_modified(shop, start, end)
        except Transient:
            continue
    raise AssertionError("the window was never read whole")


def _refund(base: str, platform: str, order: dict, n: int, **extra) -> str:
    if platform == "taobao":
        body = {"tid": order["tid"], "oid": order["orders"]["order"][n]["oid"], **extra}
    else:
        body = {"orderId": order["orderId"], "skuId": order["itemInfoList"][n]["skuId"], **extra}
    reply = httpx.post(f"{base}/__sim/refunds", json=body, timeout=10)
    assert reply.status_code == 200, reply.text
    return str(reply.json()["refund_id"])


@pytest.mark.parametrize("platform", ["taobao", "jd"])
def test_refunds_pulled_under_faults_are_applied_once_by_their_platform_id(platform, tmp_path, monkeypatch):
    monkeypatch.setattr(taobao, "PAGE_SIZE", 2)  # several pages, for pages to shift and repeat
    monkeypatch.setattr(jd, "REFUND_PAGE_SIZE", 2)
    module = f"simulators.{platform}"
    with running(module, tmp_path) as base:
        client, shop = _setup(platform, base)
        shop_name = shop.shop
        generated = httpx.post(f"{base}/__sim/orders/generate", json={"shop": shop_name, "count": 8, "seed": 4,
                                                                      "paid_ratio": 1.0}, timeout=10).json()
        orders = generated["orders"]
        url = f"sqlite:///{tmp_path / 'shops.db'}"
        components.migrate("shops", url)
        db = Database(url, store.metadata)
        start = datetime.now(timezone.utc) - timedelta(minutes=5)
        # the orders as the connector published them: the platform line of each hub line, what was paid
        quantities: dict[str, int] = {}
        with db.session() as s:
            for order in client.orders_modified(shop, start, datetime.now(timezone.utc) + timedelta(seconds=5)):
                s.execute(dialect_insert(s, store.published).values(
                    platform=platform, shop=shop_name, external_order_id=order.external_order_id,
                    version=order.version, line_ids=json.dumps([line.line_id for line in order.lines]),
                    line_amounts=json.dumps([str(line.paid) for line in order.lines]),
                    line_quantities=json.dumps([line.quantity for line in order.lines]),
                    line_goods=json.dumps([str(line.paid - line.shipping) for line in order.lines])))
                quantities[order.external_order_id] = order.lines[0].quantity
        succeeded = [_refund(base, platform, o, 0, status="success") for o in orders[:4]]
        closed = _refund(base, platform, orders[4], 0, status="closed")
        waiting = _refund(base, platform, orders[5], 0)
        # goods back: the whole line (the default fee, what was paid for it), and part of it (no quantity said)
        with_goods = _refund(base, platform, orders[6], 0, has_good_return=True, status="success")
        part_back = _refund(base, platform, orders[7], 0, has_good_return=True, fee="1.00", status="success")
        # JD draws one fault kind per call (shift_pages among them), Taobao shifts beside the others
        faults = {**FAULTS, "shift_pages": 0.3} if platform == "jd" else {**FAULTS, "ban_seconds": 0}
        assert httpx.post(f"{base}/__sim/faults", json=faults).status_code == 200

        hub, returns = Hub(), Returns()
        mid = datetime.now(timezone.utc) + timedelta(seconds=2)
        end = mid + timedelta(seconds=30)
        for window in ((start, mid), (mid - timedelta(minutes=2), end), (start, end)):  # overlapping windows
            for refund in _pull(client, shop, *window):
                refunds.record(db, refund)
            refunds.apply_due(db, platform, {shop_name}, hub, returns)
        # the connector started again on the same store, reading the same window
        client.close()
        db.dispose()
        client, shop = _setup(platform, base)
        db = Database(url, store.metadata)
        for refund in _pull(client, shop, start, end):  # known (a shift may have touched it: newer)
            assert refunds.record(db, refund) in ("duplicate", "newer")
        refunds.apply_due(db, platform, {shop_name}, hub, returns)

        commands = [c for c, _, _ in hub.calls]
        assert sorted(commands) == sorted(f"refund:{platform}:{shop_name}:{r}" for r in succeeded)  # once each
        for _, external_id, lines in hub.calls:  # the line's hub line number, with the platform's amount
            assert len(lines) == 1 and lines[0][0] == 1 and lines[0][1] > 0, (external_id, lines)
        r = store.refunds
        with db.reader() as s:
            outcome = dict(s.execute(select(r.c.refund_id, r.c.outcome)).all())
            held = s.execute(select(store.exceptions.c.external_order_id, store.exceptions.c.reason)).all()
        # a JD application is listed once checked: the waiting one is not seen yet
        assert outcome[closed] == "closed" and outcome.get(waiting, "waiting") == "waiting"
        # the whole line back: one RMA of its hub line and quantity, by an id stable over repeats
        goods_order = str(orders[6]["tid"] if platform == "taobao" else orders[6]["orderId"])
        assert returns.calls == [(f"rma:{platform}:{shop_name}:{with_goods}", f"{platform}.{shop_name}.{with_goods}",
                                  goods_order, [(1, quantities[goods_order])])]
        with db.reader() as s:
            applied = s.execute(select(r.c.outcome, r.c.kind, r.c.hub_refund_id).where(r.c.refund_id == with_goods)).one()
        assert tuple(applied) == ("applied", "rma", "rma1")
        # part of the line back, the platform saying no quantity: held with why
        assert outcome[part_back] == "held"
        assert held == [(refunds.exception_key(part_back), "refund_with_return")]

        fired = httpx.get(f"{base}/__sim/stats").json()["faults"]
        assert fired["repeat_records"] > 0 and fired["shift_pages"] > 0, fired  # the faults really happened
        # the waiting refund succeeds later: applied then, once
        assert httpx.post(f"{base}/__sim/refunds/{waiting}/settle", json={"status": "success"}).status_code == 200
        for _ in range(2):
            for refund in _pull(client, shop, start, datetime.now(timezone.utc) + timedelta(seconds=5)):
                refunds.record(db, refund)
            refunds.apply_due(db, platform, {shop_name}, hub, returns)
        assert len(returns.calls) == 1
        assert [c for c, _, _ in hub.calls].count(f"refund:{platform}:{shop_name}:{waiting}") == 1
        client.close()
        db.dispose()


def test_an_unreadable_refund_is_held_once_and_the_pull_goes_on(tmp_path):
    url = f"sqlite:///{tmp_path / 'shops.db'}"
    components.migrate("shops", url)
    db = Database(url, store.metadata)
    client, shop = _setup("taobao", "http://127.0.0.1:1")  # never called
    broken = client.refund(shop, {"refund_id": 80000000000042, "status": "SUCCESS", "modified": "2026-01-01 10:00:00"})
    assert refunds.record(db, broken) == "new"
    assert refunds.record(db, broken) == "duplicate"
    assert refunds.apply_due(db, "taobao", {shop.shop}, Hub()) == {"applied": 0, "retry": 0, "held": 0, "superseded": 0}
    with db.reader() as s:
        held = s.execute(select(store.exceptions.c.external_order_id, store.exceptions.c.reason)).all()
    assert held == [("refund:80000000000042", "refund_missing_field")]
    client.close()
    db.dispose()
