"""Requisitions: a person's request to buy (or one made from open purchase suggestions), approved
through the chain in force; approved requisitions become purchase orders, one per supplier and
warehouse, in one call."""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import select, update

from hubkit import clock
from hubkit.db import Database, UnitOfWork, as_utc, changed
from hubkit.errors import Conflict, FieldErrors, NotFound
from hubkit.money import CURRENCIES, cents, unit_cost
from services.procurement import approvals, chains, domain, handlers
from services.procurement.models import purchase_suggestions, requisition_lines, requisitions, suppliers

MAX_TEXT = 64
ORDERED = "ordered"


@dataclass(frozen=True)
class RequisitionLine:
    sku: str
    quantity: int
    supplier: str
    unit_cost: str
    vat_rate: str = ""
    suggestion_id: str = ""


@dataclass(frozen=True)
class NewRequisition:
    warehouse: str
    lines: list[RequisitionLine]
    currency: str = ""          # the books' (base) currency; the gateway passes it
    category: str = ""
    material_type: str = ""
    project: str = ""
    cost_centre: str = ""
    department: str = ""
    note: str = ""
    extra: dict = field(default_factory=dict)


def _validate(s, cmd: NewRequisition) -> tuple[str, list[dict]]:
    errors = FieldErrors()
    domain.check_code(errors, "warehouse", cmd.warehouse, 32)
    currency = (cmd.currency or domain.DEFAULT_CURRENCY).strip().upper()
    if currency not in CURRENCIES:
        errors.add("currency", "an ISO 4217 currency code, e.g. CNY")
    for name in ("category", "material_type", "project", "cost_centre", "department"):
        if len(getattr(cmd, name) or "") > MAX_TEXT:
            errors.add(name, f"at most {MAX_TEXT} characters")
    if len(cmd.note or "") > 500:
        errors.add("note", "at most 500 characters")
    if not cmd.lines:
        errors.add("lines", "a requisition needs at least one line")
    elif len(cmd.lines) > domain.MAX_LINES:
        errors.add("lines", f"at most {domain.MAX_LINES} lines")
    lines = []
    for i, line in enumerate(cmd.lines[:domain.MAX_LINES]):
        domain.check_code(errors, f"lines[{i}].sku", line.sku)
        domain.check_code(errors, f"lines[{i}].supplier", line.supplier)
        ok = domain._is_quantity(line.quantity)
        if not ok:
            errors.add(f"lines[{i}].quantity", f"must be a whole number from 1 to {domain.MAX_QUANTITY}")
        cost = domain.parse_unit_cost(errors, f"lines[{i}].unit_cost", line.unit_cost)
        rate = domain.parse_vat_rate(errors, f"lines[{i}].vat_rate", line.vat_rate)
        if ok and cost is not None and rate is not None:
            lines.append(dict(line_no=i + 1, sku=line.sku, quantity=line.quantity, supplier=line.supplier,
                              unit_cost=unit_cost(cost), vat_rate=rate, amount=domain.line_amount(line.quantity, cost),
                              suggestion_id=line.suggestion_id or None))
    known = {c for (c,) in s.execute(select(suppliers.c.code).where(
        suppliers.c.code.in_(sorted({l.supplier for l in cmd.lines})))).all()} if cmd.lines else set()
    for i, line in enumerate(cmd.lines[:domain.MAX_LINES]):
        if domain.CODE.match(line.supplier or "") and line.supplier not in known:
            errors.add(f"lines[{i}].supplier", f"unknown supplier {line.supplier!r}")
    errors.raise_if_any("the requisition is invalid")
    return currency, lines


def create(uow: UnitOfWork, cmd: NewRequisition) -> str:
    """Raise a requisition: validated, its chain resolved and its first step waiting. Returns its id."""
    s, now = uow.session, clock.now()
    currency, lines = _validate(s, cmd)
    total = cents(sum((l["amount"] + domain.line_tax(l["amount"], l["vat_rate"]) for l in lines),
                      start=Decimal("0.00")))
    if total > domain.MAX_TOTAL:
        too_much = FieldErrors()
        too_much.add("lines", f"the total including VAT must be at most {domain.MAX_TOTAL}")
        too_much.raise_if_any("the requisition is invalid")
    requisition_id = uuid.uuid4().hex
    s.execute(requisitions.insert().values(
        id=requisition_id, requester=uow.actor, warehouse=cmd.warehouse, currency=currency, total=total,
        category=cmd.category or "", material_type=cmd.material_type or "", project=cmd.project or "",
        cost_centre=cmd.cost_centre or "", department=cmd.department or "", note=cmd.note or "",
        status=chains.PENDING, chain_version=0, created_at=now, updated_at=now))
    s.execute(requisition_lines.insert(), [dict(requisition_id=requisition_id, **l) for l in lines])
    vendors = sorted({l["supplier"] for l in lines})
    status, version = approvals.start(uow, chains.REQUISITION, requisition_id, uow.actor, total, {
        "currency": currency, "supplier": vendors[0] if len(vendors) == 1 else "", "suppliers": vendors,
        "skus": sorted({l["sku"] for l in lines}), "category": cmd.category, "material_type": cmd.material_type,
        "project": cmd.project, "cost_centre": cmd.cost_centre, "department": cmd.department})
    s.execute(update(requisitions).where(requisitions.c.id == requisition_id)
              .values(status=status, chain_version=version))
    return requisition_id


def from_suggestions(uow: UnitOfWork, picks: list[dict], cmd: NewRequisition) -> str:
    """A requisition of open purchase suggestions: each pick names a suggestion, its supplier and unit
    cost (and optionally another quantity than suggested); the warehouse is the suggestions'."""
    s = uow.session
    errors = FieldErrors()
    if not picks:
        errors.add("suggestions", "at least one suggestion")
    ids = [p.get("suggestion_id", "") for p in picks]
    found = {r.id: r for r in s.execute(select(purchase_suggestions).where(
        purchase_suggestions.c.id.in_(ids))).all()} if ids else {}
    lines, warehouses = [], set()
    for i, pick in enumerate(picks):
        row = found.get(pick.get("suggestion_id", ""))
        if row is None:
            errors.add(f"suggestions[{i}].suggestion_id", "unknown purchase suggestion")
            continue
        if row.status != domain.SUGGESTION_OPEN:
            errors.add(f"suggestions[{i}].suggestion_id", f"the suggestion is {row.status}, not open")
            continue
        if ids.count(row.id) > 1:
            errors.add(f"suggestions[{i}].suggestion_id", "each suggestion at most once")
        warehouses.add(row.warehouse)
        lines.append(RequisitionLine(sku=row.sku, quantity=pick.get("quantity") or int(row.quantity),
                                     supplier=pick.get("supplier", ""), unit_cost=pick.get("unit_cost", ""),
                                     vat_rate=pick.get("vat_rate", ""), suggestion_id=row.id))
    if len(warehouses) > 1:
        errors.add("suggestions", "suggestions of one warehouse per requisition")
    errors.raise_if_any("the requisition is invalid")
    return create(uow, NewRequisition(**{**cmd.__dict__, "warehouse": warehouses.pop(), "lines": lines}))


def order(uow: UnitOfWork, requisition_ids: list[str]) -> list[str]:
    """Approved requisitions become purchase orders, one per supplier (and warehouse), approved by
    them; each requisition is then `ordered`. Refused whole (409) when one is not approved."""
    s, now = uow.session, clock.now()
    errors = FieldErrors()
    if not requisition_ids:
        errors.add("requisition_ids", "at least one requisition")
    if len(set(requisition_ids)) != len(requisition_ids):
        errors.add("requisition_ids", "each requisition at most once")
    errors.raise_if_any("nothing to order")
    ids = sorted(requisition_ids)
    for rid in ids:  # lock in one order: concurrent calls take turns
        if not changed(s, update(requisitions).where(requisitions.c.id == rid).values(updated_at=now)):
            raise NotFound(f"requisition {rid!r} not found", [{"field": "requisition_ids", "message": f"unknown {rid}"}])
    rows = {r.id: r for r in s.execute(select(requisitions).where(requisitions.c.id.in_(ids))).all()}
    not_approved = [f"{rid} is {rows[rid].status}" for rid in ids if rows[rid].status != chains.APPROVED]
    if not_approved:
        raise Conflict(f"only approved requisitions become purchase orders: {', '.join(not_approved)}",
                       [{"field": "requisition_ids", "message": m} for m in not_approved])
    currencies = {rows[rid].currency for rid in ids}
    currency = rows[ids[0]].currency
    if len(currencies) > 1:
        raise Conflict("requisitions in one currency per call", [{"field": "requisition_ids", "message": "mixed"}])
    groups: dict[tuple[str, str], list] = {}
    for line in s.execute(select(requisition_lines).where(requisition_lines.c.requisition_id.in_(ids))
                          .order_by(requisition_lines.c.requisition_id, requisition_lines.c.line_no)).all():
        groups.setdefault((line.supplier, rows[line.requisition_id].warehouse), []).append(line)
    po_ids = []
    for (supplier, warehouse), lines in sorted(groups.items()):
        cmd = domain.CreatePurchaseOrder(supplier=supplier, warehouse=warehouse, currency=currency,
                                         lines=[domain.LineInput(sku=l.sku, quantity=int(l.quantity),
                                                                 unit_cost=str(unit_cost(l.unit_cost)),
                                                                 vat_rate=str(l.vat_rate)) for l in lines])
        sources = sorted({l.requisition_id for l in lines})
        po_id = handlers.create_purchase_order(uow, cmd, requisition_id=sources[0])
        approvals._log(uow, chains.PURCHASE_ORDER, po_id, chains.APPROVED,
                       comment=f"approved by requisition {', '.join(sources)}")
        for l in lines:
            s.execute(update(requisition_lines).where(requisition_lines.c.requisition_id == l.requisition_id,
                                                      requisition_lines.c.line_no == l.line_no)
                      .values(purchase_order_id=po_id))
        po_ids.append(po_id)
    s.execute(update(requisitions).where(requisitions.c.id.in_(ids)).values(status=ORDERED, updated_at=now))
    for rid in ids:
        approvals._log(uow, chains.REQUISITION, rid, ORDERED, comment="purchase orders raised")
    return po_ids


def read(s, requisition_id: str) -> dict:
    row = s.execute(select(requisitions).where(requisitions.c.id == requisition_id)).first()
    if row is None:
        raise NotFound(f"requisition {requisition_id!r} not found", [{"field": "id", "message": "unknown requisition"}])
    doc = dict(row._mapping)
    doc["created_at"], doc["updated_at"] = as_utc(row.created_at).isoformat(), as_utc(row.updated_at).isoformat()
    doc["lines"] = [dict(r._mapping) for r in s.execute(select(requisition_lines).where(
        requisition_lines.c.requisition_id == requisition_id).order_by(requisition_lines.c.line_no)).all()]
    doc.update(approvals.read(s, chains.REQUISITION, requisition_id))
    return doc


def get(db: Database, requisition_id: str) -> dict:
    with db.reader() as s:
        return read(s, requisition_id)
