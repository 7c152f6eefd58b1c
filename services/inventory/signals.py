"""What inventory tells the others when stock changes: stock_changed (the shop connectors push
sellable quantities from it), low_stock (purchasing suggests a purchase), lot_expiring and
lot_hold_changed."""
from __future__ import annotations

from datetime import date

from sqlalchemy import bindparam, func, literal_column, null, select, type_coerce, union_all, update

from contracts import LotExpiring, LotHoldChanged, LowStock, StockChanged
from contracts.events import LotQuantity
from hubkit import clock
from hubkit.db import UnitOfWork
from hubkit.envelope import aggregate_key
from services.inventory import stock
from services.inventory.models import lots, place_stock, stock_levels, stock_limits

STOCK_MOVED = "inventory.stock_moved"  # what UnitOfWork.gather collects: the (sku, warehouse) pairs moved


def stock_moved(uow: UnitOfWork, places) -> None:
    """After any change to the (sku, warehouse) pairs in `places`: at the end of the transaction,
    stock_changed per SKU with its final quantities (once, however many changes of the transaction
    moved it: a batch of orders for one SKU sends one), and low_stock where available reached the
    minimum (once, re-armed when it rises above). A change that may free stock calls
    reservations.stock_freed, which fills backorders first."""
    uow.gather(STOCK_MOVED, lambda moved: _signal(uow, moved)).update(places)


def _signal(uow: UnitOfWork, places: set) -> None:
    """The levels of every SKU moved, and the limits of every place moved, read by one statement."""
    if not places:
        return
    s, skus = uow.session, sorted({sku for sku, _ in places})
    levels: dict[str, list[dict]] = {sku: [] for sku in skus}
    limits = {}
    for r in s.execute(_LEVELS_AND_LIMITS_OF, {"p_skus": skus}):
        if r.kind == _LEVEL:
            levels[r.sku].append(stock.level_dict(r))
        else:
            limits[(r.sku, r.warehouse)] = r
    for sku in skus:
        _announce(uow, sku, levels[sku])
    for sku, warehouse in sorted(places):
        if (sku, warehouse) in limits:
            available = next((l["available"] for l in levels[sku] if l["warehouse"] == warehouse), 0)
            _minimum(uow, limits[(sku, warehouse)], available)


_LIMIT = select(stock_limits).where(stock_limits.c.sku == bindparam("p_sku"),
                                    stock_limits.c.warehouse == bindparam("p_warehouse"))  # all built once
_LEVEL, _LIMIT_ROW = "l", "m"  # sorted so: the levels first


def _levels_and_limits_of():
    """The SKUs' balance rows (by SKU and warehouse) and then their limits, in one statement: each row
    tagged with its table, the other table's columns null."""
    l, m, skus = stock_levels.c, stock_limits.c, bindparam("p_skus", expanding=True)

    def none(column):  # typed as the column, so the limits' flag still reads as a bool
        return type_coerce(null(), column.type).label(column.name)
    return (union_all(select(literal_column(f"'{_LEVEL}'").label("kind"), l.sku, l.warehouse, l.on_hand, l.reserved,
                             l.held, l.in_transit, none(m.minimum), none(m.maximum), none(m.signalled))
                      .where(l.sku.in_(skus)),
                      select(literal_column(f"'{_LIMIT_ROW}'"), m.sku, m.warehouse, null(), null(), null(), null(),
                             m.minimum, m.maximum, m.signalled)
                      .where(m.sku.in_(skus)))
            .order_by("kind", "sku", "warehouse"))


_LEVELS_AND_LIMITS_OF = _levels_and_limits_of()


def _announce(uow: UnitOfWork, sku: str, levels: list[dict]) -> None:
    """stock_changed with what is available per warehouse and in all. Its sequence (per SKU) is the
    version of the quantity."""
    uow.emit(StockChanged(sku=sku, levels=levels, available=sum(l["available"] for l in levels)),
             aggregate_key("sku", sku))


def check_minimum(uow: UnitOfWork, sku: str, warehouse: str) -> None:
    """low_stock when available is at or below the minimum and it was not signalled since it last
    rose above (setting the limits re-arms it: a SKU already low, even at zero, is signalled at once)."""
    s = uow.session
    limit = s.execute(_LIMIT, {"p_sku": sku, "p_warehouse": warehouse}).first()
    if limit is not None:
        _minimum(uow, limit, stock.level(s, sku, warehouse)["available"])


def _minimum(uow: UnitOfWork, limit, available: int) -> None:
    sku, warehouse = limit.sku, limit.warehouse
    low = available <= limit.minimum
    if low == limit.signalled:
        return
    uow.session.execute(update(stock_limits).where(stock_limits.c.sku == sku, stock_limits.c.warehouse == warehouse)
                        .values(signalled=low))
    if low:
        uow.emit(LowStock(sku=sku, warehouse=warehouse, available=available, minimum=limit.minimum,
                          maximum=limit.maximum, shortfall=max(0, limit.maximum - available),
                          occurred_at=clock.now()), aggregate_key("stock", sku, warehouse))


def lot_quantities(s, sku: str, lot: str) -> dict[str, int]:
    """Units of a lot per warehouse."""
    return {w: int(q) for w, q in s.execute(
        select(place_stock.c.warehouse, func.sum(place_stock.c.quantity))
        .where(place_stock.c.sku == sku, place_stock.c.lot == lot, place_stock.c.quantity > 0)
        .group_by(place_stock.c.warehouse).order_by(place_stock.c.warehouse)).all()}


def hold_changed(uow: UnitOfWork, sku: str, lot: str, warehouse: str, held: bool, reason: str, quantity: int,
                 note: str = "") -> None:
    # One aggregate per lot and warehouse: a hold sends one signal per warehouse in one transaction, and
    # consumers skip an event older than one applied for its aggregate (a version). Under the lot alone,
    # the second warehouse's signal applied first made the first one stale: its alert was lost.
    uow.emit(LotHoldChanged(sku=sku, lot=lot, warehouse=warehouse, held=held, reason=reason, quantity=quantity,
                            note=note, occurred_at=clock.now()), aggregate_key("lot", sku, lot, warehouse))


def lots_expiring(uow: UnitOfWork, today: date, days_ahead: int) -> int:
    """lot_expiring, once per lot and expiry date, for lots in stock that expire within `days_ahead`."""
    s, sent = uow.session, 0
    due = s.execute(select(lots).where(lots.c.expires_on.is_not(None), lots.c.expires_on >= today,
                                       lots.c.expires_on <= date.fromordinal(today.toordinal() + days_ahead),
                                       lots.c.status != stock.EXPIRED)
                    .order_by(lots.c.expires_on, lots.c.sku, lots.c.lot)).all()
    for lot in due:
        if lot.expiry_signalled_on == lot.expires_on:
            continue
        quantities = lot_quantities(s, lot.sku, lot.lot)
        if not quantities:
            continue
        s.execute(update(lots).where(lots.c.sku == lot.sku, lots.c.lot == lot.lot)
                  .values(expiry_signalled_on=lot.expires_on))
        uow.emit(LotExpiring(sku=lot.sku, lot=lot.lot, expires_on=lot.expires_on,
                             days_left=(lot.expires_on - today).days,
                             quantities=[LotQuantity(warehouse=w, quantity=q) for w, q in quantities.items()],
                             occurred_at=clock.now()), aggregate_key("lot", lot.sku, lot.lot))
        sent += 1
    return sent
