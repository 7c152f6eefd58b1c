"""Stock counts: open (freeze the bins and note what the books expect), count by scanning,
submit (differences valued; above the approval limit someone else approves), post (gains and
losses as count adjustments with their cost), or cancel. The worker opens a cycle count of the
fastest movers each month."""
from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from sqlalchemy import func, select, update

from hubkit import clock
from hubkit.db import Database, UnitOfWork
from hubkit.errors import Conflict, FieldErrors, NotFound
from hubkit.money import cents, to_decimal
from services.inventory import catalog, costing, domain, movements, stock
from services.inventory.models import (
    bins,
    cost_layers,
    document_lines,
    documents,
    place_stock,
    serials,
    skus,
    stock_movements,
    warehouses,
)
from services.inventory.stock import IN_STOCK

OPEN, AWAITING_APPROVAL, POSTED, CANCELLED = "open", "awaiting_approval", "posted", "cancelled"
KINDS = ("cycle", "full")



def open_count(uow: UnitOfWork, warehouse: str, bin_codes: list[str] | None = None,
               sku_codes: list[str] | None = None, kind: str = "cycle", note: str = "", month: str = "") -> dict:
    """Freeze the bins (all of the warehouse's, the named ones, or those holding the named SKUs)
    and write down what the books expect in them. A bin frozen by another count refuses."""
    errors = FieldErrors()
    if kind not in KINDS:
        errors.add("kind", f"one of {', '.join(KINDS)}")
    for i, b in enumerate(bin_codes or []):
        domain.check_bin(errors, f"bins[{i}]", b)
    errors.raise_if_any("the count is invalid")
    s, now = uow.session, clock.now()
    catalog.require_warehouse(s, warehouse)
    for code in sku_codes or []:
        catalog.sku_row(s, code, "skus")
    all_bins = set(s.execute(select(bins.c.code).where(bins.c.warehouse == warehouse)).scalars())
    if bin_codes:
        unknown = set(bin_codes) - all_bins
        if unknown:
            raise NotFound(f"unknown bin(s) {sorted(unknown)} in {warehouse}",
                           [{"field": "bins", "message": f"unknown {b}"} for b in sorted(unknown)])
        scope = set(bin_codes)
    elif sku_codes:
        scope = set(s.execute(select(place_stock.c.bin).where(
            place_stock.c.warehouse == warehouse, place_stock.c.sku.in_(sku_codes),
            place_stock.c.quantity > 0)).scalars()) or {""}
    else:
        scope = all_bins
    count_id = uuid.uuid4().hex[:16]
    frozen = s.execute(update(bins).where(bins.c.warehouse == warehouse, bins.c.code.in_(scope),
                                          bins.c.frozen_by.is_(None)).values(frozen_by=count_id)).rowcount
    if frozen != len(scope):
        busy = s.execute(select(bins.c.code, bins.c.frozen_by).where(
            bins.c.warehouse == warehouse, bins.c.code.in_(scope), bins.c.frozen_by != count_id)).all()
        raise Conflict("bin(s) already frozen by another count: "
                       + ", ".join(f"{b.code or '(unnamed)'} by {b.frozen_by}" for b in busy),
                       [{"field": "bins", "message": f"{b.code or '(unnamed)'} frozen by count {b.frozen_by}"}
                        for b in busy])
    s.execute(documents.insert().values(
        id=count_id, kind="count", status=OPEN, warehouse=warehouse,
        details={"count_kind": kind, "bins": sorted(scope), "skus": sorted(sku_codes or []), "note": note or "",
                 "month": month},
        created_by=uow.actor, created_at=now, updated_by=uow.actor, updated_at=now))
    line_no = 0
    for row in _expected(s, warehouse, scope, sku_codes):
        line_no += 1
        s.execute(document_lines.insert().values(document_id=count_id, line_no=line_no, **row))
    return {"count_id": count_id, "status": OPEN, "bins": sorted(scope), "lines": line_no}


def _expected(s, warehouse: str, scope: set[str], sku_codes) -> list[dict]:
    """Per SKU, bin and lot what the books hold; serial-tracked SKUs per serial."""
    tracked = set(s.execute(select(skus.c.code).where(skus.c.serial_tracked.is_(True))).scalars())
    query = (select(place_stock).where(place_stock.c.warehouse == warehouse, place_stock.c.bin.in_(scope),
                                       place_stock.c.quantity > 0)
             .order_by(place_stock.c.bin, place_stock.c.sku, place_stock.c.lot))
    if sku_codes:
        query = query.where(place_stock.c.sku.in_(sku_codes))
    rows = []
    for p in s.execute(query).all():
        if p.sku not in tracked:
            rows.append({"sku": p.sku, "bin": p.bin, "lot": p.lot, "serial": "", "quantity": p.quantity})
            continue
        for serial in s.execute(select(serials.c.serial).where(
                serials.c.sku == p.sku, serials.c.warehouse == warehouse, serials.c.bin == p.bin,
                serials.c.lot == p.lot, serials.c.status == IN_STOCK).order_by(serials.c.serial)).scalars():
            rows.append({"sku": p.sku, "bin": p.bin, "lot": p.lot, "serial": serial, "quantity": 1})
    return rows


def _count(s, count_id: str, lock: bool = True):
    query = select(documents).where(documents.c.id == count_id, documents.c.kind == "count")
    doc = s.execute(query.with_for_update() if lock else query).first()
    if doc is None:
        raise NotFound(f"count {count_id} not found", [{"field": "count_id", "message": "unknown count"}])
    return doc


def record(uow: UnitOfWork, count_id: str, bin_code: str, code: str, quantity: int, replace: bool = False) -> dict:
    """A scan during a count: `quantity` units of what `code` names (a barcode, SKU, lot label or
    serial) in a bin of this count; added to what was counted there, or replacing it."""
    errors = FieldErrors()
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 0:
        errors.add("quantity", "a count is a whole number of units, 0 or more")
    domain.check_bin(errors, "bin", bin_code)
    errors.raise_if_any("the count entry is invalid")
    s = uow.session
    doc = _count(s, count_id)
    if doc.status != OPEN:
        raise Conflict(f"count {count_id} is {doc.status}: it takes no more entries")
    frozen_by = s.execute(select(bins.c.frozen_by).where(bins.c.warehouse == doc.warehouse,
                                                         bins.c.code == bin_code)).first()
    if frozen_by is None or frozen_by.frozen_by != count_id:
        other = frozen_by.frozen_by if frozen_by else None
        raise Conflict(f"bin {bin_code or '(unnamed)'} is " + (f"frozen by another count {other}" if other
                                                                else f"not part of count {count_id}"),
                       [{"field": "bin", "message": "not in this count"}])
    scanned = catalog.resolve(s, code, doc.warehouse)
    if not scanned["sku"]:
        raise Conflict(f"{code!r} names a {scanned['kind']}, not goods: scan the item", [{"field": "code",
                                                                                          "message": "not an item"}])
    item = catalog.sku_row(s, scanned["sku"])
    if item.lot_tracked and not scanned["lot"]:
        raise Conflict(f"{item.code} is lot-tracked: scan the lot label", [{"field": "code", "message": "scan the lot"}])
    if item.serial_tracked and (not scanned["serial"] or quantity > 1):
        raise Conflict(f"{item.code} is serial-tracked: scan each serial", [{"field": "code", "message": "scan the serial"}])
    key = dict(sku=item.code, bin=bin_code, lot=scanned["lot"], serial=scanned["serial"])
    line = s.execute(select(document_lines).where(document_lines.c.document_id == count_id,
                                                  *[document_lines.c[k] == v for k, v in key.items()])).first()
    if line is None:
        line_no = (s.execute(select(func.max(document_lines.c.line_no))
                             .where(document_lines.c.document_id == count_id)).scalar() or 0) + 1
        s.execute(document_lines.insert().values(document_id=count_id, line_no=line_no, quantity=0, counted=quantity,
                                                 **key))
        counted = quantity
    else:
        counted = quantity if replace or line.counted is None else line.counted + quantity
        s.execute(update(document_lines).where(document_lines.c.document_id == count_id,
                                               document_lines.c.line_no == line.line_no).values(counted=counted))
    return {"count_id": count_id, **key, "counted": counted, "expected": line.quantity if line else 0}


def submit(uow: UnitOfWork, count_id: str, approval_limit: str, zero_uncounted: bool = False) -> dict:
    """Close the counting: differences are valued; small ones post at once, larger ones wait for
    approval. Lines nobody counted are refused unless `zero_uncounted` says they are empty."""
    s = uow.session
    doc = _count(s, count_id)
    if doc.status != OPEN:
        raise Conflict(f"count {count_id} is {doc.status}")
    lines = _lines(s, count_id)
    uncounted = [l for l in lines if l.counted is None]
    if uncounted and not zero_uncounted:
        raise Conflict(f"{len(uncounted)} line(s) were not counted, e.g. {uncounted[0].sku} in bin "
                       f"{uncounted[0].bin or '(unnamed)'}", [{"field": "lines", "message": "not all counted"}])
    s.execute(update(document_lines).where(document_lines.c.document_id == count_id,
                                           document_lines.c.counted.is_(None)).values(counted=0))
    worth = sum((abs(_estimate(s, l.sku, doc.warehouse, (l.counted or 0) - l.quantity)) for l in lines),
                start=Decimal("0.00"))
    if worth > to_decimal(approval_limit):
        _set_status(s, count_id, AWAITING_APPROVAL, uow.actor, {"difference_value": str(worth)})
        return {"count_id": count_id, "status": AWAITING_APPROVAL, "difference_value": worth}
    return _post(uow, doc, worth)


def approve(uow: UnitOfWork, count_id: str) -> dict:
    s = uow.session
    doc = _count(s, count_id)
    if doc.status != AWAITING_APPROVAL:
        raise Conflict(f"count {count_id} is {doc.status}, not awaiting approval")
    if doc.updated_by == uow.actor:
        raise Conflict("the person who submitted a count cannot approve it", [{"field": "actor", "message": "four eyes"}])
    return _post(uow, doc, Decimal(doc.details.get("difference_value", "0")))


def cancel(uow: UnitOfWork, count_id: str) -> dict:
    s = uow.session
    doc = _count(s, count_id)
    if doc.status not in (OPEN, AWAITING_APPROVAL):
        raise Conflict(f"count {count_id} is {doc.status}")
    _unfreeze(s, doc)
    _set_status(s, count_id, CANCELLED, uow.actor)
    return {"count_id": count_id, "status": CANCELLED}


def _post(uow: UnitOfWork, doc, worth: Decimal) -> dict:
    """Unfreeze the bins and post every difference as a count adjustment at its cost."""
    s = uow.session
    _unfreeze(s, doc)
    posted = Decimal("0.00")
    lines = _lines(s, doc.id)
    stock.lock(s, {line.sku for line in lines})
    for line in lines:
        difference = (line.counted or 0) - line.quantity
        if difference == 0:
            continue
        done = movements.adjust(uow, line.sku, doc.warehouse, difference, "count", note=f"count {doc.id}",
                                bin_code=line.bin, lot=line.lot, serial_list=[line.serial] if line.serial else None,
                                document=f"count:{doc.id}", adjustment_id=f"{doc.id}-{line.line_no}")
        s.execute(update(document_lines).where(document_lines.c.document_id == doc.id,
                                               document_lines.c.line_no == line.line_no).values(value=done["value"]))
        posted += done["value"]
    _set_status(s, doc.id, POSTED, uow.actor, {"posted_value": str(posted)})
    return {"count_id": doc.id, "status": POSTED, "difference_value": worth, "posted_value": posted}


def _estimate(s, sku: str, warehouse: str, difference: int) -> Decimal:
    """What a difference is worth before it is posted: the average value of the units there."""
    if difference == 0:
        return Decimal("0.00")
    qty, value = s.execute(select(func.sum(cost_layers.c.remaining), func.sum(cost_layers.c.remaining_value)).where(
        cost_layers.c.sku == sku, cost_layers.c.warehouse == warehouse, cost_layers.c.in_transit.is_(False))).one()
    if qty:
        return cents(Decimal(value) * difference / qty)
    return cents(costing.latest_unit_cost(s, sku, warehouse) * difference)


def _lines(s, count_id: str):
    return s.execute(select(document_lines).where(document_lines.c.document_id == count_id)
                     .order_by(document_lines.c.line_no)).all()


def _unfreeze(s, doc) -> None:
    s.execute(update(bins).where(bins.c.warehouse == doc.warehouse, bins.c.frozen_by == doc.id)
              .values(frozen_by=None))


def _set_status(s, count_id: str, status: str, actor: str, extra: dict | None = None) -> None:
    details = dict(s.execute(select(documents.c.details).where(documents.c.id == count_id)).scalar() or {})
    s.execute(update(documents).where(documents.c.id == count_id).values(
        status=status, details={**details, **(extra or {})}, updated_by=actor, updated_at=clock.now()))


def get(db: Database, count_id: str) -> dict:
    with db.reader() as s:
        return read(s, count_id)


def read(s, count_id: str) -> dict:
    """A count as the session sees it (inside a unit of work: with its own changes)."""
    doc = _count(s, count_id, lock=False)
    return {"count_id": doc.id, "status": doc.status, "warehouse": doc.warehouse, **doc.details,
            "lines": [{"line_no": l.line_no, "sku": l.sku, "bin": l.bin, "lot": l.lot, "serial": l.serial,
                       "expected": l.quantity, "counted": l.counted,
                       "difference": None if l.counted is None else l.counted - l.quantity,
                       "value": l.value} for l in _lines(s, count_id)]}


def schedule_cycle_counts(uow: UnitOfWork, today: date, top: int) -> list[str]:
    """Once a month per warehouse: a cycle count of the `top` SKUs issued most in the last 30 days.
    A warehouse whose bins are busy with another count is tried again on the next run."""
    s, opened = uow.session, []
    month = today.strftime("%Y-%m")
    done = {(d.warehouse) for d in s.execute(select(documents.c.warehouse, documents.c.details)
                                              .where(documents.c.kind == "count")).all()
            if (d.details or {}).get("month") == month}
    since = datetime.combine(today - timedelta(days=30), datetime.min.time(), tzinfo=timezone.utc)
    for warehouse in s.execute(select(warehouses.c.code).order_by(warehouses.c.code)).scalars():
        if warehouse in done:
            continue
        fastest = s.execute(select(stock_movements.c.sku).where(
            stock_movements.c.warehouse == warehouse, stock_movements.c.kind == "issue",
            stock_movements.c.occurred_at >= since).group_by(stock_movements.c.sku)
            .order_by(func.sum(stock_movements.c.quantity), stock_movements.c.sku).limit(top)).scalars().all()
        if not fastest:
            continue
        try:
            with s.begin_nested():
                opened.append(open_count(uow, warehouse, sku_codes=list(fastest), kind="cycle",
                                         note="monthly cycle count of the fastest movers", month=month)["count_id"])
        except Conflict:
            continue
    return opened
