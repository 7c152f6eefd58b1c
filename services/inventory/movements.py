"""Stock documents: receipts, adjustments and write-offs, bin moves, kit assembly and
disassembly. Each is one transaction: ledger lines, place balances, cost layers and the events
that carry its cost to accounting."""
from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select

from contracts import KitChanged, StockAdjusted, StockReceived
from hubkit import clock
from hubkit.db import UnitOfWork, dialect_insert
from hubkit.errors import Conflict, FieldErrors
from hubkit.money import cents
from services.inventory import catalog, costing, domain, reservations, signals, stock
from services.inventory.models import lots, serials
from services.inventory.stock import Context, Piece

ZERO = Decimal("0.00")



def receive(uow: UnitOfWork, sku: str, warehouse: str, quantity: int, cost: str, reference: str = "",
            bin_code: str = "", lot: str = "", expires_on: str = "", serial_list: list[str] | None = None,
            kind: str = "receipt", reason: str = "opening", received_at: datetime | None = None,
            value: Decimal | None = None, into_frozen: bool = False, document: str = "",
            announce: bool = False, quarantine: bool = False) -> tuple[int, dict]:
    """Goods enter a bin (opening stock, found goods, a purchase, a customer return) at a unit cost
    (or worth exactly `value`): a ledger line per piece, a cost layer, the running balances.
    `announce`: stock_received carries the value to the books (a receipt outside a purchase).
    `quarantine`: a new lot arrives quarantined (incoming inspection, services.inventory.inspections)."""
    cost_value = domain.check_receipt(sku, warehouse, quantity, cost)
    s = uow.session
    item = catalog.sku_row(s, sku)
    catalog.require_warehouse(s, warehouse)
    pieces = _incoming_pieces(s, item, quantity, bin_code, lot, expires_on, serial_list or [], quarantine)
    at = received_at or clock.now()
    value = cents(cost_value * quantity) if value is None else value
    ctx = Context(document or f"{kind}:{uuid.uuid4().hex[:12]}", uow.actor, clock.now(), reference, reason)
    movement_id = stock.put(s, ctx, kind, sku, warehouse, pieces, value, into_frozen=into_frozen)
    costing.add(s, sku, warehouse, quantity, value, item.costing, movement_id, at)
    status = s.execute(select(lots.c.status).where(lots.c.sku == sku, lots.c.lot == lot)).scalar() if lot else None
    if status in (stock.QUARANTINED, stock.EXPIRED):  # purchasing hears of goods that arrive unusable
        signals.hold_changed(uow, sku, lot, warehouse, True, "expired" if status == stock.EXPIRED else "quarantine",
                             quantity, "received into a held lot")
    reservations.stock_freed(uow, {(sku, warehouse)}, f"stock arrived: {kind} of {quantity} {sku} into {warehouse}"
                             + (f" ({reference})" if reference else ""))
    if announce:
        uow.emit(StockReceived(document_id=ctx.document.partition(":")[2], reason=reason, sku=sku,
                               warehouse=warehouse, quantity=quantity, value=value, reference=reference,
                               occurred_at=ctx.at), ctx.document)
    return movement_id, stock.level(s, sku, warehouse)


def receive_stock(uow: UnitOfWork, sku: str, warehouse: str, quantity: int, cost: str, reason: str = "",
                  reference: str = "", bin_code: str = "", lot: str = "", expires_on: str = "",
                  serial_list: list[str] | None = None) -> dict:
    """A receipt outside a purchase, for a reason (opening stock by default, an other receipt, found
    goods, production): the goods enter as receive() puts them, and stock_received books their value."""
    reason = domain.check_receipt_reason(reason)
    document_id = uuid.uuid4().hex
    movement_id, level = receive(uow, sku, warehouse, quantity, cost, reference, bin_code, lot, expires_on,
                                 serial_list, reason=reason, document=f"receipt:{document_id}", announce=True)
    return {"document_id": document_id, "movement_id": movement_id, "level": level}


def _incoming_pieces(s, item, quantity: int, bin_code: str, lot: str, expires_on: str,
                     serial_list: list[str], quarantine: bool = False) -> list[Piece]:
    """Check what a receipt names against how the SKU is tracked; register a new lot."""
    errors = FieldErrors()
    domain.check_bin(errors, "bin", bin_code)
    domain.check_lot(errors, lot, item.lot_tracked)
    domain.check_serials(errors, serial_list, quantity, item.serial_tracked)
    expiry = None
    if expires_on:
        try:
            expiry = date.fromisoformat(expires_on)
        except ValueError:
            errors.add("expires_on", "expected YYYY-MM-DD")
        if not lot:
            errors.add("expires_on", "only a lot has an expiry date")
    errors.raise_if_any("the receipt is invalid")
    if lot:
        # a lot that arrives already past its expiry is held from the start, not at the next timer
        status = (stock.EXPIRED if expiry and expiry < clock.today()
                  else stock.QUARANTINED if quarantine else stock.OK)
        s.execute(dialect_insert(s, lots).values(sku=item.code, lot=lot, expires_on=expiry, status=status)
                  .on_conflict_do_nothing())
        known = s.execute(select(lots.c.expires_on).where(lots.c.sku == item.code, lots.c.lot == lot)).scalar()
        if expiry and known != expiry:
            raise Conflict(f"lot {lot} of {item.code} expires on {known}, not {expiry}",
                           [{"field": "expires_on", "message": f"the lot expires on {known}"}])
    if serial_list:
        in_stock = s.execute(select(serials.c.serial).where(
            serials.c.sku == item.code, serials.c.serial.in_(serial_list),
            serials.c.status.in_((stock.IN_STOCK, stock.IN_TRANSIT)))).scalars().all()
        if in_stock:
            raise Conflict(f"serial(s) {sorted(in_stock)} of {item.code} are already in stock",
                           [{"field": "serials", "message": f"{x} already in stock"} for x in sorted(in_stock)])
        return [Piece(bin_code, lot, serial, 1) for serial in serial_list]
    return [Piece(bin_code, lot, "", quantity)]


def adjust(uow: UnitOfWork, sku: str, warehouse: str, quantity: int, reason: str, cost: str = "", note: str = "",
           bin_code: str = "", lot: str = "", serial_list: list[str] | None = None, document: str = "",
           adjustment_id: str = "") -> dict:
    """A count difference (either sign) or a write-off (scrap, loss, an expired lot): stock and its
    cost layers change, and stock_adjusted carries the value to accounting. A loss only takes
    stock that no order was promised; a named lot, bin or serial is taken as named."""
    given_cost = domain.check_adjustment(sku, warehouse, quantity, reason, cost)
    s = uow.session
    item = catalog.sku_row(s, sku)
    catalog.require_warehouse(s, warehouse)
    stock.lock(s, {sku})  # balances before cost layers, as every document does
    adjustment_id = adjustment_id or uuid.uuid4().hex
    ctx = Context(document or f"adjustment:{adjustment_id}", uow.actor, clock.now(), f"{reason}: {note or ''}", reason)
    if quantity > 0:
        pieces = _incoming_pieces(s, item, quantity, bin_code, lot, "", serial_list or [])
        unit = given_cost if given_cost is not None else costing.latest_unit_cost(s, sku, warehouse)
        value = cents(unit * quantity)
        line = stock.put(s, ctx, "adjustment", sku, warehouse, pieces, value)
        costing.add(s, sku, warehouse, quantity, value, item.costing, line, ctx.at)
    else:
        pieces = stock.choose(s, sku, warehouse, -quantity, lot=lot, bin_code=bin_code or None,
                              serial_list=serial_list, serial_tracked=item.serial_tracked)
        value = -costing.total(costing.take(s, sku, warehouse, -quantity, item.costing))
        kind = "adjustment" if reason == "count" else "write_off"
        stock.take(s, ctx, kind, sku, warehouse, pieces, -value,
                   serial_status=stock.SCRAPPED)
    reservations.stock_freed(uow, {(sku, warehouse)}, f"stock adjusted: {quantity:+d} {sku} in {warehouse} ({reason})")
    uow.emit(StockAdjusted(adjustment_id=adjustment_id, sku=sku, warehouse=warehouse, quantity=quantity,
                           reason=reason, note=note or "", value=value, occurred_at=ctx.at),
             f"adjustment:{adjustment_id}")
    return {"adjustment_id": adjustment_id, "value": value, "level": stock.level(s, sku, warehouse)}


def move_bin(uow: UnitOfWork, sku: str, warehouse: str, from_bin: str, to_bin: str, quantity: int, lot: str = "",
             serial_list: list[str] | None = None) -> str:
    """Units change bin inside a warehouse: two ledger lines, no change in balance or cost."""
    errors = FieldErrors()
    domain.check_quantity(errors, "quantity", quantity)
    domain.check_bin(errors, "from_bin", from_bin)
    domain.check_bin(errors, "to_bin", to_bin)
    if from_bin == to_bin:
        errors.add("to_bin", "must differ from from_bin")
    errors.raise_if_any("the bin move is invalid")
    s = uow.session
    item = catalog.sku_row(s, sku)
    catalog.require_warehouse(s, warehouse)
    stock.check_bin_open(s, warehouse, to_bin)
    pieces = stock.choose(s, sku, warehouse, quantity, lot=lot, bin_code=from_bin, serial_list=serial_list,
                          serial_tracked=item.serial_tracked)
    ctx = Context(f"move:{uuid.uuid4().hex[:12]}", uow.actor, clock.now(), f"{from_bin or '-'} -> {to_bin or '-'}")
    stock.take(s, ctx, "bin_move", sku, warehouse, pieces, ZERO, serial_status=stock.IN_STOCK, update_level=False)
    stock.put(s, ctx, "bin_move", sku, warehouse, [Piece(to_bin, p.lot, p.serial, p.quantity) for p in pieces], ZERO,
              update_level=False)
    return ctx.document


def assemble(uow: UnitOfWork, kit_sku: str, warehouse: str, quantity: int, bin_code: str = "",
             disassemble: bool = False) -> dict:
    """Kit assembly consumes the components at their cost and produces the kit at the summed
    cost; disassembly gives the kit's cost back to the components (in proportion to their latest
    unit cost). Emits kit_changed for the books."""
    errors = FieldErrors()
    domain.check_quantity(errors, "quantity", quantity)
    domain.check_bin(errors, "bin", bin_code)
    errors.raise_if_any("the kit document is invalid")
    s = uow.session
    kit = catalog.sku_row(s, kit_sku, "kit_sku")
    catalog.require_warehouse(s, warehouse)
    parts = catalog.components_of(s, kit_sku)
    if not parts:
        raise Conflict(f"{kit_sku} is not a kit: it has no components", [{"field": "kit_sku", "message": "not a kit"}])
    items = {c: catalog.sku_row(s, c) for c, _ in parts}
    if kit.lot_tracked or kit.serial_tracked or any(i.serial_tracked for i in items.values()):
        raise Conflict("kits with lot- or serial-tracked kits, or serial-tracked components, are built by hand "
                       "(write off and receive)", [{"field": "kit_sku", "message": "tracked kit"}])
    action = "disassembled" if disassemble else "assembled"
    ctx = Context(f"kit:{uuid.uuid4().hex[:12]}", uow.actor, clock.now(), f"kit {kit_sku} x{quantity} {action}")
    stock.lock(s, {kit_sku} | set(items))
    usable = clock.today()
    if not disassemble:
        moved = []
        for component, per_kit in parts:
            need = per_kit * quantity
            pieces = stock.choose(s, component, warehouse, need, usable_on=usable)
            value = costing.total(costing.take(s, component, warehouse, need, items[component].costing))
            stock.take(s, ctx, "kit_out", component, warehouse, pieces, value)
            moved.append({"sku": component, "quantity": need, "value": value})
        kit_value = sum((m["value"] for m in moved), start=ZERO)
        line = stock.put(s, ctx, "kit_in", kit_sku, warehouse, [Piece(bin_code, "", "", quantity)], kit_value)
        costing.add(s, kit_sku, warehouse, quantity, kit_value, kit.costing, line, ctx.at)
    else:
        pieces = stock.choose(s, kit_sku, warehouse, quantity, bin_code=bin_code or None)
        kit_value = costing.total(costing.take(s, kit_sku, warehouse, quantity, kit.costing))
        stock.take(s, ctx, "kit_out", kit_sku, warehouse, pieces, kit_value)
        weights = [costing.latest_unit_cost(s, c, warehouse) * q for c, q in parts]
        if not any(weights):
            weights = [Decimal(q) for _, q in parts]
        moved = []
        for (component, per_kit), value in zip(parts, stock.shares(kit_value, weights)):
            item, need = items[component], per_kit * quantity
            lot = f"KIT-{ctx.document.partition(':')[2]}" if item.lot_tracked else ""
            if lot:
                s.execute(dialect_insert(s, lots).values(sku=component, lot=lot, status=stock.OK)
                          .on_conflict_do_nothing())
            line = stock.put(s, ctx, "kit_in", component, warehouse, [Piece(bin_code, lot, "", need)], value)
            costing.add(s, component, warehouse, need, value, item.costing, line, ctx.at)
            moved.append({"sku": component, "quantity": need, "value": value})
    reservations.stock_freed(uow, {(kit_sku, warehouse)} | {(m["sku"], warehouse) for m in moved},
                             f"stock arrived: kit {kit_sku} {action} in {warehouse}")
    document_id = ctx.document.partition(":")[2]
    uow.emit(KitChanged(document_id=document_id, action=action, kit_sku=kit_sku, warehouse=warehouse,
                        quantity=quantity, value=kit_value, occurred_at=ctx.at, components=moved),
             f"kit:{document_id}")
    return {"document_id": document_id, "value": kit_value, "components": moved}
