"""Quality holds and expiry: a held lot stays on hand but is not available and is never issued
for a sale. A quarantined lot can be released; an expired one only written off."""
from __future__ import annotations

from datetime import date

from sqlalchemy import select, update

from hubkit.db import UnitOfWork
from hubkit.errors import Conflict, NotFound
from services.inventory import reservations, signals, stock
from services.inventory.models import lots, stock_levels


def _lot(s, sku: str, lot: str):
    row = s.execute(select(lots).where(lots.c.sku == sku, lots.c.lot == lot).with_for_update()).first()
    if row is None:
        raise NotFound(f"lot {lot} of {sku} is unknown", [{"field": "lot", "message": "unknown lot"}])
    return row


def hold(uow: UnitOfWork, sku: str, lot: str, note: str = "") -> dict:
    """Quality hold (quarantine) on a lot everywhere. Units already promised to orders cannot be
    held: release or re-allocate those orders first."""
    s = uow.session
    row = _lot(s, sku, lot)
    stock.lock(s, {sku})
    if row.status != stock.OK:
        raise Conflict(f"lot {lot} of {sku} is already {row.status}", [{"field": "lot", "message": row.status}])
    quantities = signals.lot_quantities(s, sku, lot)
    for warehouse, quantity in quantities.items():
        held = s.execute(update(stock_levels).where(
            stock_levels.c.sku == sku, stock_levels.c.warehouse == warehouse,
            stock_levels.c.on_hand - stock_levels.c.reserved - stock_levels.c.held >= quantity)
            .values(held=stock_levels.c.held + quantity)).rowcount
        if not held:
            raise Conflict(f"{warehouse} cannot hold {quantity} units of lot {lot}: they are promised to orders",
                           [{"field": "lot", "message": f"reserved stock in {warehouse}"}])
        signals.hold_changed(uow, sku, lot, warehouse, True, "quarantine", quantity, note)
    s.execute(update(lots).where(lots.c.sku == sku, lots.c.lot == lot).values(status=stock.QUARANTINED))
    reservations.stock_freed(uow, {(sku, w) for w in quantities}, f"lot {lot} of {sku} held")
    return {"sku": sku, "lot": lot, "status": stock.QUARANTINED, "quantities": quantities}


def release(uow: UnitOfWork, sku: str, lot: str, note: str = "") -> dict:
    s = uow.session
    row = _lot(s, sku, lot)
    stock.lock(s, {sku})
    if row.status != stock.QUARANTINED:
        raise Conflict(f"lot {lot} of {sku} is {row.status}: only a quarantined lot can be released",
                       [{"field": "lot", "message": row.status}])
    quantities = signals.lot_quantities(s, sku, lot)
    for warehouse, quantity in quantities.items():
        s.execute(update(stock_levels).where(stock_levels.c.sku == sku, stock_levels.c.warehouse == warehouse)
                  .values(held=stock_levels.c.held - quantity))
        signals.hold_changed(uow, sku, lot, warehouse, False, "released", quantity, note)
    s.execute(update(lots).where(lots.c.sku == sku, lots.c.lot == lot).values(status=stock.OK))
    reservations.stock_freed(uow, {(sku, w) for w in quantities}, f"stock freed: lot {lot} of {sku} released")
    return {"sku": sku, "lot": lot, "status": stock.OK, "quantities": quantities}


def expire_lots(uow: UnitOfWork, today: date) -> int:
    """Lots past their expiry date are held as expired (the worker runs this on a timer; picking
    refuses them even before it has run)."""
    s, expired = uow.session, 0
    due = s.execute(select(lots).where(lots.c.expires_on < today, lots.c.status != stock.EXPIRED)
                    .order_by(lots.c.sku, lots.c.lot).with_for_update()).all()
    stock.lock(s, {row.sku for row in due})
    for row in due:
        quantities = signals.lot_quantities(s, row.sku, row.lot)
        for warehouse, quantity in quantities.items():
            if row.status == stock.OK:  # a quarantined lot is held already
                s.execute(update(stock_levels).where(stock_levels.c.sku == row.sku,
                                                     stock_levels.c.warehouse == warehouse)
                          .values(held=stock_levels.c.held + quantity))
            signals.hold_changed(uow, row.sku, row.lot, warehouse, True, "expired", quantity,
                                 f"expired on {row.expires_on.isoformat()}")
        s.execute(update(lots).where(lots.c.sku == row.sku, lots.c.lot == row.lot).values(status=stock.EXPIRED))
        reservations.stock_freed(uow, {(row.sku, w) for w in quantities}, f"lot {row.lot} of {row.sku} expired")
        expired += 1
    return expired
