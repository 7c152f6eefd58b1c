"""Orders and stock: reserve (per line and warehouse, partly when only part is available),
release on cancel, lapse when an order is abandoned, fill backorders as stock arrives, pick by
scanning, issue on shipment, restock returns.

Every reservation first locks the balance rows of its SKUs (stock.lock: in SKU and warehouse
order, as every stock document does, so none can deadlock another) and changes them with a
conditional UPDATE: concurrent orders for the last unit cannot both win,
and the CHECK constraints would refuse a negative balance anyway."""
from __future__ import annotations

import functools
from collections import Counter
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import bindparam, cast, func, select, text, union_all, update

from contracts import GoodsIssued, GoodsReturned, OrderMoved, ReservationExpired, StockReserved, StockShort
from contracts.events import OrderLineRef
from hubkit import clock
from hubkit.db import Database, UnitOfWork, as_utc, dialect_insert
from hubkit.envelope import Envelope
from hubkit.errors import Conflict, FieldErrors, InvalidArgument, NotFound
from hubkit.inbox import PredecessorMissing, on_behalf_of
from hubkit.money import cents
from services.inventory import allocation, catalog, costing, domain, signals, stock
from services.inventory.models import (
    allocation_decisions,
    allocation_redecisions,
    allocations,
    lots,
    picks,
    reservations,
    serials,
    skus,
    stock_levels,
    stock_movements,
    warehouses,
    wave_orders,
)
from services.inventory.stock import Context, Piece

EXPIRED = "expired"



def _add_allocations(s, order_id: str, line_no: int, got: list[tuple[str, int]]) -> None:
    for warehouse, qty in got:
        added = s.execute(update(allocations).where(allocations.c.order_id == order_id,
                                                    allocations.c.line_no == line_no,
                                                    allocations.c.warehouse == warehouse)
                          .values(quantity=allocations.c.quantity + qty)).rowcount
        if not added:
            s.execute(allocations.insert().values(order_id=order_id, line_no=line_no, warehouse=warehouse,
                                                  quantity=qty))


def _answer(s, order_id: str) -> list[dict]:
    """Each line as the order service hears it: status, the main warehouse, and the split."""
    split: dict[int, list] = {}
    for a in s.execute(select(allocations).where(allocations.c.order_id == order_id)
                       .order_by(allocations.c.line_no, allocations.c.warehouse)):
        split.setdefault(a.line_no, []).append({"warehouse": a.warehouse, "quantity": int(a.quantity)})
    return [{"line_no": r.line_no, "sku": r.sku, "quantity": int(r.quantity), "status": r.status,
             "warehouse": r.warehouse, "reserved_quantity": sum(a["quantity"] for a in split.get(r.line_no, [])),
             "allocations": split.get(r.line_no, [])}
            for r in s.execute(select(reservations).where(reservations.c.order_id == order_id)
                               .order_by(reservations.c.line_no))]


# a batch of reservations' statements, built once (values at execute, p_* parameters)
_KNOWN_SKUS = select(skus.c.code).where(skus.c.code.in_(bindparam("p_codes", expanding=True)))


def _reserve_level():
    qty = bindparam("p_quantity", type_=stock_levels.c.reserved.type)
    return (update(stock_levels)
            .where(stock_levels.c.sku == bindparam("p_sku"), stock_levels.c.warehouse == bindparam("p_warehouse"),
                   stock_levels.c.on_hand - stock_levels.c.reserved - stock_levels.c.held >= qty)
            .values(reserved=stock_levels.c.reserved + qty))


_RESERVE_LEVEL, _INSERT_RESERVATIONS, _INSERT_ALLOCATIONS = _reserve_level(), reservations.insert(), allocations.insert()
_INSERT_DECISIONS = allocation_decisions.insert()


RESERVE_ROWS = 100  # balance rows per UPDATE: SQLite allows at most 500 SELECTs in a UNION ALL


@functools.cache  # n <= RESERVE_ROWS
def _reserve_levels(n: int):
    """_RESERVE_LEVEL for n balance rows by one statement (a batch's demand): each row's reserved units
    rise by its quantity only where as many are free, and RETURNING names the rows that took them.
    Built once per n (values at execute: p_sku_i, p_warehouse_i, p_quantity_i); the rows given are
    a portable derived table (a UNION ALL of one-row SELECTs: SQLite names no VALUES columns)."""
    l = stock_levels.c
    rows = [select(bindparam(f"p_sku_{i}", type_=l.sku.type).label("sku"),
                   bindparam(f"p_warehouse_{i}", type_=l.warehouse.type).label("warehouse"),
                   # typed in the statement: prepared (hubkit.prepared), a bare one would be text
                   cast(bindparam(f"p_quantity_{i}", type_=l.reserved.type), l.reserved.type).label("quantity"))
            for i in range(n)]
    wanted = (union_all(*rows) if n > 1 else rows[0]).subquery("wanted")
    return (update(stock_levels)
            .where(l.sku == wanted.c.sku, l.warehouse == wanted.c.warehouse,
                   l.on_hand - l.reserved - l.held >= wanted.c.quantity)
            .values(reserved=l.reserved + wanted.c.quantity)
            .returning(l.sku, l.warehouse))


def reserve_order(uow: UnitOfWork, envelope: Envelope, ttl_minutes: int = 0) -> list[dict]:
    """order_placed: reserve every line, wholly or partly; answer stock_reserved or stock_short."""
    return reserve_orders(uow, [envelope], ttl_minutes)[0]


def reserve_orders(uow: UnitOfWork, envelopes: list[Envelope], ttl_minutes: int = 0,
                   decided: list[allocation.Decision] | None = None) -> list[list[dict]]:
    """order_placed for a batch of orders, set-based: the balance rows of every SKU locked at once in
    SKU order and read once; each order allocated as a whole (allocation.allocate: one parcel from the
    most preferred warehouse of its region that covers every line, else the fewest parcels) against
    what the batch's earlier orders left, the most urgent order first (allocation.urgency: priority,
    ship-by, arrival); then one conditional UPDATE of all the balance rows for the whole batch's demand
    (_reserve_levels; never oversell: no row takes beyond what is free), the reservations, allocations
    and decisions inserted as multi-row statements, and each order's answer emitted on behalf of its
    own event.
    Returns each order's answer lines, in the batch's order; `decided` collects the decisions."""
    s = uow.session
    codes = {line["sku"] for e in envelopes for line in e.payload["lines"]}
    free = stock.lock_free(s, codes)  # sku -> warehouse -> free units, taken from as planned
    # a SKU with a balance row is known (its foreign key): only the others are looked up
    unstocked = codes - free.keys()
    known = set(s.execute(_KNOWN_SKUS, {"p_codes": sorted(unstocked)}).scalars()) if unstocked else set()
    for e in envelopes:
        unknown = {line["sku"] for line in e.payload["lines"]} - free.keys() - known
        if unknown:
            raise NotFound(f"order {e.payload['order_id']} has unknown SKU(s): {sorted(unknown)}")
    rules = catalog.allocation_rules(s)
    now = clock.now()
    expires_at = now + timedelta(minutes=ttl_minutes) if ttl_minutes > 0 else None
    demand: Counter = Counter()  # (sku, warehouse) -> units the batch reserves there
    reservation_rows, allocation_rows, decision_rows = [], [], []
    answers: list[list[dict]] = [[] for _ in envelopes]
    placed = [(i, e.payload, e.payload.get("priority") or 0, _moment(e.payload.get("ship_by")))
              for i, e in enumerate(envelopes)]
    for i, p, priority, ship_by in sorted(placed, key=lambda o: allocation.urgency(o[2], o[3], o[0])):
        order_id, answer = p["order_id"], answers[i]
        province, city = allocation.region_of(p.get("shipping_address"))
        ranked = allocation.candidates(rules, province, city, p.get("channel", ""), p.get("shop", ""))
        decision = allocation.allocate([allocation.Line(l["line_no"], l["sku"], int(l["quantity"]))
                                        for l in p["lines"]], ranked, free)
        for line in sorted(p["lines"], key=lambda l: (l["sku"], l["line_no"])):
            qty, sku = int(line["quantity"]), line["sku"]
            got = decision.plan.get(line["line_no"], [])
            for w, q in got:
                free[sku][w] -= q
            status = domain.RESERVED if sum(q for _, q in got) == qty else domain.BACKORDERED
            reservation_rows.append({"order_id": order_id, "line_no": line["line_no"], "sku": sku,
                                     "warehouse": got[0][0] if got else None, "quantity": qty, "status": status,
                                     "expires_at": expires_at, "created_at": now, "priority": priority,
                                     "ship_by": ship_by})
            allocation_rows += [{"order_id": order_id, "line_no": line["line_no"], "warehouse": w, "quantity": q}
                                for w, q in got]
            demand.update({(sku, w): q for w, q in got})
            split = sorted(({"warehouse": w, "quantity": q} for w, q in got), key=lambda a: a["warehouse"])
            answer.append({"line_no": line["line_no"], "sku": sku, "quantity": qty, "status": status,
                           "warehouse": got[0][0] if got else None, "reserved_quantity": sum(q for _, q in got),
                           "allocations": split})
        answer.sort(key=lambda l: l["line_no"])
        decision_rows.append({"order_id": order_id, "channel": p.get("channel", ""), "shop": p.get("shop", ""),
                              "province": province[:64], "city": city[:64], "priority": priority,
                              "candidates": decision.candidates, "chosen": decision.chosen,
                              "split_reason": decision.split_reason, "reason": decision.reason[:1000],
                              "decided_at": now})
        if decided is not None:
            decided.append(decision)
    wanted, won = sorted(demand.items()), set()
    for at in range(0, len(wanted), RESERVE_ROWS):
        rows = wanted[at:at + RESERVE_ROWS]
        won.update(s.execute(_reserve_levels(len(rows)), {
            f"p_{name}_{i}": value for i, ((sku, warehouse), qty) in enumerate(rows)
            for name, value in (("sku", sku), ("warehouse", warehouse), ("quantity", qty))}).tuples())
    for (sku, warehouse), qty in wanted:
        if (sku, warehouse) not in won:  # the rows are locked: only a bug in the plan gets here
            raise Conflict(f"{sku} in {warehouse} has fewer than the {qty} units the batch planned to reserve")
    s.execute(_INSERT_RESERVATIONS, reservation_rows)
    if allocation_rows:
        s.execute(_INSERT_ALLOCATIONS, allocation_rows)
    s.execute(_INSERT_DECISIONS, decision_rows)
    for e, answer in zip(envelopes, answers, strict=True):
        with on_behalf_of(uow, e):
            short = any(l["status"] == domain.BACKORDERED for l in answer)
            uow.emit((StockShort if short else StockReserved)(order_id=e.payload["order_id"], lines=answer),
                     e.payload["order_id"])
    signals.stock_moved(uow, set(demand))
    return answers


_RAISE_PRIORITY = [(update(table).where(table.c.order_id == bindparam("p_order_id"),
                                         table.c.priority < bindparam("p_priority"))
                    .values(priority=bindparam("p_priority"))) for table in (reservations, allocation_decisions)]


def prioritise_orders(uow: UnitOfWork, raised: list[tuple[str, int]]) -> None:
    """order_prioritised for a batch of (order id, priority): each order's reservations, and its
    allocation decision, take the new priority when it is higher (a priority only rises, so an event
    applied late cannot lower it); the next stock to arrive fills backorders in the new order
    (fill_backorders). An order inventory has not reserved yet is retried later (cannot happen in
    practice: the review that raised it read inventory's answer)."""
    s = uow.session
    ids = sorted({order_id for order_id, _ in raised})
    known = set(s.execute(select(reservations.c.order_id).distinct()
                          .where(reservations.c.order_id.in_(ids))).scalars())
    missing = sorted(set(ids) - known)
    if missing:
        raise PredecessorMissing(f"order(s) {missing} prioritised before inventory reserved them")
    top: dict[str, int] = {}
    for order_id, priority in raised:
        top[order_id] = max(priority, top.get(order_id, priority))
    rows = [{"p_order_id": o, "p_priority": p} for o, p in sorted(top.items())]
    for statement in _RAISE_PRIORITY:  # the decision shows the priority the order has now
        s.execute(statement, rows)


def move_order(uow: UnitOfWork, order_id: str, warehouse: str, note: str = "") -> list[dict]:
    """An operator moves an order not yet shipped to another warehouse: what each line holds is
    released where it is and the whole line reserved in `warehouse`, in this transaction, with the
    same conditional update that never oversells. Refused, changing nothing: an unknown warehouse
    (InvalidArgument), too little free stock there for a line (Conflict naming the SKU), an order
    issued, released or lapsed, or one being picked (Conflict). Its allocation decision records the
    move (and a later decision is appended); the order hears its usual answer (stock_reserved), and
    order_moved, from which the order service audits the move. Returns the answer's lines."""
    s = uow.session
    if s.execute(select(warehouses.c.code).where(warehouses.c.code == warehouse)).first() is None:
        raise InvalidArgument(f"unknown warehouse {warehouse!r}", [{"field": "warehouse", "message": "unknown warehouse"}])
    lines = s.execute(select(reservations).where(reservations.c.order_id == order_id)
                      .order_by(reservations.c.line_no)).all()
    if not lines:
        raise NotFound(f"inventory has not reserved order {order_id}", [{"field": "order_id", "message": "unknown order"}])
    done = [l for l in lines if l.status not in (domain.RESERVED, domain.BACKORDERED)]
    if done:
        raise Conflict(f"order {order_id} line {done[0].line_no} is {done[0].status}: only an order not yet "
                       f"shipped or released can move")
    if s.execute(select(picks.c.order_id).where(picks.c.order_id == order_id).limit(1)).first() is not None:
        raise Conflict(f"order {order_id} is being picked: its picked goods lie where they are")
    wave = s.execute(select(wave_orders.c.wave_id).where(wave_orders.c.order_id == order_id,
                                                         wave_orders.c.status.in_(("open", "packed")))).scalar()
    if wave is not None:
        raise Conflict(f"order {order_id} is in pick wave {wave}: its pick list names places in this warehouse")
    sku_of = {l.line_no: l.sku for l in lines}
    stock.lock(s, set(sku_of.values()))
    held = s.execute(select(allocations).where(allocations.c.order_id == order_id)
                     .order_by(allocations.c.line_no, allocations.c.warehouse)).all()
    for a in sorted(held, key=lambda a: (sku_of[a.line_no], a.warehouse)):
        if not s.execute(update(stock_levels).where(stock_levels.c.sku == sku_of[a.line_no],
                                                    stock_levels.c.warehouse == a.warehouse,
                                                    stock_levels.c.reserved >= a.quantity)
                         .values(reserved=stock_levels.c.reserved - a.quantity)).rowcount:
            raise Conflict(f"{sku_of[a.line_no]} in {a.warehouse} holds less than the {a.quantity} reserved "
                           f"for {order_id}")
    need: Counter = Counter()
    for l in lines:
        need[l.sku] += int(l.quantity)
    for sku, qty in sorted(need.items()):
        if not s.execute(_RESERVE_LEVEL, {"p_sku": sku, "p_warehouse": warehouse, "p_quantity": qty}).rowcount:
            raise Conflict(f"{warehouse} has fewer than the {qty} free units of {sku} the order needs",
                           [{"field": "warehouse", "message": f"too little free {sku}"}])
    s.execute(allocations.delete().where(allocations.c.order_id == order_id))
    s.execute(_INSERT_ALLOCATIONS, [{"order_id": order_id, "line_no": l.line_no, "warehouse": warehouse,
                                     "quantity": int(l.quantity)} for l in lines])
    s.execute(update(reservations).where(reservations.c.order_id == order_id)
              .values(status=domain.RESERVED, warehouse=warehouse))
    decision = s.execute(select(allocation_decisions.c.reason).where(allocation_decisions.c.order_id == order_id)).scalar()
    moved = f"moved to {warehouse} by {uow.actor}" + (f" ({note})" if note else "")
    s.execute(update(allocation_decisions).where(allocation_decisions.c.order_id == order_id)
              .values(chosen=[warehouse], split_reason=None,
                      reason=(f"{moved}; decided before: {decision}" if decision else moved)[:1000]))
    now = clock.now()
    _redecided(s, order_id, moved, [], [warehouse],
               [{"line_no": l.line_no, "sku": l.sku, "warehouse": warehouse, "quantity": int(l.quantity)}
                for l in lines], None, f"{warehouse}: an operator's choice, every line whole", now)
    answer = _answer(s, order_id)
    uow.emit(StockReserved(order_id=order_id, lines=answer), order_id)
    # the order's audit entry of the move, from this transaction: the move never stands unaudited
    uow.emit(OrderMoved(order_id=order_id, warehouse=warehouse, before=sorted({a.warehouse for a in held}),
                        note=note, moved_at=now, lines=answer), order_id)
    stock_freed(uow, {(sku_of[a.line_no], a.warehouse) for a in held}, f"stock freed: order {order_id} moved to {warehouse}")
    signals.stock_moved(uow, {(sku, warehouse) for sku in need})
    return answer


def _moment(value) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def allocation_of(db: Database, order_id: str) -> dict:
    """Why an order ships from where it does: its allocation decision, and per line what is
    reserved where now."""
    with db.reader() as s:
        row = s.execute(select(allocation_decisions).where(allocation_decisions.c.order_id == order_id)).first()
        if row is None:
            raise NotFound(f"no allocation for order {order_id!r}", [{"field": "order_id", "message": "unknown order"}])
        later = s.execute(select(allocation_redecisions).where(allocation_redecisions.c.order_id == order_id)
                          .order_by(allocation_redecisions.c.id)).all()
        return {**row._mapping, "lines": _answer(s, order_id),
                "later": [{k: v for k, v in r._mapping.items() if k not in ("id", "order_id")} for r in later]}


def _places(answer) -> set[tuple[str, str]]:
    return {(l["sku"], a["warehouse"]) for l in answer for a in l["allocations"]}


def stock_freed(uow: UnitOfWork, places, why: str = "stock freed") -> None:
    """After a change that may free stock at the (sku, warehouse) pairs in `places`: backorders
    take what became free (`why` says what freed it, in their later decisions), then the stock signals."""
    places = set(places)
    fill_backorders(uow, {sku for sku, _ in places}, why)
    signals.stock_moved(uow, places)


_WAITING = (select(reservations.c.order_id, reservations.c.line_no, reservations.c.sku, reservations.c.quantity,
                   reservations.c.priority, reservations.c.ship_by, reservations.c.created_at)
            .where(reservations.c.sku.in_(bindparam("p_codes", expanding=True)),
                   reservations.c.status == domain.BACKORDERED)
            # SKU first, as every other multi-SKU change locks; the most urgent first within a SKU
            .order_by(reservations.c.sku, reservations.c.priority.desc(), reservations.c.ship_by.is_(None),
                      reservations.c.ship_by, reservations.c.created_at, reservations.c.order_id,
                      reservations.c.line_no)
            .limit(200))
_HELD = (select(allocations.c.line_no, allocations.c.warehouse, allocations.c.quantity)
         .where(allocations.c.order_id == bindparam("p_order_id"))
         .order_by(allocations.c.line_no, allocations.c.warehouse))
_DECIDED = select(allocation_decisions).where(allocation_decisions.c.order_id == bindparam("p_order_id"))


def fill_backorders(uow: UnitOfWork, sku_codes, why: str = "stock freed") -> list[str]:
    """Stock arrived or was freed: backordered lines of these SKUs take what is free now, the most
    urgent order first (higher priority, then the earlier promised ship-by time, then the older order).
    Each order's open lines are decided again by the allocation rules in force (allocation.allocate
    over its region's and shop's candidates, the warehouses that already ship its other lines tried
    first: no extra parcel), the plan applied with the conditional update that never oversells, and
    the decision appended to the order's explanation (allocation_redecisions: when, `why`, what it
    filled from where). An order whose every line is now reserved hears stock_reserved (of an order
    partly shipped in parcels: its lines not yet issued). Returns those orders."""
    s, completed = uow.session, []
    waiting = s.execute(_WAITING, {"p_codes": sorted(set(sku_codes))}).all()
    if not waiting:
        return completed
    free = stock.lock_free(s, {line.sku for line in waiting})
    if not any(n > 0 for by_warehouse in free.values() for n in by_warehouse.values()):
        return completed
    rules, now = catalog.allocation_rules(s), clock.now()
    open_lines: dict[str, list] = {}
    for line in waiting:
        open_lines.setdefault(line.order_id, []).append(line)

    def urgency(order_id: str) -> tuple:
        first = open_lines[order_id][0]
        return allocation.urgency(first.priority, as_utc(first.ship_by) if first.ship_by else None,
                                  (as_utc(first.created_at), order_id))

    for order_id in sorted(open_lines, key=urgency):
        held = s.execute(_HELD, {"p_order_id": order_id}).all()
        have: Counter = Counter()
        for a in held:
            have[a.line_no] += int(a.quantity)
        lines = [allocation.Line(l.line_no, l.sku, int(l.quantity) - have[l.line_no])
                 for l in sorted(open_lines[order_id], key=lambda l: l.line_no)]
        if not any(n > 0 for l in lines for n in free.get(l.sku, {}).values()):
            continue
        decided = s.execute(_DECIDED, {"p_order_id": order_id}).first()
        ranked = (allocation.candidates(rules, decided.province, decided.city, decided.channel, decided.shop)
                  if decided is not None else [(w, "priority") for w in rules.warehouses])
        shipping = list(dict.fromkeys(a.warehouse for a in held))
        decision = allocation.allocate(lines, ranked, free, shipping)
        filled = [{"line_no": l.line_no, "sku": l.sku, "warehouse": w, "quantity": q}
                  for l in lines for w, q in decision.plan.get(l.line_no, []) if q > 0]
        if not filled:
            continue
        for f in sorted(filled, key=lambda f: (f["sku"], f["warehouse"])):
            if not s.execute(_RESERVE_LEVEL, {"p_sku": f["sku"], "p_warehouse": f["warehouse"],
                                              "p_quantity": f["quantity"]}).rowcount:
                raise Conflict(f"{f['sku']} in {f['warehouse']} has fewer than the {f['quantity']} units planned "
                               f"for backordered order {order_id}")
            free[f["sku"]][f["warehouse"]] -= f["quantity"]
        for l in lines:
            got = decision.plan.get(l.line_no, [])
            _add_allocations(s, order_id, l.line_no, got)
            if got and sum(q for _, q in got) == l.quantity:
                s.execute(update(reservations).where(reservations.c.order_id == order_id,
                                                     reservations.c.line_no == l.line_no)
                          .values(status=domain.RESERVED,
                                  warehouse=func.coalesce(reservations.c.warehouse, got[0][0])))
        _redecided(s, order_id, why, decision.candidates,
                   [w for w in decision.chosen if any(f["warehouse"] == w for f in filled)], filled,
                   decision.split_reason, decision.reason, now)
        # lines issued already (parcels of an order shipped in parts) are done: the answer is of the others
        answer = [l for l in _answer(s, order_id) if l["status"] != domain.ISSUED]
        if answer and all(l["status"] == domain.RESERVED for l in answer):
            uow.emit(StockReserved(order_id=order_id, lines=answer), order_id)
            completed.append(order_id)
    return completed


def _redecided(s, order_id: str, why: str, candidates: list[dict], chosen: list[str], filled: list[dict],
               split_reason: str | None, reason: str, now: datetime) -> None:
    """Append a later decision to the order's explanation (the first decision stays as it was)."""
    s.execute(allocation_redecisions.insert().values(
        order_id=order_id, why=why[:300], candidates=candidates, chosen=chosen, filled=filled,
        split_reason=split_reason, reason=reason[:1000], decided_at=now))


def _release(uow: UnitOfWork, order_id: str, new_status: str, line_nos: list[int] | None = None) -> list:
    """Give back whatever the order holds (of `line_nos` only, when given); lines end `new_status`.
    Returns the released lines."""
    s = uow.session
    query = select(reservations).where(reservations.c.order_id == order_id,
                                       reservations.c.status.in_((domain.RESERVED, domain.BACKORDERED)))
    if line_nos is not None:
        query = query.where(reservations.c.line_no.in_(line_nos))
    held = s.execute(query.order_by(reservations.c.sku, reservations.c.line_no)).all()
    stock.lock(s, {r.sku for r in held})
    places = set()
    for r in held:
        for a in s.execute(select(allocations).where(allocations.c.order_id == order_id,
                                                     allocations.c.line_no == r.line_no)).all():
            released = s.execute(update(stock_levels)
                                 .where(stock_levels.c.sku == r.sku, stock_levels.c.warehouse == a.warehouse,
                                        stock_levels.c.reserved >= a.quantity)
                                 .values(reserved=stock_levels.c.reserved - a.quantity)).rowcount
            if not released:
                raise Conflict(f"{r.sku} in {a.warehouse} holds less than the {a.quantity} reserved for {order_id}")
            places.add((r.sku, a.warehouse))
        s.execute(update(reservations).where(reservations.c.order_id == order_id, reservations.c.line_no == r.line_no)
                  .values(status=new_status))
    gone = picks.delete().where(picks.c.order_id == order_id)
    s.execute(gone if line_nos is None else gone.where(picks.c.line_no.in_(line_nos)))
    if line_nos is None:  # the whole order: it leaves its pick wave (a few refunded lines do not take it out)
        _left_wave(s, order_id, "cancelled")
    stock_freed(uow, places, f"stock freed: order {order_id} {new_status}"
                             + ("" if line_nos is None else f" (lines {', '.join(map(str, line_nos))})"))
    return held


def _left_wave(s, order_id: str, why: str) -> None:
    """An order shipped or released: a pick wave still working on it (services.inventory.waves) is done
    with it."""
    s.execute(update(wave_orders).where(wave_orders.c.order_id == order_id, wave_orders.c.status.in_(("open", "packed")))
              .values(status=why))


def release_order(uow: UnitOfWork, envelope: Envelope) -> None:
    """order_cancelled: whatever was reserved for the order becomes available again."""
    order_id = envelope.payload["order_id"]
    if uow.session.execute(select(reservations.c.order_id).where(reservations.c.order_id == order_id)).first() is None:
        raise PredecessorMissing(f"order {order_id} was cancelled before inventory answered it")
    _release(uow, order_id, domain.RELEASED)


def release_lines(uow: UnitOfWork, envelope: Envelope) -> None:
    """order_lines_released: lines refunded before shipment; what was reserved for them becomes available
    again (the channels' sellable stock follows from stock_changed), the rest of the order stays reserved."""
    order_id = envelope.payload["order_id"]
    if uow.session.execute(select(reservations.c.order_id).where(reservations.c.order_id == order_id)).first() is None:
        raise PredecessorMissing(f"order {order_id}'s lines were released before inventory answered it")
    _release(uow, order_id, domain.RELEASED, sorted(line["line_no"] for line in envelope.payload["lines"]))


def expire_reservations(uow: UnitOfWork, now: datetime, limit: int = 100) -> list[str]:
    """Orders whose reservation lapsed before they shipped are abandoned: their stock is
    released and reservation_expired tells the order service."""
    s = uow.session
    due = s.execute(select(reservations.c.order_id).distinct()
                    .where(reservations.c.expires_at < now,
                           reservations.c.status.in_((domain.RESERVED, domain.BACKORDERED)))
                    .order_by(reservations.c.order_id).limit(limit)).scalars().all()
    for order_id in due:
        lines = _release(uow, order_id, EXPIRED)
        uow.emit(ReservationExpired(
            order_id=order_id, expired_at=now,
            lines=[OrderLineRef(line_no=r.line_no, sku=r.sku, quantity=int(r.quantity)) for r in lines]), order_id)
    return list(due)


def pick(uow: UnitOfWork, order_id: str, line_no: int, warehouse: str, bin_code: str, code: str,
         quantity: int) -> dict:
    """A picker scanned `code` (barcode, serial or lot) in a bin for an order line: the scan must
    name the line's SKU, lie in that bin, be usable, and not exceed what the line reserved there."""
    errors = FieldErrors()
    domain.check_quantity(errors, "quantity", quantity)
    domain.check_bin(errors, "bin", bin_code)
    errors.raise_if_any("the pick is invalid")
    s = uow.session
    line = s.execute(select(reservations).where(reservations.c.order_id == order_id,
                                                reservations.c.line_no == line_no)).first()
    if line is None or line.status != domain.RESERVED:
        raise Conflict(f"order {order_id} line {line_no} is {line.status if line else 'unknown'}, not reserved",
                       [{"field": "line_no", "message": "nothing reserved to pick"}])
    scanned = catalog.resolve(s, code, warehouse)
    if scanned["sku"] != line.sku:
        raise Conflict(f"wrong item: {code!r} is {scanned['sku'] or 'a ' + scanned['kind']}, the line wants {line.sku}",
                       [{"field": "code", "message": f"expected {line.sku}"}])
    item = catalog.sku_row(s, line.sku)
    if item.serial_tracked and (scanned["kind"] != "serial" or quantity != 1):
        raise Conflict(f"{line.sku} is serial-tracked: scan each unit's serial",
                       [{"field": "code", "message": "scan the serial"}])
    if item.lot_tracked and not scanned["lot"]:
        raise Conflict(f"{line.sku} is lot-tracked: scan the lot label", [{"field": "code", "message": "scan the lot"}])
    allocated = int(s.execute(select(allocations.c.quantity).where(
        allocations.c.order_id == order_id, allocations.c.line_no == line_no,
        allocations.c.warehouse == warehouse)).scalar() or 0)
    # SUM() over a bigint is NUMERIC on PostgreSQL: a Decimal, which no int field of a reply takes
    already = int(s.execute(select(func.coalesce(func.sum(picks.c.quantity), 0)).where(
        picks.c.order_id == order_id, picks.c.line_no == line_no, picks.c.warehouse == warehouse)).scalar())
    if already + quantity > allocated:
        raise Conflict(f"order {order_id} line {line_no} has {allocated} units reserved in {warehouse}, "
                       f"{already} picked", [{"field": "quantity", "message": f"at most {allocated - already}"}])
    if scanned["serial"] and s.execute(select(picks.c.id).where(picks.c.serial == scanned["serial"])).first():
        raise Conflict(f"serial {scanned['serial']} is already picked", [{"field": "code", "message": "already picked"}])
    # the units must lie here and be usable: the same rule a shipment applies
    stock.choose(s, line.sku, warehouse, quantity, lot=scanned["lot"], bin_code=bin_code,
                 serial_list=[scanned["serial"]] if scanned["serial"] else None, usable_on=clock.today())
    s.execute(picks.insert().values(order_id=order_id, line_no=line_no, warehouse=warehouse, bin=bin_code,
                                    lot=scanned["lot"], serial=scanned["serial"], quantity=quantity, actor=uow.actor,
                                    picked_at=clock.now()))
    return {"order_id": order_id, "line_no": line_no, "sku": line.sku, "bin": bin_code, "lot": scanned["lot"],
            "serial": scanned["serial"], "picked": already + quantity, "reserved": allocated}


# A shipment batch's statements, built once (values at execute, p_* parameters): building them per line
# with literal values, and their cache keys, cost more CPU than running them. Each reads or writes the
# whole batch at once: the statements per order are what a shipment costs.
_ORDER_IDS = bindparam("p_order_ids", expanding=True)
_LOCK_SHIPPED = (select(stock_levels.c.sku)  # the balance rows of every SKU the orders reserved, in SKU order
                 .where(stock_levels.c.sku.in_(select(reservations.c.sku).where(reservations.c.order_id.in_(_ORDER_IDS))))
                 .order_by(stock_levels.c.sku, stock_levels.c.warehouse).with_for_update(of=stock_levels))
_SHIPPED_LINES = select(reservations).where(reservations.c.order_id.in_(_ORDER_IDS))
_SHIPPED_ALLOCATIONS = (select(allocations).where(allocations.c.order_id.in_(_ORDER_IDS))
                        .order_by(allocations.c.order_id, allocations.c.line_no, allocations.c.warehouse))
_SHIPPED_PICKS = select(picks).where(picks.c.order_id.in_(_ORDER_IDS)).order_by(picks.c.id)
_SHIPPED_SKUS = select(skus).where(skus.c.code.in_(bindparam("p_codes", expanding=True)))
_ALLOCATION_ISSUED = (update(allocations).where(allocations.c.order_id == bindparam("p_order_id"),
                                                allocations.c.line_no == bindparam("p_line_no"),
                                                allocations.c.warehouse == bindparam("p_warehouse"))
                      .values(cost=func.coalesce(allocations.c.cost, 0) + bindparam("p_cost"),
                              issued_quantity=allocations.c.issued_quantity + bindparam("p_quantity")))
_LINE_ISSUED = (update(reservations).where(reservations.c.order_id == bindparam("p_order_id"),
                                           reservations.c.line_no == bindparam("p_line_no"))
                .values(cost=func.coalesce(reservations.c.cost, 0) + bindparam("p_cost"),
                        issued_quantity=reservations.c.issued_quantity + bindparam("p_quantity"),
                        status=bindparam("p_status")))
# the same on PostgreSQL, one statement for the batch (the executemany ran one per row); the rows of one
# key are summed first (two parcels of an order in one batch), as an UPDATE ... FROM takes one row a key
_ALLOCATIONS_ISSUED_PG = text("""
UPDATE allocations SET cost = coalesce(allocations.cost, 0) + v.cost,
                       issued_quantity = allocations.issued_quantity + v.quantity
FROM unnest(CAST(:p_order_ids AS VARCHAR[]), CAST(:p_line_nos AS INTEGER[]), CAST(:p_warehouses AS VARCHAR[]),
            CAST(:p_costs AS NUMERIC[]), CAST(:p_quantities AS BIGINT[])) AS v(order_id, line_no, warehouse, cost, quantity)
WHERE allocations.order_id = v.order_id AND allocations.line_no = v.line_no AND allocations.warehouse = v.warehouse""")
_LINES_ISSUED_PG = text("""
UPDATE reservations SET cost = coalesce(reservations.cost, 0) + v.cost,
                        issued_quantity = reservations.issued_quantity + v.quantity, status = v.status
FROM unnest(CAST(:p_order_ids AS VARCHAR[]), CAST(:p_line_nos AS INTEGER[]), CAST(:p_costs AS NUMERIC[]),
            CAST(:p_quantities AS BIGINT[]), CAST(:p_statuses AS VARCHAR[])) AS v(order_id, line_no, cost, quantity, status)
WHERE reservations.order_id = v.order_id AND reservations.line_no = v.line_no""")


def _write_issued(s, allocation_rows: list[dict], line_rows: list[dict]) -> None:
    """The allocations' and lines' issued quantities and costs: an executemany each, on PostgreSQL one
    statement each."""
    if s.get_bind().dialect.name != "postgresql":
        if allocation_rows:
            s.execute(_ALLOCATION_ISSUED, allocation_rows)
        if line_rows:
            s.execute(_LINE_ISSUED, line_rows)
        return
    allocated = _summed(allocation_rows, ("p_order_id", "p_line_no", "p_warehouse"))
    if allocated:
        s.execute(_ALLOCATIONS_ISSUED_PG, {
            "p_order_ids": [k[0] for k in allocated], "p_line_nos": [k[1] for k in allocated],
            "p_warehouses": [k[2] for k in allocated], "p_costs": [v[0] for v in allocated.values()],
            "p_quantities": [v[1] for v in allocated.values()]})
    issued = _summed(line_rows, ("p_order_id", "p_line_no"))
    if issued:
        s.execute(_LINES_ISSUED_PG, {
            "p_order_ids": [k[0] for k in issued], "p_line_nos": [k[1] for k in issued],
            "p_costs": [v[0] for v in issued.values()], "p_quantities": [v[1] for v in issued.values()],
            "p_statuses": [v[2] for v in issued.values()]})


def _summed(rows: list[dict], key: tuple[str, ...]) -> dict[tuple, tuple]:
    """The rows' costs and quantities summed per key, in key order (the lock order), with the status of
    each key's last row (a line's, after its last parcel); key -> (cost, quantity, status)."""
    summed: dict[tuple, tuple] = {}
    for r in rows:
        k = tuple(r[name] for name in key)
        cost, quantity, _ = summed.get(k, (Decimal("0.00"), 0, None))
        summed[k] = (cost + r["p_cost"], quantity + r["p_quantity"], r.get("p_status"))
    return dict(sorted(summed.items()))


_NO_LAPSE = update(reservations).where(reservations.c.order_id.in_(_ORDER_IDS)).values(expires_at=None)
_PICKS_DONE = picks.delete().where(picks.c.order_id.in_(_ORDER_IDS))
_WAVES_DONE = (update(wave_orders).where(wave_orders.c.order_id.in_(_ORDER_IDS),
                                         wave_orders.c.status.in_(("open", "packed")))
               .values(status="shipped"))


def _pieces_for(s, order_id: str, line_no: int, item, warehouse: str, quantity: int, picks_of,
                usable: stock.Usable) -> list[Piece]:
    """What leaves for an allocation: the picker's scans first (`picks_of`: the batch's picks by order,
    line and warehouse), the rest by the picking rules (`usable`: the batch's usable places, net of what
    it took before)."""
    picked = [Piece(p.bin, p.lot, p.serial, int(p.quantity)) for p in picks_of.get((order_id, line_no, warehouse), ())]
    for p in picked:  # a lot put on hold (or expired) since it was picked does not leave for a sale
        if p.lot and not stock.lot_usable(s, item.code, p.lot, clock.today()):
            raise Conflict(f"order {order_id} line {line_no}: picked lot {p.lot} of {item.code} is held or expired; "
                           f"pick again", [{"field": "lot", "message": f"{p.lot} not usable"}])
    if sum(p.quantity for p in picked) > quantity:  # a parcel: part of what the picker holds
        kept: list[Piece] = []
        for p in picked:
            take = min(p.quantity, quantity - sum(k.quantity for k in kept))
            if take:
                kept.append(Piece(p.bin, p.lot, p.serial, take))
        picked = kept
    rest = quantity - sum(p.quantity for p in picked)
    if rest and item.serial_tracked:
        stock.choose(s, item.code, warehouse, rest, serial_tracked=True)  # refuses: every unit needs its serial
    if rest:  # by the picking rules, around what the picker already holds
        held = Counter()
        for p in picked:
            held[(p.bin, p.lot)] += p.quantity
        for c in usable.choose(item.code, warehouse, rest + sum(held.values())):
            skip = min(held[(c.bin, c.lot)], c.quantity)
            held[(c.bin, c.lot)] -= skip
            take = min(c.quantity - skip, rest)
            if take:
                picked.append(Piece(c.bin, c.lot, "", take))
                rest -= take
    usable.took(item.code, warehouse, picked)
    return picked


def issue_for_shipment(uow: UnitOfWork, envelope: Envelope) -> list[dict]:
    """order_shipped for one order (issue_for_shipments of one)."""
    return issue_for_shipments(uow, [envelope])[0]


def issue_for_shipments(uow: UnitOfWork, envelopes: list[Envelope]) -> list[list[dict]]:
    """order_shipped for a batch: the reserved units leave their warehouses at their cost; each order emits
    goods_issued on behalf of its own event. An order shipped whole issues the rest of each line it names;
    a parcel of a partial shipment (`shipment_id`) issues only its units, from the line's allocations in
    warehouse order, each line issued once all its units are; its goods_issued names the parcel (its cost
    voucher's source). A shipped parcel means the order is not abandoned: its reservations no longer lapse.
    An order shipped whole, or by its last parcel (`completes_order`), is done with its picks and its wave.

    Set-based: the balance rows of every SKU the batch's orders reserved are locked first, in SKU order
    (as reservations and every stock document lock them: no deadlock); then the batch's reservation
    lines, allocations, picks, SKUs, usable places (stock.Usable) and cost layers (costing.Layers, locked)
    are read by one statement each. The orders are issued in memory in the batch's order, each line's
    units chosen (first-expiry-first-out, else first-in-first-out) and costed (FIFO or average) in SKU
    order net of what the batch's earlier orders took, so the units and costs are those of shipping the
    orders one by one. Then the writes: stock.take_many (each place and balance row once, conditionally:
    never oversold; the ledger lines by one statement), the layers, the lines' and allocations' issued
    quantities and costs by one statement each (an executemany each on SQLite). Returns each order's
    issued lines."""
    s, now = uow.session, clock.now()
    order_ids = sorted({e.payload["order_id"] for e in envelopes})
    s.execute(_LOCK_SHIPPED, {"p_order_ids": order_ids}).all()
    lines = {(r.order_id, r.line_no): dict(r._mapping) for r in s.execute(_SHIPPED_LINES, {"p_order_ids": order_ids})}
    allocated: dict[tuple[str, int], list[dict]] = {}
    for a in s.execute(_SHIPPED_ALLOCATIONS, {"p_order_ids": order_ids}):
        allocated.setdefault((a.order_id, a.line_no), []).append(dict(a._mapping))
    picks_of: dict[tuple[str, int, str], list] = {}
    for p in s.execute(_SHIPPED_PICKS, {"p_order_ids": order_ids}):
        picks_of.setdefault((p.order_id, p.line_no, p.warehouse), []).append(p)
    items = {r.code: r for r in s.execute(_SHIPPED_SKUS, {"p_codes": sorted({l["sku"] for l in lines.values()})})}
    places = {(lines[key]["sku"], a["warehouse"]) for key, held in allocated.items() if key in lines for a in held}
    usable, layers = stock.Usable(s, places, clock.today()), costing.Layers(s, places)
    takes: list[stock.Take] = []
    allocation_rows: list[dict] = []
    line_rows: list[dict] = []
    no_lapse, done, out = set(), set(), []
    for e in envelopes:
        with on_behalf_of(uow, e):
            payload = e.payload
            parcel = bool(payload.get("shipment_id"))
            order_id = payload["order_id"]
            ctx = Context(f"order:{order_id}", e.actor, now,
                          f"order {order_id} parcel {payload.get('parcel')}" if parcel else f"order {order_id}", "sale")
            issued = []
            for line in sorted(payload["lines"], key=lambda l: (lines.get((order_id, l["line_no"]), {}).get("sku", ""),
                                                                l["line_no"])):
                held = _reserved_line(lines, order_id, line["line_no"])
                rest = held["quantity"] - held["issued_quantity"]
                want = int(line["quantity"]) if parcel else rest
                if want > rest:
                    raise Conflict(f"order {order_id} line {line['line_no']}: {want} units shipped, "
                                   f"{rest} reserved and not yet issued")
                item, taken, line_cost = items[held["sku"]], 0, Decimal("0.00")
                for a in allocated.get((order_id, line["line_no"]), []):
                    qty = min(a["quantity"] - a["issued_quantity"], want - taken)
                    if qty <= 0:
                        continue
                    pieces = _pieces_for(s, order_id, line["line_no"], item, a["warehouse"], qty, picks_of, usable)
                    cost = costing.total(layers.take(held["sku"], a["warehouse"], qty, item.costing))
                    takes.append(stock.Take(ctx, "issue", held["sku"], a["warehouse"], pieces, cost, reserved=qty))
                    a["issued_quantity"] += qty
                    allocation_rows.append({"p_order_id": order_id, "p_line_no": line["line_no"],
                                            "p_warehouse": a["warehouse"], "p_cost": cost, "p_quantity": qty})
                    issued.append({"line_no": line["line_no"], "sku": held["sku"], "warehouse": a["warehouse"],
                                   "quantity": qty, "cost": str(cost)})
                    line_cost, taken = line_cost + cost, taken + qty
                if taken != want:
                    raise Conflict(f"order {order_id} line {line['line_no']}: {want - taken} units not allocated")
                held["issued_quantity"] += want
                held["status"] = domain.ISSUED if held["issued_quantity"] == held["quantity"] else domain.RESERVED
                line_rows.append({"p_order_id": order_id, "p_line_no": line["line_no"], "p_cost": line_cost,
                                  "p_quantity": want, "p_status": held["status"]})
            if parcel:
                no_lapse.add(order_id)
            if not parcel or payload.get("completes_order"):
                done.add(order_id)
            issued.sort(key=lambda l: (l["line_no"], l["warehouse"]))
            signals.stock_moved(uow, {(l["sku"], l["warehouse"]) for l in issued})
            total = sum((Decimal(l["cost"]) for l in issued), start=Decimal("0.00"))
            uow.emit(GoodsIssued(order_id=order_id, channel=payload.get("channel"), issued_at=now, lines=issued,
                                 total_cost=total, **({"shipment_id": payload["shipment_id"]} if parcel else {})),
                     order_id)
            out.append(issued)
    stock.take_many(s, takes)
    layers.write(s)
    _write_issued(s, allocation_rows, line_rows)
    if no_lapse:
        s.execute(_NO_LAPSE, {"p_order_ids": sorted(no_lapse)})
    if done:
        s.execute(_PICKS_DONE, {"p_order_ids": sorted(done)})
        s.execute(_WAVES_DONE, {"p_order_ids": sorted(done)})
    return out


def _reserved_line(lines: dict, order_id: str, line_no: int) -> dict:
    """The order line's reservation, to be issued: not there yet waits (PredecessorMissing); one no longer
    reserved is refused."""
    held = lines.get((order_id, line_no))
    if held is None:
        raise PredecessorMissing(f"order {order_id} line {line_no} has no reservation yet")
    if held["status"] != domain.RESERVED:
        raise Conflict(f"order {order_id} line {line_no} is {held['status']}, not reserved")
    return held


def restock_return(uow: UnitOfWork, envelope: Envelope) -> list[dict]:
    """order_returned: the units come back into the warehouse they left, in the lot and with the
    serials they left with, at the cost they left with (the last return of a line takes exactly
    the cost not yet returned); emits goods_returned."""
    s, payload, now = uow.session, envelope.payload, clock.now()
    order_id, restocked = payload["order_id"], []
    ctx = Context(f"return:{payload['return_id']}", envelope.actor, now, f"return {payload['return_id']}",
                  "customer_return")
    stock.lock(s, s.execute(select(reservations.c.sku).where(reservations.c.order_id == order_id)).scalars())
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
        item = catalog.sku_row(s, issued.sku)
        pieces = _returned_pieces(s, order_id, issued, qty)
        damaged = int(line.get("damaged") or 0)
        if damaged:  # an RMA's damaged units: into the return's own quarantined lot (held: not for sale)
            pieces = _into_lot(s, issued.sku, pieces, qty - damaged, return_lot(payload["return_id"]))
        first = stock.put(s, ctx, "return", issued.sku, issued.warehouse, pieces, cost, into_frozen=True)
        costing.add(s, issued.sku, issued.warehouse, qty, cost, item.costing, first, now)
        restocked.append({"line_no": line["line_no"], "sku": issued.sku, "warehouse": issued.warehouse,
                          "quantity": qty, "cost": str(cost)})
    stock_freed(uow, {(l["sku"], l["warehouse"]) for l in restocked},
                f"stock arrived: return {payload['return_id']} of order {order_id} restocked")
    uow.emit(GoodsReturned(order_id=order_id, return_id=payload["return_id"], channel=payload.get("channel"),
                           returned_at=now, lines=restocked), order_id)
    return restocked


def return_lot(return_id: str) -> str:
    """The quarantined lot an RMA's damaged units are restocked into (and scrapped from)."""
    return f"RMA-{return_id[:24]}"


def _into_lot(s, sku: str, pieces: list[Piece], keep: int, lot: str) -> list[Piece]:
    """The pieces with every unit after the first `keep` moved into `lot`, which is made quarantined."""
    s.execute(dialect_insert(s, lots).values(sku=sku, lot=lot, status=stock.QUARANTINED)
              .on_conflict_do_nothing(index_elements=["sku", "lot"]))
    out = []
    for p in pieces:
        kept = min(keep, p.quantity)
        keep -= kept
        if kept:
            out.append(Piece(p.bin, p.lot, p.serial, kept))
        if p.quantity - kept:
            out.append(Piece(p.bin, lot, p.serial, p.quantity - kept))
    return out


def _returned_pieces(s, order_id: str, issued, quantity: int) -> list[Piece]:
    """Returned units go back to the lot they left from, with the serials that left (still out)."""
    out = s.execute(select(stock_movements.c.lot, stock_movements.c.serial)
                    .where(stock_movements.c.document == f"order:{order_id}", stock_movements.c.kind == "issue",
                           stock_movements.c.sku == issued.sku, stock_movements.c.warehouse == issued.warehouse)
                    .order_by(stock_movements.c.id)).all()
    serial_list = [r.serial for r in out if r.serial and s.execute(select(serials.c.status).where(
        serials.c.sku == issued.sku, serials.c.serial == r.serial)).scalar() == stock.ISSUED]
    if serial_list:
        if len(serial_list) < quantity:
            raise Conflict(f"order {order_id}: {quantity} units of {issued.sku} returned, {len(serial_list)} serials out")
        return [Piece("", lot, serial, 1) for lot, serial in
                [(r.lot, r.serial) for r in out if r.serial in serial_list[:quantity]]]
    return [Piece("", out[0].lot if out else "", "", quantity)]
