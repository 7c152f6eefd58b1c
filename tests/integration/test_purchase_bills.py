"""Supplier invoices matched to receipts that awaited them, on PostgreSQL and SQLite: the oldest receipts
first, each receipt line's provisional amount reversed by cumulative shares so invoices in parts reverse
exactly what was booked; payables and the provisional list follow."""
from __future__ import annotations

import json
from decimal import Decimal

import pytest
from sqlalchemy import select

from hubkit.errors import InvalidArgument
from services.procurement import domain, handlers
from services.procurement.models import metadata
from tests.integration.test_procurement_handlers import _po, _supplier, _uow, db, pg_url, url  # noqa: F401

pytestmark = pytest.mark.integration
D = Decimal


def _billed(database, po_id) -> list[dict]:
    outbox = metadata.tables["outbox"]
    with database.reader() as s:
        bodies = s.execute(select(outbox.c.body).where(outbox.c.event_type == "purchase_cost_billed")
                           .order_by(outbox.c.id)).scalars().all()
    return [e["payload"] for e in map(json.loads, bodies) if e["payload"]["purchase_order_id"] == po_id]


def _invoice(database, po_id, supplier, quantity, price="3.40"):
    with _uow(database, "buyer") as uow:
        return handlers.invoice_purchase(uow, po_id, supplier, "INV", [domain.InvoiceLineInput(1, quantity, price)],
                                         domain.DEFAULT_PRICE_TOLERANCE)


def test_invoices_in_parts_reverse_exactly_what_the_receipts_were_booked_at(db):  # noqa: F811 (the fixture)
    supplier = _supplier(db)
    po_id = _po(db, supplier, [("SKU-A", 6, "3.333333")])
    receipts = []
    for reference in ("DN-1", "DN-2"):
        with _uow(db, "keeper") as uow:
            receipts.append(handlers.receive_purchase_order(uow, po_id, [(1, 3)], reference, invoice_pending=True))
    assert [l["amount"] for l in handlers.provisional_payables(db) if l["purchase_order_id"] == po_id] == [
        D("10.00"), D("10.00")]
    assert not [p for p in handlers.payables(db) if p["supplier"] == supplier]  # owed provisionally only
    with _uow(db, "keeper") as uow, pytest.raises(InvalidArgument) as refused:
        handlers.return_purchase(uow, po_id, [(1, 1)], "wrong grade")
    assert [f["field"] for f in refused.value.fields] == ["lines[0].quantity"]

    _invoice(db, po_id, supplier, 4)
    left = [(l["receipt_id"], l["quantity"], l["amount"]) for l in handlers.provisional_payables(db)
            if l["purchase_order_id"] == po_id]
    _invoice(db, po_id, supplier, 2)

    first, second = _billed(db, po_id)
    # 4 units: the oldest receipt's 3 (booked 10.00) and 1 of the next (3.33 of its 10.00)
    assert [(l["receipt_id"], l["quantity"], l["change"]) for l in first["lines"]] == [
        (receipts[0], 3, "0.20"), (receipts[1], 1, "0.07")]
    assert (first["provisional"], first["total_net"], first["total_tax"]) == ("13.33", "13.60", "1.77")
    assert left == [(receipts[1], 2, D("6.67"))]
    # the last 2 units reverse the rest of that receipt's 10.00: 6.67, not 2 x 3.33
    assert (second["provisional"], second["total_net"], [l["change"] for l in second["lines"]]) == (
        "6.67", "6.80", ["0.13"])
    assert D(first["provisional"]) + D(second["provisional"]) == D("20.00")
    assert not [l for l in handlers.provisional_payables(db) if l["purchase_order_id"] == po_id]
    [owed] = [p for p in handlers.payables(db) if p["supplier"] == supplier]
    assert owed["received"] == D(first["total"]) + D(second["total"])
    with pytest.raises(InvalidArgument):
        _invoice(db, po_id, supplier, 1)  # nothing awaits an invoice any more
