"""A platform refund with goods back as a return document (RMA): which hub lines and how many units come
back (the platforms say no quantity), the RMA's stable external id, and what is held and why. The order
service is the boundary (a recording CreateRma); a SQLite store of the connector."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal

import pytest
from sqlalchemy import select

from connectors.shops import core, refunds, store
from hub import components
from hubkit.db import Database, dialect_insert


@pytest.fixture
def db(tmp_path):
    url = f"sqlite:///{tmp_path / 'shops.db'}"
    components.migrate("shops", url)
    database = Database(url, store.metadata)
    yield database
    database.dispose()


def _publish(db, external_id: str, line_ids, paid, quantities, goods) -> None:
    with db.session() as s:
        s.execute(dialect_insert(s, store.published).values(
            platform="taobao", shop="tb-main", external_order_id=external_id, version=1,
            line_ids=json.dumps(line_ids), line_amounts=json.dumps(paid),
            line_quantities=json.dumps(quantities), line_goods=json.dumps(goods)))


def _refund(db, refund_id: str, external_id: str, line_id: str, amount: str, goods_return: bool = True) -> None:
    refunds.record(db, core.PlatformRefund("taobao", "tb-main", refund_id, external_id, line_id, Decimal(amount),
                                           "success", goods_return, "SUCCESS", datetime.now(timezone.utc)))


class Hub:
    def __init__(self, answer: refunds.Applied | None = None):
        self.answer, self.calls = answer, []

    def refund(self, *args) -> refunds.Applied:
        raise AssertionError("a refund with goods back is no refund-only")

    def rma(self, platform, shop, external_order_id, lines, reason, external_id, command) -> refunds.Applied:
        self.calls.append((external_order_id, lines, external_id, command))
        return self.answer or refunds.Applied("applied", kind="rma", hub_refund_id="r" * 32)


def test_the_whole_line_comes_back_when_the_amount_is_its_goods_or_its_paid_also_as_a_combination(db):
    # platform line A is a combination: two hub lines (2 and 4 units); line B one hub line
    _publish(db, "T1", ["A", "A", "B"], ["12.00", "8.00", "5.00"], [2, 4, 1], ["11.00", "7.00", "5.00"])
    assert refunds.returned_lines(db, "taobao", "tb-main", "T1", "A", Decimal("18.00")) == [(1, 2), (2, 4)]
    assert refunds.returned_lines(db, "taobao", "tb-main", "T1", "A", Decimal("20.00")) == [(1, 2), (2, 4)]
    assert refunds.returned_lines(db, "taobao", "tb-main", "T1", "B", Decimal("5.00")) == [(3, 1)]
    part = refunds.returned_lines(db, "taobao", "tb-main", "T1", "A", Decimal("9.00"))
    assert isinstance(part, str) and "9.00" in part and "says no quantity" in part
    assert "no line C" in refunds.returned_lines(db, "taobao", "tb-main", "T1", "C", Decimal("1.00"))
    assert refunds.returned_lines(db, "taobao", "tb-main", "T9", "A", Decimal("1.00")) is None  # not published
    _publish(db, "T2", ["A"], ["5.00"], [], [])  # published before the quantities were kept
    assert "published before" in refunds.returned_lines(db, "taobao", "tb-main", "T2", "A", Decimal("5.00"))


def test_the_rma_external_id_is_stable_and_fits_the_order_services_code():
    assert refunds.rma_external_id("taobao", "tb-main", "9001") == "taobao.tb-main.9001"
    odd = refunds.rma_external_id("jd", "京东 旗舰店", "77")
    assert odd == refunds.rma_external_id("jd", "京东 旗舰店", "77") != refunds.rma_external_id("jd", "京东 旗舰店", "78")
    long = refunds.rma_external_id("taobao", "s" * 64, "1")
    for made in (odd, long):
        assert refunds.RMA_CODE.match(made) and len(made) <= 64


def test_a_refund_with_goods_back_is_one_rma_applied_and_what_cannot_be_one_is_held_with_why(db):
    _publish(db, "T1", ["A", "B"], ["10.00", "6.00"], [3, 1], ["9.00", "6.00"])
    _refund(db, "R1", "T1", "A", "9.00")
    _refund(db, "R2", "T1", "B", "2.00")
    hub = Hub()
    assert refunds.apply_due(db, "taobao", {"tb-main"}, hub.refund, hub.rma) == \
        {"applied": 1, "retry": 0, "held": 1, "superseded": 0}
    assert hub.calls == [("T1", [(1, 3)], "taobao.tb-main.R1", "rma:taobao:tb-main:R1")]
    assert refunds.apply_due(db, "taobao", {"tb-main"}, hub.refund, hub.rma)["applied"] == 0  # applied once
    r, x = store.refunds, store.exceptions
    with db.reader() as s:
        rows = {row.refund_id: row for row in s.execute(select(r))}
        held = s.execute(select(x.c.external_order_id, x.c.reason, x.c.detail)).all()
    assert (rows["R1"].outcome, rows["R1"].kind, rows["R1"].hub_refund_id) == ("applied", "rma", "r" * 32)
    assert rows["R2"].outcome == "held"
    [(key, reason, detail)] = held
    assert (key, reason) == ("refund:R2", "refund_with_return") and "says no quantity" in detail


def test_an_rma_the_order_service_refuses_is_held_with_its_message_and_one_not_there_yet_waits(db):
    _publish(db, "T1", ["A"], ["10.00"], [1], ["10.00"])
    _refund(db, "R1", "T1", "A", "10.00")
    refused = Hub(refunds.Applied("refused", "order o1 is reserved; only shipped goods can come back"))
    assert refunds.apply_due(db, "taobao", {"tb-main"}, refused.refund, refused.rma)["held"] == 1
    with db.reader() as s:
        [(reason, detail)] = s.execute(select(store.exceptions.c.reason, store.exceptions.c.detail)).all()
    assert reason == "refund_refused" and "only shipped goods can come back" in detail
    _refund(db, "R2", "T2", "A", "10.00")  # its order not published yet: tried again later, with a back-off
    assert refunds.apply_due(db, "taobao", {"tb-main"}, refused.refund, refused.rma)["retry"] == 1
    with db.reader() as s:
        row = s.execute(select(store.refunds).where(store.refunds.c.refund_id == "R2")).one()
    assert row.outcome == "pending" and row.attempts == 1 and row.next_attempt_at.replace(
        tzinfo=timezone.utc) > datetime.now(timezone.utc)


def test_without_an_rma_maker_a_refund_with_goods_back_is_held_as_before(db):
    _publish(db, "T1", ["A"], ["10.00"], [1], ["10.00"])
    _refund(db, "R1", "T1", "A", "10.00")
    hub = Hub()
    assert refunds.apply_due(db, "taobao", {"tb-main"}, hub.refund)["held"] == 1
    with db.reader() as s:
        assert s.execute(select(store.exceptions.c.reason)).scalar() == "refund_with_return"


def test_a_refund_settled_in_the_second_it_was_read_moves_on_and_never_back(db):
    _publish(db, "T1", ["A"], ["10.00"], [1], ["10.00"])
    at = datetime(2026, 1, 1, 10, 0, 0, tzinfo=timezone.utc)  # Taobao's modified: whole seconds

    def seen(status: str) -> str:
        return refunds.record(db, core.PlatformRefund("taobao", "tb-main", "R1", "T1", "A", Decimal("10.00"), status,
                                                      False, status.upper(), at))
    assert seen("waiting") == "new"
    assert seen("waiting") == "duplicate"
    assert seen("success") == "newer"  # settled within the same second
    assert seen("success") == "duplicate" and seen("waiting") == "duplicate" and seen("closed") == "duplicate"
    with db.reader() as s:
        assert s.execute(select(store.refunds.c.outcome)).scalar() == "pending"
