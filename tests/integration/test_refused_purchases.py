"""A purchase receipt or a return to the supplier that inventory refuses when it applies it (the
state changed after the gateway's check) is compensated, not dead-lettered: inventory applies none
of it and says why in purchase_*_refused, procurement marks the document refused and reopens its
quantities, and accounting reverses the purchase voucher, whichever of the two events it sees first.
Each service's handlers on its own real database (PostgreSQL and SQLite); the events travel between
them as the relays would carry them, from one outbox to the next handler."""
from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from sqlalchemy import String, func, or_, select

import contracts
from hub import components
from hubkit import clock, events
from hubkit.db import Database, UnitOfWork
from hubkit.envelope import Envelope
from hubkit.errors import Conflict, InvalidArgument
from hubkit.inbox import PredecessorMissing, handle_once
from services.accounting import chart
from services.accounting import domain as books
from services.accounting import handlers as accounting
from services.inventory import catalog, reservations
from services.inventory import handlers as inventory
from services.procurement import domain as purchasing
from services.procurement import handlers as procurement
from tests.support import infra
from tests.support.approvals import approve

pytestmark = pytest.mark.integration
RULES = books.Rules(accounts=chart.DEFAULT_ACCOUNTS, vat_rate=Decimal("0.13"), timezone="Asia/Shanghai")
SERVICES = ("inventory", "procurement", "accounting")


@pytest.fixture(scope="module")
def own_pg_urls(session_name):
    """Databases of this module's own: the session's (pg_urls) belong to a running hub whose relays
    and workers would publish and apply these tests' events as well."""
    prefix = f"{session_name}_rp"
    yield infra.create_databases(prefix, SERVICES)
    infra.drop_databases(prefix, SERVICES)


@pytest.fixture(params=["postgresql", "sqlite"])
def hub(request, tmp_path):
    urls = request.getfixturevalue("own_pg_urls") if request.param == "postgresql" else {
        name: f"sqlite:///{tmp_path / name}.db" for name in SERVICES}
    dbs = {}
    for name in SERVICES:
        components.migrate(name, urls[name])
        dbs[name] = Database(urls[name], components.metadata(name))
    accounting.ensure_chart(dbs["accounting"], chart.DEFAULT_CHART)
    yield World(dbs)
    for db in dbs.values():
        db.dispose()


class World:
    """The three services' databases, and the events between them."""

    def __init__(self, dbs: dict[str, Database]):
        self.dbs = dbs
        self.tag = uuid.uuid4().hex[:6].upper()
        self.warehouse, self.sku = f"WH-{self.tag}", f"TEA-{self.tag}"
        self.run("inventory", catalog.upsert_warehouse, self.warehouse, "Shanghai", 0, "east", "1 Dock Road")
        self.run("inventory", catalog.add_bins, self.warehouse, ["A-01"])
        self.run("inventory", catalog.upsert_sku, self.sku, "Longjing tea")
        self.supplier = f"SUP-{self.tag}"
        self.run("procurement", procurement.upsert_supplier, self.supplier, "Tea Garden")

    def run(self, service: str, fn, *args, **kwargs):
        with UnitOfWork(self.dbs[service], service, "keeper", f"c-{self.tag}") as uow:
            return fn(uow, *args, **kwargs)

    def emitted(self, service: str, event_type: str, **match) -> list[Envelope]:
        """The events of a type in a service's outbox whose payload has the `match`ing fields, oldest first."""
        outbox = self.dbs[service].metadata.tables["outbox"]
        with self.dbs[service].reader() as s:
            bodies = s.execute(select(outbox.c.body).where(outbox.c.event_type == event_type)
                               .order_by(outbox.c.id)).scalars().all()
        return [e for e in map(Envelope.from_json, bodies) if match.items() <= e.payload.items()]

    def purchase_order(self, quantity: int) -> str:
        cmd = purchasing.CreatePurchaseOrder(supplier=self.supplier, warehouse=self.warehouse,
                                             lines=[purchasing.LineInput(self.sku, quantity, "10.00")])
        po_id = self.run("procurement", procurement.create_purchase_order, cmd)
        approve(self.dbs["procurement"], po_id)
        return po_id

    def books(self, account: str) -> Decimal:
        """Debit less credit on the account, over this test's vouchers."""
        lines = self.dbs["accounting"].metadata.tables["voucher_lines"]
        with self.dbs["accounting"].reader() as s:
            rows = s.execute(select(lines.c.debit, lines.c.credit, lines.c.aux, lines.c.cost_centre)
                             .where(lines.c.account == account)).all()
        return sum((Decimal(r.debit) - Decimal(r.credit) for r in rows if self.tag in r.aux + r.cost_centre),
                   start=Decimal("0.00"))

    def stock(self) -> tuple[int, Decimal]:
        level = catalog.get_stock(self.dbs["inventory"], self.sku, self.warehouse)[0]
        value = sum((r["value"] for r in inventory.stock_value(self.dbs["inventory"], self.warehouse)),
                    start=Decimal("0.00"))
        return level["on_hand"], value

    def ledger_lines(self) -> int:
        moves = self.dbs["inventory"].metadata.tables["stock_movements"]
        with self.dbs["inventory"].reader() as s:
            return s.execute(select(func.count()).select_from(moves).where(moves.c.sku == self.sku)).scalar()


def _deliver(world: World, service: str, handler, envelope: Envelope, *args):
    """As the worker does: the handler inside the unit of work that records the event."""
    with UnitOfWork(world.dbs[service], service, envelope.actor, envelope.correlation_id) as uow:
        return handler(uow, envelope, *args)


def test_a_receipt_inventory_refuses_is_marked_refused_reopened_and_its_voucher_reversed(hub):
    po_id = hub.purchase_order(6)
    # accepted with a bin that inventory does not know (as if it had been removed after the check)
    receipt_id = hub.run("procurement", procurement.receive_purchase_order, po_id, [], "DN-1",
                         {1: {"bin": "Z-99"}})
    [received] = hub.emitted("procurement", "purchase_received", purchase_order_id=po_id)
    purchase = _deliver(hub, "accounting", accounting.post_purchase, received, RULES)

    _deliver(hub, "inventory", inventory.receive_purchase, received)  # refuses; does not raise

    [refused] = hub.emitted("inventory", "purchase_receipt_refused", receipt_id=receipt_id)
    assert refused.payload["errors"] == [{"field": "lines[0].bin", "message": f"unknown bin in {hub.warehouse}"}]
    assert "line 1: bin 'Z-99' does not exist" in refused.payload["reason"]
    assert hub.stock() == (0, Decimal("0.00")) and hub.ledger_lines() == 0

    event = events.parse(contracts.PurchaseReceiptRefused, refused)
    assert hub.run("procurement", procurement.refuse_receipt, event) is True
    assert hub.run("procurement", procurement.refuse_receipt, event) is False  # once
    reversal = _deliver(hub, "accounting", accounting.reverse_refused_purchase, refused, RULES)

    po = procurement.get_purchase_order(hub.dbs["procurement"], po_id)
    assert (po["status"], po["lines"][0]["received"]) == ("open", 0)
    [receipt] = po["receipts"]
    assert (receipt["status"], receipt["refused_reason"]) == ("refused", refused.payload["reason"])
    assert reversal["reverses"] == purchase["id"] and reversal["kind"] == "reversal"
    # the books equal the stock: nothing in 1405 for the warehouse, nothing owed to the supplier
    assert hub.books("1405") == Decimal("0.00") == hub.books("2202")


def test_the_refusal_waits_for_the_purchase_voucher_it_reverses(hub):
    po_id = hub.purchase_order(2)
    receipt_id = hub.run("procurement", procurement.receive_purchase_order, po_id, [], "DN-2",
                         {1: {"bin": "Z-98"}})
    [received] = hub.emitted("procurement", "purchase_received", purchase_order_id=po_id)
    _deliver(hub, "inventory", inventory.receive_purchase, received)
    [refused] = hub.emitted("inventory", "purchase_receipt_refused", receipt_id=receipt_id)

    with pytest.raises(PredecessorMissing):  # accounting has not posted the purchase yet: retried later
        _deliver(hub, "accounting", accounting.reverse_refused_purchase, refused, RULES)
    _deliver(hub, "accounting", accounting.post_purchase, received, RULES)
    _deliver(hub, "accounting", accounting.reverse_refused_purchase, refused, RULES)
    assert hub.books("1405") == Decimal("0.00") == hub.books("2202")


def test_goods_reserved_between_the_check_and_the_return_are_not_returned_and_the_return_is_reopened(hub):
    po_id = hub.purchase_order(5)
    hub.run("procurement", procurement.receive_purchase_order, po_id, [], "DN-3", {1: {"bin": "A-01"}})
    [received] = hub.emitted("procurement", "purchase_received", purchase_order_id=po_id)
    _deliver(hub, "inventory", inventory.receive_purchase, received)
    _deliver(hub, "accounting", accounting.post_purchase, received, RULES)
    assert hub.stock() == (5, Decimal("50.00"))

    line = {"line_no": 1, "sku": hub.sku, "quantity": 3}
    hub.run("inventory", inventory.check_purchase, "return", po_id, hub.warehouse, [line])  # free now: accepted
    return_id = hub.run("procurement", procurement.return_purchase, po_id, [(1, 3)], "wrong grade")
    # ... and before inventory applies the return, an order takes 4 of the 5
    order = Envelope(type="order_placed", source="order", aggregate_id=f"O-{hub.tag}", sequence=1,
                     correlation_id="c", actor="shop", payload={
                         "order_id": f"O-{hub.tag}", "channel": "web",
                         "lines": [{"line_no": 1, "sku": hub.sku, "quantity": 4}]})
    _deliver(hub, "inventory", reservations.reserve_order, order)
    with pytest.raises(Conflict) as caught:
        hub.run("inventory", inventory.check_purchase, "return", po_id, hub.warehouse, [line])
    assert caught.value.fields[0]["field"] == "lines[0].quantity"

    [returned] = hub.emitted("procurement", "purchase_returned", purchase_order_id=po_id)
    _deliver(hub, "inventory", inventory.return_to_supplier, returned)

    assert hub.emitted("inventory", "purchase_return_shipped", purchase_order_id=po_id) == []  # nothing for the books
    [refused] = hub.emitted("inventory", "purchase_return_refused", return_id=return_id)
    assert "not free" in refused.payload["reason"]
    assert hub.stock() == (5, Decimal("50.00"))
    hub.run("procurement", procurement.refuse_return, events.parse(contracts.PurchaseReturnRefused, refused))
    po = procurement.get_purchase_order(hub.dbs["procurement"], po_id)
    assert po["lines"][0]["returned"] == 0
    assert [(r["id"], r["status"]) for r in po["returns"]] == [(return_id, "refused")]
    assert hub.books("1405") == Decimal("50.00")  # the purchase stands, as the stock does


def test_the_check_runs_the_rules_that_apply_a_receipt_and_writes_nothing(hub):
    db = hub.dbs["inventory"]

    def rows():
        """Rows of every table that mention this test's codes (the database may be shared with a hub)."""
        with db.reader() as s:
            return {t.name: s.execute(select(func.count()).select_from(t).where(or_(*texts))).scalar()
                    for t in db.metadata.sorted_tables
                    if (texts := [c.contains(hub.tag) for c in t.columns if isinstance(c.type, String)])}

    before = rows()
    good = {"line_no": 1, "sku": hub.sku, "quantity": 2, "unit_cost": "10.00", "bin": "A-01"}
    hub.run("inventory", inventory.check_purchase, "receipt", "po-x", hub.warehouse, [good])
    with pytest.raises(InvalidArgument) as unknown_bin:
        hub.run("inventory", inventory.check_purchase, "receipt", "po-x", hub.warehouse,
                [good, {**good, "line_no": 2, "bin": "Z-97"}])
    with pytest.raises(InvalidArgument) as unknown_warehouse:
        hub.run("inventory", inventory.check_purchase, "receipt", "po-x", "NOWHERE", [good])
    assert rows() == before
    hub.run("inventory", inventory.receive_purchase_lines, "rc-1", "po-x", hub.warehouse, [good], clock.now())
    assert rows() != before  # (what a receipt applied for real writes is counted)
    assert [f["field"] for f in unknown_bin.value.fields] == ["lines[1].bin"]
    assert [f["field"] for f in unknown_warehouse.value.fields] == ["warehouse"]


def test_receipts_and_returns_of_one_purchase_order_are_each_applied_in_whatever_order_they_arrive(hub):
    """Each receipt and each return is its own aggregate: a later one applied first (a retry, two
    worker threads) must not make an earlier one look stale and be skipped."""
    po_id = hub.purchase_order(5)
    for quantity in (2, 3):
        hub.run("procurement", procurement.receive_purchase_order, po_id, [(1, quantity)], "DN")
    first, second = hub.emitted("procurement", "purchase_received", purchase_order_id=po_id)
    for envelope in (second, first):
        assert handle_once(hub.dbs["inventory"], "inventory", "inventory.purchase_received", envelope,
                           inventory.receive_purchase)
    assert hub.stock()[0] == 5
    for quantity in (1, 2):
        hub.run("procurement", procurement.return_purchase, po_id, [(1, quantity)], "damaged")
    first, second = hub.emitted("procurement", "purchase_returned", purchase_order_id=po_id)
    for envelope in (second, first):
        assert handle_once(hub.dbs["inventory"], "inventory", "inventory.purchase_returned", envelope,
                           inventory.return_to_supplier)
    assert hub.stock()[0] == 2
    first, second = hub.emitted("inventory", "purchase_return_shipped", purchase_order_id=po_id)
    for envelope in (second, first):
        assert handle_once(hub.dbs["accounting"], "accounting", "accounting.purchase_return_shipped", envelope,
                           lambda uow, e: accounting.post_purchase_return(uow, e, RULES))
