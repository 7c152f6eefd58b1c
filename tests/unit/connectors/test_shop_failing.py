"""A shop whose pulls fail is announced (shop_failing, for the notifier) under one event id per fall
into error, at every failed pull while in error, so a notice the broker lost is sent again and the
notifier tells once; a shop that recovers and fails again is news. A publish that fails never stops
the pull's bookkeeping. A batch of stock changes is applied in SKU order."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from connectors.shops import runner, store
from connectors.shops.platform import PlatformError, Shop
from contracts import ShopFailing, StockChanged
from hub import components
from hubkit import clock
from hubkit.db import Database

SHOP = Shop(platform="taobao", shop="tea-flagship", access_token="a")


class Refusing:
    def orders_modified(self, shop, start, end):
        raise PlatformError("isv.session-expired")


class Broker:
    def __init__(self, away=False):
        self.sent, self.away = [], away

    def publish(self, envelope, mandatory=True):
        if self.away:
            raise ConnectionError("broker away")
        assert mandatory is False  # a hub without a notifier routes it nowhere
        self.sent.append(envelope)


def _connector(tmp_path, publisher) -> runner.ShopConnector:
    url = f"sqlite:///{tmp_path / 'shops.db'}"
    components.migrate("shops", url)
    db = Database(url, store.metadata)
    with db.session() as s:
        s.execute(store.shops.insert().values(platform="taobao", shop=SHOP.shop,
                                              watermark=clock.now() - timedelta(hours=1)))
    connector = runner.ShopConnector.__new__(runner.ShopConnector)  # no broker, no platform: what pull uses
    connector.platform, connector.client, connector.db, connector.publisher = "taobao", Refusing(), db, publisher
    connector.deep_pull = {}
    return connector


def test_a_failing_shop_is_announced_under_one_id_per_fall_into_error(tmp_path):
    broker = Broker(away=True)
    connector = _connector(tmp_path, broker)
    assert connector.pull(SHOP)["error"] == "isv.session-expired"  # the broker away: the pull still records it
    broker.away = False
    connector.pull(SHOP)
    connector.pull(SHOP)
    first, again = broker.sent
    assert first.event_id == again.event_id and first.type == "shop_failing"
    event = ShopFailing.model_validate(first.payload)
    assert (event.connector, event.shop, event.error) == ("shops_taobao", SHOP.shop, "isv.session-expired")

    with connector.db.session() as s:  # it recovered (a pull that went through clears error_since), then failed
        s.execute(update(store.shops).values(error_since=None))
    connector.pull(SHOP)
    assert broker.sent[-1].event_id != first.event_id


def test_the_shop_gauges_show_the_lag_growing_and_the_error_while_pulls_fail(tmp_path):
    """hub_shop_ingest_lag_seconds and hub_shop_in_error, read from the shop's row at scrape time: a
    failing shop's watermark stays put, so its lag keeps the hour it trails by."""
    connector = _connector(tmp_path, Broker())

    def gauges():
        return {f.name: {s.labels["shop"]: s.value for s in f.samples}
                for f in runner.shop_gauges(connector.db, "taobao")}
    before = gauges()
    assert before["hub_shop_in_error"] == {SHOP.shop: 0}
    assert 3590 < before["hub_shop_ingest_lag_seconds"][SHOP.shop] < 3700
    connector.pull(SHOP)
    after = gauges()
    assert after["hub_shop_in_error"] == {SHOP.shop: 1}
    assert after["hub_shop_ingest_lag_seconds"][SHOP.shop] >= before["hub_shop_ingest_lag_seconds"][SHOP.shop]


def test_a_batch_of_stock_changes_applies_the_newest_of_each_sku_in_sku_order(tmp_path):
    # both platforms' connectors write hub_available: rows taken in one order cannot deadlock
    connector, applied = _connector(tmp_path, Broker()), []
    connector.push_asked = False
    batch = [(StockChanged(sku=sku, levels=[], available=n), StockChanged(sku=sku, levels=[], available=n).envelope(
        aggregate_id=sku, sequence=n, correlation_id="", actor="inventory"))
        for sku, n in (("TEA", 1), ("CUP", 1), ("TEA", 2), ("BAG", 1))]
    outcomes = connector._apply("shops.shops_taobao.stock_changed",
                                lambda uow, event, envelope: applied.append((event.sku, event.available)),
                                lambda event: event.sku, batch)
    assert applied == [("BAG", 1), ("CUP", 1), ("TEA", 2)]
    assert outcomes == [True] * 4 and connector.push_asked  # each recorded as applied; a push round is due
