"""A shop connector handles a pulled window as one page: the versions it published before are read in one
query and skipped, the new ones are published in one confirm window, and what the broker confirmed is
recorded in one transaction, also when another publish of the same page failed (so that the next pull
publishes only the rest). The orders come from the Taobao-style simulator over real HTTP; the broker is
the boundary here (a recording publisher; tests/integration/test_publisher.py has the real one);
tests/e2e/test_channels.py drives the whole hub, faults included. A window reaches back two seconds
before the watermark, and two minutes first after a start and every thirty seconds. The shops' OAuth
pairs, which every API call names, are read from memory, and again from the database after a while."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from sqlalchemy import insert, select, update

from connectors.shops import config as shop_config
from connectors.shops import runner, store
from connectors.shops.platform import Shop
from connectors.shops.runner import ShopConnector, TokenStore
from connectors.shops.taobao import TaobaoClient
from hub import components
from hubkit.db import Database, as_utc
from hubkit.publisher import PublishFailed
from tests.e2e.test_channels import SHOPS
from tests.unit.simulators import running

pytestmark = pytest.mark.integration


class Publisher:
    """The broker's side, recorded, a window per call; the message numbered `fails_at` (counting from 1
    over every window) is refused as a full queue refuses one, the rest of its window confirmed."""

    def __init__(self, fails_at: int | None = None):
        self.fails_at, self.published, self.windows, self.seen = fails_at, [], [], 0

    def publish_many(self, envelopes, mandatory: bool = True) -> None:
        if envelopes:
            self.windows.append(len(envelopes))
        confirmed = set()
        for i, envelope in enumerate(envelopes):
            self.seen += 1
            if self.seen != self.fails_at:
                self.published.append(envelope)
                confirmed.add(i)
        if len(confirmed) < len(envelopes):
            raise PublishFailed("refused by the broker", frozenset(confirmed))

    def publish(self, envelope, mandatory: bool = True) -> None:
        self.publish_many([envelope], mandatory)

    def close(self) -> None:
        pass


def test_a_page_publishes_each_new_version_once_and_keeps_what_it_published_when_a_publish_fails(tmp_path):
    with running("simulators.taobao", tmp_path) as base:
        section = {**SHOPS["taobao"], "url": base, "shops": SHOPS["taobao"]["shops"][:1]}
        (tmp_path / "shops.json").write_text(json.dumps({"taobao": section}))
        cfg, shops, skus = shop_config.load(str(tmp_path / "shops.json"))["taobao"]
        url = f"sqlite:///{tmp_path / 'shops.db'}"
        components.migrate("shops", url)
        db = Database(url, store.metadata)
        client = TaobaoClient(cfg, TokenStore(db))
        connector = ShopConnector(shop_config.Settings(amqp_uri="amqp://nobody@127.0.0.1:1/none"), "taobao",
                                  client, shops, skus, db)
        shop = shops[0]
        made = httpx.post(f"{base}/__sim/orders/generate", timeout=10,
                          json={"shop": shop.shop, "count": 5, "seed": 7, "paid_ratio": 1.0}).json()["orders"]
        now = datetime.now(timezone.utc)
        page = sorted(client.orders_modified(shop, now - timedelta(hours=1), now + timedelta(minutes=1)),
                      key=lambda o: o.modified)
        assert sorted(o.external_order_id for o in page) == sorted(str(o["tid"]) for o in made)

        connector.publisher = failing = Publisher(fails_at=3)
        with pytest.raises(PublishFailed):
            connector.handle_page(shop, page, connector.mappings())
        connector.publisher = healthy = Publisher()
        outcomes = connector.handle_page(shop, page, connector.mappings())
        assert outcomes == ["duplicates"] * 2 + ["published"] + ["duplicates"] * 2  # only the refused one again
        assert connector.handle_page(shop, page, connector.mappings()) == ["duplicates"] * 5
        assert failing.windows == [5] and healthy.windows == [1]  # a page is one confirm window

        keys = [f"taobao:{shop.shop}:{o.external_order_id}" for o in page]
        assert [e.aggregate_id for e in failing.published] == keys[:2] + keys[3:]
        assert [e.aggregate_id for e in healthy.published] == [keys[2]]
        with db.reader() as s:
            kept = dict(s.execute(select(store.published.c.external_order_id, store.published.c.version)).all())
        assert kept == {o.external_order_id: o.version for o in page}
        client.close()
        db.dispose()


def test_the_token_pair_is_read_from_memory_and_from_the_database_again_after_a_while(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'shops.db'}"
    components.migrate("shops", url)
    db = Database(url, store.metadata)
    shop, t = Shop("taobao", "tb-main", "configured", "configured-refresh"), store.shops
    with db.session() as s:
        s.execute(insert(t).values(platform="taobao", shop="tb-main", watermark=datetime.now(timezone.utc),
                                   access_token="a1", refresh_token="r1"))
    clock = [1000.0]
    monkeypatch.setattr(runner.time, "monotonic", lambda: clock[0])
    tokens = TokenStore(db)
    assert tokens.get(shop) == ("a1", "r1")
    with db.session() as s:  # another connector process renews the pair
        s.execute(update(t).values(access_token="a2", refresh_token="r2"))
    assert tokens.get(shop) == ("a1", "r1")
    clock[0] += runner.TOKEN_READ_SECONDS
    assert tokens.get(shop) == ("a2", "r2")
    tokens.save(shop, "a3", "r3")
    assert tokens.get(shop) == ("a3", "r3")
    with db.reader() as s:
        assert s.execute(select(t.c.access_token, t.c.refresh_token)).one() == ("a3", "r3")
    db.dispose()


class Windows:
    """A platform with nothing new, recording the windows it is asked for."""

    def __init__(self):
        self.asked: list[tuple[datetime, datetime]] = []

    def orders_modified(self, shop, start, end):
        self.asked.append((start, end))
        return []

    def refunds_modified(self, shop, start, end):
        return []


def _windowed(tmp_path) -> tuple[Database, Windows, Shop, ShopConnector]:
    """A connector of one shop on a platform that records the windows it is asked for."""
    url = f"sqlite:///{tmp_path / 'shops.db'}"
    components.migrate("shops", url)
    db, platform, shop = Database(url, store.metadata), Windows(), Shop("taobao", "tb-main", "a", "r")
    connector = ShopConnector(shop_config.Settings(amqp_uri="amqp://nobody@127.0.0.1:1/none"), "taobao", platform,
                              [shop], {}, db)
    return db, platform, shop, connector


def test_a_pull_reaches_back_two_seconds_and_every_thirty_seconds_two_minutes(tmp_path, monkeypatch):
    db, platform, shop, connector = _windowed(tmp_path)
    clock = [1000.0]
    monkeypatch.setattr(runner.time, "monotonic", lambda: clock[0])
    reach = []
    for step in (0.0, 0.5, 10.0, runner.DEEP_EVERY_SECONDS, 0.5):
        clock[0] += step
        with db.reader() as s:
            watermark = as_utc(s.execute(select(store.shops.c.watermark)).scalar_one())
        connector.pull(shop)
        reach.append(watermark - platform.asked[-1][0])
    # first after the start and again once DEEP_EVERY_SECONDS passed: the overlap; otherwise the settle time
    assert reach == [runner.OVERLAP, runner.SETTLE, runner.SETTLE, runner.OVERLAP, runner.SETTLE]
    db.dispose()


def test_a_shop_far_behind_is_pulled_a_window_after_another_until_it_caught_up(tmp_path):
    # a connector stopped for three hours: six windows of MAX_WINDOW, each reported behind so that the loop
    # pulls the next at once, then one up to now
    db, platform, shop, connector = _windowed(tmp_path)
    with db.session() as s:
        s.execute(update(store.shops).values(watermark=datetime.now(timezone.utc) - timedelta(hours=3)))
    behind = [connector.pull(shop)["behind"] for _ in range(7)]
    assert behind == [1] * 6 + [0]
    ends = [end for _, end in platform.asked]
    # each from the last one's end less the settle time, MAX_WINDOW long
    assert all(later - earlier == runner.MAX_WINDOW - runner.SETTLE for earlier, later in zip(ends, ends[1:6]))
    assert datetime.now(timezone.utc) - ends[-1] < runner.SETTLE + timedelta(seconds=5)
    db.dispose()
