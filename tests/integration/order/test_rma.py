"""RMAs on PostgreSQL and SQLite (services.order.rma): two RMAs of single units of a line paid 55.00 for 2
refund 27.50 each through order_refunded, the inspection's order_returned defers the refund and carries
the damaged units; the same external id is the same RMA; an exchange places a zero-price replacement."""
from __future__ import annotations

from decimal import Decimal

import pytest

from hubkit.errors import Conflict, InvalidArgument
from services.order import domain, handlers, rma
from tests.integration.order.test_refunds import events, placed, uow

pytestmark = pytest.mark.integration
D = Decimal


def shipped(db) -> str:
    order_id = placed(db)
    with uow(db, "floor") as u:
        handlers.ship_order(u, order_id, "SF", "SF1234567")
    return order_id


def through(db, order_id, kind="return", external_id="", damaged=0) -> str:
    with uow(db) as u:
        rma_id, _ = rma.create(u, order_id, kind, [rma.RmaLine(1, 1)], "dented", external_id)
    with uow(db, "floor") as u:
        rma.receive(u, rma_id, "WH1", [rma.Scan("TEA")])
    with uow(db, "floor") as u:
        rma.inspect(u, rma_id, [rma.Inspection(1, 1 - damaged, damaged, "scrap" if damaged else "")])
    with uow(db) as u:
        rma.settle(u, rma_id, lambda u2, cmd: handlers.place_order(u2, cmd)[0])
    return rma_id


def test_two_rmas_refund_a_line_exactly_and_defer_the_sale_reversal_to_the_refund(db):
    order_id = shipped(db)
    first = through(db, order_id, external_id="TB-R-1", damaged=1)
    with uow(db) as u:
        assert rma.create(u, order_id, "return", [rma.RmaLine(1, 1)], "", "TB-R-1") == (first, False)
    second = through(db, order_id)
    returned = events(db, order_id, "order_returned")
    refunded = events(db, order_id, "order_refunded")
    with db.reader() as s:
        steps = [x["step"] for x in rma.read(s, second)["steps"]]
        order = handlers.read_order(s, order_id)
    assert [r["refund_deferred"] for r in returned] == [True, True]
    assert [(l["damaged"], l["disposition"]) for r in returned for l in r["lines"]] == [(1, "scrap"), (0, "")]
    assert [(r["refund_id"], [(l["amount"], l["amount_reversed_before"]) for l in r["lines"]]) for r in refunded] == [
        (first, [("27.50", "0.00")]), (second, [("27.50", "27.50")])]
    assert steps == ["requested", "received", "inspected", "refunded"]
    assert order["lines"][0]["returned_quantity"] == 2 and order["status"] == domain.SHIPPED  # the CUP is not back
    with uow(db) as u, pytest.raises(InvalidArgument):
        rma.create(u, order_id, "return", [rma.RmaLine(1, 1)])  # nothing of the line left


def test_an_exchange_places_a_zero_price_replacement_and_refunds_nothing(db):
    order_id = shipped(db)
    rma_id = through(db, order_id, kind="exchange")
    with db.reader() as s:
        done = rma.read(s, rma_id)
        replacement = handlers.read_order(s, done["replacement_order_id"])
        order = handlers.read_order(s, order_id)
    assert done["status"] == rma.EXCHANGED and events(db, order_id, "order_refunded") == []
    assert [(l["sku"], l["quantity"], l["amount"]) for l in replacement["lines"]] == [("TEA", 1, D("0.00"))]
    assert replacement["buyer"] == order["buyer"] and order["lines"][0]["returned_quantity"] == 0
    with uow(db) as u, pytest.raises(Conflict):
        rma.settle(u, rma_id, lambda u2, cmd: "never")
