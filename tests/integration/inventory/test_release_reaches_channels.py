"""A shop order rejected or cancelled in the hub: the platforms document no seller-side cancel of a
paid trade (so the order service only notes it, see test_bulk_hold_and_channel_cancel), but the stock
it released does reach the channels. Inventory's release (order_cancelled) emits stock_changed with
the SKU's available restored, and the shop connector, applying those events as its consumer does,
owes and then pushes each shop its share of the restored quantity (PostgreSQL and SQLite for
inventory, SQLite for the connector's store)."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from sqlalchemy import select, update

from connectors.shops import store
from connectors.shops.platform import PlatformClient, Shop
from connectors.shops.runner import HANDLERS, ShopConnector
from contracts import StockChanged
from hub import components
from hubkit import events
from hubkit.db import Database
from hubkit.envelope import Envelope
from hubkit.errors import Conflict
from services.inventory import reservations
from services.inventory.models import metadata

pytestmark = pytest.mark.integration
SETTINGS = SimpleNamespace(amqp_uri="amqp://guest:guest@127.0.0.1:1/none",  # never connected in this test
                           consumer_max_attempts=3, retry_base_seconds=1.0, retry_max_seconds=5.0)


class Platform:
    """The connector's platform client: records the sellable quantities pushed."""

    def __init__(self):
        self.pushed: list[tuple[str, str, int]] = []

    def push_stock(self, shop: Shop, platform_ref: str, quantity: int) -> None:
        self.pushed.append((shop.shop, platform_ref, quantity))

    push_stocks = PlatformClient.push_stocks  # one call each, as on a platform that takes no batch


def stock_changed(inv, sku: str) -> list[Envelope]:
    """The stock_changed envelopes this test's commands wrote for `sku`, oldest first."""
    outbox = metadata.tables["outbox"]
    with inv.db.reader() as s:
        bodies = s.execute(select(outbox.c.body).where(outbox.c.event_type == "stock_changed")
                           .order_by(outbox.c.id)).scalars().all()
    return [e for e in map(Envelope.from_json, bodies) if e.payload["sku"] == sku]


def connector(tmp_path, sku: str) -> tuple[ShopConnector, Platform, Database]:
    url = f"sqlite:///{tmp_path / 'shops.db'}"
    components.migrate("shops", url)
    db = Database(url, store.metadata)
    platform = Platform()
    shops = [Shop("taobao", "tb-main", "tok", stock_ratio=0.5),
             Shop("taobao", "tb-outlet", "tok", stock_ratio=0.3, safety_buffer=2)]
    shop_connector = ShopConnector(SETTINGS, "taobao", platform, shops, {"TEE-OUTER": [{"sku": sku, "quantity": 1}]}, db)
    with db.session() as s:  # the platform's id of the SKU, as a pull learns it
        s.execute(update(store.sku_mappings).where(store.sku_mappings.c.outer_sku == "TEE-OUTER")
                  .values(platform_ref="6543210:1"))
    return shop_connector, platform, db


def deliver(shop_connector: ShopConnector, envelopes: list[Envelope]) -> None:
    """As the consumer delivers a batch of stock_changed: the connector's own handler and inbox."""
    [(contract, method, newest_of)] = [h for h in HANDLERS if h[0] is StockChanged]
    batch = [(events.parse(contract, e), e) for e in envelopes]
    outcomes = shop_connector._apply(f"shops_taobao.{contract.type}", getattr(shop_connector, method), newest_of,
                                     batch)
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes


def test_a_cancelled_shop_orders_released_stock_is_pushed_to_every_shop(inv, tmp_path):
    wh, sku = inv.warehouse("CHN"), inv.sku("TEE")
    inv.receive(sku, wh, 20, "5.00")
    shop_connector, platform, shops_db = connector(tmp_path, sku)
    deliver(shop_connector, stock_changed(inv, sku))
    assert shop_connector.push_tick() == 2
    assert sorted(platform.pushed) == [("tb-main", "6543210:1", 10), ("tb-outlet", "6543210:1", 5)]

    order_id, _ = inv.order([(sku, 8)])  # the shop's order reserves 8: the shops are told 12
    deliver(shop_connector, stock_changed(inv, sku))
    platform.pushed.clear()
    assert shop_connector.push_tick() == 2
    assert sorted(platform.pushed) == [("tb-main", "6543210:1", 6), ("tb-outlet", "6543210:1", 3)]

    inv.cancel(order_id)  # rejected or cancelled in the hub: order_cancelled releases the 8
    assert inv.level(sku, wh)["available"] == 20
    released = stock_changed(inv, sku)[-1]
    assert released.payload["available"] == 20
    deliver(shop_connector, stock_changed(inv, sku))  # the earlier ones again: duplicates, dropped
    platform.pushed.clear()
    assert shop_connector.push_tick() == 2
    assert sorted(platform.pushed) == [("tb-main", "6543210:1", 10), ("tb-outlet", "6543210:1", 5)]
    with shops_db.reader() as s:
        rows = s.execute(select(store.stock_pushes.c.version, store.stock_pushes.c.pushed_version)).all()
    assert rows and all(r.version == r.pushed_version == released.sequence for r in rows)
    assert shop_connector.push_tick() == 0  # nothing owed any more
    shops_db.dispose()


def test_a_line_refunded_before_shipment_is_released_and_the_rest_ships(inv, tmp_path):
    """order_lines_released (a line refunded before shipment): that line's reservation goes back to
    available and to the shops; the other line stays reserved and ships alone; the books-against-stock
    audit stays at zero. A release before inventory answered the order waits for it."""
    wh, tea, cup = inv.warehouse("CHN"), inv.sku("TEA"), inv.sku("CUP")
    inv.receive(tea, wh, 20, "5.00")
    inv.receive(cup, wh, 10, "3.00")
    shop_connector, platform, shops_db = connector(tmp_path, tea)
    early = inv.event("order_lines_released", {"order_id": "never-answered", "lines": [{"line_no": 1}]})
    with pytest.raises(reservations.PredecessorMissing):
        inv.run(reservations.release_lines, early)
    order_id, _ = inv.order([(tea, 8), (cup, 2)])
    assert inv.level(tea, wh)["available"] == 12
    inv.run(reservations.release_lines, inv.event("order_lines_released", {
        "order_id": order_id, "reason": "refunded on the platform",
        "lines": [{"line_no": 1, "sku": tea, "quantity": 8}]}))
    assert inv.level(tea, wh)["available"] == 20 and inv.level(tea, wh)["reserved"] == 0
    assert inv.level(cup, wh)["reserved"] == 2
    assert stock_changed(inv, tea)[-1].payload["available"] == 20
    deliver(shop_connector, stock_changed(inv, tea))
    assert shop_connector.push_tick() == 2
    assert sorted(platform.pushed) == [("tb-main", "6543210:1", 10), ("tb-outlet", "6543210:1", 5)]
    issued = inv.ship(order_id, [2])  # the order ships without the refunded line
    assert [(l["sku"], l["quantity"]) for l in issued] == [(cup, 2)]
    assert inv.level(tea, wh)["on_hand"] == 20 and inv.level(cup, wh)["on_hand"] == 8
    with pytest.raises(Conflict):  # the refunded line can no longer leave
        inv.ship(order_id, [1])
    assert inv.audit() == []
    shops_db.dispose()
