"""Replenishment in procurement's database: the facts projected from inventory's events (daily sales
from goods_issued, positions from stock_changed and low_stock), the buyer's terms, the demand rule
set in force, and the evaluation that opens or updates a SKU's suggestion with its terms (why this
quantity). The arithmetic is replenish.py's, the forecasts hubkit.forecast's."""
from __future__ import annotations

import json
import uuid
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from types import SimpleNamespace

from sqlalchemy import bindparam, func, select, update

from hubkit import clock, rules
from hubkit import forecast as fc
from hubkit.db import UnitOfWork, as_utc, dialect_insert
from hubkit.errors import Conflict, InvalidArgument, NotFound
from hubkit.sql import many_rows, once_per_dialect
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
_LATEST = ("available", "minimum", "maximum", "quantity", "basis", "terms", "supplier", "last_price",
           "rule_set_version", "signalled_at", "updated_at")  # what a new evaluation updates of an open suggestion


_TERMS = ("lead_time_days", "review_period_days", "safety_stock", "min_order_quantity", "order_multiple",
          "window_days", "promotion_factor", "supplier")


class _Statements:
    """The statements a batch of stock signals runs, built once per dialect with their values given at
    execute (building them and their cache keys per SKU was a good part of the worker's CPU)."""

    def __init__(self, s):
        skus = bindparam("p_skus", expanding=True)
        sales = dialect_insert(s, daily_sales)
        # each run with distinct keys (sku, warehouse[, day]): one multi-row statement per batch
        self.add_sales = many_rows(sales.on_conflict_do_update(
            index_elements=[daily_sales.c.sku, daily_sales.c.warehouse, daily_sales.c.day],
            set_={"quantity": daily_sales.c.quantity + sales.excluded.quantity}))
        self.mark_out = many_rows(sales.on_conflict_do_update(
            index_elements=[daily_sales.c.sku, daily_sales.c.warehouse, daily_sales.c.day],
            set_={"stocked_out": True}))
        position = dialect_insert(s, stock_positions)
        self.put_position = many_rows(position.on_conflict_do_update(
            index_elements=[stock_positions.c.sku, stock_positions.c.warehouse],
            set_={name: position.excluded[name] for name in ("available", "in_transit", "out_since", "updated_at")}))
        self.terms = select(replenishment_terms).where(replenishment_terms.c.sku.in_(skus))
        pol, po = purchase_order_lines, purchase_orders
        self.on_order = (select(pol.c.sku, po.c.warehouse, func.sum(pol.c.quantity - pol.c.received).label("units"))
                         .select_from(pol.join(po, po.c.id == pol.c.purchase_order_id))
                         .where(pol.c.sku.in_(skus), po.c.status.in_((domain.OPEN, domain.PARTIALLY_RECEIVED)))
                         .group_by(pol.c.sku, po.c.warehouse))
        # the positions with their terms and open orders: what an evaluation reads of each, in one statement
        p, t, ordered = stock_positions, replenishment_terms, self.on_order.subquery()
        self.positions = (select(p, *[t.c[name].label(f"terms_{name}") for name in _TERMS],
                                 ordered.c.units.label("on_order"))
                          .select_from(p.outerjoin(t, (t.c.sku == p.c.sku) & (t.c.warehouse == p.c.warehouse))
                                       .outerjoin(ordered, (ordered.c.sku == p.c.sku)
                                                  & (ordered.c.warehouse == p.c.warehouse)))
                          .where(p.c.sku.in_(skus)))
        self.sales = select(daily_sales.c.sku, daily_sales.c.warehouse, daily_sales.c.day, daily_sales.c.quantity,
                            daily_sales.c.stocked_out).where(daily_sales.c.sku.in_(skus),
                                                             daily_sales.c.day >= bindparam("p_oldest"))
        self.rules = (select(demand_rule_sets.c.version, demand_rule_sets.c.document)
                      .order_by(demand_rule_sets.c.version.desc()).limit(1))
        t = purchase_suggestions
        key = (t.c.sku == bindparam("p_sku")) & (t.c.warehouse == bindparam("p_warehouse"))
        self.closed_at = select(func.max(t.c.closed_at)).where(key, t.c.status != domain.SUGGESTION_OPEN)
        self.open_id = select(t.c.id).where(key, t.c.status == domain.SUGGESTION_OPEN)
        suggestion = dialect_insert(s, t)
        self.suggest = suggestion.on_conflict_do_update(  # an older trigger never overwrites a newer one
            index_elements=[t.c.sku, t.c.warehouse], index_where=t.c.status == domain.SUGGESTION_OPEN,
            set_={name: suggestion.excluded[name] for name in _LATEST},
            where=t.c.signalled_at <= suggestion.excluded.signalled_at).returning(t.c.id)
        self.latest_price = (select(po.c.supplier, pol.c.unit_cost)
                             .select_from(pol.join(po, po.c.id == pol.c.purchase_order_id))
                             .where(pol.c.sku == bindparam("p_sku"), po.c.currency == domain.DEFAULT_CURRENCY)
                             .order_by((po.c.warehouse == bindparam("p_warehouse")).desc(), po.c.created_at.desc())
                             .limit(1))
        self.latest_price_from = self.latest_price.where(po.c.supplier == bindparam("p_supplier"))


@once_per_dialect
def _statements(s) -> _Statements:
    return _Statements(s)


def record_sales(uow: UnitOfWork, lines: list[tuple[str, str, date, int]]) -> set[tuple[str, str]]:
    """goods_issued: add each line's units to its SKU's sales in its warehouse on its day (one
    statement for the batch: the lines of one SKU, warehouse and day added up first)."""
    s = uow.session
    added: dict[tuple[str, str, date], int] = {}
    for sku, warehouse, day, quantity in lines:
        added[(sku, warehouse, day)] = added.get((sku, warehouse, day), 0) + quantity
    if added:
        s.execute(_statements(s).add_sales, [dict(sku=sku, warehouse=warehouse, day=day, quantity=quantity,
                                                  stocked_out=False)
                                             for (sku, warehouse, day), quantity in sorted(added.items())])
    return {(sku, warehouse) for sku, warehouse, _, _ in lines}


def record_levels(uow: UnitOfWork, levels: list[tuple[str, str, int, int]], day: date) -> dict:
    """stock_changed: a SKU's available and in-transit units per warehouse. Nothing available opens a
    stretch out of stock (out_since); stock again closes it, marking its days out of stock (the days
    of a stretch still open count as out of stock when the velocity is read). The levels are applied
    in their order, read and written in one statement each for all of them; returns the positions
    as they now are, {(sku, warehouse): row-like dict}."""
    s, now, st = uow.session, clock.now(), _statements(uow.session)
    if not levels:
        return {}
    positions = _positions(s, {sku for sku, _, _, _ in levels})
    marks: set[tuple[str, str, date]] = set()
    touched: list[tuple[str, str]] = []
    for sku, warehouse, available, in_transit in levels:
        before = positions.get((sku, warehouse))
        out_since = before["out_since"] if before else None
        if available <= 0:
            out_since = out_since or day
        elif out_since is not None:
            marks.update((sku, warehouse, d) for d in _days(out_since, day - timedelta(days=1)))
            out_since = None
        positions[(sku, warehouse)] = {**(before or {"sku": sku, "warehouse": warehouse, "minimum": None,
                                                     "maximum": None}),
                                       "available": available, "in_transit": in_transit, "out_since": out_since,
                                       "updated_at": now}
        if (sku, warehouse) not in touched:
            touched.append((sku, warehouse))
    if marks:
        s.execute(st.mark_out, [dict(sku=sku, warehouse=warehouse, day=d, quantity=0, stocked_out=True)
                                for sku, warehouse, d in sorted(marks)])
    s.execute(st.put_position, [{k: positions[key][k] for k in ("sku", "warehouse", "available", "in_transit",
                                                                 "out_since", "updated_at")}
                                for key in sorted(touched)])
    return {key: positions[key] for key in touched}


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range(min((last - first).days + 1, 366))]


def _positions(s, skus) -> dict[tuple[str, str], dict]:
    """The positions of the SKUs, each with its terms ("terms") and the units on order ("on_order")."""
    found = {}
    for r in s.execute(_statements(s).positions, {"p_skus": sorted(skus)}):
        row = r._mapping
        found[(r.sku, r.warehouse)] = {
            **{c.name: row[c.name] for c in stock_positions.columns},
            "terms": _DEFAULT_TERMS if r.terms_lead_time_days is None else _terms(SimpleNamespace(
                **{name: row[f"terms_{name}"] for name in _TERMS})),
            "on_order": int(r.on_order or 0)}
    return found


def record_limits(uow: UnitOfWork, sku: str, warehouse: str, available: int, minimum: int, maximum: int) -> None:
    """low_stock: the position with inventory's minimum and maximum as of the signal."""
    s = uow.session
    values = dict(available=available, minimum=minimum, maximum=maximum, updated_at=clock.now())
    s.execute(dialect_insert(s, stock_positions).values(sku=sku, warehouse=warehouse, in_transit=0, **values)
              .on_conflict_do_update(index_elements=["sku", "warehouse"], set_=values))


# -- terms and rules -----------------------------------------------------------
def _terms(row) -> replenish.Terms:
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
    row = s.execute(_statements(s).rules).first()
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
def preferred(s, sku: str, warehouse: str, supplier: str | None) -> tuple[str | None, Decimal | None]:
    """(supplier, last price): the terms' supplier, else the one of the SKU's latest purchase order
    (this warehouse's first); the last unit cost that supplier was ordered at (in the books' currency:
    a draft order from suggestions is in it)."""
    query, params = _statements(s).latest_price, {"p_sku": sku, "p_warehouse": warehouse}
    if supplier:
        query, params = _statements(s).latest_price_from, {**params, "p_supplier": supplier}
    row = s.execute(query, params).first()
    return (supplier or (row.supplier if row else None)), (Decimal(row.unit_cost) if row else None)


def explain(s, sku: str, warehouse: str, today: date) -> dict | None:
    """The plan (replenish.plan's terms) for the SKU in the warehouse, with the forecast and the demand
    rules' trace; None where procurement knows nothing of its stock yet."""
    return explain_many(s, [(sku, warehouse)], today).get((sku, warehouse))


def explain_many(s, pairs, today: date, positions: dict | None = None, why: bool = True) -> dict:
    """explain for each (sku, warehouse) of `pairs` procurement knows the stock of, {pair: plan}, from
    one read of each kind of fact for all of them (positions, terms, open purchase orders, the rule
    set in force, the sales of the window). `positions`: those just recorded (not read again).
    Without `why`, a plan that orders nothing leaves out the rules' trace (what only an explanation
    needs: the decision is the same)."""
    st, skus = _statements(s), sorted({sku for sku, _ in pairs})
    if positions is None:
        positions = _positions(s, skus)
    known = sorted({pair for pair in pairs if pair in positions})
    if not known:
        return {}
    terms = {pair: positions[pair]["terms"] for pair in known if "terms" in positions[pair]}
    on_order = {pair: positions[pair]["on_order"] for pair in known if "on_order" in positions[pair]}
    new = sorted({sku for sku, warehouse in known if (sku, warehouse) not in on_order})  # just recorded, first time
    if new:
        terms.update({(r.sku, r.warehouse): _terms(r) for r in s.execute(st.terms, {"p_skus": new})})
        on_order.update({(r.sku, r.warehouse): int(r.units) for r in s.execute(st.on_order, {"p_skus": new})})
    version, rule_set = rules_in_force(s)
    rule_window = demand.parameter(rule_set, "window_days")
    oldest = {pair: today - timedelta(days=max(terms.get(pair, _DEFAULT_TERMS).window_days, rule_window) - 1)
              for pair in known}
    sales: dict[tuple[str, str], list] = {pair: [] for pair in known}
    for r in s.execute(st.sales, {"p_skus": skus, "p_oldest": min(oldest.values())}):
        pair = (r.sku, r.warehouse)
        if pair in oldest and r.day >= oldest[pair]:
            sales[pair].append(r)
    return {pair: _plan(pair, today, positions[pair], terms.get(pair, _DEFAULT_TERMS), on_order.get(pair, 0),
                        version, rule_set, sales[pair], oldest[pair], why) for pair in known}


_DEFAULT_TERMS = replenish.Terms()


def _plan(pair: tuple[str, str], today: date, pos: dict, terms: replenish.Terms, on_order: int, version: int,
          rule_set: rules.RuleSet, rows: list, oldest: date, why: bool) -> dict:
    """One SKU's plan in one warehouse from its facts (explain_many's)."""
    sku, warehouse = pair
    rule_window = demand.parameter(rule_set, "window_days")
    sales = {r.day: int(r.quantity) for r in rows}
    stocked_out = {r.day for r in rows if r.stocked_out}
    if pos["out_since"] is not None:  # still out of stock: the stretch so far
        stocked_out |= {d for d in replenish.window(today, (today - oldest).days + 1) if d >= pos["out_since"]}
    v, counted, out = replenish.velocity(sales, stocked_out, today, terms.window_days)
    position = replenish.Position(available=int(pos["available"]), on_order=on_order,
                                  in_transit=int(pos["in_transit"]),
                                  minimum=None if pos["minimum"] is None else int(pos["minimum"]),
                                  maximum=None if pos["maximum"] is None else int(pos["maximum"]))
    since = today - timedelta(days=rule_window - 1)  # the rules' window
    rule_v, _, rule_out = ((v, counted, out) if rule_window == terms.window_days  # the same window: the same figures
                           else replenish.velocity(sales, stocked_out, today, rule_window))
    horizon, method = demand.parameter(rule_set, "horizon_days"), demand.parameter(rule_set, "method")
    ahead = fc.sales_forecast(method, sales, today, rule_window, horizon, terms.promotion_factor, stocked_out)
    facts = dict(sku=sku, warehouse=warehouse, average_daily_sales=round(rule_v, 4),
                 days_of_cover=round(position.available / rule_v, 4) if rule_v > 0 else demand.NO_SALES_COVER,
                 available=position.available, on_order=position.on_order, in_transit=position.in_transit,
                 net_position=position.net, days_out_of_stock=rule_out,
                 sales_window=sum(q for d, q in sales.items() if d >= since),
                 forecast=round(ahead.total, 4), lead_time_days=terms.lead_time_days, safety_stock=terms.safety_stock)
    fired, decision = demand.decide(rule_set, facts)
    plan = replenish.plan(position, terms, v, fired)
    plan["window"] = {"days": terms.window_days, "days_counted": counted, "days_out_of_stock": out}
    plan["forecast"] = {"method": ahead.method, "horizon_days": horizon, "units": round(ahead.total, 2),
                        "promotion_factor": ahead.promotion_factor}
    plan["rules"] = {"version": version, "name": rule_set.doc.name, "matched": fired and fired["rule"]}
    if why or plan["quantity"] >= 1:
        plan["rules"]["trace"] = json.loads(rules.dumps(decision.trace))
    return plan


def evaluate(uow: UnitOfWork, sku: str, warehouse: str, occurred_at: datetime) -> str | None:
    """Open or update the SKU's suggestion in the warehouse from its plan. A trigger that happened
    before the last suggestion was dismissed or ordered opens nothing (a buyer decided on it); an
    older trigger never overwrites a newer one. Returns the open suggestion's id, or None."""
    return evaluate_many(uow, {(sku, warehouse): occurred_at})[(sku, warehouse)]


def evaluate_many(uow: UnitOfWork, triggers: dict[tuple[str, str], datetime],
                  positions: dict | None = None) -> dict[tuple[str, str], str | None]:
    """evaluate for each (sku, warehouse) of `triggers` as of its trigger's moment, their facts read
    together (explain_many; `positions`: those just recorded). The same as evaluating them one after
    the other: what one writes (its suggestion) is no fact of another. {pair: open suggestion id or None}."""
    s, now = uow.session, clock.now()
    plans = explain_many(s, list(triggers), now.date(), positions, why=False)
    return {pair: _suggest(uow, pair, plans.get(pair), triggers[pair], now) for pair in sorted(triggers)}


def _suggest(uow: UnitOfWork, pair: tuple[str, str], plan: dict | None, occurred_at: datetime,
             now: datetime) -> str | None:
    if plan is None or plan["quantity"] < 1:
        return None
    (sku, warehouse), s, st = pair, uow.session, _statements(uow.session)
    closed_at = s.execute(st.closed_at, {"p_sku": sku, "p_warehouse": warehouse}).scalar()
    if closed_at is not None and occurred_at <= as_utc(closed_at).astimezone(timezone.utc):
        return None
    supplier, last_price = preferred(s, sku, warehouse, plan["terms"]["supplier"])
    latest = dict(available=plan["available"], minimum=plan["minimum"] or 0, maximum=plan["maximum"] or 0,
                  quantity=plan["quantity"], basis=plan["basis"], terms=json.dumps(plan, sort_keys=True),
                  supplier=supplier, last_price=last_price, rule_set_version=plan["rules"]["version"],
                  signalled_at=occurred_at, updated_at=now)
    suggested = s.execute(st.suggest, dict(id=uuid.uuid4().hex, sku=sku, warehouse=warehouse,
                                           status=domain.SUGGESTION_OPEN, created_at=now, **latest)).scalar()
    if suggested is not None:
        return suggested
    return s.execute(st.open_id, {"p_sku": sku, "p_warehouse": warehouse}).scalar_one()  # a newer one kept


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
