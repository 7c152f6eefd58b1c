"""Incoming inspection (质检): a purchase receipt line that must be inspected arrives in a
quarantined lot (on hand at its cost, held, never available for reservation) and opens a task.
The result splits the line: passed units are released to available stock; failed units are
scrapped (a write-off: stock_adjusted posts its voucher) or moved into a quarantined reject lot
that procurement sends back to the supplier (inspection_recorded -> purchase_returned). Which
receipts are inspected is configuration (`Policy`, from the inventory settings)."""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import func, select, update

from contracts import InspectionRecorded
from hubkit import clock
from hubkit.db import Database, UnitOfWork, as_utc, changed, dialect_insert
from hubkit.errors import Conflict, FieldErrors, InvalidArgument, NotFound
from services.inventory import catalog, holds, movements, signals, stock
from services.inventory.models import inspections, lots, serials
from services.inventory.stock import Context, Piece

OPEN, PASSED, FAILED, PARTIAL = "open", "passed", "failed", "partial"
STATUSES = (OPEN, PASSED, FAILED, PARTIAL)
RETURN, SCRAP = "return", "scrap"
DISPOSITIONS = (RETURN, SCRAP)
REJECT_SUFFIX = ".REJ"  # the lot failed units wait in for the return to the supplier
MAX_NOTE = 500


@dataclass(frozen=True)
class Policy:
    """Which purchase receipt lines are inspected. The quarantine is a lot's, so only lot-tracked
    SKUs can be: all of them (`lot_tracked`, the default), or only the listed SKUs and suppliers."""
    lot_tracked: bool = True
    skus: frozenset[str] = field(default_factory=frozenset)
    suppliers: frozenset[str] = field(default_factory=frozenset)

    def requires(self, item, supplier: str) -> bool:
        return bool(item.lot_tracked) and (self.lot_tracked or item.code in self.skus or supplier in self.suppliers)

    @classmethod
    def of(cls, settings) -> Policy:
        return cls(settings.inspect_lot_tracked, frozenset(settings.inspect_skus),
                   frozenset(settings.inspect_suppliers))


def quarantine_existing(uow: UnitOfWork, sku: str, lot: str) -> None:
    """Before an inspected line arrives into a lot that is already in stock and usable, the lot is
    held as a whole (a lot has one status); refused (Conflict) if its units are promised to orders.
    A new lot is created quarantined by the receipt itself."""
    status = uow.session.execute(select(lots.c.status).where(lots.c.sku == sku, lots.c.lot == lot)).scalar()
    if status == stock.OK:
        holds.hold(uow, sku, lot, "incoming inspection")


def open_task(uow: UnitOfWork, receipt_id: str, purchase_order_id: str, line_no: int, supplier: str,
              warehouse: str, sku: str, lot: str, quantity: int) -> str:
    task_id = uuid.uuid4().hex
    uow.session.execute(inspections.insert().values(
        id=task_id, receipt_id=receipt_id, purchase_order_id=purchase_order_id, line_no=line_no, supplier=supplier,
        warehouse=warehouse, sku=sku, lot=lot, quantity=quantity, status=OPEN, created_at=clock.now()))
    return task_id


def check_result(quantity: int, passed, failed, disposition: str, note: str) -> None:
    """Every problem with a result, each with its field: counts are whole numbers that add up to
    exactly the units inspected (never more than were received); failed units need a disposition."""
    errors = FieldErrors()
    for name, value in (("passed", passed), ("failed", failed)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            errors.add(name, "a whole number, at least 0")
    if not errors.items:
        if passed + failed > quantity:
            errors.add("passed", f"{passed} passed and {failed} failed is more than the {quantity} received")
        elif passed + failed < quantity:
            errors.add("passed", f"{passed} passed and {failed} failed leaves {quantity - passed - failed} of the "
                                 f"{quantity} received uninspected")
        if failed and disposition not in DISPOSITIONS:
            errors.add("disposition", f"failed units go to one of {', '.join(DISPOSITIONS)}")
        if not failed and disposition:
            errors.add("disposition", "only failed units have a disposition")
    if len(note or "") > MAX_NOTE:
        errors.add("note", f"at most {MAX_NOTE} characters")
    errors.raise_if_any("the inspection result is invalid")


def status_of(passed: int, failed: int) -> str:
    return PASSED if not failed else FAILED if not passed else PARTIAL


def record(uow: UnitOfWork, task_id: str, passed: int, failed: int, disposition: str = "", note: str = "") -> dict:
    """Record an inspection's result, once: failed units scrapped or set aside for the return,
    then the lot released (unless another of its receipts still waits for inspection)."""
    s, now = uow.session, clock.now()
    task = s.execute(select(inspections).where(inspections.c.id == task_id).with_for_update()).first()
    if task is None:
        raise NotFound(f"inspection {task_id!r} not found", [{"field": "id", "message": "unknown inspection"}])
    if task.status != OPEN:
        raise Conflict(f"inspection {task_id} is already {task.status}", [{"field": "id", "message": task.status}])
    check_result(task.quantity, passed, failed, disposition, note)
    stock.lock(s, {task.sku})
    return_lot = ""
    if failed and disposition == SCRAP:
        movements.adjust(uow, task.sku, task.warehouse, -failed, "scrap", note=f"failed inspection {task_id}",
                         lot=task.lot, document=f"inspection:{task_id}")
    elif failed:
        return_lot = _set_aside(uow, task, failed)
    won = changed(s, update(inspections).where(inspections.c.id == task_id, inspections.c.status == OPEN).values(
        status=status_of(passed, failed), passed=passed, failed=failed, disposition=disposition, note=note or "",
        inspected_by=uow.actor, inspected_at=now))
    if won != 1:
        raise Conflict(f"inspection {task_id} was recorded concurrently")
    waiting = s.execute(select(func.count()).select_from(inspections).where(
        inspections.c.sku == task.sku, inspections.c.lot == task.lot, inspections.c.status == OPEN)).scalar()
    lot_status = s.execute(select(lots.c.status).where(lots.c.sku == task.sku, lots.c.lot == task.lot)).scalar()
    if not waiting and lot_status == stock.QUARANTINED and signals.lot_quantities(s, task.sku, task.lot):
        holds.release(uow, task.sku, task.lot, f"passed inspection {task_id}")
    elif not waiting and lot_status == stock.QUARANTINED:  # nothing left in it: no longer held either
        s.execute(update(lots).where(lots.c.sku == task.sku, lots.c.lot == task.lot).values(status=stock.OK))
    uow.emit(InspectionRecorded(
        inspection_id=task_id, receipt_id=task.receipt_id, purchase_order_id=task.purchase_order_id,
        line_no=task.line_no, supplier=task.supplier, warehouse=task.warehouse, sku=task.sku, lot=task.lot,
        quantity=task.quantity, passed=passed, failed=failed, disposition=disposition, return_lot=return_lot,
        note=note or "", inspected_by=uow.actor, inspected_at=now), f"inspection:{task_id}")
    return read(s, task_id)


def _set_aside(uow: UnitOfWork, task, failed: int) -> str:
    """Move failed units into the quarantined reject lot (same places, value and cost layers: two
    ledger lines worth nothing, as a bin move), where they wait for the purchase return."""
    s = uow.session
    reject = task.lot[:64 - len(REJECT_SUFFIX)] + REJECT_SUFFIX
    item = catalog.sku_row(s, task.sku)
    expires_on = s.execute(select(lots.c.expires_on).where(lots.c.sku == task.sku, lots.c.lot == task.lot)).scalar()
    s.execute(dialect_insert(s, lots).values(sku=task.sku, lot=reject, expires_on=expires_on,
                                             status=stock.QUARANTINED).on_conflict_do_nothing())
    s.execute(update(lots).where(lots.c.sku == task.sku, lots.c.lot == reject).values(status=stock.QUARANTINED))
    pieces = (_serial_pieces(s, task, failed) if item.serial_tracked
              else stock.choose(s, task.sku, task.warehouse, failed, lot=task.lot))
    ctx = Context(f"inspection:{task.id}", uow.actor, clock.now(), f"failed inspection {task.id}", "inspection")
    zero = Decimal("0.00")
    stock.take(s, ctx, "relot", task.sku, task.warehouse, pieces, zero, serial_status=stock.IN_STOCK,
               update_level=False)
    stock.put(s, ctx, "relot", task.sku, task.warehouse, [Piece(p.bin, reject, p.serial, p.quantity) for p in pieces],
              zero, update_level=False)
    signals.hold_changed(uow, task.sku, reject, task.warehouse, True, "quarantine", failed,
                         f"failed inspection {task.id}: to be returned to the supplier")
    return reject


def _serial_pieces(s, task, failed: int) -> list[Piece]:
    """Serial-tracked failed units: the first `failed` serials of the lot in the warehouse."""
    rows = s.execute(select(serials.c.serial, serials.c.bin).where(
        serials.c.sku == task.sku, serials.c.lot == task.lot, serials.c.warehouse == task.warehouse,
        serials.c.status == stock.IN_STOCK).order_by(serials.c.serial).limit(failed)).all()
    if len(rows) < failed:
        raise Conflict(f"lot {task.lot} of {task.sku} holds only {len(rows)} units in {task.warehouse}",
                       [{"field": "failed", "message": f"at most {len(rows)}"}])
    return [Piece(r.bin, task.lot, r.serial, 1) for r in rows]


def _row(r) -> dict:
    d = dict(r._mapping)
    d["created_at"] = as_utc(d["created_at"])
    d["inspected_at"] = d["inspected_at"] and as_utc(d["inspected_at"])
    return d


def read(s, task_id: str) -> dict:
    row = s.execute(select(inspections).where(inspections.c.id == task_id)).first()
    if row is None:
        raise NotFound(f"inspection {task_id!r} not found", [{"field": "id", "message": "unknown inspection"}])
    return _row(row)


def get(db: Database, task_id: str) -> dict:
    with db.reader() as s:
        return read(s, task_id)


def list_tasks(db: Database, status: str = "", supplier: str = "", sku: str = "", limit: int = 100) -> list[dict]:
    """The inspection queue: oldest first (open ones wait longest at the top)."""
    if status and status not in STATUSES:
        raise InvalidArgument(f"unknown status {status!r}", [{"field": "status", "message": f"one of {', '.join(STATUSES)}"}])
    t = inspections
    query = select(t).order_by(t.c.created_at, t.c.id).limit(max(1, min(limit or 100, 1000)))
    for column, value in ((t.c.status, status), (t.c.supplier, supplier), (t.c.sku, sku)):
        if value:
            query = query.where(column == value)
    with db.reader() as s:
        return [_row(r) for r in s.execute(query).all()]

