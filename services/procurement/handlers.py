"""Procurement use cases: one function per command or event."""
from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime, time, timedelta, timezone
from decimal import Decimal

from sqlalchemy import func, select, update

from contracts import (
    InspectionRecorded,
    PurchaseCostBilled,
    PurchaseReceiptRefused,
    PurchaseReceived,
    PurchaseReturned,
    PurchaseReturnRefused,
)
from contracts.events import BilledLine, ReceivedLine, ReturnedLine, Supplier
from hubkit import clock, imports
from hubkit.db import Database, UnitOfWork, as_utc, changed, dialect_insert
from hubkit.envelope import Envelope
from hubkit.errors import Conflict, FieldErrors, HubError, InvalidArgument, NotFound
from hubkit.money import cents, share, unit_cost
from hubkit.sql import cents_sum, chunks
from services.procurement import approvals, chains, domain, planning, scorecard
from services.procurement.models import (
    inspection_results,
    purchase_bill_lines,
    purchase_bills,
    purchase_order_lines,
    purchase_orders,
    purchase_return_lines,
    purchase_returns,
    purchase_suggestions,
    receipt_lines,
    receipts,
    stock_alerts,
    suppliers,
)
from services.procurement.models import scorecard_config as scorecard_config_table

log = logging.getLogger(__name__)



def _utc(moment):
    """Stored times come back naive (SQLite) or in the session's zone (PostgreSQL): make them UTC."""
    return as_utc(moment).astimezone(timezone.utc)


def upsert_supplier(uow: UnitOfWork, code: str, name: str) -> bool:
    domain.check_supplier(code, name)
    s, now = uow.session, clock.now()
    created = changed(s, dialect_insert(s, suppliers).values(
        code=code, name=name, created_by=uow.actor, created_at=now, updated_by=uow.actor, updated_at=now)
        .on_conflict_do_nothing())
    if not created:
        s.execute(update(suppliers).where(suppliers.c.code == code)
                  .values(name=name, updated_by=uow.actor, updated_at=now))
    return bool(created)


def import_suppliers(uow: UnitOfWork, rows: list[tuple[int, str, str]], dry_run: bool) -> imports.Outcome:
    """A file's suppliers, (row, code, name) each, upserted as upsert_supplier does one, all in one
    transaction or none (hubkit.imports); a supplier already so named is left alone (unchanged)."""
    s = uow.session
    codes = sorted({code for _, code, _ in rows})
    names = {c: n for chunk in chunks(codes)
             for c, n in s.execute(select(suppliers.c.code, suppliers.c.name).where(suppliers.c.code.in_(chunk)))}

    def one(row: tuple[str, str]) -> bool:
        code, name = row
        domain.check_supplier(code, name)
        if names.get(code) == name:
            return False
        upsert_supplier(uow, code, name)
        names[code] = name
        return True
    return imports.apply_rows(uow, ((n, (code, name)) for n, code, name in rows), one, dry_run, "code")


def _conversion(po) -> dict:
    """The rate a purchase order in another currency than the books' was accepted at, for stock and books."""
    return {} if po.exchange_rate is None else {"exchange_rate": po.exchange_rate}


def amount_in_base(lines, exchange_rate) -> Decimal:
    """A document's total, VAT included, in the books' (base) currency: what approval chains compare."""
    gross = sum((l.amount + domain.line_tax(l.amount, l.vat_rate) for l in lines), start=Decimal("0.00"))
    return cents(gross * exchange_rate) if exchange_rate is not None else cents(gross)


def create_purchase_order(uow: UnitOfWork, cmd: domain.CreatePurchaseOrder, requisition_id: str | None = None,
                          facts: dict | None = None) -> str:
    """A purchase order. Raised directly, it goes through the approval chain in force (pending until
    approved); made from approved requisitions (`requisition_id`), it is approved by them."""
    currency, lines = domain.validate(cmd)
    s, now = uow.session, clock.now()
    if s.execute(select(suppliers.c.code).where(suppliers.c.code == cmd.supplier)).first() is None:
        raise NotFound(f"supplier {cmd.supplier!r} not found",
                       [{"field": "supplier", "message": f"unknown supplier {cmd.supplier!r}"}])
    po_id = uuid.uuid4().hex
    s.execute(purchase_orders.insert().values(
        id=po_id, supplier=cmd.supplier, warehouse=cmd.warehouse, currency=currency, status=domain.OPEN,
        exchange_rate=cmd.exchange_rate, approval=chains.PENDING, requisition_id=requisition_id,
        created_by=uow.actor, created_at=now, updated_by=uow.actor, updated_at=now))
    s.execute(purchase_order_lines.insert(), [
        dict(purchase_order_id=po_id, line_no=l.line_no, sku=l.sku, quantity=l.quantity, received=0,
             unit_cost=l.unit_cost, vat_rate=l.vat_rate, amount=l.amount, expected_on=l.expected_on)
        for l in lines])
    if requisition_id is None:
        approval, version = approvals.start(
            uow, chains.PURCHASE_ORDER, po_id, uow.actor, amount_in_base(lines, cmd.exchange_rate),
            {"currency": currency, "supplier": cmd.supplier, "suppliers": [cmd.supplier],
             "skus": sorted({l.sku for l in lines}), **(facts or {})})
        s.execute(update(purchase_orders).where(purchase_orders.c.id == po_id)
                  .values(approval=approval, chain_version=version))
    else:
        s.execute(update(purchase_orders).where(purchase_orders.c.id == po_id).values(approval=chains.APPROVED))
    # the open suggestions this order takes up: covered ones are ordered, the rest of the others stays open
    ordered: dict[str, int] = {}
    for l in lines:
        ordered[l.sku] = ordered.get(l.sku, 0) + l.quantity
    planning.take_up(uow, po_id, cmd.warehouse, ordered)
    return po_id


def order_suggestions(uow: UnitOfWork, warehouse: str, supplier: str, skus: list[str]) -> str:
    """One purchase order (in the books' currency, at each SKU's last price from the supplier) for the
    open suggestions of the warehouse that name the supplier or none (of `skus`, or all): made as
    any purchase order is, so it takes the suggestions up. Returns its id."""
    lines = planning.draft_order_lines(uow.session, warehouse, supplier, skus)
    return create_purchase_order(uow, domain.CreatePurchaseOrder(
        supplier=supplier, warehouse=warehouse,
        lines=[domain.LineInput(sku=sku, quantity=quantity, unit_cost=format(price.normalize(), "f"))
               for sku, quantity, price in lines]))


def _lock(uow: UnitOfWork, purchase_order_id: str, now) -> tuple:
    """The purchase order and its lines by number. Touching the header first locks it (PostgreSQL
    row lock; SQLite serialises writers anyway), so concurrent receipts and returns of one order
    take turns and each sees what the one before it did."""
    s = uow.session
    touched = changed(s, update(purchase_orders).where(purchase_orders.c.id == purchase_order_id)
                        .values(updated_by=uow.actor, updated_at=now))
    if not touched:
        raise NotFound(f"purchase order {purchase_order_id!r} not found",
                       [{"field": "purchase_order_id", "message": "unknown purchase order"}])
    po = s.execute(select(purchase_orders).where(purchase_orders.c.id == purchase_order_id)).one()
    rows = {r.line_no: r for r in s.execute(select(purchase_order_lines).where(
        purchase_order_lines.c.purchase_order_id == purchase_order_id)).all()}
    return po, rows


def receive_purchase_order(uow: UnitOfWork, purchase_order_id: str, requested: list[tuple[int, int]],
                           reference: str = "", tracking: dict[int, dict] | None = None,
                           invoice_pending: bool = False) -> str:
    """Take in a delivery: a receipt with its lines (and, per line, the bin, lot, expiry and
    serials it arrives with), the received quantities and the status, and purchase_received, in one
    transaction. `invoice_pending`: the goods came without the supplier's invoice (先货后票), so the
    books owe a provisional payable until a supplier invoice matches them. Returns the receipt id."""
    s, now = uow.session, clock.now()
    po, rows = _lock(uow, purchase_order_id, now)
    if po.approval != chains.APPROVED:
        raise Conflict(f"purchase order {purchase_order_id} is {po.approval}, not approved: it cannot be received",
                       [{"field": "purchase_order_id", "message": f"approval {po.approval}: approve it first"}])
    if invoice_pending and po.exchange_rate is not None:
        raise InvalidArgument("goods before invoice is for purchase orders in the books' currency",
                              [{"field": "invoice_pending", "message": f"the order is in {po.currency}"}])
    reference = (reference or "").strip()
    plan = domain.plan_receipt(purchase_order_id, po.status,
                               {no: (r.quantity, r.received) for no, r in rows.items()}, requested, reference)
    tracking = domain.check_tracking(plan, tracking or {})

    for line_no, quantity in plan:
        # The database has the last word: received never passes what was ordered.
        won = changed(s, update(purchase_order_lines).where(
            purchase_order_lines.c.purchase_order_id == purchase_order_id,
            purchase_order_lines.c.line_no == line_no,
            purchase_order_lines.c.received + quantity <= purchase_order_lines.c.quantity,
        ).values(received=purchase_order_lines.c.received + quantity))
        if won != 1:
            raise Conflict(f"line {line_no} of purchase order {purchase_order_id} no longer has {quantity} open",
                           [{"field": "lines", "message": f"line {line_no} was received concurrently"}])

    receipt_id = uuid.uuid4().hex
    lines = []
    for line_no, quantity in plan:
        row = rows[line_no]
        cost, rate = unit_cost(row.unit_cost), Decimal(row.vat_rate).quantize(domain.VAT_PLACES)
        amount = domain.line_amount(quantity, cost)
        lines.append(dict(line_no=line_no, sku=row.sku, quantity=quantity, unit_cost=cost, vat_rate=rate,
                          amount=amount, tax=domain.line_tax(amount, rate), tracking=tracking.get(line_no)))
    total_net = cents(sum((l["amount"] for l in lines), start=Decimal(0)))
    total_tax = cents(sum((l["tax"] for l in lines), start=Decimal(0)))
    total = total_net + total_tax
    s.execute(receipts.insert().values(id=receipt_id, purchase_order_id=purchase_order_id, reference=reference,
                                       total_net=total_net, total_tax=total_tax, total=total,
                                       received_by=uow.actor, received_at=now, invoice_pending=invoice_pending))
    s.execute(receipt_lines.insert(), [dict(receipt_id=receipt_id, **l) for l in lines])

    after = s.execute(select(purchase_order_lines.c.quantity, purchase_order_lines.c.received).where(
        purchase_order_lines.c.purchase_order_id == purchase_order_id)).all()
    s.execute(update(purchase_orders).where(purchase_orders.c.id == purchase_order_id)
              .values(status=domain.status_of([(q, r) for q, r in after])))

    supplier_name = s.execute(select(suppliers.c.name).where(suppliers.c.code == po.supplier)).scalar_one()
    uow.emit(PurchaseReceived(
        purchase_order_id=purchase_order_id, receipt_id=receipt_id,
        supplier=Supplier(code=po.supplier, name=supplier_name), warehouse=po.warehouse, currency=po.currency,
        **_conversion(po), received_at=now, reference=reference,
        # a line's tracking (bin, lot, expiry, serials) only where the receipt gave it
        lines=[ReceivedLine(line_no=l["line_no"], sku=l["sku"], quantity=int(l["quantity"]), unit_cost=l["unit_cost"],
                            vat_rate=l["vat_rate"], amount=l["amount"], tax=l["tax"], **(l["tracking"] or {}))
               for l in lines],
        total_net=total_net, total_tax=total_tax, total=total, invoice_pending=invoice_pending),
        receipt_id)  # each receipt its own aggregate: none is ordered after (or stale against) another
    return receipt_id


def return_purchase(uow: UnitOfWork, purchase_order_id: str, requested: list[tuple[int, int]], reason: str,
                    reference: str = "", lots: dict[int, str] | None = None) -> str:
    """Send received goods back to the supplier (per line, at most what was received and not yet
    returned) and emit purchase_returned: inventory takes them out, accounting reverses the purchase."""
    s, now = uow.session, clock.now()
    po, rows = _lock(uow, purchase_order_id, now)
    errors, awaiting = FieldErrors(), _awaiting_invoice(s, purchase_order_id)
    if not requested:
        errors.add("lines", "name the lines and quantities to send back")
    if len({n for n, _ in requested}) != len(requested):
        errors.add("lines", "each line at most once")
    for i, (line_no, qty) in enumerate(requested):
        row = rows.get(line_no)
        if row is None:
            errors.add(f"lines[{i}].line_no", f"the purchase order has no line {line_no}")
        elif not 0 < qty <= row.received - row.returned - awaiting.get(line_no, 0):
            errors.add(f"lines[{i}].quantity", f"from 1 to {row.received - row.returned - awaiting.get(line_no, 0)} "
                                               "(received, not yet returned, not awaiting the supplier's invoice)")
    if len(reason or "") > 200:
        errors.add("reason", "at most 200 characters")
    errors.raise_if_any("the purchase return is invalid")
    lines = []
    for line_no, qty in sorted(requested):
        won = changed(s, update(purchase_order_lines).where(
            purchase_order_lines.c.purchase_order_id == purchase_order_id, purchase_order_lines.c.line_no == line_no,
            purchase_order_lines.c.returned + qty <= purchase_order_lines.c.received,
        ).values(returned=purchase_order_lines.c.returned + qty))
        if won != 1:
            raise Conflict(f"line {line_no} was returned concurrently; try again")
        row = rows[line_no]
        cost, rate = unit_cost(row.unit_cost), Decimal(row.vat_rate).quantize(domain.VAT_PLACES)
        amount = domain.line_amount(qty, cost)
        lines.append(dict(line_no=line_no, sku=row.sku, quantity=qty, unit_cost=cost, vat_rate=rate, amount=amount,
                          tax=domain.line_tax(amount, rate)))
    lots = lots or {}
    return_id = uuid.uuid4().hex
    total_net = cents(sum((l["amount"] for l in lines), start=Decimal(0)))
    total_tax = cents(sum((l["tax"] for l in lines), start=Decimal(0)))
    s.execute(purchase_returns.insert().values(
        id=return_id, purchase_order_id=purchase_order_id, reference=(reference or "").strip()[:128],
        reason=reason or "", total_net=total_net, total_tax=total_tax, total=total_net + total_tax,
        returned_by=uow.actor, returned_at=now))
    s.execute(purchase_return_lines.insert(), [dict(return_id=return_id, **l) for l in lines])
    supplier_name = s.execute(select(suppliers.c.name).where(suppliers.c.code == po.supplier)).scalar_one()
    uow.emit(PurchaseReturned(
        purchase_order_id=purchase_order_id, return_id=return_id,
        supplier=Supplier(code=po.supplier, name=supplier_name), warehouse=po.warehouse, currency=po.currency,
        **_conversion(po), returned_at=now, reason=reason or "",
        lines=[ReturnedLine(line_no=l["line_no"], sku=l["sku"], quantity=int(l["quantity"]), unit_cost=l["unit_cost"],
                            vat_rate=l["vat_rate"], amount=l["amount"], tax=l["tax"],
                            **({"lot": lots[l["line_no"]]} if lots.get(l["line_no"]) else {})) for l in lines],
        total_net=total_net, total_tax=total_tax, total=total_net + total_tax), return_id)
    return return_id


# -- goods before invoice and landed costs ----------------------------------------
def _awaiting_invoice(s, purchase_order_id: str) -> dict[int, int]:
    """line_no -> units received without their invoice and not yet invoiced (accepted receipts)."""
    r, rl = receipts, receipt_lines
    return {no: int(n) for no, n in s.execute(
        select(rl.c.line_no, func.sum(rl.c.quantity - rl.c.invoiced)).join(r, r.c.id == rl.c.receipt_id)
        .where(r.c.purchase_order_id == purchase_order_id, r.c.status == domain.ACCEPTED, r.c.invoice_pending)
        .group_by(rl.c.line_no)).all() if n}


def _supplier(s, code: str, field: str = "supplier") -> Supplier:
    name = s.execute(select(suppliers.c.name).where(suppliers.c.code == code)).scalar()
    if name is None:
        raise NotFound(f"supplier {code!r} not found", [{"field": field, "message": f"unknown supplier {code!r}"}])
    return Supplier(code=code, name=name)


def _check_reference(reference: str) -> str:
    reference = (reference or "").strip()
    if len(reference) > domain.MAX_REFERENCE:
        raise InvalidArgument("the reference is too long",
                              [{"field": "reference", "message": f"at most {domain.MAX_REFERENCE} characters"}])
    return reference


def _bill(uow: UnitOfWork, po, kind: str, supplier: Supplier, reference: str, lines: list[dict], provisional,
          total_net, total_tax, receipt_id: str | None = None, charge: str = "", basis: str = "") -> str:
    """Write a purchase bill and emit purchase_cost_billed (inventory applies the cost change)."""
    s, now, bill_id = uow.session, clock.now(), uuid.uuid4().hex
    total = total_net + total_tax
    s.execute(purchase_bills.insert().values(
        id=bill_id, kind=kind, purchase_order_id=po.id, receipt_id=receipt_id, supplier=supplier.code,
        reference=reference, charge=charge, basis=basis, provisional=provisional, total_net=total_net,
        total_tax=total_tax, total=total, billed_by=uow.actor, billed_at=now))
    s.execute(purchase_bill_lines.insert(), [dict(bill_id=bill_id, **l) for l in lines])
    uow.emit(PurchaseCostBilled(
        document_id=bill_id, kind=kind, purchase_order_id=po.id, supplier=supplier, warehouse=po.warehouse,
        currency=po.currency, reference=reference, charge=charge, billed_at=now, provisional=provisional,
        total_net=total_net, total_tax=total_tax, total=total,
        lines=[BilledLine(receipt_id=l["receipt_id"], line_no=l["line_no"], sku=l["sku"], quantity=int(l["quantity"]),
                          change=l["change"]) for l in lines]), bill_id)
    return bill_id


def invoice_purchase(uow: UnitOfWork, purchase_order_id: str, supplier: str, reference: str,
                     requested: list[domain.InvoiceLineInput], tolerance: Decimal) -> str:
    """A supplier invoice for goods received before it (先货后票), three-way matched: the purchase order's
    supplier, each line an order line with units received without their invoice (the oldest receipts
    first), at a price within `tolerance` of the order's. The receipts' provisional payable is
    reversed at what they were booked at; the invoice's net and VAT become the payable; the price
    difference changes the goods' cost (inventory: stock for the units held, cost of goods for the rest).
    Returns the bill's id."""
    s, now = uow.session, clock.now()
    reference = _check_reference(reference)
    po, rows = _lock(uow, purchase_order_id, now)
    if supplier != po.supplier:
        raise InvalidArgument(f"the invoice is from {supplier!r}, the purchase order from {po.supplier!r}",
                              [{"field": "supplier", "message": f"the purchase order's supplier is {po.supplier}"}])
    awaiting = _awaiting_invoice(s, purchase_order_id)
    open_lines = {no: domain.OpenReceiptLine(line_no=no, sku=rows[no].sku, unit_cost=unit_cost(rows[no].unit_cost),
                                             vat_rate=Decimal(rows[no].vat_rate).quantize(domain.VAT_PLACES),
                                             uninvoiced=n) for no, n in awaiting.items()}
    matched = domain.match_invoice(open_lines, requested, tolerance)
    r, rl = receipts, receipt_lines
    lines = []
    for m in matched:  # the oldest receipts awaiting their invoice first
        pending = s.execute(select(rl).join(r, r.c.id == rl.c.receipt_id).where(
            r.c.purchase_order_id == purchase_order_id, r.c.status == domain.ACCEPTED, r.c.invoice_pending,
            rl.c.line_no == m.line_no, rl.c.invoiced < rl.c.quantity).order_by(r.c.received_at, r.c.id)).all()
        need, parts = m.quantity, []
        for row in pending:
            if need == 0:
                break
            take = min(need, row.quantity - row.invoiced)
            # what this receipt line was booked at, for the units invoiced now: cumulative shares, exact
            booked = share(row.amount, row.invoiced + take, row.quantity) - share(row.amount, row.invoiced, row.quantity)
            won = changed(s, update(rl).where(rl.c.receipt_id == row.receipt_id, rl.c.line_no == m.line_no,
                                              rl.c.invoiced + take <= rl.c.quantity)
                          .values(invoiced=rl.c.invoiced + take))
            if won != 1:
                raise Conflict(f"line {m.line_no} was invoiced concurrently; try again")
            parts.append((row.receipt_id, take, booked))
            need -= take
        amounts = domain.allocate_by_units(m.amount, [take for _, take, _ in parts])
        for (receipt_id, take, booked), amount in zip(parts, amounts):
            lines.append(dict(receipt_id=receipt_id, line_no=m.line_no, sku=m.sku, quantity=take,
                              unit_price=m.unit_price, provisional=booked, amount=amount, change=amount - booked))
    provisional = cents(sum((l["provisional"] for l in lines), start=Decimal(0)))
    total_net = cents(sum((m.amount for m in matched), start=Decimal(0)))
    total_tax = cents(sum((m.tax for m in matched), start=Decimal(0)))
    return _bill(uow, po, "supplier_invoice", _supplier(s, po.supplier), reference, lines, provisional, total_net,
                 total_tax)


def bill_landed_cost(uow: UnitOfWork, receipt_id: str, supplier: str, reference: str, charge: str, basis: str,
                     amount, vat_rate, weights: dict[int, str]) -> tuple[str, str]:
    """A landed cost (freight, duty, insurance, other) on a separate bill, for one receipt: shared over the
    receipt's lines by value, quantity or weight (`weights`: line_no -> weight), adding up to the cent.
    Inventory puts each share on the line's units still held, the rest on cost of goods. Returns (bill
    id, purchase order id)."""
    s, now = uow.session, clock.now()
    receipt = s.execute(select(receipts).where(receipts.c.id == receipt_id)).first()
    if receipt is None:
        raise NotFound(f"receipt {receipt_id!r} not found", [{"field": "receipt_id", "message": "unknown receipt"}])
    errors = FieldErrors()
    if charge not in domain.LANDED_CHARGES:
        errors.add("charge", f"one of {', '.join(domain.LANDED_CHARGES)}")
    net = domain.parse_amount(errors, "amount", amount)
    rate = domain.parse_vat_rate(errors, "vat_rate", vat_rate if str(vat_rate or "").strip() else "0")
    parsed: dict[int, Decimal] = {}
    for line_no, raw in sorted(weights.items()):
        value = domain.parse_weight(errors, f"weights[{line_no}]", raw)
        if value is not None:
            parsed[line_no] = value
    if receipt.status != domain.ACCEPTED:
        errors.add("receipt_id", "the receipt was refused by inventory; its goods never entered stock")
    errors.raise_if_any("the landed cost is invalid")
    reference = _check_reference(reference)
    who = _supplier(s, supplier)
    po, _ = _lock(uow, receipt.purchase_order_id, now)
    if po.exchange_rate is not None:
        raise InvalidArgument("landed costs are for purchase orders in the books' currency",
                              [{"field": "receipt_id", "message": f"the order is in {po.currency}"}])
    rows = s.execute(select(receipt_lines).where(receipt_lines.c.receipt_id == receipt_id)
                     .order_by(receipt_lines.c.line_no)).all()
    unknown = sorted(set(parsed) - {r.line_no for r in rows})
    if unknown:
        raise InvalidArgument("the weights name lines the receipt does not have",
                              [{"field": f"weights[{n}]", "message": f"the receipt has no line {n}"} for n in unknown])
    assert net is not None and rate is not None  # refused above otherwise
    shares = domain.allocate_landed_cost(net, basis, [domain.ReceiptLineBasis(
        r.line_no, int(r.quantity), cents(r.amount), parsed.get(r.line_no, Decimal(0))) for r in rows])
    lines = [dict(receipt_id=receipt_id, line_no=r.line_no, sku=r.sku, quantity=int(r.quantity), unit_price=None,
                  provisional=Decimal("0.00"), amount=part, change=part) for r, part in zip(rows, shares)]
    bill_id = _bill(uow, po, "landed_cost", who, reference, lines, Decimal("0.00"), net,
                    domain.line_tax(net, rate), receipt_id=receipt_id, charge=charge, basis=basis)
    return bill_id, po.id


def read_bill(s, bill_id: str) -> dict:
    row = s.execute(select(purchase_bills).where(purchase_bills.c.id == bill_id)).one()
    lines = s.execute(select(purchase_bill_lines).where(purchase_bill_lines.c.bill_id == bill_id)
                      .order_by(purchase_bill_lines.c.receipt_id, purchase_bill_lines.c.line_no)).all()
    return {**dict(row._mapping), "lines": [dict(l._mapping) for l in lines]}


def provisional_payables(db: Database) -> list[dict]:
    """The month-end list of what is still provisional (暂估): per receipt line received without its invoice,
    the units not yet invoiced and what they are booked at (the line's amount less what invoices reversed),
    oldest first."""
    r, rl, po = receipts, receipt_lines, purchase_orders
    query = (select(po.c.supplier, po.c.id, po.c.warehouse, po.c.currency, r.c.id, r.c.received_at, rl.c.line_no,
                    rl.c.sku, rl.c.quantity, rl.c.invoiced, rl.c.unit_cost, rl.c.amount)
             .join(r, r.c.id == rl.c.receipt_id).join(po, po.c.id == r.c.purchase_order_id)
             .where(r.c.invoice_pending, r.c.status == domain.ACCEPTED, rl.c.invoiced < rl.c.quantity)
             .order_by(r.c.received_at, r.c.id, rl.c.line_no))
    with db.reader() as s:
        found = s.execute(query).all()
    return [{"supplier": supplier, "purchase_order_id": po_id, "warehouse": warehouse, "currency": currency,
             "receipt_id": receipt_id, "received_at": _utc(received_at), "line_no": line_no, "sku": sku,
             "quantity": int(quantity - invoiced), "unit_cost": unit_cost(cost),
             "amount": cents(amount) - share(amount, int(invoiced), int(quantity))}
            for supplier, po_id, warehouse, currency, receipt_id, received_at, line_no, sku, quantity, invoiced, cost,
            amount in found]


# -- inspection results from inventory ------------------------------------------
def record_inspection(uow: UnitOfWork, event: InspectionRecorded) -> str | None:
    """inspection_recorded: keep the result for the supplier scorecard; failed units to go back
    (disposition return) become a purchase return of that line from the reject lot they wait in.
    Once per inspection. Returns the purchase return's id, if one was raised."""
    s = uow.session
    kept = changed(s, dialect_insert(s, inspection_results).values(
        inspection_id=event.inspection_id, receipt_id=event.receipt_id, purchase_order_id=event.purchase_order_id,
        line_no=event.line_no, supplier=event.supplier, sku=event.sku, lot=event.lot, quantity=event.quantity,
        passed=event.passed, failed=event.failed, disposition=event.disposition, inspected_by=event.inspected_by,
        inspected_at=event.inspected_at).on_conflict_do_nothing())
    if not kept or not event.failed or event.disposition != "return":
        return None
    savepoint = s.begin_nested()
    try:
        return_id = return_purchase(uow, event.purchase_order_id, [(event.line_no, event.failed)],
                                    f"failed inspection {event.inspection_id}", event.inspection_id,
                                    {event.line_no: event.return_lot})
    except HubError as exc:  # e.g. returned by hand meanwhile: the reject lot stays quarantined, in sight
        savepoint.rollback()
        log.warning("inspection %s: no purchase return raised: %s", event.inspection_id, exc.message)
        return None
    savepoint.commit()
    s.execute(update(inspection_results).where(inspection_results.c.inspection_id == event.inspection_id)
              .values(return_id=return_id))
    return return_id


# -- refusals from inventory ---------------------------------------------------
def refuse_receipt(uow: UnitOfWork, event: PurchaseReceiptRefused) -> bool:
    """purchase_receipt_refused: inventory did not take the receipt into stock. The receipt stays,
    marked refused with inventory's reason, and its quantities are open on the purchase order again
    (to be received once the cause is fixed). False when it was refused already."""
    s = uow.session
    if not _mark_refused(uow, receipts, event.receipt_id, event):
        return False
    lines = s.execute(select(receipt_lines.c.line_no, receipt_lines.c.quantity)
                      .where(receipt_lines.c.receipt_id == event.receipt_id)).all()
    _reopen(s, event.purchase_order_id, purchase_order_lines.c.received, lines)
    after = s.execute(select(purchase_order_lines.c.quantity, purchase_order_lines.c.received).where(
        purchase_order_lines.c.purchase_order_id == event.purchase_order_id)).all()
    s.execute(update(purchase_orders).where(purchase_orders.c.id == event.purchase_order_id)
              .values(status=domain.status_of([(q, r) for q, r in after])))
    return True


def refuse_return(uow: UnitOfWork, event: PurchaseReturnRefused) -> bool:
    """purchase_return_refused: the goods did not leave (reserved for orders, held, gone). The return
    stays, marked refused with inventory's reason, and its quantities may be returned again."""
    s = uow.session
    if not _mark_refused(uow, purchase_returns, event.return_id, event):
        return False
    lines = s.execute(select(purchase_return_lines.c.line_no, purchase_return_lines.c.quantity)
                      .where(purchase_return_lines.c.return_id == event.return_id)).all()
    _reopen(s, event.purchase_order_id, purchase_order_lines.c.returned, lines)
    return True


def _mark_refused(uow: UnitOfWork, table, document_id: str, event) -> bool:
    """Mark an accepted receipt or return refused with inventory's reason, its purchase order locked;
    False when it was refused already."""
    _lock(uow, event.purchase_order_id, clock.now())
    marked = update(table).where(table.c.id == document_id, table.c.status == domain.ACCEPTED).values(
        status=domain.REFUSED, refused_reason=event.reason[:500], refused_at=event.refused_at)
    return changed(uow.session, marked) > 0


def _reopen(s, purchase_order_id: str, column, lines) -> None:
    """Take a refused document's quantities off the purchase order lines' received or returned."""
    for line_no, quantity in lines:
        s.execute(update(purchase_order_lines).where(
            purchase_order_lines.c.purchase_order_id == purchase_order_id, purchase_order_lines.c.line_no == line_no)
            .values({column: column - quantity}))


# -- stock signals from inventory --------------------------------------------
def apply_low_stock(uow: UnitOfWork, envelope: Envelope) -> str | None:
    """low_stock: the position with inventory's minimum and maximum, then the SKU evaluated
    (planning.evaluate: up to the maximum at least, more where demand asks for it, netted with open
    purchase orders and goods in transit). A signal that happened before the last suggestion was
    dismissed or ordered changes nothing: a buyer has decided on it. Returns the open suggestion's
    id, or None when nothing is suggested."""
    signal = domain.parse_low_stock(envelope.payload)
    planning.record_limits(uow, signal.sku, signal.warehouse, signal.available, signal.minimum, signal.maximum)
    suggestion_id = planning.evaluate(uow, signal.sku, signal.warehouse, signal.occurred_at)
    if suggestion_id is None:
        log.info("low_stock for %s in %s: nothing to suggest (covered, or decided on since)", signal.sku,
                 signal.warehouse)
    return suggestion_id


def record_sales(uow: UnitOfWork, issued: list) -> None:
    """goods_issued: the units sold per SKU, warehouse and day, then each SKU evaluated (once per SKU
    and warehouse of the batch, all of them from one read of each kind of fact)."""
    lines = [(l.sku, l.warehouse, planning.day_of(event.issued_at), int(l.quantity))
             for event in issued for l in event.lines]
    moved = planning.record_sales(uow, lines)
    latest = max(event.issued_at for event in issued)
    planning.evaluate_many(uow, {pair: latest for pair in moved})


def record_levels(uow: UnitOfWork, changes: list[tuple]) -> None:
    """stock_changed: each SKU's position per warehouse (a warehouse with nothing available marks
    the day out of stock), then evaluated where procurement buys it (terms, limits or sales known):
    once per SKU and warehouse of the batch, as of its latest change, all of them together."""
    today, latest = clock.now().date(), dict[tuple[str, str], datetime]()
    levels = []
    for event, occurred_at in changes:
        for l in event.levels:
            levels.append((l.sku, l.warehouse, int(l.available), int(l.in_transit)))
            latest[(l.sku, l.warehouse)] = max(occurred_at, latest.get((l.sku, l.warehouse), occurred_at))
    positions = planning.record_levels(uow, levels, today)
    planning.evaluate_many(uow, latest, positions)


def record_stock_alert(uow: UnitOfWork, envelope: Envelope) -> None:
    """lot_expiring / lot_hold_changed: keep them as alerts for buyers."""
    occurred_at, rows = domain.alerts_from_signal(envelope.type, envelope.payload)
    payload, now = envelope.payload, clock.now()
    uow.session.execute(stock_alerts.insert(), [
        dict(event_id=envelope.event_id, kind=envelope.type, sku=payload["sku"], lot=payload["lot"],
             warehouse=r["warehouse"], details=json.dumps(r["details"], ensure_ascii=False),
             occurred_at=occurred_at, recorded_at=now) for r in rows])


def dismiss_suggestion(uow: UnitOfWork, sku: str, warehouse: str) -> str:
    """A buyer decides not to act on the open suggestion for the SKU in the warehouse; a later
    low_stock signal opens a new one. Returns the suggestion's id."""
    s, now, t = uow.session, clock.now(), purchase_suggestions
    key = (t.c.sku == sku) & (t.c.warehouse == warehouse)
    open_id = s.execute(select(t.c.id).where(key, t.c.status == domain.SUGGESTION_OPEN)).scalar()
    if open_id is not None:
        dismissed = changed(s, update(t).where(t.c.id == open_id, t.c.status == domain.SUGGESTION_OPEN).values(
            status=domain.SUGGESTION_DISMISSED, closed_by=uow.actor, closed_at=now, updated_at=now))
        if dismissed:
            return open_id
    last = s.execute(select(t.c.status).where(key).order_by(t.c.updated_at.desc()).limit(1)).scalar()
    fields = [{"field": "sku", "message": f"no open purchase suggestion for {sku} in {warehouse}"}]
    if last is None:
        raise NotFound(f"no purchase suggestion for {sku!r} in {warehouse!r}", fields)
    raise Conflict(f"the purchase suggestion for {sku} in {warehouse} is already {last}", fields)


# -- queries ---------------------------------------------------------------
def _suggestion(row) -> dict:
    d = dict(row._mapping)
    for name in ("signalled_at", "created_at", "updated_at", "closed_at"):
        d[name] = _utc(d[name]) if d[name] is not None else None
    return d


def get_suggestion(db: Database, suggestion_id: str) -> dict:
    with db.reader() as s:
        return read_suggestion(s, suggestion_id)


def read_suggestion(s, suggestion_id: str) -> dict:
    """A suggestion as the session sees it (inside a unit of work: with its own changes)."""
    row = s.execute(select(purchase_suggestions).where(purchase_suggestions.c.id == suggestion_id)).first()
    if row is None:
        raise NotFound(f"purchase suggestion {suggestion_id!r} not found")
    return _suggestion(row)


def list_suggestions(db: Database, status: str = "", warehouse: str = "", limit: int = 100) -> list[dict]:
    """Newest signal first."""
    domain.check_list_filter("status", status, domain.SUGGESTION_STATUSES)
    t = purchase_suggestions
    query = select(t).order_by(t.c.signalled_at.desc(), t.c.id).limit(domain.list_limit(limit))
    if status:
        query = query.where(t.c.status == status)
    if warehouse:
        query = query.where(t.c.warehouse == warehouse)
    with db.reader() as s:
        return [_suggestion(r) for r in s.execute(query).all()]


def list_stock_alerts(db: Database, kind: str = "", sku: str = "", limit: int = 100) -> list[dict]:
    """Newest first."""
    domain.check_list_filter("kind", kind, domain.ALERT_KINDS)
    t = stock_alerts
    query = select(t).order_by(t.c.occurred_at.desc(), t.c.id.desc()).limit(domain.list_limit(limit))
    if kind:
        query = query.where(t.c.kind == kind)
    if sku:
        query = query.where(t.c.sku == sku)
    with db.reader() as s:
        rows = s.execute(query).all()
    return [{**dict(r._mapping), "details": json.loads(r.details), "occurred_at": _utc(r.occurred_at),
             "recorded_at": _utc(r.recorded_at)} for r in rows]


def get_purchase_order(db: Database, purchase_order_id: str) -> dict:
    with db.reader() as s:
        return read_purchase_order(s, purchase_order_id)


def read_purchase_order(s, purchase_order_id: str) -> dict:
    """A purchase order as the session sees it (inside a unit of work: with its own changes)."""
    row = s.execute(select(purchase_orders).where(purchase_orders.c.id == purchase_order_id)).first()
    if row is None:
        raise NotFound(f"purchase order {purchase_order_id!r} not found",
                       [{"field": "id", "message": "unknown purchase order"}])
    po = dict(row._mapping)
    po["created_at"], po["updated_at"] = _utc(po["created_at"]), _utc(po["updated_at"])
    po["supplier_name"] = s.execute(select(suppliers.c.name).where(suppliers.c.code == po["supplier"])).scalar() or ""
    po.update(approvals.read(s, chains.PURCHASE_ORDER, purchase_order_id))
    po["lines"] = [dict(r._mapping) for r in s.execute(
        select(purchase_order_lines).where(purchase_order_lines.c.purchase_order_id == purchase_order_id)
        .order_by(purchase_order_lines.c.line_no)).all()]
    found = s.execute(select(receipts).where(receipts.c.purchase_order_id == purchase_order_id)
                      .order_by(receipts.c.received_at, receipts.c.id)).all()
    ids = [r.id for r in found]
    by_receipt: dict[str, list] = {}
    if ids:
        for line in s.execute(select(receipt_lines).where(receipt_lines.c.receipt_id.in_(ids))
                              .order_by(receipt_lines.c.line_no)).all():
            by_receipt.setdefault(line.receipt_id, []).append(dict(line._mapping))
    po["receipts"] = [{**dict(r._mapping), "received_at": _utc(r.received_at),
                       "refused_at": r.refused_at and _utc(r.refused_at),
                       "lines": by_receipt.get(r.id, [])} for r in found]
    sent = s.execute(select(purchase_returns).where(purchase_returns.c.purchase_order_id == purchase_order_id)
                     .order_by(purchase_returns.c.returned_at, purchase_returns.c.id)).all()
    by_return: dict[str, list] = {}
    if sent:
        for line in s.execute(select(purchase_return_lines).where(
                purchase_return_lines.c.return_id.in_([r.id for r in sent]))
                .order_by(purchase_return_lines.c.line_no)).all():
            by_return.setdefault(line.return_id, []).append(dict(line._mapping))
    po["returns"] = [{**dict(r._mapping), "returned_at": _utc(r.returned_at),
                      "refused_at": r.refused_at and _utc(r.refused_at),
                      "lines": by_return.get(r.id, [])} for r in sent]
    return po


def payables(db: Database) -> list[dict]:
    """What the documents say the merchant owes each supplier, before payments (which only the books
    know): per supplier and currency, the purchase receipts' totals (VAT included, as posted to the
    payable) less the totals of the goods sent back. Rows {"supplier", "currency", "received",
    "returned"}, sorted by supplier and currency."""
    po, b = purchase_orders, purchase_bills
    totals: dict[tuple[str, str], dict] = {}
    with db.reader() as s:
        queries = [("received", select(po.c.supplier, po.c.currency, cents_sum(receipts.c.total))
                    .join(po, po.c.id == receipts.c.purchase_order_id)
                    # a refused one was undone in the books; one awaiting its invoice is owed provisionally
                    .where(receipts.c.status == "accepted", receipts.c.invoice_pending.is_(False))
                    .group_by(po.c.supplier, po.c.currency)),
                   ("returned", select(po.c.supplier, po.c.currency, cents_sum(purchase_returns.c.total))
                    .join(po, po.c.id == purchase_returns.c.purchase_order_id)
                    .where(purchase_returns.c.status == "accepted").group_by(po.c.supplier, po.c.currency)),
                   # supplier invoices and landed cost bills: owed to whoever billed them
                   ("received", select(b.c.supplier, po.c.currency, cents_sum(b.c.total))
                    .join(po, po.c.id == b.c.purchase_order_id).group_by(b.c.supplier, po.c.currency))]
        for name, query in queries:
            for supplier, currency, amount in s.execute(query).all():
                row = totals.setdefault((supplier, currency), {"supplier": supplier, "currency": currency,
                                                              "received": Decimal("0.00"),
                                                              "returned": Decimal("0.00")})
                row[name] += cents(Decimal(amount) / 100)
    return [totals[key] for key in sorted(totals)]


# -- the supplier scorecard ------------------------------------------------------
def scorecard_config(s) -> tuple[scorecard.Config, str, object]:
    """The configured bands and weights (the default until someone sets them), who set them and when."""
    row = s.execute(select(scorecard_config_table).where(scorecard_config_table.c.id == 1)).first()
    if row is None:
        return scorecard.parse_config(scorecard.DEFAULT_CONFIG), "", None
    return scorecard.parse_config(row.document), row.updated_by, _utc(row.updated_at)


def get_scorecard_config(db: Database) -> tuple[scorecard.Config, str, object]:
    with db.reader() as s:
        return scorecard_config(s)


def set_scorecard_config(uow: UnitOfWork, document: str) -> tuple[scorecard.Config, str, object]:
    """Replace the bands and weights; refused whole (InvalidArgument, nothing changed) when invalid."""
    config = scorecard.parse_config(document)
    s, now, t = uow.session, clock.now(), scorecard_config_table
    text = json.dumps(scorecard.config_json(config))
    s.execute(dialect_insert(s, t).values(id=1, document=text, updated_by=uow.actor, updated_at=now)
              .on_conflict_do_update(index_elements=["id"], set_={"document": text, "updated_by": uow.actor,
                                                                  "updated_at": now}))
    return config, uow.actor, now


def _receipt_line(row, last_cost: Decimal | None = None) -> scorecard.Received:
    return scorecard.Received(
        quantity=int(row.quantity), received_on=clock.local(_utc(row.received_at)).date(),
        ordered_on=clock.local(_utc(row.created_at)).date(), expected_on=row.expected_on,
        unit_cost=Decimal(row.unit_cost), last_cost=last_cost)


def _received_query(since: datetime, until: datetime):
    """Accepted receipt lines in [since, until) with their order and its line's expected date."""
    po, pl, r, rl = purchase_orders, purchase_order_lines, receipts, receipt_lines
    return (select(po.c.supplier, po.c.id, po.c.created_at, rl.c.sku, rl.c.quantity, rl.c.unit_cost,
                   r.c.received_at, pl.c.expected_on)
            .select_from(rl.join(r, r.c.id == rl.c.receipt_id).join(po, po.c.id == r.c.purchase_order_id)
                         .join(pl, (pl.c.purchase_order_id == po.c.id) & (pl.c.line_no == rl.c.line_no)))
            .where(r.c.status == domain.ACCEPTED, r.c.received_at >= since, r.c.received_at < until))


def on_time_report(db: Database, start: str, end: str, supplier: str = "", group: str = "month") -> dict:
    """The supplier on-time KPI: per supplier and part of the period (`group`: month, week (ISO) or the
    whole period) the scorecard's on-time figures (scorecard.on_time) of the receipt lines accepted in
    it, by their local receipt day against their line's expected date. Lines without an expected date
    are counted apart (unpromised_units) and not in the rate. Rows by supplier, then period; a total
    per supplier over the whole period in `suppliers`."""
    first, last = scorecard.check_period(start, end)
    errors = FieldErrors()
    if group not in scorecard.ON_TIME_GROUPS:
        errors.add("group", f"expected one of {', '.join(scorecard.ON_TIME_GROUPS)}")
    errors.raise_if_any("the on-time report is invalid")
    since = datetime.combine(first, time.min, clock.zone())
    until = datetime.combine(last + timedelta(days=1), time.min, clock.zone())
    query = _received_query(since, until)
    if supplier:
        query = query.where(purchase_orders.c.supplier == supplier)
    with db.reader() as s:
        names = dict(s.execute(select(suppliers.c.code, suppliers.c.name)).all())
        found_rows = s.execute(query).all()
    lines, codes = [_receipt_line(row) for row in found_rows], [row.supplier for row in found_rows]
    parts: dict[tuple[str, str], list] = {}
    for code, line in zip(codes, lines):
        parts.setdefault((code, scorecard.period_of(line.received_on, group, first, last)), []).append(line)

    def figures(found: list) -> dict:
        return {**scorecard.on_time(found), "unpromised_units": sum(r.quantity for r in found if r.expected_on is None)}

    rows = [{"supplier": code, "name": names.get(code, ""), "period": period, **figures(found)}
            for (code, period), found in sorted(parts.items())]
    totals = [{"supplier": code, "name": names.get(code, ""), "period": scorecard.period_of(first, "period", first, last),
               **figures([line for c, line in zip(codes, lines) if c == code])} for code in sorted(set(codes))]
    return {"from": first, "to": last, "group": group, "rows": rows, "suppliers": totals}


def delivery_timeliness(db: Database, days: int) -> dict[str, dict[str, int]]:
    """Over the receipts accepted in the last `days` days, on lines with an expected date: units received
    on or before it ("on_time") and after it ("late"), per supplier - the scorecard's on-time rate over a
    trailing window, for the business metrics (which keep only the totals and the count of late suppliers)."""
    now = clock.now()
    query = _received_query(now - timedelta(days=days), now + timedelta(days=1)).where(
        purchase_order_lines.c.expected_on.is_not(None))
    out: dict[str, dict[str, int]] = {}
    with db.reader() as s:
        for found in s.execute(query):
            late = clock.local(_utc(found.received_at)).date() > found.expected_on
            row = out.setdefault(found.supplier, {"on_time": 0, "late": 0})
            row["late" if late else "on_time"] += int(found.quantity)
    return out


def supplier_scorecard(db: Database, start: str, end: str, supplier: str = "", grade: str = "") -> dict:
    """Per supplier with anything received, due or inspected in the period (days from `start` to
    `end`, both included, the merchant's calendar days): services.procurement.scorecard.card, with the supplier's code and name.
    Rows by supplier code; `grade` keeps only that grade's rows."""
    first, last = scorecard.check_period(start, end)
    since = datetime.combine(first, time.min, clock.zone())
    until = datetime.combine(last + timedelta(days=1), time.min, clock.zone())
    po, pl, ins = purchase_orders, purchase_order_lines, inspection_results
    with db.reader() as s:
        config, _, _ = scorecard_config(s)
        names = dict(s.execute(select(suppliers.c.code, suppliers.c.name)).all())
        received_q = _received_query(since, until)
        due_q = (select(po.c.supplier, po.c.created_at, pl.c.expected_on, pl.c.quantity, pl.c.received)
                 .select_from(pl.join(po, po.c.id == pl.c.purchase_order_id))
                 .where(((pl.c.expected_on >= first) & (pl.c.expected_on <= last))
                        | (pl.c.expected_on.is_(None) & (po.c.created_at >= since) & (po.c.created_at < until))))
        inspected_q = (select(ins.c.supplier, ins.c.passed, ins.c.failed)
                       .where(ins.c.inspected_at >= since, ins.c.inspected_at < until))
        prices_q = (select(po.c.supplier, pl.c.sku, po.c.created_at, po.c.id, pl.c.unit_cost)
                    .select_from(pl.join(po, po.c.id == pl.c.purchase_order_id)).where(po.c.created_at < until)
                    .order_by(po.c.created_at, po.c.id))
        if supplier:
            received_q, due_q, prices_q = (q.where(po.c.supplier == supplier) for q in (received_q, due_q, prices_q))
            inspected_q = inspected_q.where(ins.c.supplier == supplier)
        received_rows, due_rows = s.execute(received_q).all(), s.execute(due_q).all()
        inspected_rows, price_rows = s.execute(inspected_q).all(), s.execute(prices_q).all()
    prices: dict[tuple[str, str], list] = {}
    for row in price_rows:
        prices.setdefault((row.supplier, row.sku), []).append((_utc(row.created_at), row.id, Decimal(row.unit_cost)))

    def last_price(code: str, sku: str, ordered_at, po_id: str) -> Decimal | None:
        earlier = [cost for at, pid, cost in prices.get((code, sku), []) if (at, pid) < (ordered_at, po_id)]
        return earlier[-1] if earlier else None

    received: dict[str, list] = {}
    for row in received_rows:
        received.setdefault(row.supplier, []).append(
            _receipt_line(row, last_price(row.supplier, row.sku, _utc(row.created_at), row.id)))
    due: dict[str, list] = {}
    for row in due_rows:
        due.setdefault(row.supplier, []).append(scorecard.Due(int(row.quantity), int(row.received)))
    inspected: dict[str, list] = {}
    for row in inspected_rows:
        inspected.setdefault(row.supplier, []).append((int(row.passed), int(row.failed)))
    rows = []
    for code in sorted(set(received) | set(due) | set(inspected)):
        card = scorecard.card(config, received.get(code, []), due.get(code, []), inspected.get(code, []))
        if not grade or card["grade"] == grade:
            rows.append({"supplier": code, "name": names.get(code, ""), **card})
    return {"from": first, "to": last, "rows": rows, "config": scorecard.config_json(config)}
