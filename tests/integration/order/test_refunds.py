"""Refunds on PostgreSQL and SQLite (services.order.refunds): a line refunded before shipment, on the
platform or by an operator, is taken out of fulfilment (order_lines_released for inventory), never
shipped (order_shipped leaves it out) nor invoiced (the receivables the books audit leave it out); an
order refunded whole is cancelled; a refund after shipment moves no goods and emits order_refunded for
the credit voucher; bad input and the wrong state change nothing."""
from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from hubkit.db import UnitOfWork
from hubkit.envelope import Envelope
from hubkit.errors import Conflict, InvalidArgument
from services.order import domain, handlers, receivables
from services.order.models import metadata
from services.order.refunds import RefundLine

pytestmark = pytest.mark.integration
D = Decimal
OUTBOX = metadata.tables["outbox"]


def uow(db, actor="desk-ann"):
    return UnitOfWork(db, "order", actor, "test")


def answer(db, order_id, statuses: list[str]) -> None:
    with uow(db, "inventory") as u:
        handlers.apply_stock_answer(u, Envelope(
            type="stock_reserved", source="inventory", aggregate_id=order_id, sequence=1, correlation_id="c",
            actor="inventory", payload={"order_id": order_id, "lines": [
                {"line_no": n, "status": st, "warehouse": "WH1"} for n, st in enumerate(statuses, start=1)]}))


def two_lines(channel="web", refund_status=None, like: domain.PlaceOrder | None = None) -> domain.PlaceOrder:
    """Two lines: TEA 2 x 30.00 paid 55.00, CUP 19.90; each order its own shop and buyer (own debtor)."""
    key = like.external_order_id if like else str(uuid.uuid4().int)[:16]
    return domain.PlaceOrder(
        channel=channel, shop=f"s{key}", external_order_id=key,
        buyer={"external_id": f"b{key}"}, shipping_address={"recipient": "Li", "street": "1 Road"},
        lines=[domain.LineInput(sku="TEA", quantity=2, unit_price=D("30.00"), amount=D("55.00")),
               domain.LineInput(sku="CUP", quantity=1, unit_price=D("19.90"), refund_status=refund_status)])


def placed(db, reservations=(domain.RESERVED, domain.RESERVED)) -> str:
    with uow(db) as u:
        order_id, _ = handlers.place_order(u, two_lines())
    answer(db, order_id, list(reservations))
    return order_id


def events(db, order_id, event_type) -> list[dict]:
    with db.reader() as s:
        bodies = s.execute(select(OUTBOX.c.body).where(OUTBOX.c.event_type == event_type)
                           .order_by(OUTBOX.c.id)).scalars().all()
    return [e.payload for e in map(Envelope.from_json, bodies) if e.payload.get("order_id") == order_id]


def outbox_size(db) -> int:
    with db.reader() as s:
        return s.execute(select(func.count()).select_from(OUTBOX)).scalar()


def owed(db, order_id, marketplaces=()) -> tuple[D, D]:
    """(shipped, returned) the order service tells the books audit the order's debtor owes."""
    order = handlers.get_order(db, order_id)
    who = receivables.debtor(order["channel"], order["shop"], order["buyer"], order_id, marketplaces)
    rows = [r for r in receivables.receivables(db, marketplaces) if r["counterparty"] == who]
    return sum((r["shipped"] for r in rows), D("0.00")), sum((r["returned"] for r in rows), D("0.00"))


def ship(db, order_id) -> dict:
    with uow(db, "wh-bob") as u:
        return handlers.ship_order(u, order_id, "SF", "SF" + order_id[:10])


def test_a_line_refunded_on_the_platform_while_the_trade_stays_paid_is_neither_shipped_nor_invoiced(db):
    """The failing case of issue 14: Taobao reports the CUP line's refund SUCCESS, the trade paid."""
    cmd = two_lines("taobao")
    with uow(db, "shops-taobao") as u:
        order_id, outcome = handlers.apply_channel_order(u, domain.ChannelOrder(order=cmd, version=1, status="paid"))
    assert outcome == "created"
    answer(db, order_id, [domain.RESERVED, domain.RESERVED])
    refunded = two_lines("taobao", refund_status="success", like=cmd)
    with uow(db, "shops-taobao") as u:
        assert handlers.apply_channel_order(u, domain.ChannelOrder(order=refunded, version=2, status="paid")) == (
            order_id, "updated")
    order = handlers.get_order(db, order_id)
    assert order["status"] == domain.RESERVED
    assert [(l["reservation"], l["refund_status"], l["refunded_amount"]) for l in order["lines"]] == [
        (domain.RESERVED, None, D("0.00")), (domain.REFUNDED, "success", D("19.90"))]
    [released] = events(db, order_id, "order_lines_released")
    assert [(l["line_no"], l["sku"], l["quantity"]) for l in released["lines"]] == [(2, "CUP", 1)]
    # the same version again, or a newer one still saying success: nothing more
    with uow(db, "shops-taobao") as u:
        handlers.apply_channel_order(u, domain.ChannelOrder(order=refunded, version=3, status="paid"))
    assert len(events(db, order_id, "order_lines_released")) == 1
    ship(db, order_id)
    [shipped] = events(db, order_id, "order_shipped")
    assert [l["sku"] for l in shipped["lines"]] == ["TEA"] and D(shipped["total"]) == D("55.00")
    assert owed(db, order_id, ("taobao",)) == (D("55.00"), D("0.00"))  # the platform owes the TEA line only
    assert handlers.get_order(db, order_id)["lines"][1]["reservation"] == domain.REFUNDED


def test_an_operators_refund_of_a_backordered_line_lets_the_rest_ship_alone(db):
    order_id = placed(db, (domain.RESERVED, domain.BACKORDERED))
    assert handlers.get_order(db, order_id)["status"] == domain.BACKORDERED
    with uow(db) as u:
        refund_id, kind = handlers.refund_order(u, order_id, [RefundLine(line_no=2)], "out of stock, buyer refunded")
    assert kind == "intercept" and refund_id
    order = handlers.get_order(db, order_id)
    assert order["status"] == domain.RESERVED and order["lines"][1]["refunded_amount"] == D("19.90")
    # inventory's later answer (e.g. the backorder filled) does not bring the line back
    answer(db, order_id, [domain.RESERVED, domain.RESERVED])
    assert handlers.get_order(db, order_id)["lines"][1]["reservation"] == domain.REFUNDED
    ship(db, order_id)
    [shipped] = events(db, order_id, "order_shipped")
    assert [l["line_no"] for l in shipped["lines"]] == [1]
    assert owed(db, order_id) == (D("55.00"), D("0.00"))
    entry = [e for e in handlers_audit(db, order_id) if e["action"] == "refund"][0]
    assert entry["actor"] == "desk-ann" and entry["detail"]["kind"] == "intercept"


def handlers_audit(db, order_id) -> list[dict]:
    from services.order import holds
    with db.reader() as s:
        return holds.audit_of(s, order_id)


def test_an_order_refunded_whole_is_cancelled_and_inventory_releases_it(db):
    order_id = placed(db)
    with uow(db) as u:
        handlers.refund_order(u, order_id, [RefundLine(line_no=1)])
    with uow(db) as u:
        handlers.refund_order(u, order_id, [RefundLine(line_no=2, quantity=1, amount=D("19.90"))])
    assert handlers.get_order(db, order_id)["status"] == domain.CANCELLED
    assert [len(e["lines"]) for e in events(db, order_id, "order_lines_released")] == [1]
    assert len(events(db, order_id, "order_cancelled")) == 1
    with uow(db) as u, pytest.raises(Conflict):
        handlers.ship_order(u, order_id, "SF", "SF00000001")
    assert events(db, order_id, "order_shipped") == []


def test_a_refund_after_shipment_credits_what_was_paid_up_to_what_is_left(db):
    order_id = placed(db)
    ship(db, order_id)
    with uow(db) as u:
        handlers.return_order(u, order_id, [(1, 1)], "one box back")  # 27.50 of the 55.00 given back
    with uow(db, "fin-cho") as u:
        refund_id, kind = handlers.refund_order(u, order_id, [RefundLine(line_no=1, amount=D("10.00"))], "dented")
    assert kind == "refund_only"
    [refunded] = events(db, order_id, "order_refunded")
    assert refunded["refund_id"] == refund_id and refunded["channel"] == "web"
    assert [(l["line_no"], D(l["amount"]), D(l["amount_reversed_before"])) for l in refunded["lines"]] == [
        (1, D("10.00"), D("27.50"))]
    with uow(db) as u, pytest.raises(InvalidArgument) as refused:  # 17.50 is left of line 1
        handlers.refund_order(u, order_id, [RefundLine(line_no=1, amount=D("17.51"))])
    assert "17.50" in str(refused.value.fields)
    with uow(db) as u:  # no amount: the rest, for each line
        handlers.refund_order(u, order_id, [RefundLine(line_no=1), RefundLine(line_no=2)])
    last = events(db, order_id, "order_refunded")[-1]
    assert [(l["line_no"], D(l["amount"])) for l in last["lines"]] == [(1, D("17.50")), (2, D("19.90"))]
    order = handlers.get_order(db, order_id)
    assert order["status"] == domain.SHIPPED and [l["refunded_amount"] for l in order["lines"]] == [
        D("27.50"), D("19.90")]
    assert owed(db, order_id) == (D("74.90"), D("74.90"))
    assert events(db, order_id, "order_lines_released") == []  # no goods move
    with uow(db) as u, pytest.raises(Conflict):  # nothing left to refund
        handlers.refund_order(u, order_id, [RefundLine(line_no=2, amount=D("0.01"))])


@pytest.mark.parametrize("lines, field", [
    ([RefundLine(line_no=3)], "lines[0].line_no"),
    ([RefundLine(line_no=1, amount=D("55.01"))], "lines[0].amount"),
    ([RefundLine(line_no=1, amount=D("20.00"))], "lines[0].amount"),
    ([RefundLine(line_no=1, quantity=1)], "lines[0].quantity"),
    ([RefundLine(line_no=1, amount=D("-1"))], "lines[0].amount"),
    ([RefundLine(line_no=1, amount=D("1.001"))], "lines[0].amount"),
    ([RefundLine(line_no=1), RefundLine(line_no=1)], "lines"),
    ([], "lines"),
])
def test_bad_refunds_before_shipment_are_refused_and_change_nothing(db, lines, field):
    order_id = placed(db)
    before, size = handlers.get_order(db, order_id), outbox_size(db)
    with uow(db) as u, pytest.raises(InvalidArgument) as refused:
        handlers.refund_order(u, order_id, lines)
    assert field in [f["field"] for f in refused.value.fields]
    assert handlers.get_order(db, order_id) == before and outbox_size(db) == size


def test_a_refund_larger_than_paid_after_shipment_or_in_the_wrong_state_changes_nothing(db):
    order_id = placed(db)
    ship(db, order_id)
    before, size = handlers.get_order(db, order_id), outbox_size(db)
    for lines in ([RefundLine(line_no=1, amount=D("55.01"))], [RefundLine(line_no=2, quantity=1)],
                  [RefundLine(line_no=1, amount=D("40.00")), RefundLine(line_no=2, amount=D("19.91"))]):
        with uow(db) as u, pytest.raises(InvalidArgument):
            handlers.refund_order(u, order_id, lines)
    cancelled = placed(db)
    with uow(db) as u:
        handlers.cancel_order(u, cancelled, "buyer asked")
    cancelled_before = handlers.get_order(db, cancelled)
    with uow(db) as u, pytest.raises(Conflict, match="cancelled"):
        handlers.refund_order(u, cancelled, [RefundLine(line_no=1)])
    intercepted = placed(db)
    with uow(db) as u:
        handlers.refund_order(u, intercepted, [RefundLine(line_no=2)])
    intercepted_before, size_after = handlers.get_order(db, intercepted), outbox_size(db)
    with uow(db) as u, pytest.raises(Conflict, match="already"):
        handlers.refund_order(u, intercepted, [RefundLine(line_no=2)])
    assert handlers.get_order(db, order_id) == before and handlers.get_order(db, cancelled) == cancelled_before
    assert handlers.get_order(db, intercepted) == intercepted_before and outbox_size(db) == size_after
    assert size_after > size  # only the intercept wrote


def test_a_line_refunded_before_shipment_cannot_be_returned_and_the_rest_returns_whole(db):
    order_id = placed(db)
    with uow(db) as u:
        handlers.refund_order(u, order_id, [RefundLine(line_no=2)])
    ship(db, order_id)
    with uow(db) as u, pytest.raises(InvalidArgument) as refused:
        handlers.return_order(u, order_id, [(2, 1)], "never shipped")
    assert [f["field"] for f in refused.value.fields] == ["lines[0].line_no"]
    with uow(db) as u:  # everything not yet returned: the shipped line only
        handlers.return_order(u, order_id, [], "all back")
    [returned] = events(db, order_id, "order_returned")
    assert [l["line_no"] for l in returned["lines"]] == [1]
    assert handlers.get_order(db, order_id)["status"] == domain.RETURNED


def test_a_platforms_refund_names_the_order_by_its_channel_ids_and_intercepts_the_line_whole(db):
    """A shop connector's refund (RefundOrder with channel_refund): the order found by channel, shop and
    external id; before shipment the line is intercepted whole whatever amount the platform named
    (recorded with source channel); an order the hub has not placed is NotFound, no ids InvalidArgument."""
    from hubkit.errors import NotFound
    from services.order.models import order_refunds
    order_id = placed(db)
    order = handlers.get_order(db, order_id)
    with db.reader() as s:
        assert handlers.channel_order_id(s, order["channel"], order["shop"], order["external_order_id"]) == order_id
        with pytest.raises(NotFound):
            handlers.channel_order_id(s, order["channel"], order["shop"], "no-such-order")
        with pytest.raises(InvalidArgument):
            handlers.channel_order_id(s, "", "", "")
    with uow(db, "connector:taobao") as u:  # a partial amount before shipment: still the whole line
        _, kind = handlers.refund_order(u, order_id, [RefundLine(line_no=2, amount=D("5.00"))], "on the platform",
                                        channel=True)
    assert kind == "intercept"
    assert [l["reservation"] for l in handlers.get_order(db, order_id)["lines"]] == [domain.RESERVED, domain.REFUNDED]
    with db.reader() as s:
        assert s.execute(select(order_refunds.c.source).where(order_refunds.c.order_id == order_id)).scalars().all() \
            == ["channel"]
    with uow(db) as u, pytest.raises(InvalidArgument):  # an operator's partial amount is still refused
        handlers.refund_order(u, order_id, [RefundLine(line_no=1, amount=D("5.00"))])
