"""Inventory's answers to purchasing events, and the stock value query. Orders are handled in
reservations.py, stock documents in movements.py, transfers.py, counts.py and holds.py."""
from __future__ import annotations

import logging
import uuid
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select

from contracts import PurchaseCostAdjusted, PurchaseReceiptRefused, PurchaseReturnRefused, PurchaseReturnShipped
from hubkit import clock
from hubkit.db import Database, UnitOfWork
from hubkit.envelope import Envelope
from hubkit.errors import HubError, InvalidArgument, NotFound
from hubkit.inbox import PredecessorMissing
from hubkit.money import cents, convert, to_decimal, unit_cost
from services.inventory import catalog, costing, inspections, movements, reservations, signals, stock
from services.inventory.models import cost_layers, serials, stock_movements
from services.inventory.stock import Context

log = logging.getLogger(__name__)


def receive_purchase(uow: UnitOfWork, envelope: Envelope, policy: inspections.Policy | None = None) -> None:
    """purchase_received: the goods enter the warehouse at their purchase cost (excluding VAT), or,
    when inventory cannot take them (an unknown bin, a serial already in stock, ...), none of them
    do and purchase_receipt_refused says why, so procurement and the books undo the receipt."""
    p = envelope.payload
    refusal = _applied_or_refused(uow, lambda: receive_purchase_lines(
        uow, p["receipt_id"], p["purchase_order_id"], p["warehouse"], p["lines"],
        datetime.fromisoformat(p["received_at"]), p.get("exchange_rate"), (p.get("supplier") or {}).get("code", ""),
        policy))
    if refusal is not None:
        uow.emit(PurchaseReceiptRefused(purchase_order_id=p["purchase_order_id"], receipt_id=p["receipt_id"],
                                        warehouse=p["warehouse"], reason=refusal.message, errors=refusal.fields,
                                        refused_at=clock.now()), p["receipt_id"])


def receive_purchase_lines(uow: UnitOfWork, receipt_id: str, purchase_order_id: str, warehouse: str,
                           lines: list[dict], received_at: datetime, exchange_rate: str | None = None,
                           supplier: str = "", policy: inspections.Policy | None = None) -> None:
    """Take a purchase receipt's lines into stock, or refuse all of them with the fields named as
    the receipt names them (`lines[i].bin`). A lot-tracked SKU without a lot on the receipt gets the
    receipt's number as its lot. The one place that decides what a purchase receipt may bring.
    The goods enter stock in the books' currency: a purchase in another is converted at the rate it
    was accepted at, each line worth its amount converted (what the books debit to inventory).
    A line the inspection `policy` names arrives quarantined, with an inspection task."""
    s = uow.session
    catalog.require_warehouse(s, warehouse)
    stock.lock(s, {line["sku"] for line in lines})
    for i, line in enumerate(lines):
        with _naming_line(i, line["line_no"]):
            item = catalog.sku_row(s, line["sku"])
            cost = (str(unit_cost(to_decimal(line["unit_cost"]) * to_decimal(exchange_rate))) if exchange_rate
                    else str(line["unit_cost"]))
            lot = line.get("lot") or (f"R{receipt_id}"[:64] if item.lot_tracked else "")
            inspect = policy is not None and policy.requires(item, supplier)
            if inspect:
                inspections.quarantine_existing(uow, item.code, lot)
            movements.receive(uow, item.code, warehouse, int(line["quantity"]), cost,
                              f"PO {purchase_order_id} receipt {receipt_id}", bin_code=line.get("bin") or "",
                              lot=lot, expires_on=line.get("expires_on") or "", serial_list=line.get("serials") or None,
                              reason="purchase", received_at=received_at, into_frozen=True,
                              value=convert(line["amount"], exchange_rate) if exchange_rate else None,
                              quarantine=inspect)
            if inspect:
                inspections.open_task(uow, receipt_id, purchase_order_id, line["line_no"], supplier, warehouse,
                                      item.code, lot, int(line["quantity"]))


def return_to_supplier(uow: UnitOfWork, envelope: Envelope) -> list[dict]:
    """purchase_returned: the goods leave for the supplier and purchase_return_shipped carries their
    value to the books; or, when they are not free to go (reserved for orders, held, gone), none
    leave and purchase_return_refused says why, so procurement reopens the quantities."""
    p, now = envelope.payload, clock.now()
    shipped: list[dict] = []
    refusal = _applied_or_refused(uow, lambda: shipped.extend(take_return_lines(
        uow, p["return_id"], p["purchase_order_id"], p["warehouse"], p["lines"])))
    if refusal is not None:
        uow.emit(PurchaseReturnRefused(purchase_order_id=p["purchase_order_id"], return_id=p["return_id"],
                                       warehouse=p["warehouse"], reason=refusal.message, errors=refusal.fields,
                                       refused_at=now), p["return_id"])
        return []
    uow.emit(PurchaseReturnShipped(
        **{k: p[k] for k in ("purchase_order_id", "return_id", "supplier", "warehouse", "total_net",
                             "total_tax", "total")},
        **{k: p[k] for k in ("currency", "exchange_rate") if p.get(k)},
        returned_at=now, lines=shipped,
        total_cost=sum((Decimal(l["cost"]) for l in shipped), start=Decimal("0.00"))), p["return_id"])
    return shipped


def take_return_lines(uow: UnitOfWork, return_id: str, purchase_order_id: str, warehouse: str,
                      lines: list[dict]) -> list[dict]:
    """Take goods going back to the supplier out of stock, from that purchase order's own cost
    layers first; only free units go (never ones reserved for orders or held). Refuses all of them
    with the fields named as the return names them (`lines[i].quantity`). Returns each line's cost."""
    s, now = uow.session, clock.now()
    ctx = Context(f"purchase_return:{return_id}", uow.actor, now, f"return to supplier {return_id}",
                  "purchase_return")
    catalog.require_warehouse(s, warehouse)
    stock.lock(s, {line["sku"] for line in lines})
    shipped = []
    for i, line in enumerate(lines):
        with _naming_line(i, line["line_no"]):
            qty, item = int(line["quantity"]), catalog.sku_row(s, line["sku"])
            pieces = stock.choose(s, item.code, warehouse, qty, lot=line.get("lot") or "",
                                  serial_list=line.get("serials") or None, serial_tracked=item.serial_tracked)
            cost = costing.total(costing.take(s, item.code, warehouse, qty, item.costing,
                                              prefer_reference=f"PO {purchase_order_id}"))
            stock.take(s, ctx, "purchase_return", item.code, warehouse, pieces, cost, serial_status="returned")
        shipped.append({"line_no": line["line_no"], "sku": item.code, "quantity": qty, "cost": str(cost)})
    signals.stock_moved(uow, {(l["sku"], warehouse) for l in shipped})
    return shipped


def adjust_purchase_cost(uow: UnitOfWork, envelope: Envelope) -> tuple[Decimal, Decimal]:
    """purchase_cost_billed: a supplier invoice's price differences or a landed cost's shares change the
    cost of the goods of the receipts they name. The units still held take theirs into their cost
    layers; the part of units already gone is cost of goods. purchase_cost_adjusted tells accounting
    both, so stock value and the inventory account move together. A bill about a receipt inventory has
    not taken in yet waits for it. Returns (to_stock, to_cost_of_goods)."""
    p, s = envelope.payload, uow.session
    warehouse = p["warehouse"]
    stock.lock(s, {line["sku"] for line in p["lines"]})
    to_stock = to_cost = Decimal("0.00")
    for line in p["lines"]:
        reference = f"PO {p['purchase_order_id']} receipt {line['receipt_id']}"
        if s.execute(select(stock_movements.c.id).where(stock_movements.c.reference == reference).limit(1)).first() \
                is None:
            raise PredecessorMissing(f"{p['kind']} {p['document_id']}: receipt {line['receipt_id']} is not in stock yet")
        item = catalog.sku_row(s, line["sku"])
        kept, gone = costing.revalue(s, line["sku"], warehouse, item.costing, reference, int(line["quantity"]),
                                     cents(line["change"]))
        if kept:  # the ledger carries every change of value on hand: a movement of no units (the stock audit)
            s.execute(stock_movements.insert().values(
                kind="revaluation", document=f"{p['kind']}:{p['document_id']}"[:64], sku=line["sku"],
                warehouse=warehouse, reason=p["kind"][:32], quantity=0, unit_cost=0, value=kept,
                reference=reference, actor=uow.actor, occurred_at=clock.now()))
        to_stock, to_cost = to_stock + kept, to_cost + gone
    uow.emit(PurchaseCostAdjusted(
        **{k: p[k] for k in ("document_id", "kind", "purchase_order_id", "supplier", "warehouse", "reference",
                             "charge", "billed_at", "provisional", "total_net", "total_tax", "total")},
        to_stock=to_stock, to_cost_of_goods=to_cost), p["document_id"])
    return to_stock, to_cost


def check_purchase(uow: UnitOfWork, kind: str, purchase_order_id: str, warehouse: str, lines: list[dict],
                   policy: inspections.Policy | None = None) -> None:
    """Would inventory apply this purchase receipt or return to the supplier as it stands? Runs the
    very rules that apply it, then undoes the work (nothing is written). Raises the refusal: an
    unknown warehouse, bin or SKU as invalid input, a state such as goods reserved for orders as a
    conflict, each naming its field (`lines[0].bin`)."""
    apply = {"receipt": lambda: receive_purchase_lines(uow, "check", purchase_order_id, warehouse, lines,
                                                       clock.now(), policy=policy),
             "return": lambda: take_return_lines(uow, "check", purchase_order_id, warehouse, lines)}.get(kind)
    if apply is None:
        raise InvalidArgument(f"unknown kind {kind!r}", [{"field": "kind", "message": "receipt or return"}])
    savepoint = uow.session.begin_nested()
    try:
        apply()
    except NotFound as exc:  # what a request names must exist: bad input, not a missing resource
        raise InvalidArgument(exc.message, exc.fields) from None
    finally:
        savepoint.rollback()
        uow.forget(signals.STOCK_MOVED)  # nothing moved


def _applied_or_refused(uow: UnitOfWork, apply) -> HubError | None:
    """Apply all of a document or none of it: a refusal (a domain error) undoes what was done so far
    and is returned, for the refusal event; anything else (the database away) fails the delivery,
    which is retried."""
    savepoint = uow.session.begin_nested()
    try:
        apply()
    except HubError as exc:
        savepoint.rollback()
        log.warning("refused: %s", exc.message)
        return exc
    savepoint.commit()
    return None


@contextmanager
def _naming_line(index: int, line_no: int):
    """A refusal while applying one line names that line: `lines[i].<field>`, and `line N:` first."""
    try:
        yield
    except HubError as exc:
        fields = [{"field": f"lines[{index}]." + f["field"] if f.get("field") else f"lines[{index}]",
                   "message": f["message"]} for f in exc.fields] or [{"field": f"lines[{index}]",
                                                                     "message": exc.message}]
        raise type(exc)(f"line {line_no}: {exc.message}", fields) from None


def stock_value(db: Database, warehouse: str = "") -> list[dict]:
    """Units and value left in the cost layers, per warehouse and SKU: on hand ("in_transit" False),
    and on their way to that warehouse from another at their travelling layers' cost ("in_transit"
    True, only where some is), so that together they equal the inventory accounts."""
    c = cost_layers
    query = (select(c.c.warehouse, c.c.sku, c.c.in_transit, func.sum(c.c.remaining), func.sum(c.c.remaining_value))
             .group_by(c.c.warehouse, c.c.sku, c.c.in_transit)
             .order_by(c.c.in_transit, c.c.warehouse, c.c.sku))
    if warehouse:
        query = query.where(c.c.warehouse == warehouse)
    with db.reader() as s:
        rows = [{"warehouse": w, "sku": sku, "quantity": int(q or 0), "value": cents(v or 0), "in_transit": bool(t)}
                for w, sku, t, q, v in s.execute(query).all()]
    return [r for r in rows if not r["in_transit"] or r["quantity"] or r["value"]]


def restock_rma(uow: UnitOfWork, envelope: Envelope) -> None:
    """order_returned: the units restocked (reservations.restock_return); an RMA's damaged units to scrap
    are then written off from the return's quarantined lot (stock_adjusted, reason scrap: the loss voucher)."""
    restocked = {l["line_no"]: l for l in reservations.restock_return(uow, envelope)}
    return_id = envelope.payload["return_id"]
    for line in envelope.payload["lines"]:
        if line.get("disposition") != "scrap" or not line.get("damaged"):
            continue
        where = restocked[line["line_no"]]
        lot = reservations.return_lot(return_id)
        serial_list = [r.serial for r in uow.session.execute(
            select(serials.c.serial).where(serials.c.sku == where["sku"], serials.c.lot == lot,
                                           serials.c.status == stock.IN_STOCK))][:int(line["damaged"])] or None
        movements.adjust(uow, where["sku"], where["warehouse"], -int(line["damaged"]), "scrap",
                         note=f"return {return_id} line {line['line_no']}: damaged", lot=lot, serial_list=serial_list,
                         document=f"return:{return_id}",
                         adjustment_id=uuid.uuid5(uuid.NAMESPACE_URL, f"rma-scrap:{return_id}:{line['line_no']}").hex)

