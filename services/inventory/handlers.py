"""Inventory use cases: one function per command or event."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone
from decimal import Decimal

from sqlalchemy import case, func, select, update

from hubkit.db import Database, UnitOfWork, dialect_insert
from hubkit.envelope import Envelope
from hubkit.errors import Conflict, FieldErrors, NotFound
from hubkit.inbox import PredecessorMissing
from hubkit.money import cents, unit_cost
from services.inventory import domain
from services.inventory.models import cost_layers, reservations, skus, stock_levels, stock_movements, warehouses


def _now():
    return datetime.now(timezone.utc)


def upsert_sku(uow: UnitOfWork, code: str, name: str) -> bool:
    errors = FieldErrors()
    domain.check_code(errors, "sku.code", code)
    if not name or len(name) > 200:
        errors.add("sku.name", "required, at most 200 characters")
    errors.raise_if_any("the SKU is invalid")
    s = uow.session
    created = s.execute(dialect_insert(s, skus).values(code=code, name=name, created_by=uow.actor,
                                                       created_at=_now())
                        .on_conflict_do_nothing()).rowcount
    if not created:
        s.execute(update(skus).where(skus.c.code == code).values(name=name))
    return bool(created)


def upsert_warehouse(uow: UnitOfWork, code: str, name: str, priority: int) -> bool:
    errors = FieldErrors()
    domain.check_code(errors, "warehouse.code", code, 32)
    if not name or len(name) > 200:
        errors.add("warehouse.name", "required, at most 200 characters")
    if not 0 <= priority <= 10_000:
        errors.add("warehouse.priority", "must be from 0 to 10000")
    errors.raise_if_any("the warehouse is invalid")
    s = uow.session
    created = s.execute(dialect_insert(s, warehouses).values(code=code, name=name, priority=priority,
                                                             created_by=uow.actor, created_at=_now())
                        .on_conflict_do_nothing()).rowcount
    if not created:
        s.execute(update(warehouses).where(warehouses.c.code == code).values(name=name, priority=priority))
    return bool(created)


def known_skus(db: Database, codes: list[str]) -> list[dict]:
    with db.reader() as s:
        return [dict(r._mapping) for r in s.execute(select(skus.c.code, skus.c.name)
                                                     .where(skus.c.code.in_(set(codes)))).all()]


def receive_stock(uow: UnitOfWork, sku: str, warehouse: str, quantity: int, cost: str,
                  reference: str) -> tuple[int, dict]:
    """Add stock: a ledger line, a FIFO cost layer and the running balance, in one transaction."""
    cost_value = domain.check_receipt(sku, warehouse, quantity, cost)
    s = uow.session
    errors = FieldErrors()
    if s.execute(select(skus.c.code).where(skus.c.code == sku)).first() is None:
        errors.add("sku", f"unknown SKU {sku!r}")
    if s.execute(select(warehouses.c.code).where(warehouses.c.code == warehouse)).first() is None:
        errors.add("warehouse", f"unknown warehouse {warehouse!r}")
    if errors.items:
        raise NotFound("unknown SKU or warehouse", errors.items)
    movement_id = _add_stock(s, sku, warehouse, quantity, cost_value, reference, uow.actor, _now())
    announce_stock(uow, {sku})
    return movement_id, _level(s, sku, warehouse)


def _add_stock(s, sku: str, warehouse: str, quantity: int, cost: Decimal, reference: str, actor: str,
               received_at: datetime, value: Decimal | None = None, kind: str = "receipt") -> int:
    """A ledger line, a cost layer (worth `value`, by default quantity x cost) and the balance."""
    value = cents(cost * quantity) if value is None else value
    movement_id = s.execute(stock_movements.insert().values(
        kind=kind, sku=sku, warehouse=warehouse, quantity=quantity, unit_cost=cost, value=value,
        reference=(reference or "")[:128], actor=actor, occurred_at=_now())
        .returning(stock_movements.c.id)).scalar_one()
    s.execute(cost_layers.insert().values(movement_id=movement_id, sku=sku, warehouse=warehouse, quantity=quantity,
                                          remaining=quantity, unit_cost=cost, remaining_value=value,
                                          received_at=received_at))
    s.execute(dialect_insert(s, stock_levels).values(sku=sku, warehouse=warehouse, on_hand=quantity, reserved=0)
              .on_conflict_do_update(index_elements=["sku", "warehouse"],
                                     set_={"on_hand": stock_levels.c.on_hand + quantity}))
    return movement_id


def receive_purchase(uow: UnitOfWork, envelope: Envelope) -> None:
    """purchase_received: the goods enter the warehouse at their purchase cost (excluding VAT)."""
    s, payload = uow.session, envelope.payload
    warehouse = payload["warehouse"]
    codes = {line["sku"] for line in payload["lines"]}
    known = set(s.execute(select(skus.c.code).where(skus.c.code.in_(codes))).scalars())
    if codes - known or s.execute(select(warehouses.c.code).where(warehouses.c.code == warehouse)).first() is None:
        raise NotFound(f"purchase receipt {payload['receipt_id']} names an unknown warehouse or SKU(s) "
                       f"{sorted(codes - known)}")
    for line in payload["lines"]:
        _add_stock(s, line["sku"], warehouse, int(line["quantity"]), unit_cost(line["unit_cost"]),
                   f"PO {payload['purchase_order_id']} receipt {payload['receipt_id']}", envelope.actor,
                   datetime.fromisoformat(payload["received_at"]))
    announce_stock(uow, codes)


def _consume_layers(s, sku: str, warehouse: str, quantity: int, prefer_reference: str = "") -> Decimal:
    """Take `quantity` from the oldest cost layers (those received under `prefer_reference`
    first, when given); returns their cost to the cent. A layer's last units take exactly the
    value it has left, so no rounding residue ever stays behind."""
    order = [cost_layers.c.received_at, cost_layers.c.id]
    if prefer_reference:
        order.insert(0, case((stock_movements.c.reference.like(f"{prefer_reference}%"), 0), else_=1))
    layers = s.execute(select(cost_layers).join(stock_movements, stock_movements.c.id == cost_layers.c.movement_id)
                       .where(cost_layers.c.sku == sku, cost_layers.c.warehouse == warehouse,
                              cost_layers.c.remaining > 0)
                       .order_by(*order).with_for_update(of=cost_layers)).all()
    need, cost = quantity, Decimal("0.00")
    for layer in layers:
        if need == 0:
            break
        take = min(need, layer.remaining)
        value = layer.remaining_value if take == layer.remaining else min(cents(layer.unit_cost * take),
                                                                             layer.remaining_value)
        s.execute(update(cost_layers).where(cost_layers.c.id == layer.id)
                  .values(remaining=layer.remaining - take, remaining_value=layer.remaining_value - value))
        need, cost = need - take, cost + value
    if need:
        raise Conflict(f"cost layers of {sku} in {warehouse} are short by {need} units")
    return cost


def issue_for_shipment(uow: UnitOfWork, envelope: Envelope) -> list[dict]:
    """order_shipped: the reserved units leave the warehouse at their FIFO cost; emits goods_issued."""
    s, payload = uow.session, envelope.payload
    order_id, now = payload["order_id"], _now()
    issued = []
    for line in sorted(payload["lines"], key=lambda l: (l["sku"], l["line_no"])):
        held = s.execute(select(reservations).where(reservations.c.order_id == order_id,
                                                    reservations.c.line_no == line["line_no"])).first()
        if held is None:
            raise PredecessorMissing(f"order {order_id} line {line['line_no']} has no reservation yet")
        if held.status != domain.RESERVED:
            raise Conflict(f"order {order_id} line {line['line_no']} is {held.status}, not reserved")
        qty, warehouse = int(held.quantity), held.warehouse
        took = s.execute(update(stock_levels)
                         .where(stock_levels.c.sku == held.sku, stock_levels.c.warehouse == warehouse,
                                stock_levels.c.reserved >= qty, stock_levels.c.on_hand >= qty)
                         .values(on_hand=stock_levels.c.on_hand - qty,
                                 reserved=stock_levels.c.reserved - qty)).rowcount
        if not took:
            raise Conflict(f"{held.sku} in {warehouse} does not hold the {qty} units reserved for {order_id}")
        cost = _consume_layers(s, held.sku, warehouse, qty)
        s.execute(update(reservations).where(reservations.c.order_id == order_id,
                                             reservations.c.line_no == line["line_no"])
                  .values(status=domain.ISSUED, cost=cost))
        s.execute(stock_movements.insert().values(
            kind="issue", sku=held.sku, warehouse=warehouse, quantity=-qty, unit_cost=unit_cost(cost / qty),
            value=-cost, reference=f"order {order_id}"[:128], actor=envelope.actor, occurred_at=now))
        issued.append({"line_no": line["line_no"], "sku": held.sku, "warehouse": warehouse, "quantity": qty,
                       "cost": str(cost)})
    issued.sort(key=lambda l: l["line_no"])
    uow.emit("goods_issued", order_id, {
        "order_id": order_id, "channel": payload.get("channel"), "issued_at": now.isoformat(), "lines": issued,
        "total_cost": str(sum((Decimal(l["cost"]) for l in issued), start=Decimal("0.00")))})
    return issued


def _try_reserve(s, sku: str, quantity: int, warehouse_order: list[str]) -> str | None:
    """One conditional UPDATE per warehouse: the database decides who gets the last unit."""
    for code in warehouse_order:
        won = s.execute(update(stock_levels)
                        .where(stock_levels.c.sku == sku, stock_levels.c.warehouse == code,
                               stock_levels.c.on_hand - stock_levels.c.reserved >= quantity)
                        .values(reserved=stock_levels.c.reserved + quantity)).rowcount
        if won:
            return code
    return None


def announce_stock(uow: UnitOfWork, skus) -> None:
    """stock_changed per SKU, with what is available per warehouse and in all: the shop connectors
    push sellable quantities from it. Its sequence (per SKU) is the version of the quantity."""
    s = uow.session
    for sku in sorted(set(skus)):
        levels = [{"warehouse": r.warehouse, "on_hand": r.on_hand, "reserved": r.reserved,
                   "available": r.on_hand - r.reserved}
                  for r in s.execute(select(stock_levels).where(stock_levels.c.sku == sku)
                                     .order_by(stock_levels.c.warehouse)).all()]
        uow.emit("stock_changed", f"sku:{sku}", {"sku": sku, "levels": levels,
                                                "available": sum(l["available"] for l in levels)})


def release_order(uow: UnitOfWork, envelope: Envelope) -> None:
    """order_cancelled: whatever was reserved for the order becomes available again."""
    s, order_id = uow.session, envelope.payload["order_id"]
    held = s.execute(select(reservations).where(reservations.c.order_id == order_id)
                     .order_by(reservations.c.sku, reservations.c.line_no)).all()
    if not held:
        raise PredecessorMissing(f"order {order_id} was cancelled before inventory answered it")
    for r in held:
        if r.status == domain.RESERVED:
            released = s.execute(update(stock_levels)
                                 .where(stock_levels.c.sku == r.sku, stock_levels.c.warehouse == r.warehouse,
                                        stock_levels.c.reserved >= r.quantity)
                                 .values(reserved=stock_levels.c.reserved - r.quantity)).rowcount
            if not released:
                raise Conflict(f"{r.sku} in {r.warehouse} holds less than the {r.quantity} reserved for {order_id}")
        if r.status in (domain.RESERVED, domain.BACKORDERED):
            s.execute(update(reservations).where(reservations.c.order_id == order_id,
                                                 reservations.c.line_no == r.line_no)
                      .values(status=domain.RELEASED))
    announce_stock(uow, {r.sku for r in held if r.status == domain.RESERVED})


def reserve_order(uow: UnitOfWork, envelope: Envelope) -> list[dict]:
    """order_placed: reserve every line in the first warehouse (by priority) that can
    cover it whole, or mark it backordered; answer stock_reserved or stock_short."""
    s, payload = uow.session, envelope.payload
    order_id, lines = payload["order_id"], payload["lines"]
    codes = {line["sku"] for line in lines}
    known = set(s.execute(select(skus.c.code).where(skus.c.code.in_(codes))).scalars())
    if codes - known:
        raise NotFound(f"order {order_id} has unknown SKU(s): {sorted(codes - known)}")
    order = s.execute(select(warehouses.c.code).order_by(warehouses.c.priority, warehouses.c.code)).scalars().all()
    answer, now = [], _now()
    # Lock rows in SKU order so two multi-line orders cannot deadlock.
    for line in sorted(lines, key=lambda l: (l["sku"], l["line_no"])):
        warehouse = _try_reserve(s, line["sku"], int(line["quantity"]), order)
        status = domain.RESERVED if warehouse else domain.BACKORDERED
        s.execute(reservations.insert().values(order_id=order_id, line_no=line["line_no"], sku=line["sku"],
                                               warehouse=warehouse, quantity=line["quantity"],
                                               status=status, created_at=now))
        answer.append({"line_no": line["line_no"], "sku": line["sku"], "quantity": line["quantity"],
                       "status": status, "warehouse": warehouse})
    answer.sort(key=lambda l: l["line_no"])
    short = any(l["status"] == domain.BACKORDERED for l in answer)
    uow.emit("stock_short" if short else "stock_reserved", order_id, {"order_id": order_id, "lines": answer})
    announce_stock(uow, {l["sku"] for l in answer if l["status"] == domain.RESERVED})
    return answer


def _level(s, sku: str, warehouse: str) -> dict:
    row = s.execute(select(stock_levels).where(stock_levels.c.sku == sku,
                                               stock_levels.c.warehouse == warehouse)).first()
    if row is None:
        return {"sku": sku, "warehouse": warehouse, "on_hand": 0, "reserved": 0, "available": 0}
    return {"sku": sku, "warehouse": warehouse, "on_hand": row.on_hand, "reserved": row.reserved,
            "available": row.on_hand - row.reserved}


def get_stock(db: Database, sku: str, warehouse: str = "") -> list[dict]:
    with db.reader() as s:
        if s.execute(select(skus.c.code).where(skus.c.code == sku)).first() is None:
            raise NotFound(f"SKU {sku!r} not found", [{"field": "sku", "message": "unknown SKU"}])
        query = select(stock_levels).where(stock_levels.c.sku == sku).order_by(stock_levels.c.warehouse)
        if warehouse:
            if s.execute(select(warehouses.c.code).where(warehouses.c.code == warehouse)).first() is None:
                raise NotFound(f"warehouse {warehouse!r} not found",
                               [{"field": "warehouse", "message": "unknown warehouse"}])
            return [_level(s, sku, warehouse)]
        return [{"sku": r.sku, "warehouse": r.warehouse, "on_hand": r.on_hand, "reserved": r.reserved,
                 "available": r.on_hand - r.reserved} for r in s.execute(query).all()]


def return_to_supplier(uow: UnitOfWork, envelope: Envelope) -> list[dict]:
    """purchase_returned: the goods leave for the supplier, taken from that purchase order's own
    cost layers first; emits purchase_return_shipped with their value for the books."""
    s, payload, now = uow.session, envelope.payload, _now()
    warehouse, shipped = payload["warehouse"], []
    for line in payload["lines"]:
        qty = int(line["quantity"])
        took = s.execute(update(stock_levels)
                         .where(stock_levels.c.sku == line["sku"], stock_levels.c.warehouse == warehouse,
                                stock_levels.c.on_hand - stock_levels.c.reserved >= qty)
                         .values(on_hand=stock_levels.c.on_hand - qty)).rowcount
        if not took:
            raise Conflict(f"purchase return {payload['return_id']}: {warehouse} has fewer than {qty} unreserved "
                           f"units of {line['sku']}")
        cost = _consume_layers(s, line["sku"], warehouse, qty, prefer_reference=f"PO {payload['purchase_order_id']}")
        s.execute(stock_movements.insert().values(
            kind="purchase_return", sku=line["sku"], warehouse=warehouse, quantity=-qty,
            unit_cost=unit_cost(cost / qty), value=-cost, reference=f"return to supplier {payload['return_id']}"[:128],
            actor=envelope.actor, occurred_at=now))
        shipped.append({"line_no": line["line_no"], "sku": line["sku"], "quantity": qty, "cost": str(cost)})
    announce_stock(uow, {l["sku"] for l in shipped})
    uow.emit("purchase_return_shipped", payload["purchase_order_id"], {
        **{k: payload[k] for k in ("purchase_order_id", "return_id", "supplier", "warehouse", "total_net",
                                   "total_tax", "total")},
        "returned_at": now.isoformat(), "lines": shipped,
        "total_cost": str(sum((Decimal(l["cost"]) for l in shipped), start=Decimal("0.00")))})
    return shipped


def restock_return(uow: UnitOfWork, envelope: Envelope) -> list[dict]:
    """order_returned: the units come back into the warehouse they left, at the cost they left
    with (the last return of a line takes exactly the cost not yet returned); emits goods_returned."""
    s, payload, now = uow.session, envelope.payload, _now()
    order_id, restocked = payload["order_id"], []
    for line in payload["lines"]:
        issued = s.execute(select(reservations).where(reservations.c.order_id == order_id,
                                                      reservations.c.line_no == line["line_no"])).first()
        if issued is None or issued.status != domain.ISSUED:
            raise PredecessorMissing(f"order {order_id} line {line['line_no']} has not been issued yet")
        qty = int(line["quantity"])
        if issued.returned_quantity + qty > issued.quantity:
            raise Conflict(f"order {order_id} line {line['line_no']}: more returned than issued")
        cost = (issued.cost - issued.returned_cost if issued.returned_quantity + qty == issued.quantity
                else min(cents(issued.cost * qty / issued.quantity), issued.cost - issued.returned_cost))
        s.execute(update(reservations).where(reservations.c.order_id == order_id,
                                             reservations.c.line_no == line["line_no"])
                  .values(returned_quantity=reservations.c.returned_quantity + qty,
                          returned_cost=reservations.c.returned_cost + cost))
        _add_stock(s, issued.sku, issued.warehouse, qty, unit_cost(cost / qty), f"return {payload['return_id']}",
                   envelope.actor, now, value=cost, kind="return")
        restocked.append({"line_no": line["line_no"], "sku": issued.sku, "warehouse": issued.warehouse,
                          "quantity": qty, "cost": str(cost)})
    announce_stock(uow, {l["sku"] for l in restocked})
    uow.emit("goods_returned", order_id, {"order_id": order_id, "return_id": payload["return_id"],
                                          "channel": payload.get("channel"), "returned_at": now.isoformat(),
                                          "lines": restocked})
    return restocked


def adjust_stock(uow: UnitOfWork, sku: str, warehouse: str, quantity: int, reason: str, cost: str,
                 note: str) -> dict:
    """A count difference or scrap: stock and its cost layers change, and stock_adjusted carries
    the value to accounting. A loss can only take stock that is not reserved."""
    given_cost = domain.check_adjustment(sku, warehouse, quantity, reason, cost)
    s, now = uow.session, _now()
    if s.execute(select(stock_levels.c.sku).where(stock_levels.c.sku == sku,
                                                  stock_levels.c.warehouse == warehouse)).first() is None:
        raise NotFound(f"no stock of {sku!r} in {warehouse!r}", [{"field": "sku", "message": "no stock here"}])
    adjustment_id = uuid.uuid4().hex
    reference = f"{reason} {adjustment_id}: {note or ''}"
    if quantity > 0:
        if given_cost is None:  # a found unit is worth what the last one received cost
            given_cost = s.execute(select(cost_layers.c.unit_cost).where(cost_layers.c.sku == sku)
                                   .order_by(cost_layers.c.received_at.desc(), cost_layers.c.id.desc())
                                   .limit(1)).scalar() or Decimal("0")
        value = cents(given_cost * quantity)
        _add_stock(s, sku, warehouse, quantity, given_cost, reference, uow.actor, now, kind="adjustment")
    else:
        took = s.execute(update(stock_levels)
                         .where(stock_levels.c.sku == sku, stock_levels.c.warehouse == warehouse,
                                stock_levels.c.on_hand - stock_levels.c.reserved >= -quantity)
                         .values(on_hand=stock_levels.c.on_hand + quantity)).rowcount
        if not took:
            level = _level(s, sku, warehouse)
            raise Conflict(f"only {level['available']} unreserved units of {sku} in {warehouse} can be taken",
                           [{"field": "quantity", "message": f"at most {level['available']} units"}])
        value = -_consume_layers(s, sku, warehouse, -quantity)
        s.execute(stock_movements.insert().values(
            kind="adjustment", sku=sku, warehouse=warehouse, quantity=quantity,
            unit_cost=unit_cost(-value / -quantity), value=value, reference=reference[:128], actor=uow.actor,
            occurred_at=now))
    announce_stock(uow, {sku})
    uow.emit("stock_adjusted", f"adjustment:{adjustment_id}", {
        "adjustment_id": adjustment_id, "sku": sku, "warehouse": warehouse, "quantity": quantity, "reason": reason,
        "note": note or "", "value": str(value), "occurred_at": now.isoformat()})
    return {"adjustment_id": adjustment_id, "value": value, "level": _level(s, sku, warehouse)}


def stock_value(db: Database, warehouse: str = "") -> list[dict]:
    """Units and value left in the FIFO cost layers, per warehouse and SKU."""
    query = (select(cost_layers.c.warehouse, cost_layers.c.sku, func.sum(cost_layers.c.remaining),
                    func.sum(cost_layers.c.remaining_value))
             .group_by(cost_layers.c.warehouse, cost_layers.c.sku)
             .order_by(cost_layers.c.warehouse, cost_layers.c.sku))
    if warehouse:
        query = query.where(cost_layers.c.warehouse == warehouse)
    with db.reader() as s:
        return [{"warehouse": w, "sku": sku, "quantity": int(q or 0), "value": cents(v or 0)}
                for w, sku, q, v in s.execute(query).all()]
