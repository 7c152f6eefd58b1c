"""A property of refunds (SQLite, the order and inventory services' handlers, the bus played by hand):
random interleavings of a shop order's versions (paid, lines refunded on the platform, cancelled),
operators' refunds, inventory's reservations and answers, and shipments. Whatever the order, a line
refunded before shipment never ships: inventory never issues it, the order's order_shipped leaves it
out, and the sale the books post from it never invoices it; an order refunded whole is cancelled; and
what inventory holds for the order is exactly its open, unrefunded lines once the bus is drained."""
from __future__ import annotations

import itertools
import uuid
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from hub import components
from hubkit.db import Database, UnitOfWork
from hubkit.envelope import Envelope
from hubkit.errors import Conflict, InvalidArgument
from hubkit.inbox import PredecessorMissing
from services.accounting import chart
from services.accounting import domain as books
from services.inventory import catalog, movements
from services.inventory import reservations as inventory
from services.inventory.models import metadata as inventory_metadata
from services.inventory.models import reservations as held
from services.order import domain, handlers
from services.order.models import metadata as order_metadata
from services.order.models import order_lines
from services.order.refunds import RefundLine

pytestmark = pytest.mark.integration
RULES = books.Rules(accounts=chart.DEFAULT_ACCOUNTS, vat_rate=Decimal("0.13"), timezone="Asia/Shanghai")
SKUS = ("PT-TEA", "PT-CUP", "PT-POT")
PRICES = (Decimal("20.00"), Decimal("9.90"), Decimal("58.00"))


@pytest.fixture(scope="module")
def dbs(tmp_path_factory):
    path = tmp_path_factory.mktemp("refund-properties")
    order_url, inventory_url = f"sqlite:///{path / 'order.db'}", f"sqlite:///{path / 'inventory.db'}"
    components.migrate("order", order_url)
    components.migrate("inventory", inventory_url)
    order_db, inventory_db = Database(order_url, order_metadata), Database(inventory_url, inventory_metadata)
    with UnitOfWork(inventory_db, "inventory", "setup", "setup") as u:
        catalog.upsert_warehouse(u, "PT-WH", "Warehouse", 100, "east", "1 Dock Road")
        for sku in SKUS:
            catalog.upsert_sku(u, sku, f"Item {sku}")
    for sku in SKUS:  # plenty for some orders, scarce enough that some lines are backordered
        with UnitOfWork(inventory_db, "inventory", "setup", "setup") as u:
            movements.receive(u, sku, "PT-WH", 3, "5.00")
    yield order_db, inventory_db
    order_db.dispose()
    inventory_db.dispose()


class Bus:
    """Each service's outbox read in order; an event whose predecessor is missing waits (and those behind
    it, as the per-aggregate order of the broker's delivery keeps them)."""

    def __init__(self, order_db, inventory_db):
        self.order_db, self.inventory_db = order_db, inventory_db
        self.cursors = {"order": self._last(order_db), "inventory": self._last(inventory_db)}
        self.to_inventory: list[Envelope] = []
        self.to_order: list[Envelope] = []
        self.shipped: list[dict] = []
        self.issued: list[dict] = []

    @staticmethod
    def _last(db) -> int:
        outbox = db.metadata.tables["outbox"]
        with db.reader() as s:
            return s.execute(select(outbox.c.id).order_by(outbox.c.id.desc()).limit(1)).scalar() or 0

    def _collect(self, name: str, db) -> list[Envelope]:
        outbox = db.metadata.tables["outbox"]
        with db.reader() as s:
            rows = s.execute(select(outbox.c.id, outbox.c.body).where(outbox.c.id > self.cursors[name])
                             .order_by(outbox.c.id)).all()
        if rows:
            self.cursors[name] = rows[-1].id
        return [Envelope.from_json(r.body) for r in rows]

    def collect(self) -> None:
        for e in self._collect("order", self.order_db):
            if e.type == "order_shipped":
                self.shipped.append(e.payload)
            if e.type in ("order_placed", "order_lines_released", "order_cancelled", "order_shipped"):
                self.to_inventory.append(e)
        for e in self._collect("inventory", self.inventory_db):
            if e.type == "goods_issued":
                self.issued.append(e.payload)
            if e.type in ("stock_reserved", "stock_short", "reservation_expired"):
                self.to_order.append(e)

    def deliver_inventory(self, n: int) -> None:
        handle = {"order_placed": inventory.reserve_order, "order_lines_released": inventory.release_lines,
                  "order_cancelled": inventory.release_order, "order_shipped": inventory.issue_for_shipment}
        for _ in range(n):
            self.collect()
            if not self.to_inventory:
                return
            e = self.to_inventory[0]
            try:
                with UnitOfWork(self.inventory_db, "inventory", "inventory-worker", e.correlation_id) as u:
                    handle[e.type](u, e)
            except PredecessorMissing:
                return
            self.to_inventory.pop(0)

    def deliver_order(self, n: int) -> None:
        for _ in range(n):
            self.collect()
            if not self.to_order:
                return
            e = self.to_order.pop(0)
            with UnitOfWork(self.order_db, "order", "order-worker", e.correlation_id) as u:
                handlers.apply_stock_answer(u, e)

    def drain(self) -> None:
        for _ in range(50):
            self.collect()
            if not self.to_inventory and not self.to_order:
                return
            self.deliver_inventory(10)
            self.deliver_order(10)
        raise AssertionError(f"the bus did not drain: {self.to_inventory} {self.to_order}")


flags = st.lists(st.sampled_from([False, False, True]), min_size=3, max_size=3)
operations = st.lists(st.one_of(
    st.tuples(st.just("version"), flags, st.sampled_from(["paid", "paid", "paid", "cancelled"])),
    st.tuples(st.just("refund"), st.integers(1, 3)),
    st.tuples(st.just("inventory"), st.integers(1, 3)),
    st.tuples(st.just("answer"), st.integers(1, 3)),
    st.tuples(st.just("settle"), st.just(0)),  # the bus drained: inventory and the order caught up
    st.tuples(st.just("ship"), st.just(0)),
    st.tuples(st.just("ship"), st.just(0)),
), min_size=1, max_size=12)
serial = itertools.count(1)


def _order(external_id: str, quantities: list[int], refunded: list[bool]) -> domain.PlaceOrder:
    return domain.PlaceOrder(
        channel="taobao", shop="pt-shop", external_order_id=external_id, buyer={"external_id": external_id},
        shipping_address={"recipient": "Li", "province": "Zhejiang", "street": "1 Road"},
        lines=[domain.LineInput(sku=sku, quantity=q, unit_price=price,
                                refund_status="success" if r else "wait_seller_agree" if q > 1 else None)
               for sku, q, price, r in zip(SKUS, quantities, PRICES, refunded, strict=True)])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(quantities=st.lists(st.integers(1, 2), min_size=3, max_size=3), first=flags, ops=operations)
def test_a_refunded_line_never_ships_and_is_never_invoiced(dbs, quantities, first, ops):
    order_db, inventory_db = dbs
    for sku in SKUS:  # a little more stock each time: some orders reserve whole, some wait for it
        with UnitOfWork(inventory_db, "inventory", "setup", "setup") as u:
            movements.receive(u, sku, "PT-WH", 2, "5.00")
    bus = Bus(order_db, inventory_db)
    external_id, version = f"PT{next(serial)}{uuid.uuid4().hex[:6]}", 1
    with UnitOfWork(order_db, "order", "shops-taobao", "pt") as u:
        order_id, _ = handlers.apply_channel_order(u, domain.ChannelOrder(
            order=_order(external_id, quantities, first), version=version, status="paid"))
    assert order_id
    for op, arg, *rest in ops:
        if op == "version":
            version += 1
            with UnitOfWork(order_db, "order", "shops-taobao", "pt") as u:
                handlers.apply_channel_order(u, domain.ChannelOrder(
                    order=_order(external_id, quantities, arg), version=version, status=rest[0]))
        elif op == "refund":
            try:
                with UnitOfWork(order_db, "order", "desk-ann", "pt") as u:
                    handlers.refund_order(u, order_id, [RefundLine(line_no=arg)], "buyer asked")
            except (Conflict, InvalidArgument):
                pass
        elif op == "inventory":
            bus.deliver_inventory(arg)
        elif op == "answer":
            bus.deliver_order(arg)
        elif op == "settle":
            bus.drain()
        else:
            try:
                with UnitOfWork(order_db, "order", "wh-bob", "pt") as u:
                    handlers.ship_order(u, order_id, "SF", f"SF{order_id[:12]}")
            except Conflict:
                pass
        _check(bus, order_db, order_id)
    bus.drain()
    _check(bus, order_db, order_id)
    order = handlers.get_order(order_db, order_id)
    refunded = sum(1 for line in order["lines"] if line["reservation"] == domain.REFUNDED)
    event(f"{order['status']} with {refunded} line(s) refunded before shipment")
    with inventory_db.reader() as s:
        holding = {r.line_no: r.status for r in s.execute(select(held).where(held.c.order_id == order_id))}
    for line in order["lines"]:
        if line["reservation"] == domain.REFUNDED or order["status"] == domain.CANCELLED:
            assert holding.get(line["line_no"]) in (None, "released"), (line, holding)
        elif order["status"] == domain.SHIPPED:
            assert holding[line["line_no"]] == "issued"
        else:
            assert holding.get(line["line_no"]) in ("reserved", "backordered"), (line, holding, order["status"])


def _check(bus: Bus, order_db, order_id: str) -> None:
    bus.collect()
    with order_db.reader() as s:
        lines = {l.line_no: l for l in s.execute(select(order_lines).where(order_lines.c.order_id == order_id))}
    refunded = {n for n, l in lines.items() if l.reservation == domain.REFUNDED}
    order = handlers.get_order(order_db, order_id)
    if refunded == set(lines):
        assert order["status"] == domain.CANCELLED
    for shipped in (p for p in bus.shipped if p["order_id"] == order_id):
        sold = {l["line_no"] for l in shipped["lines"]}
        assert not sold & refunded, (sold, refunded)
        assert sold == set(lines) - refunded  # the refund never comes after a shipment as an intercept
        # the sale voucher the books post from it invoices exactly the lines not refunded
        sale = books.sale(shipped, RULES)
        receivable = sum((l.debit for l in sale if l.account == RULES.accounts["receivable"]), Decimal("0"))
        assert receivable == sum((lines[n].amount for n in sold), Decimal("0.00")) == Decimal(shipped["total"])
    for issued in (p for p in bus.issued if p["order_id"] == order_id):
        assert not {l["line_no"] for l in issued["lines"]} & refunded
