"""Pick waves: released orders of one warehouse picked together along one walk, then packed by scan.

Which orders are released (not held for review) is the order service's to know: inventory knows
reservations, not holds. So a wave is made from the order ids the caller names as released (the
gateway reads them from the order service's reserved orders): of those, the ones whose every line is
reserved wholly in this warehouse, not picked yet and in no other wave still working on them, most
urgent first (priority, ship-by, arrival), up to the wave's limits of orders and lines. Its pick list
names, for each order line, the bin, lot and serial to take, chosen by the rules a shipment picks by
(the named serials; first expiry first out over lots with an expiry, else first in first out), and is
read in walk order (services.inventory.walk). Packing scans each unit (reservations.pick: the scanned
SKU, lot or serial must be the pick list's, lie in its bin and be usable; a wrong one is refused and
changes nothing); the shipment then issues exactly those units (issue_for_shipments), and marks the
wave's order shipped. The order service ships: a hold or the outbound double check is enforced there."""
from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from datetime import datetime

from sqlalchemy import func, select, update

from hubkit import clock
from hubkit.db import Database, UnitOfWork, as_utc
from hubkit.errors import Conflict, FieldErrors, InvalidArgument, NotFound
from services.inventory import catalog, domain, reservations, stock, walk
from services.inventory.models import allocations, picks, serials, wave_lines, wave_orders, waves
from services.inventory.models import reservations as reservation_rows
from services.inventory.stock import Piece

OPEN, PACKED, SHIPPED, CANCELLED = "open", "packed", "shipped", "cancelled"
WORKING = (OPEN, PACKED)  # a wave is still working on the order
MAX_CANDIDATES = 5000


def _urgency(line) -> tuple:
    far = datetime.max.replace(tzinfo=None)
    ship_by = as_utc(line.ship_by).replace(tzinfo=None) if line.ship_by else far
    return (-line.priority, ship_by, as_utc(line.created_at).replace(tzinfo=None), line.order_id)


def create(uow: UnitOfWork, warehouse: str, order_ids: list[str], max_orders: int, max_lines: int,
           limit_orders: int = 0, limit_lines: int = 0, pattern: str = walk.DEFAULT_PATTERN) -> dict:
    """A wave of `warehouse` from the released orders `order_ids` (see the module). `limit_orders` and
    `limit_lines` (0: the configured maximum) may only lower the configured `max_orders` and `max_lines`.
    An order with more lines than the wave may hold waits for a wave of its own (it is taken when it is
    the first). No order that qualifies is a Conflict; bad limits are InvalidArgument; nothing changes."""
    errors = FieldErrors()
    for name, value, top in (("max_orders", limit_orders, max_orders), ("max_lines", limit_lines, max_lines)):
        if value < 0 or value > top:
            errors.add(name, f"from 1 to {top} (0: {top})")
    if len(order_ids) > MAX_CANDIDATES:
        errors.add("order_ids", f"at most {MAX_CANDIDATES}")
    errors.raise_if_any("the wave is invalid")
    limit_orders, limit_lines = limit_orders or max_orders, limit_lines or max_lines
    s = uow.session
    catalog.require_warehouse(s, warehouse)
    ids = sorted(set(order_ids))
    lines = s.execute(select(reservation_rows).where(reservation_rows.c.order_id.in_(ids))
                      .order_by(reservation_rows.c.order_id, reservation_rows.c.line_no)).all() if ids else []
    by_order: dict[str, list] = defaultdict(list)
    for line in lines:
        by_order[line.order_id].append(line)
    # the SKUs' balance rows locked first (in SKU order, as every stock document): a concurrent wave of
    # these orders waits here, then sees this one's orders as busy
    stock.lock(s, {l.sku for l in lines})
    placed: dict[tuple[str, int], dict[str, int]] = defaultdict(dict)
    if ids:
        for a in s.execute(select(allocations).where(allocations.c.order_id.in_(ids))):
            placed[(a.order_id, a.line_no)][a.warehouse] = int(a.quantity)
    busy = set(s.execute(select(picks.c.order_id).where(picks.c.order_id.in_(ids))).scalars()) if ids else set()
    if ids:
        busy |= set(s.execute(select(wave_orders.c.order_id).where(wave_orders.c.order_id.in_(ids),
                                                                   wave_orders.c.status.in_(WORKING))).scalars())

    def qualifies(order_id: str) -> bool:
        return order_id not in busy and all(
            l.status == domain.RESERVED and placed[(order_id, l.line_no)] == {warehouse: int(l.quantity)}
            for l in by_order[order_id])

    chosen: list[str] = []
    line_count = 0
    for order_id in sorted((o for o in by_order if qualifies(o)), key=lambda o: min(_urgency(l) for l in by_order[o])):
        n = len(by_order[order_id])
        if len(chosen) >= limit_orders:
            break
        if chosen and line_count + n > limit_lines:
            continue
        chosen.append(order_id)
        line_count += n
    if not chosen:
        raise Conflict(f"none of the {len(ids)} released orders named can go into a wave of {warehouse}: "
                       "each must be wholly reserved there, not picked and in no other wave",
                       [{"field": "warehouse", "message": "no order to pick"}])
    wave_id, now = uuid.uuid4().hex, clock.now()
    s.execute(waves.insert().values(id=wave_id, warehouse=warehouse, created_by=uow.actor, created_at=now))
    s.execute(wave_orders.insert(), [{"wave_id": wave_id, "order_id": o, "position": i, "status": OPEN}
                                     for i, o in enumerate(chosen)])
    rows = []
    for sku, wanted in sorted(_demand(chosen, by_order).items()):
        rows += _pick_lines(s, wave_id, warehouse, sku, wanted)
    s.execute(wave_lines.insert(), rows)
    return get(uow.session, wave_id, pattern)


def _demand(chosen: list[str], by_order: dict) -> dict[str, list[tuple[str, int, int]]]:
    """sku -> [(order id, line no, quantity)] in the wave's order."""
    demand: dict[str, list] = defaultdict(list)
    for order_id in chosen:
        for l in by_order[order_id]:
            demand[l.sku].append((order_id, l.line_no, int(l.quantity)))
    return demand


def _pick_lines(s, wave_id: str, warehouse: str, sku: str, wanted: list[tuple[str, int, int]]) -> list[dict]:
    """The units of `sku` the wave's lines take, by the picking rules, dealt out in the wave's order."""
    total = sum(q for _, _, q in wanted)
    item = catalog.sku_row(s, sku)
    if item.serial_tracked:
        taken = select(picks.c.serial).where(picks.c.serial != "")
        listed = select(wave_lines.c.serial).join(wave_orders, (wave_orders.c.wave_id == wave_lines.c.wave_id)
                                                  & (wave_orders.c.order_id == wave_lines.c.order_id)).where(
            wave_lines.c.serial != "", wave_orders.c.status.in_(WORKING))
        free = s.execute(select(serials.c.serial).where(
            serials.c.sku == sku, serials.c.warehouse == warehouse, serials.c.status == stock.IN_STOCK,
            serials.c.serial.not_in(taken), serials.c.serial.not_in(listed))).scalars().all()
        pool = stock.choose(s, sku, warehouse, total, serial_list=_first_serials(s, sku, free, total),
                            usable_on=clock.today())
    else:
        pool = _free_places(s, sku, warehouse, total)
    rows, pieces = [], [Piece(p.bin, p.lot, p.serial, p.quantity) for p in pool]
    for order_id, line_no, quantity in wanted:
        need = quantity
        while need:
            p = pieces[0]
            take = min(need, p.quantity)
            rows.append({"wave_id": wave_id, "order_id": order_id, "line_no": line_no, "sku": sku, "bin": p.bin,
                         "lot": p.lot, "serial": p.serial, "quantity": take, "packed": 0})
            need -= take
            if take == p.quantity:
                pieces.pop(0)
            else:
                pieces[0] = Piece(p.bin, p.lot, p.serial, p.quantity - take)
    return rows


def _free_places(s, sku: str, warehouse: str, total: int) -> list[Piece]:
    """`total` units by the picking rules, around the units pickers hold already (picked, not shipped) and
    the units other working waves list and have not packed: those stay where they are for them."""
    spoken: Counter = Counter()
    for r in s.execute(select(picks.c.bin, picks.c.lot, picks.c.quantity).join(
            reservation_rows, (reservation_rows.c.order_id == picks.c.order_id)
            & (reservation_rows.c.line_no == picks.c.line_no)).where(
            reservation_rows.c.sku == sku, picks.c.warehouse == warehouse)):
        spoken[(r.bin, r.lot)] += int(r.quantity)
    for r in s.execute(select(wave_lines.c.bin, wave_lines.c.lot, wave_lines.c.quantity - wave_lines.c.packed)
                       .join(waves, waves.c.id == wave_lines.c.wave_id)
                       .join(wave_orders, (wave_orders.c.wave_id == wave_lines.c.wave_id)
                             & (wave_orders.c.order_id == wave_lines.c.order_id))
                       .where(wave_lines.c.sku == sku, waves.c.warehouse == warehouse,
                              wave_orders.c.status.in_(WORKING))):
        spoken[(r[0], r[1])] += int(r[2])
    try:
        places = stock.choose(s, sku, warehouse, total + sum(spoken.values()), usable_on=clock.today())
    except Conflict:  # some of what is spoken for is not usable now: take by the rules alone
        return stock.choose(s, sku, warehouse, total, usable_on=clock.today())
    pieces, need = [], total
    for c in places:
        skip = min(spoken[(c.bin, c.lot)], c.quantity)
        spoken[(c.bin, c.lot)] -= skip
        take = min(c.quantity - skip, need)
        if take:
            pieces.append(Piece(c.bin, c.lot, "", take))
            need -= take
    return pieces


def _first_serials(s, sku: str, free: list[str], total: int) -> list[str]:
    """The serials to take: those of the earliest-expiring lot first, then in serial order."""
    if len(free) < total:
        raise Conflict(f"{len(free)} serials of {sku} are free to pick, {total} needed",
                       [{"field": "order_ids", "message": f"too few serials of {sku}"}])
    rows = s.execute(select(serials.c.serial, serials.c.lot).where(serials.c.sku == sku,
                                                                   serials.c.serial.in_(free))).all()
    usable = [r for r in rows if not r.lot or stock.lot_usable(s, sku, r.lot, clock.today())]
    return [r.serial for r in sorted(usable, key=lambda r: (r.lot, r.serial))][:total]


def get(s, wave_id: str, pattern: str = walk.DEFAULT_PATTERN) -> dict:
    """The wave: its orders (with their status) and its pick list in walk order."""
    wave = s.execute(select(waves).where(waves.c.id == wave_id)).first()
    if wave is None:
        raise NotFound(f"wave {wave_id} not found", [{"field": "wave_id", "message": "unknown wave"}])
    orders = s.execute(select(wave_orders).where(wave_orders.c.wave_id == wave_id)
                       .order_by(wave_orders.c.position)).all()
    lines = s.execute(select(wave_lines).where(wave_lines.c.wave_id == wave_id)).all()
    position = {o.order_id: o.position for o in orders}
    lines = sorted(lines, key=lambda l: (walk.key(l.bin, pattern), l.sku, l.lot, l.serial, position[l.order_id],
                                         l.line_no))
    status = "done" if all(o.status in (SHIPPED, CANCELLED) for o in orders) else OPEN
    return {"wave_id": wave_id, "warehouse": wave.warehouse, "status": status, "created_by": wave.created_by,
            "created_at": as_utc(wave.created_at).isoformat(),
            "orders": [{"order_id": o.order_id, "status": o.status, "packed_by": o.packed_by or ""} for o in orders],
            "pick_list": [{"seq": i + 1, "bin": l.bin, "walk": walk.parse(l.bin, pattern) or {}, "sku": l.sku,
                           "lot": l.lot, "serial": l.serial, "quantity": int(l.quantity), "packed": int(l.packed),
                           "order_id": l.order_id, "line_no": l.line_no} for i, l in enumerate(lines)]}


def read(db: Database, wave_id: str, pattern: str = walk.DEFAULT_PATTERN) -> dict:
    with db.reader() as s:
        return get(s, wave_id, pattern)


def pack(uow: UnitOfWork, wave_id: str, order_id: str, code: str, quantity: int = 1) -> dict:
    """A packer scans `code` (the item's barcode or SKU, its lot label, its serial) for an order of the
    wave: it must be what the order's pick list still awaits (that SKU; that serial, that lot) and lie in
    the listed bin; it is then picked for the order (reservations.pick). The last unit packs the order.
    A wrong SKU, serial or lot, or more than is awaited, is refused (Conflict) and changes nothing."""
    errors = FieldErrors()
    domain.check_quantity(errors, "quantity", quantity)
    if not code or len(code) > 80:
        errors.add("code", "the scanned code: 1-80 characters")
    errors.raise_if_any("the scan is invalid")
    s = uow.session
    wave = s.execute(select(waves).where(waves.c.id == wave_id)).first()
    if wave is None:
        raise NotFound(f"wave {wave_id} not found", [{"field": "wave_id", "message": "unknown wave"}])
    member = s.execute(select(wave_orders).where(wave_orders.c.wave_id == wave_id, wave_orders.c.order_id == order_id)
                       .with_for_update()).first()
    if member is None:
        raise InvalidArgument(f"order {order_id} is not in wave {wave_id}",
                              [{"field": "order_id", "message": "not in this wave"}])
    if member.status != OPEN:
        raise Conflict(f"order {order_id} of wave {wave_id} is {member.status}: nothing is left to pack",
                       [{"field": "order_id", "message": member.status}])
    scanned = catalog.resolve(s, code, wave.warehouse)
    awaited = s.execute(select(wave_lines).where(wave_lines.c.wave_id == wave_id, wave_lines.c.order_id == order_id,
                                                 wave_lines.c.packed < wave_lines.c.quantity)
                        .order_by(wave_lines.c.id)).all()
    skus = sorted({l.sku for l in awaited})
    if scanned["sku"] not in skus:
        raise Conflict(f"wrong item: {code!r} is {scanned['sku'] or 'a ' + scanned['kind']}; order {order_id} "
                       f"still awaits {', '.join(skus)}", [{"field": "code", "message": f"expected {' or '.join(skus)}"}])
    item = catalog.sku_row(s, scanned["sku"])
    if item.serial_tracked and scanned["kind"] != "serial":
        raise Conflict(f"{item.code} is serial-tracked: scan the unit's serial",
                       [{"field": "code", "message": "scan the serial"}])
    if item.lot_tracked and not scanned["lot"]:
        raise Conflict(f"{item.code} is lot-tracked: scan the lot label", [{"field": "code", "message": "scan the lot"}])
    fits = [l for l in awaited if l.sku == scanned["sku"] and (not scanned["serial"] or l.serial == scanned["serial"])
            and (not scanned["lot"] or l.lot == scanned["lot"])]
    if not fits:
        listed = sorted({l.serial or l.lot for l in awaited if l.sku == scanned["sku"]})
        what = "serial" if scanned["serial"] else "lot"
        raise Conflict(f"wrong {what}: {scanned[what]} of {item.code} is not on order {order_id}'s pick list, "
                       f"which awaits {', '.join(listed)}", [{"field": "code", "message": f"expected {' or '.join(listed)}"}])
    line = next((l for l in fits if l.quantity - l.packed >= quantity), fits[0])
    if quantity > line.quantity - line.packed:
        raise Conflict(f"order {order_id} awaits {line.quantity - line.packed} more units of {item.code} from bin "
                       f"{line.bin or '(unnamed)'}, {quantity} scanned",
                       [{"field": "quantity", "message": f"at most {line.quantity - line.packed}"}])
    reservations.pick(uow, order_id, line.line_no, wave.warehouse, line.bin, code, quantity)
    s.execute(update(wave_lines).where(wave_lines.c.id == line.id).values(packed=wave_lines.c.packed + quantity))
    left = int(s.execute(select(func.coalesce(func.sum(wave_lines.c.quantity - wave_lines.c.packed), 0)).where(
        wave_lines.c.wave_id == wave_id, wave_lines.c.order_id == order_id)).scalar())
    if not left:
        s.execute(update(wave_orders).where(wave_orders.c.wave_id == wave_id, wave_orders.c.order_id == order_id)
                  .values(status=PACKED, packed_by=uow.actor, packed_at=clock.now()))
    return {"wave_id": wave_id, "order_id": order_id, "sku": item.code, "bin": line.bin, "lot": line.lot,
            "serial": scanned["serial"], "quantity": quantity, "remaining": left,
            "order_status": OPEN if left else PACKED}


def in_wave(s, order_id: str) -> str | None:
    """The wave still working on an order, if any."""
    return s.execute(select(wave_orders.c.wave_id).where(wave_orders.c.order_id == order_id,
                                                         wave_orders.c.status.in_(WORKING))).scalar()
