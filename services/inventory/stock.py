"""Units in places: the balances per bin and lot, per warehouse, the serial numbers, and the
immutable stock-ledger lines that explain every change. Every document moves stock through
`put` and `take` here; costing.py says what the units are worth."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Integer, and_, bindparam, func, or_, select, update

from hubkit.db import dialect_insert
from hubkit.errors import Conflict, NotFound
from hubkit.money import cents, unit_cost
from services.inventory.models import bins, document_lines, lots, place_stock, serials, stock_levels, stock_movements

OK, QUARANTINED, EXPIRED = "ok", "quarantined", "expired"
HELD_LOT = (QUARANTINED, EXPIRED)  # a lot in these is held: its units are not free
IN_STOCK, IN_TRANSIT, ISSUED, SCRAPPED = "in_stock", "in_transit", "issued", "scrapped"


@dataclass(frozen=True)
class Piece:
    """Some units of one SKU in one bin and lot (and with one serial, when serial-tracked)."""
    bin: str
    lot: str
    serial: str
    quantity: int


@dataclass(frozen=True)
class Context:
    document: str   # kind:id of the document that moves the stock
    actor: str
    at: datetime
    reference: str = ""
    reason: str = ""


# The statements every shipment runs are built once, their values given at execute (p_* parameters):
# building them with literal values, and their cache keys, cost more CPU than running them.
_LOCK = (select(stock_levels.c.sku).where(stock_levels.c.sku.in_(bindparam("p_skus", expanding=True)))
         .order_by(stock_levels.c.sku, stock_levels.c.warehouse).with_for_update())
_LOCK_FREE = (select(stock_levels.c.sku, stock_levels.c.warehouse,
                     stock_levels.c.on_hand - stock_levels.c.reserved - stock_levels.c.held)
              .where(stock_levels.c.sku.in_(bindparam("p_skus", expanding=True)))
              .order_by(stock_levels.c.sku, stock_levels.c.warehouse).with_for_update())
_LOT_STATUS = select(lots.c.status).where(lots.c.sku == bindparam("p_sku"), lots.c.lot == bindparam("p_lot"))
_BIN = select(bins.c.frozen_by).where(bins.c.warehouse == bindparam("p_warehouse"), bins.c.code == bindparam("p_bin"))
_LEDGER = stock_movements.insert().returning(stock_movements.c.id)
_LEDGER_MANY = stock_movements.insert().returning(stock_movements.c.id, sort_by_parameter_order=True)
_BINS_OF = select(bins.c.warehouse, bins.c.code, bins.c.frozen_by).where(
    bins.c.warehouse.in_(bindparam("p_warehouses", expanding=True)), bins.c.code.in_(bindparam("p_bins", expanding=True)))
_LOTS_OF = select(lots.c.sku, lots.c.lot, lots.c.status).where(
    lots.c.sku.in_(bindparam("p_skus", expanding=True)), lots.c.lot.in_(bindparam("p_lots", expanding=True)))


def _take_place():
    qty = bindparam("p_quantity", type_=Integer)
    return (update(place_stock)
            .where(place_stock.c.sku == bindparam("p_sku"), place_stock.c.warehouse == bindparam("p_warehouse"),
                   place_stock.c.bin == bindparam("p_bin"), place_stock.c.lot == bindparam("p_lot"),
                   place_stock.c.quantity >= qty)
            .values(quantity=place_stock.c.quantity - qty))


def _take_level():
    total, reserved = bindparam("p_total", type_=Integer), bindparam("p_reserved", type_=Integer)
    held = bindparam("p_held", type_=Integer)
    return (update(stock_levels)
            .where(stock_levels.c.sku == bindparam("p_sku"), stock_levels.c.warehouse == bindparam("p_warehouse"),
                   stock_levels.c.reserved >= reserved, stock_levels.c.held >= held,
                   # the units that were not reserved must not be promised or held ones
                   stock_levels.c.on_hand - stock_levels.c.reserved - stock_levels.c.held
                   >= bindparam("p_free_unheld", type_=Integer))
            .values(on_hand=stock_levels.c.on_hand - total, reserved=stock_levels.c.reserved - reserved,
                    held=stock_levels.c.held - held))


def _choose(usable: bool, many: bool = False):
    """The places to choose from, in the order they are chosen; `many`: of several (sku, warehouse) pairs
    (p_skus, p_warehouses), each pair's rows in that order."""
    where = ([place_stock.c.sku.in_(bindparam("p_skus", expanding=True)),
              place_stock.c.warehouse.in_(bindparam("p_warehouses", expanding=True))] if many else
             [place_stock.c.sku == bindparam("p_sku"), place_stock.c.warehouse == bindparam("p_warehouse")])
    query = (select(place_stock.c.bin, place_stock.c.lot, place_stock.c.quantity, lots.c.expires_on,
                    *([place_stock.c.sku, place_stock.c.warehouse] if many else []))
             .select_from(place_stock.outerjoin(lots, and_(lots.c.sku == place_stock.c.sku,
                                                           lots.c.lot == place_stock.c.lot)))
             .join(bins, and_(bins.c.warehouse == place_stock.c.warehouse, bins.c.code == place_stock.c.bin),
                   isouter=True)
             .where(*where, place_stock.c.quantity > 0, bins.c.frozen_by.is_(None))
             # lots with an expiry first, soonest first; then by arrival
             .order_by(*([place_stock.c.sku, place_stock.c.warehouse] if many else []),
                       lots.c.expires_on.is_(None), lots.c.expires_on, place_stock.c.received_at,
                       place_stock.c.bin, place_stock.c.lot))
    if usable:  # held lots and lots expired by then are never chosen (sales)
        query = query.where(or_(lots.c.status.is_(None), lots.c.status == OK),
                            or_(lots.c.expires_on.is_(None), lots.c.expires_on >= bindparam("p_usable_on")))
    return query


_TAKE_PLACE, _TAKE_LEVEL = _take_place(), _take_level()
_CHOOSE = {False: _choose(False), True: _choose(True)}


def lock(s, skus) -> None:
    """Lock the balance rows of every SKU a document touches, in SKU order, before changing any
    (and before its cost layers): documents and reservations then cannot deadlock one another."""
    s.execute(_LOCK, {"p_skus": sorted(set(skus))}).all()


def lock_free(s, skus) -> dict[str, dict[str, int]]:
    """lock(), reading as it locks what is free of each SKU per warehouse (on hand less reserved and
    held; a SKU with no balance row is not in it). Locked, the figures stay true until the commit."""
    free: dict[str, dict[str, int]] = {}
    for sku, warehouse, units in s.execute(_LOCK_FREE, {"p_skus": sorted(set(skus))}):
        free.setdefault(sku, {})[warehouse] = int(units)
    return free


def lot_is_held(s, sku: str, lot: str) -> bool:
    if not lot:
        return False
    return s.execute(_LOT_STATUS, {"p_sku": sku, "p_lot": lot}).scalar() in HELD_LOT


def check_bin_open(s, warehouse: str, bin_code: str, frozen_ok: bool = False) -> str | None:
    """A bin must exist (the unnamed bin '' always does) and not be frozen by a count, unless
    `frozen_ok`; returns the count that froze it."""
    row = s.execute(_BIN, {"p_warehouse": warehouse, "p_bin": bin_code}).first()
    return _bin_open(row is not None, row.frozen_by if row is not None else None, warehouse, bin_code, frozen_ok)


def _bin_open(exists: bool, frozen_by: str | None, warehouse: str, bin_code: str, frozen_ok: bool = False) -> str | None:
    if not exists:
        if bin_code == "":
            return None
        raise NotFound(f"bin {bin_code!r} does not exist in {warehouse}",
                       [{"field": "bin", "message": f"unknown bin in {warehouse}"}])
    if frozen_by and not frozen_ok:
        raise Conflict(f"bin {bin_code or '(unnamed)'} in {warehouse} is frozen by count {frozen_by}",
                       [{"field": "bin", "message": f"frozen by count {frozen_by}"}])
    return frozen_by


def put(s, ctx: Context, kind: str, sku: str, warehouse: str, pieces: list[Piece], value: Decimal,
        update_level: bool = True, into_frozen: bool = False) -> int:
    """Units arrive in places: balances, serials, and one ledger line per piece carrying its share
    of `value`. Returns the id of the first ledger line. Goods that arrive by an event (a purchase,
    a customer return) may land in a bin being counted: the count then expects them too."""
    total = sum(p.quantity for p in pieces)
    first = None
    for piece, share in zip(pieces, shares(value, [p.quantity for p in pieces])):
        counting = check_bin_open(s, warehouse, piece.bin, frozen_ok=into_frozen)
        if counting:
            _count_expects(s, counting, sku, piece)
        s.execute(dialect_insert(s, place_stock).values(sku=sku, warehouse=warehouse, bin=piece.bin, lot=piece.lot,
                                                        quantity=piece.quantity, received_at=ctx.at)
                  .on_conflict_do_update(index_elements=["sku", "warehouse", "bin", "lot"],
                                         set_={"quantity": place_stock.c.quantity + piece.quantity}))
        if piece.serial:
            s.execute(dialect_insert(s, serials).values(sku=sku, serial=piece.serial, status=IN_STOCK,
                                                        warehouse=warehouse, bin=piece.bin, lot=piece.lot)
                      .on_conflict_do_update(index_elements=["sku", "serial"],
                                             set_={"status": IN_STOCK, "warehouse": warehouse, "bin": piece.bin,
                                                   "lot": piece.lot}))
        line = _ledger(s, ctx, kind, sku, warehouse, piece, piece.quantity, share)
        first = first or line
    if not update_level:
        return first
    held_units = sum(p.quantity for p in pieces if lot_is_held(s, sku, p.lot))
    s.execute(dialect_insert(s, stock_levels).values(sku=sku, warehouse=warehouse, on_hand=total, reserved=0,
                                                     held=held_units, in_transit=0)
              .on_conflict_do_update(index_elements=["sku", "warehouse"],
                                     set_={"on_hand": stock_levels.c.on_hand + total,
                                           "held": stock_levels.c.held + held_units}))
    return first


def take(s, ctx: Context, kind: str, sku: str, warehouse: str, pieces: list[Piece], value: Decimal,
         reserved: int = 0, serial_status: str = ISSUED, update_level: bool = True) -> int | None:
    """Units leave their places. `reserved` of them were reserved for an order (their reservation
    is consumed); the rest must be free: a free take never eats into what orders were promised.
    Returns the id of the first ledger line."""
    return take_many(s, [Take(ctx, kind, sku, warehouse, pieces, value, reserved, serial_status, update_level)])[0]


@dataclass(frozen=True)
class Take:
    """Units of one SKU leaving one warehouse (take's arguments)."""
    ctx: Context
    kind: str
    sku: str
    warehouse: str
    pieces: list[Piece]
    value: Decimal
    reserved: int = 0
    serial_status: str = ISSUED
    update_level: bool = True


def take_many(s, takes: list[Take]) -> list[int | None]:
    """`take` for several at once, in their order (a batch of shipments): the bins and lots of every
    piece read by one statement each, each place and each balance row updated once for all the units
    leaving it (conditionally: never below zero, never into units promised or held), the ledger lines
    inserted by one statement. Returns each take's first ledger line id."""
    every = [(t, p) for t in takes for p in t.pieces]
    found = {(r.warehouse, r.code): r.frozen_by for r in s.execute(_BINS_OF, {
        "p_warehouses": sorted({t.warehouse for t, _ in every}), "p_bins": sorted({p.bin for _, p in every})})} \
        if every else {}
    lotted = {(t.sku, p.lot) for t, p in every if p.lot}
    status = {(r.sku, r.lot): r.status for r in s.execute(_LOTS_OF, {
        "p_skus": sorted({sku for sku, _ in lotted}), "p_lots": sorted({lot for _, lot in lotted})})} if lotted else {}
    places: dict[tuple[str, str, str, str], int] = {}  # (sku, warehouse, bin, lot) -> units leaving
    levels: dict[tuple[str, str], list[int]] = {}  # (sku, warehouse) -> [total, reserved, held, free and unheld]
    ledger: list[dict] = []
    firsts: list[int | None] = []
    for t in takes:
        held_units = 0
        firsts.append(len(ledger) if t.pieces else None)
        for piece, share in zip(t.pieces, shares(t.value, [p.quantity for p in t.pieces])):
            _bin_open((t.warehouse, piece.bin) in found, found.get((t.warehouse, piece.bin)), t.warehouse, piece.bin)
            key = (t.sku, t.warehouse, piece.bin, piece.lot)
            places[key] = places.get(key, 0) + piece.quantity
            if piece.serial:
                moved = s.execute(update(serials).where(serials.c.sku == t.sku, serials.c.serial == piece.serial,
                                                        serials.c.status == IN_STOCK,
                                                        serials.c.warehouse == t.warehouse)
                                  .values(status=t.serial_status)).rowcount
                if not moved:
                    raise Conflict(f"serial {piece.serial} of {t.sku} is not in stock in {t.warehouse}",
                                   [{"field": "serials", "message": f"{piece.serial} is not in stock here"}])
            if piece.lot and status.get((t.sku, piece.lot)) in HELD_LOT:
                held_units += piece.quantity
            ledger.append(_ledger_row(t.ctx, t.kind, t.sku, t.warehouse, piece, -piece.quantity, -share))
        if t.update_level:
            total = sum(p.quantity for p in t.pieces)
            level = levels.setdefault((t.sku, t.warehouse), [0, 0, 0, 0])
            for i, n in enumerate((total, t.reserved, held_units, total - t.reserved - held_units)):
                level[i] += n
    for (sku, warehouse, bin_code, lot), quantity in places.items():
        if not s.execute(_TAKE_PLACE, {"p_sku": sku, "p_warehouse": warehouse, "p_bin": bin_code, "p_lot": lot,
                                       "p_quantity": quantity}).rowcount:
            raise Conflict(f"{sku} in {warehouse} bin {bin_code or '(unnamed)'} lot {lot or '-'} holds fewer "
                           f"than {quantity} units")
    ids = s.execute(_LEDGER_MANY, ledger).scalars().all() if ledger else []
    for (sku, warehouse), (total, reserved, held, free_unheld) in levels.items():
        if not s.execute(_TAKE_LEVEL, {"p_sku": sku, "p_warehouse": warehouse, "p_total": total,
                                       "p_reserved": reserved, "p_held": held,
                                       "p_free_unheld": free_unheld}).rowcount:
            raise Conflict(f"{sku} in {warehouse}: {total - reserved} units are not free to take (reserved for orders "
                           f"or held)", [{"field": "quantity", "message": "more than the free stock"}])
    return [None if i is None else ids[i] for i in firsts]


def _count_expects(s, count_id: str, sku: str, piece: Piece) -> None:
    key = [document_lines.c.document_id == count_id, document_lines.c.sku == sku, document_lines.c.bin == piece.bin,
           document_lines.c.lot == piece.lot, document_lines.c.serial == piece.serial]
    if not s.execute(update(document_lines).where(*key)
                     .values(quantity=document_lines.c.quantity + piece.quantity)).rowcount:
        line_no = (s.execute(select(func.max(document_lines.c.line_no))
                             .where(document_lines.c.document_id == count_id)).scalar() or 0) + 1
        s.execute(document_lines.insert().values(document_id=count_id, line_no=line_no, sku=sku, bin=piece.bin,
                                                 lot=piece.lot, serial=piece.serial, quantity=piece.quantity))


def _ledger(s, ctx: Context, kind: str, sku: str, warehouse: str, piece: Piece, quantity: int,
            value: Decimal) -> int:
    return s.execute(_LEDGER, _ledger_row(ctx, kind, sku, warehouse, piece, quantity, value)).scalar_one()


def _ledger_row(ctx: Context, kind: str, sku: str, warehouse: str, piece: Piece, quantity: int,
                value: Decimal) -> dict:
    return dict(kind=kind, document=ctx.document[:64], sku=sku, warehouse=warehouse, bin=piece.bin, lot=piece.lot,
                serial=piece.serial, reason=ctx.reason, quantity=quantity,
                unit_cost=unit_cost(abs(value) / abs(quantity)) if quantity else Decimal(0), value=value,
                reference=(ctx.reference or ctx.document)[:128], actor=ctx.actor, occurred_at=ctx.at)


def shares(value: Decimal, weights: list) -> list[Decimal]:
    """Split a value by weights (quantities, or costs) to the cent. Rounded cumulatively (each
    share is the step between two rounded running totals), so shares add up to exactly the value
    and none has the other sign."""
    total, out, running, before = sum(weights), [], 0, Decimal("0.00")
    for weight in weights:
        running += weight
        upto = cents(value * running / total)
        out.append(upto - before)
        before = upto
    return out


def choose(s, sku: str, warehouse: str, quantity: int, *, lot: str = "", bin_code: str | None = None,
           serial_list: list[str] | None = None, usable_on: date | None = None,
           serial_tracked: bool = False) -> list[Piece]:
    """Which units to take: the named serials (exactly one per unit), else first-expiry-first-out
    over lots with an expiry, otherwise first-in-first-out over places; a lot or bin narrows the
    choice. With `usable_on`, held lots and lots expired by then are never chosen (sales)."""
    if serial_tracked or serial_list:
        return _serial_pieces(s, sku, warehouse, quantity, serial_list or [], lot, bin_code, usable_on)
    query = _CHOOSE[usable_on is not None]
    if lot:
        query = query.where(place_stock.c.lot == lot)
    if bin_code is not None:
        query = query.where(place_stock.c.bin == bin_code)
    pieces, need = [], quantity
    for row in s.execute(query, {"p_sku": sku, "p_warehouse": warehouse, "p_usable_on": usable_on}).all():
        if need == 0:
            break
        taken = min(need, row.quantity)
        pieces.append(Piece(row.bin, row.lot, "", taken))
        need -= taken
    if need:
        _short(sku, warehouse, quantity, quantity - need, usable_on is not None, lot, bin_code)
    return pieces


def _short(sku: str, warehouse: str, quantity: int, found: int, usable: bool, lot: str = "",
           bin_code: str | None = None):
    where = f" lot {lot}" if lot else ""
    where += f" bin {bin_code}" if bin_code else ""
    raise Conflict(f"{warehouse} holds {found} usable units of {sku}{where}, {quantity} needed"
                   + (" (expired, held or frozen stock is never issued for a sale)" if usable else ""),
                   [{"field": "quantity", "message": f"only {found} usable units"}])


_USABLE_OF = _choose(True, many=True)


class Usable:
    """For a batch of sales: the usable places of its (sku, warehouse) pairs, read by one statement, and
    chosen from in memory as `choose(..., usable_on=on)` would, net of what the batch took before (`took`)."""

    def __init__(self, s, places, on: date) -> None:
        places = set(places)
        self.order: dict[tuple[str, str], list[tuple[str, str]]] = {place: [] for place in places}
        self.left: dict[tuple[str, str, str, str], int] = {}
        if places:
            for r in s.execute(_USABLE_OF, {"p_usable_on": on, "p_skus": sorted({sku for sku, _ in places}),
                                            "p_warehouses": sorted({w for _, w in places})}):
                if (r.sku, r.warehouse) in self.order:
                    self.order[(r.sku, r.warehouse)].append((r.bin, r.lot))
                    self.left[(r.sku, r.warehouse, r.bin, r.lot)] = int(r.quantity)

    def choose(self, sku: str, warehouse: str, quantity: int) -> list[Piece]:
        pieces, need = [], quantity
        for bin_code, lot in self.order[(sku, warehouse)]:
            if need == 0:
                break
            taken = min(need, self.left[(sku, warehouse, bin_code, lot)])
            if taken > 0:
                pieces.append(Piece(bin_code, lot, "", taken))
                need -= taken
        if need:
            _short(sku, warehouse, quantity, quantity - need, True)
        return pieces

    def took(self, sku: str, warehouse: str, pieces: list[Piece]) -> None:
        for p in pieces:
            if (sku, warehouse, p.bin, p.lot) in self.left:
                self.left[(sku, warehouse, p.bin, p.lot)] -= p.quantity


def _serial_pieces(s, sku, warehouse, quantity, serial_list, lot, bin_code, usable_on) -> list[Piece]:
    if len(serial_list) != quantity or len(set(serial_list)) != quantity:
        raise Conflict(f"{sku} is serial-tracked: name exactly one distinct serial per unit "
                       f"({quantity} units, {len(serial_list)} serials given)",
                       [{"field": "serials", "message": f"exactly {quantity} distinct serials"}])
    pieces = []
    for serial in serial_list:
        row = s.execute(select(serials).where(serials.c.sku == sku, serials.c.serial == serial)).first()
        if row is None:
            raise NotFound(f"serial {serial} of {sku} is unknown", [{"field": "serials", "message": f"unknown {serial}"}])
        if row.status != IN_STOCK or row.warehouse != warehouse:
            raise Conflict(f"serial {serial} of {sku} is {row.status} in {row.warehouse}, not in stock in {warehouse}",
                           [{"field": "serials", "message": f"{serial} is {row.status}"}])
        if (lot and row.lot != lot) or (bin_code is not None and row.bin != bin_code):
            raise Conflict(f"serial {serial} lies in bin {row.bin or '(unnamed)'} lot {row.lot or '-'}",
                           [{"field": "serials", "message": f"{serial} is elsewhere"}])
        if usable_on is not None and row.lot and not lot_usable(s, sku, row.lot, usable_on):
            raise Conflict(f"serial {serial} belongs to lot {row.lot}, which is held or expired",
                           [{"field": "serials", "message": f"{serial}: lot {row.lot} not usable"}])
        pieces.append(Piece(row.bin, row.lot, serial, 1))
    return pieces


def lot_usable(s, sku: str, lot: str, on: date) -> bool:
    row = s.execute(select(lots.c.status, lots.c.expires_on).where(lots.c.sku == sku, lots.c.lot == lot)).first()
    return row is None or (row.status == OK and (row.expires_on is None or row.expires_on >= on))


def level(s, sku: str, warehouse: str) -> dict:
    row = s.execute(select(stock_levels).where(stock_levels.c.sku == sku,
                                               stock_levels.c.warehouse == warehouse)).first()
    return level_dict(row) if row else {"sku": sku, "warehouse": warehouse, "on_hand": 0, "reserved": 0, "held": 0,
                                        "in_transit": 0, "available": 0}


def level_dict(row) -> dict:
    return {"sku": row.sku, "warehouse": row.warehouse, "on_hand": row.on_hand, "reserved": row.reserved,
            "held": row.held, "in_transit": row.in_transit,
            # a hold on stock already promised to orders cannot make availability negative
            "available": max(0, row.on_hand - row.reserved - row.held)}
