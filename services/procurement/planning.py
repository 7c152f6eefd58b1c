"""Replenishment in procurement's database: the facts projected from inventory's events (daily sales
from goods_issued, positions from stock_changed and low_stock), the buyer's terms, the demand rule
set in force, and the evaluation that opens or updates a SKU's suggestion with its terms (why this
quantity). The arithmetic is replenish.py's, the forecasts hubkit.forecast's."""
from __future__ import annotations

import json
import uuid
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from sqlalchemy import func, select, update

from hubkit import clock, rules
from hubkit import forecast as fc
from hubkit.db import UnitOfWork, as_utc, dialect_insert
from hubkit.errors import Conflict, InvalidArgument, NotFound
from services.procurement import demand, domain, replenish
from services.procurement.models import (
    daily_sales,
    demand_rule_sets,
    purchase_order_lines,
    purchase_orders,
    purchase_suggestions,
    replenishment_terms,
    stock_positions,
    suppliers,
)


# -- projections -------------------------------------------------------------
def record_sales(uow: UnitOfWork, lines: list[tuple[str, str, date, int]]) -> set[tuple[str, str]]:
    """goods_issued: add each line's units to its SKU's sales in its warehouse on its day."""
    s, t = uow.session, daily_sales
    for sku, warehouse, day, quantity in lines:
        insert = dialect_insert(s, t).values(sku=sku, warehouse=warehouse, day=day, quantity=quantity,
                                             stocked_out=False)
        s.execute(insert.on_conflict_do_update(index_elements=[t.c.sku, t.c.warehouse, t.c.day],
                                               set_={"quantity": t.c.quantity + insert.excluded.quantity}))
    return {(sku, warehouse) for sku, warehouse, _, _ in lines}


def record_levels(uow: UnitOfWork, levels: list[tuple[str, str, int, int]], day: date) -> None:
    """stock_changed: a SKU's available and in-transit units per warehouse. Nothing available opens a
    stretch out of stock (out_since); stock again closes it, marking its days out of stock (the days
    of a stretch still open count as out of stock when the velocity is read)."""
    s, now = uow.session, clock.now()
    for sku, warehouse, available, in_transit in levels:
        out_since = s.execute(select(stock_positions.c.out_since).where(
            stock_positions.c.sku == sku, stock_positions.c.warehouse == warehouse)).scalar()
        if available <= 0:
            out_since = out_since or day
        elif out_since is not None:
            _mark_out_of_stock(s, sku, warehouse, out_since, day - timedelta(days=1))
            out_since = None
        values = dict(available=available, in_transit=in_transit, out_since=out_since, updated_at=now)
        s.execute(dialect_insert(s, stock_positions).values(sku=sku, warehouse=warehouse, **values)
                  .on_conflict_do_update(index_elements=["sku", "warehouse"], set_=values))


def _mark_out_of_stock(s, sku: str, warehouse: str, first: date, last: date) -> None:
    days = [first + timedelta(days=i) for i in range(min((last - first).days + 1, 366))]
    for d in days:
        insert = dialect_insert(s, daily_sales).values(sku=sku, warehouse=warehouse, day=d, quantity=0,
                                                       stocked_out=True)
        s.execute(insert.on_conflict_do_update(index_elements=["sku", "warehouse", "day"],
                                               set_={"stocked_out": True}))


def record_limits(uow: UnitOfWork, sku: str, warehouse: str, available: int, minimum: int, maximum: int) -> None:
    """low_stock: the position with inventory's minimum and maximum as of the signal."""
    s = uow.session
    values = dict(available=available, minimum=minimum, maximum=maximum, updated_at=clock.now())
    s.execute(dialect_insert(s, stock_positions).values(sku=sku, warehouse=warehouse, in_transit=0, **values)
              .on_conflict_do_update(index_elements=["sku", "warehouse"], set_=values))


# -- terms and rules -----------------------------------------------------------
def terms_of(s, sku: str, warehouse: str) -> replenish.Terms:
    row = s.execute(select(replenishment_terms).where(replenishment_terms.c.sku == sku,
                                                      replenishment_terms.c.warehouse == warehouse)).first()
    if row is None:
        return replenish.Terms()
    return replenish.Terms(lead_time_days=row.lead_time_days, review_period_days=row.review_period_days,
                           safety_stock=int(row.safety_stock), min_order_quantity=int(row.min_order_quantity),
                           order_multiple=int(row.order_multiple), window_days=row.window_days,
                           promotion_factor=float(row.promotion_factor), supplier=row.supplier)


def set_terms(uow: UnitOfWork, sku: str, warehouse: str, terms: replenish.Terms) -> str | None:
    """A buyer's terms for the SKU in the warehouse (checked; the supplier must be known), then the
    SKU evaluated at once. Returns the open suggestion's id, if any."""
    terms.check()
    s, now = uow.session, clock.now()
    if terms.supplier and s.execute(select(suppliers.c.code).where(suppliers.c.code == terms.supplier)).first() is None:
        raise NotFound(f"supplier {terms.supplier!r} not found",
                       [{"field": "supplier", "message": f"unknown supplier {terms.supplier!r}"}])
    values = dict(lead_time_days=terms.lead_time_days, review_period_days=terms.review_period_days,
                  safety_stock=terms.safety_stock, min_order_quantity=terms.min_order_quantity,
                  order_multiple=terms.order_multiple, window_days=terms.window_days,
                  promotion_factor=Decimal(str(terms.promotion_factor)), supplier=terms.supplier,
                  updated_by=uow.actor, updated_at=now)
    s.execute(dialect_insert(s, replenishment_terms).values(sku=sku, warehouse=warehouse, **values)
              .on_conflict_do_update(index_elements=["sku", "warehouse"], set_=values))
    return evaluate(uow, sku, warehouse, now)


def rules_in_force(s) -> tuple[int, rules.RuleSet]:
    """(version, rule set): the newest the merchant put, else the shipped default (version 0)."""
    row = s.execute(select(demand_rule_sets.c.version, demand_rule_sets.c.document)
                    .order_by(demand_rule_sets.c.version.desc()).limit(1)).first()
    return (row.version, demand.compiled(row.version, row.document)) if row else (0, demand.default_rule_set())


def put_rules(uow: UnitOfWork, document: str) -> int:
    """A new demand rule set, checked (refused with the field at fault), in force from now. Returns its version."""
    if len(document or "") > 200_000:
        raise InvalidArgument("the rule set is too long", [{"field": "document", "message": "at most 200000 characters"}])
    rule_set = demand.compile_document(document or "")
    s = uow.session
    version = (s.execute(select(func.max(demand_rule_sets.c.version))).scalar() or 0) + 1
    s.execute(demand_rule_sets.insert().values(version=version, name=rule_set.doc.name, document=rule_set.as_json(),
                                               created_by=uow.actor, created_at=clock.now()))
    return version


def get_rules(s) -> dict:
    version, rule_set = rules_in_force(s)
    return {"version": version, "document": rule_set.as_json()}


# -- evaluation ----------------------------------------------------------------
def _on_order(s, sku: str, warehouse: str) -> int:
    pol, po = purchase_order_lines, purchase_orders
    return int(s.execute(select(func.coalesce(func.sum(pol.c.quantity - pol.c.received), 0))
                         .select_from(pol.join(po, po.c.id == pol.c.purchase_order_id))
                         .where(pol.c.sku == sku, po.c.warehouse == warehouse,
                                po.c.status.in_((domain.OPEN, domain.PARTIALLY_RECEIVED)))).scalar())


def preferred(s, sku: str, warehouse: str, supplier: str | None) -> tuple[str | None, Decimal | None]:
    """(supplier, last price): the terms' supplier, else the one of the SKU's latest purchase order
    (this warehouse's first); the last unit cost that supplier was ordered at (in the books' currency:
    a draft order from suggestions is in it)."""
    pol, po = purchase_order_lines, purchase_orders
    latest = (select(po.c.supplier, pol.c.unit_cost).select_from(pol.join(po, po.c.id == pol.c.purchase_order_id))
              .where(pol.c.sku == sku, po.c.currency == domain.DEFAULT_CURRENCY)
              .order_by((po.c.warehouse == warehouse).desc(), po.c.created_at.desc()).limit(1))
    if supplier:
        latest = latest.where(po.c.supplier == supplier)
    row = s.execute(latest).first()
    return (supplier or (row.supplier if row else None)), (Decimal(row.unit_cost) if row else None)


def explain(s, sku: str, warehouse: str, today: date) -> dict | None:
    """The plan (replenish.plan's terms) for the SKU in the warehouse, with the forecast and the demand
    rules' trace; None where procurement knows nothing of its stock yet."""
    pos = s.execute(select(stock_positions).where(stock_positions.c.sku == sku,
                                                  stock_positions.c.warehouse == warehouse)).first()
    if pos is None:
        return None
    terms = terms_of(s, sku, warehouse)
    version, rule_set = rules_in_force(s)
    rule_window = demand.parameter(rule_set, "window_days")
    oldest = today - timedelta(days=max(terms.window_days, rule_window) - 1)
    rows = s.execute(select(daily_sales.c.day, daily_sales.c.quantity, daily_sales.c.stocked_out).where(
        daily_sales.c.sku == sku, daily_sales.c.warehouse == warehouse, daily_sales.c.day >= oldest)).all()
    sales = {r.day: int(r.quantity) for r in rows}
    stocked_out = {r.day for r in rows if r.stocked_out}
    if pos.out_since is not None:  # still out of stock: the stretch so far
        stocked_out |= {d for d in replenish.window(today, (today - oldest).days + 1) if d >= pos.out_since}
    v, counted, out = replenish.velocity(sales, stocked_out, today, terms.window_days)
    position = replenish.Position(available=int(pos.available), on_order=_on_order(s, sku, warehouse),
                                  in_transit=int(pos.in_transit),
                                  minimum=None if pos.minimum is None else int(pos.minimum),
                                  maximum=None if pos.maximum is None else int(pos.maximum))
    rule_v, _, rule_out = replenish.velocity(sales, stocked_out, today, rule_window)
    horizon, method = demand.parameter(rule_set, "horizon_days"), demand.parameter(rule_set, "method")
    ahead = fc.sales_forecast(method, sales, today, rule_window, horizon, terms.promotion_factor, stocked_out)
    facts = dict(sku=sku, warehouse=warehouse, average_daily_sales=round(rule_v, 4),
                 days_of_cover=round(position.available / rule_v, 4) if rule_v > 0 else demand.NO_SALES_COVER,
                 available=position.available, on_order=position.on_order, in_transit=position.in_transit,
                 net_position=position.net, days_out_of_stock=rule_out,
                 sales_window=sum(q for d, q in sales.items() if d >= today - timedelta(days=rule_window - 1)),
                 forecast=round(ahead.total, 4), lead_time_days=terms.lead_time_days, safety_stock=terms.safety_stock)
    fired, decision = demand.decide(rule_set, facts)
    plan = replenish.plan(position, terms, v, fired)
    plan["window"] = {"days": terms.window_days, "days_counted": counted, "days_out_of_stock": out}
    plan["forecast"] = {"method": ahead.method, "horizon_days": horizon, "units": round(ahead.total, 2),
                        "promotion_factor": ahead.promotion_factor}
    plan["rules"] = {"version": version, "name": rule_set.doc.name, "matched": fired and fired["rule"],
                     "trace": json.loads(rules.dumps(decision.trace))}
    return plan


def evaluate(uow: UnitOfWork, sku: str, warehouse: str, occurred_at: datetime) -> str | None:
    """Open or update the SKU's suggestion in the warehouse from its plan. A trigger that happened
    before the last suggestion was dismissed or ordered opens nothing (a buyer decided on it); an
    older trigger never overwrites a newer one. Returns the open suggestion's id, or None."""
    s, now, t = uow.session, clock.now(), purchase_suggestions
    plan = explain(s, sku, warehouse, now.date())
    if plan is None or plan["quantity"] < 1:
        return None
    key = (t.c.sku == sku) & (t.c.warehouse == warehouse)
    closed_at = s.execute(select(func.max(t.c.closed_at)).where(key, t.c.status != domain.SUGGESTION_OPEN)).scalar()
    if closed_at is not None and occurred_at <= as_utc(closed_at).astimezone(timezone.utc):
        return None
    supplier, last_price = preferred(s, sku, warehouse, plan["terms"]["supplier"])
    latest = dict(available=plan["available"], minimum=plan["minimum"] or 0, maximum=plan["maximum"] or 0,
                  quantity=plan["quantity"], basis=plan["basis"], terms=json.dumps(plan, sort_keys=True),
                  supplier=supplier, last_price=last_price, rule_set_version=plan["rules"]["version"],
                  signalled_at=occurred_at, updated_at=now)
    insert = dialect_insert(s, t).values(id=uuid.uuid4().hex, sku=sku, warehouse=warehouse,
                                         status=domain.SUGGESTION_OPEN, created_at=now, **latest)
    s.execute(insert.on_conflict_do_update(
        index_elements=[t.c.sku, t.c.warehouse], index_where=t.c.status == domain.SUGGESTION_OPEN,
        set_=latest, where=t.c.signalled_at <= occurred_at))
    return s.execute(select(t.c.id).where(key, t.c.status == domain.SUGGESTION_OPEN)).scalar_one()


def take_up(uow: UnitOfWork, purchase_order_id: str, warehouse: str, ordered: dict[str, int]) -> None:
    """A new purchase order takes up the open suggestions of its SKUs in its warehouse: a suggestion
    it covers is ordered; one it covers in part stays open with the rest (its terms say by what)."""
    s, now, t = uow.session, clock.now(), purchase_suggestions
    for row in s.execute(select(t).where(t.c.status == domain.SUGGESTION_OPEN, t.c.warehouse == warehouse,
                                         t.c.sku.in_(sorted(ordered)))).all():
        quantity = ordered[row.sku]
        if quantity >= row.quantity:
            s.execute(update(t).where(t.c.id == row.id).values(
                status=domain.SUGGESTION_ORDERED, purchase_order_id=purchase_order_id, closed_by=uow.actor,
                closed_at=now, updated_at=now))
            continue
        terms = json.loads(row.terms) if row.terms else {}
        terms.setdefault("covered", []).append({"purchase_order_id": purchase_order_id, "quantity": quantity,
                                                "rest": row.quantity - quantity})
        s.execute(update(t).where(t.c.id == row.id).values(
            quantity=row.quantity - quantity, terms=json.dumps(terms, sort_keys=True), updated_at=now))


def draft_order_lines(s, warehouse: str, supplier: str, skus: list[str]) -> list[tuple[str, int, Decimal]]:
    """The open suggestions for the warehouse (of `skus`, or all) that name `supplier` (or none) as
    (sku, quantity, last price from that supplier now); each must have a last price to order at."""
    t = purchase_suggestions
    query = select(t).where(t.c.status == domain.SUGGESTION_OPEN, t.c.warehouse == warehouse).order_by(t.c.sku)
    if skus:
        query = query.where(t.c.sku.in_(sorted(set(skus))))
    rows = [r for r in s.execute(query).all() if r.supplier in (None, supplier)]
    if skus:
        missing = sorted(set(skus) - {r.sku for r in rows})
        if missing:
            raise NotFound(f"no open suggestion for {missing[0]!r} in {warehouse!r} from {supplier!r}",
                           [{"field": "skus", "message": f"no open suggestion for {', '.join(missing)}"}])
    if not rows:
        raise Conflict(f"no open suggestion in {warehouse!r} to order from {supplier!r}",
                       [{"field": "warehouse", "message": "no open suggestion"}])
    lines = []
    for r in rows:
        price = preferred(s, r.sku, warehouse, supplier)[1]  # the latest, not the one when it was suggested
        if price is None:
            raise Conflict(f"{r.sku} has never been ordered from {supplier}: no price to order at",
                           [{"field": "skus", "message": f"{r.sku}: no last price from {supplier}"}])
        lines.append((r.sku, int(r.quantity), Decimal(price)))
    return lines


def day_of(moment: datetime) -> date:
    """The UTC day of a moment."""
    return as_utc(moment).astimezone(timezone.utc).date()
