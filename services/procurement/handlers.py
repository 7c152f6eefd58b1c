"""Procurement use cases: one function per command or event."""
from __future__ import annotations

import json
import logging
import uuid
from datetime import timezone
from decimal import Decimal

from sqlalchemy import func, select, update

from contracts import PurchaseReceiptRefused, PurchaseReceived, PurchaseReturned, PurchaseReturnRefused
from contracts.events import ReceivedLine, ReturnedLine, Supplier
from hubkit import clock
from hubkit.db import Database, UnitOfWork, as_utc, changed, dialect_insert
from hubkit.envelope import Envelope
from hubkit.errors import Conflict, FieldErrors, NotFound
from hubkit.money import cents, unit_cost
from hubkit.sql import cents_sum
from services.procurement import approvals, chains, domain
from services.procurement.models import (
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
             unit_cost=l.unit_cost, vat_rate=l.vat_rate, amount=l.amount) for l in lines])
    if requisition_id is None:
        approval, version = approvals.start(
            uow, chains.PURCHASE_ORDER, po_id, uow.actor, amount_in_base(lines, cmd.exchange_rate),
            {"currency": currency, "supplier": cmd.supplier, "suppliers": [cmd.supplier],
             "skus": sorted({l.sku for l in lines}), **(facts or {})})
        s.execute(update(purchase_orders).where(purchase_orders.c.id == po_id)
                  .values(approval=approval, chain_version=version))
    else:
        s.execute(update(purchase_orders).where(purchase_orders.c.id == po_id).values(approval=chains.APPROVED))
    # the open suggestions this order takes up are done
    s.execute(update(purchase_suggestions).where(
        purchase_suggestions.c.status == domain.SUGGESTION_OPEN,
        purchase_suggestions.c.warehouse == cmd.warehouse,
        purchase_suggestions.c.sku.in_(sorted({l.sku for l in lines}))).values(
        status=domain.SUGGESTION_ORDERED, purchase_order_id=po_id, closed_by=uow.actor, closed_at=now,
        updated_at=now))
    return po_id


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
                           reference: str = "", tracking: dict[int, dict] | None = None) -> str:
    """Take in a delivery: a receipt with its lines (and, per line, the bin, lot, expiry and
    serials it arrives with), the received quantities and the status, and purchase_received, in one
    transaction. Returns the receipt id."""
    s, now = uow.session, clock.now()
    po, rows = _lock(uow, purchase_order_id, now)
    if po.approval != chains.APPROVED:
        raise Conflict(f"purchase order {purchase_order_id} is {po.approval}, not approved: it cannot be received",
                       [{"field": "purchase_order_id", "message": f"approval {po.approval}: approve it first"}])
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
                                       received_by=uow.actor, received_at=now))
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
        total_net=total_net, total_tax=total_tax, total=total),
        receipt_id)  # each receipt its own aggregate: none is ordered after (or stale against) another
    return receipt_id


def return_purchase(uow: UnitOfWork, purchase_order_id: str, requested: list[tuple[int, int]], reason: str,
                    reference: str = "") -> str:
    """Send received goods back to the supplier (per line, at most what was received and not yet
    returned) and emit purchase_returned: inventory takes them out, accounting reverses the purchase."""
    s, now = uow.session, clock.now()
    po, rows = _lock(uow, purchase_order_id, now)
    errors = FieldErrors()
    if not requested:
        errors.add("lines", "name the lines and quantities to send back")
    if len({n for n, _ in requested}) != len(requested):
        errors.add("lines", "each line at most once")
    for i, (line_no, qty) in enumerate(requested):
        row = rows.get(line_no)
        if row is None:
            errors.add(f"lines[{i}].line_no", f"the purchase order has no line {line_no}")
        elif not 0 < qty <= row.received - row.returned:
            errors.add(f"lines[{i}].quantity", f"from 1 to {row.received - row.returned} (received, not yet returned)")
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
                            vat_rate=l["vat_rate"], amount=l["amount"], tax=l["tax"]) for l in lines],
        total_net=total_net, total_tax=total_tax, total=total_net + total_tax), return_id)
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
    """low_stock: open a purchase suggestion for the SKU in the warehouse, or bring the open one up
    to date (latest available, minimum, maximum; quantity = the shortfall). A signal that happened
    before the last suggestion was dismissed or ordered changes nothing: a buyer has decided on it.
    Returns the suggestion's id, or None when nothing was suggested."""
    signal = domain.parse_low_stock(envelope.payload)
    s, now, t = uow.session, clock.now(), purchase_suggestions
    if signal.shortfall < 1:
        log.info("low_stock for %s in %s has no shortfall; nothing to suggest", signal.sku, signal.warehouse)
        return None
    key = (t.c.sku == signal.sku) & (t.c.warehouse == signal.warehouse)
    closed_at = s.execute(select(func.max(t.c.closed_at)).where(key, t.c.status != domain.SUGGESTION_OPEN)).scalar()
    if closed_at is not None and signal.occurred_at <= _utc(closed_at):
        log.info("low_stock for %s in %s predates the last decision on it; ignored", signal.sku, signal.warehouse)
        return None
    latest = dict(available=signal.available, minimum=signal.minimum, maximum=signal.maximum,
                  quantity=signal.shortfall, signalled_at=signal.occurred_at, updated_at=now)
    # One statement, so concurrent signals for one SKU and warehouse cannot open two suggestions;
    # an older signal does not overwrite a newer one.
    insert = dialect_insert(s, t).values(id=uuid.uuid4().hex, sku=signal.sku, warehouse=signal.warehouse,
                                         status=domain.SUGGESTION_OPEN, created_at=now, **latest)
    s.execute(insert.on_conflict_do_update(
        index_elements=[t.c.sku, t.c.warehouse], index_where=t.c.status == domain.SUGGESTION_OPEN,
        set_=latest, where=t.c.signalled_at <= signal.occurred_at))
    return s.execute(select(t.c.id).where(key, t.c.status == domain.SUGGESTION_OPEN)).scalar_one()


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
    po = purchase_orders
    totals: dict[tuple[str, str], dict] = {}
    with db.reader() as s:
        for name, table in (("received", receipts), ("returned", purchase_returns)):
            query = (select(po.c.supplier, po.c.currency, cents_sum(table.c.total))
                     .join(po, po.c.id == table.c.purchase_order_id)
                     .where(table.c.status == "accepted")  # a refused one was undone in the books
                     .group_by(po.c.supplier, po.c.currency))
            for supplier, currency, amount in s.execute(query).all():
                row = totals.setdefault((supplier, currency), {"supplier": supplier, "currency": currency,
                                                              "received": Decimal("0.00"),
                                                              "returned": Decimal("0.00")})
                row[name] = cents(Decimal(amount) / 100)
    return [totals[key] for key in sorted(totals)]
