"""Transfers between warehouses: shipped (the units leave the source and are in transit,
visible at the destination) -> received (they enter a bin there). Their cost travels with them
in transit layers, so FIFO order and value survive the journey."""
from __future__ import annotations

import uuid
from decimal import Decimal

from sqlalchemy import select, update

from contracts import StockTransferred
from contracts.events import ValuedLine
from hubkit import clock
from hubkit.db import Database, UnitOfWork, dialect_insert
from hubkit.errors import Conflict, FieldErrors, NotFound
from services.inventory import catalog, costing, domain, reservations, stock
from services.inventory.models import document_lines, documents, stock_levels
from services.inventory.stock import Context, Piece

SHIPPED, RECEIVED = "shipped", "received"



def ship(uow: UnitOfWork, from_warehouse: str, to_warehouse: str, lines: list[dict], note: str = "") -> dict:
    """lines: [{sku, quantity, lot?, bin?, serials?}]. Units are taken from the source (a named
    lot, bin or serials, else first-expiry/first-in among usable stock) at their cost."""
    errors = FieldErrors()
    if from_warehouse == to_warehouse:
        errors.add("to_warehouse", "a transfer goes to another warehouse")
    if not lines:
        errors.add("lines", "at least one line")
    for i, line in enumerate(lines):
        domain.check_code(errors, f"lines[{i}].sku", line.get("sku", ""))
        domain.check_quantity(errors, f"lines[{i}].quantity", line.get("quantity"))
    errors.raise_if_any("the transfer is invalid")
    s = uow.session
    catalog.require_warehouse(s, from_warehouse, "from_warehouse")
    catalog.require_warehouse(s, to_warehouse, "to_warehouse")
    stock.lock(s, {line["sku"] for line in lines})
    transfer_id, now = uuid.uuid4().hex[:16], clock.now()
    ctx = Context(f"transfer:{transfer_id}", uow.actor, now, f"transfer {from_warehouse} -> {to_warehouse}")
    s.execute(documents.insert().values(id=transfer_id, kind="transfer", status=SHIPPED, warehouse=from_warehouse,
                                        to_warehouse=to_warehouse, details={"note": note or ""}, created_by=uow.actor,
                                        created_at=now, updated_by=uow.actor, updated_at=now))
    sent, line_no = [], 0
    for i, line in enumerate(lines):
        item = catalog.sku_row(s, line["sku"], f"lines[{i}].sku")
        qty = line["quantity"]
        pieces = stock.choose(s, item.code, from_warehouse, qty, lot=line.get("lot") or "",
                              bin_code=line.get("bin") if line.get("bin") else None,
                              serial_list=line.get("serials") or None, serial_tracked=item.serial_tracked,
                              usable_on=None if line.get("lot") or line.get("serials") else clock.today())
        slices = costing.take(s, item.code, from_warehouse, qty, item.costing)
        value = costing.total(slices)
        first = stock.take(s, ctx, "transfer_out", item.code, from_warehouse, pieces, value,
                           serial_status=stock.IN_TRANSIT)
        for received_at, quantity, slice_value in slices:
            costing.add(s, item.code, to_warehouse, quantity, slice_value, item.costing, first, received_at,
                        in_transit=True, document=ctx.document)
        for piece, share in zip(pieces, stock.shares(value, [p.quantity for p in pieces])):
            line_no += 1
            s.execute(document_lines.insert().values(document_id=transfer_id, line_no=line_no, sku=item.code,
                                                     bin=piece.bin, lot=piece.lot, serial=piece.serial,
                                                     quantity=piece.quantity, value=share))
        s.execute(dialect_insert(s, stock_levels).values(sku=item.code, warehouse=to_warehouse, on_hand=0, reserved=0,
                                                         held=0, in_transit=qty)
                  .on_conflict_do_update(index_elements=["sku", "warehouse"],
                                         set_={"in_transit": stock_levels.c.in_transit + qty}))
        sent.append({"sku": item.code, "quantity": qty, "value": value})
    reservations.stock_freed(uow, {(l["sku"], w) for l in sent for w in (from_warehouse, to_warehouse)},
                             f"transfer {transfer_id} shipped from {from_warehouse} to {to_warehouse}")
    _emit(uow, transfer_id, SHIPPED, from_warehouse, to_warehouse, now, sent)
    return {"transfer_id": transfer_id, "status": SHIPPED, "lines": sent}


def receive(uow: UnitOfWork, transfer_id: str, bin_code: str = "") -> dict:
    """The transfer arrives whole in a bin of the destination (its unnamed bin by default)."""
    errors = FieldErrors()
    domain.check_bin(errors, "bin", bin_code)
    errors.raise_if_any("the transfer receipt is invalid")
    s, now = uow.session, clock.now()
    doc = s.execute(select(documents).where(documents.c.id == transfer_id, documents.c.kind == "transfer")
                    .with_for_update()).first()
    if doc is None:
        raise NotFound(f"transfer {transfer_id} not found", [{"field": "transfer_id", "message": "unknown transfer"}])
    if doc.status != SHIPPED:
        raise Conflict(f"transfer {transfer_id} is already {doc.status}")
    to, ctx = doc.to_warehouse, Context(f"transfer:{transfer_id}", uow.actor, now,
                                        f"transfer {doc.warehouse} -> {doc.to_warehouse}")
    rows = s.execute(select(document_lines).where(document_lines.c.document_id == transfer_id)
                     .order_by(document_lines.c.line_no)).all()
    stock.lock(s, {row.sku for row in rows})
    received: dict[str, dict] = {}
    for row in rows:
        line = stock.put(s, ctx, "transfer_in", row.sku, to, [Piece(bin_code, row.lot, row.serial, row.quantity)],
                         row.value)
        got = received.setdefault(row.sku, {"sku": row.sku, "quantity": 0, "value": Decimal("0.00"), "line": line})
        got["quantity"] += row.quantity
        got["value"] += row.value
    for sku, got in received.items():
        item = catalog.sku_row(s, sku)
        for received_at, quantity, value in costing.take(s, sku, to, got["quantity"], item.costing,
                                                         transit_document=ctx.document):
            costing.add(s, sku, to, quantity, value, item.costing, got["line"], received_at)
        took = s.execute(update(stock_levels).where(stock_levels.c.sku == sku, stock_levels.c.warehouse == to,
                                                    stock_levels.c.in_transit >= got["quantity"])
                         .values(in_transit=stock_levels.c.in_transit - got["quantity"])).rowcount
        if not took:
            raise Conflict(f"{sku} in transit to {to} is short of transfer {transfer_id}")
    s.execute(update(documents).where(documents.c.id == transfer_id)
              .values(status=RECEIVED, updated_by=uow.actor, updated_at=now))
    lines = [{k: v for k, v in got.items() if k != "line"} for got in received.values()]
    reservations.stock_freed(uow, {(l["sku"], to) for l in lines},
                             f"stock arrived: transfer {transfer_id} from {doc.warehouse} received in {to}")
    _emit(uow, transfer_id, RECEIVED, doc.warehouse, to, now, lines)
    return {"transfer_id": transfer_id, "status": RECEIVED, "lines": lines}


def _emit(uow, transfer_id, stage, source, destination, at, lines) -> None:
    uow.emit(StockTransferred(
        transfer_id=transfer_id, stage=stage, from_warehouse=source, to_warehouse=destination, occurred_at=at,
        lines=[ValuedLine(sku=l["sku"], quantity=l["quantity"], value=l["value"]) for l in lines],
        total_value=sum((l["value"] for l in lines), start=Decimal("0.00"))), f"transfer:{transfer_id}")


def get(db: Database, transfer_id: str) -> dict:
    with db.reader() as s:
        return read(s, transfer_id)


def read(s, transfer_id: str) -> dict:
    """A transfer as the session sees it (inside a unit of work: with its own changes)."""
    doc = s.execute(select(documents).where(documents.c.id == transfer_id,
                                            documents.c.kind == "transfer")).first()
    if doc is None:
        raise NotFound(f"transfer {transfer_id} not found")
    rows = s.execute(select(document_lines).where(document_lines.c.document_id == transfer_id)
                     .order_by(document_lines.c.line_no)).all()
    return {"transfer_id": doc.id, "status": doc.status, "from_warehouse": doc.warehouse,
            "to_warehouse": doc.to_warehouse,
            "lines": [{"sku": r.sku, "bin": r.bin, "lot": r.lot, "serial": r.serial, "quantity": int(r.quantity),
                       "value": r.value} for r in rows]}
