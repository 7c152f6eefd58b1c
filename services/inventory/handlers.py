"""Inventory use cases: one function per command or event."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select, update

from hubkit.db import Database, UnitOfWork, dialect_insert
from hubkit.envelope import Envelope
from hubkit.errors import FieldErrors, NotFound
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
    movement_id = s.execute(stock_movements.insert().values(
        kind="receipt", sku=sku, warehouse=warehouse, quantity=quantity, unit_cost=cost_value,
        reference=(reference or "")[:128], actor=uow.actor, occurred_at=_now())
        .returning(stock_movements.c.id)).scalar_one()
    s.execute(cost_layers.insert().values(movement_id=movement_id, sku=sku, warehouse=warehouse,
                                          quantity=quantity, remaining=quantity, unit_cost=cost_value))
    s.execute(dialect_insert(s, stock_levels).values(sku=sku, warehouse=warehouse, on_hand=quantity, reserved=0)
              .on_conflict_do_update(index_elements=["sku", "warehouse"],
                                     set_={"on_hand": stock_levels.c.on_hand + quantity}))
    return movement_id, _level(s, sku, warehouse)


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
