"""The sales KPIs over the sales facts (services.accounting.facts, written with each voucher): the
sales and gross margin trend by day, week or month, or by channel, shop, SKU, category or region;
and the customers' ABC (Pareto) classes by revenue or by margin.

Every amount is a sum of facts the vouchers wrote, taken in the database as whole cents, so over a
period the report's revenue, cost of goods and commissions are exactly what the trial balance shows
on the revenue (6001), cost of goods (6401) and platform fees (6601) accounts."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import String, and_, bindparam, case, cast, func, literal, select, update

from hubkit import xlsx
from hubkit.db import Database
from hubkit.errors import FieldErrors, check_days
from hubkit.money import CENT
from hubkit.sql import cents_sum
from services.accounting.facts import Fact
from services.accounting.models import sales_facts

ZERO = Decimal("0.00")
HUNDRED = Decimal(100)
MAX_SPAN_DAYS = 3 * 366  # a report covers at most about three years
MAX_ROWS = 10_000        # rows of one report (the total always covers every row)
TIME_GRAINS = ("day", "week", "month")
DIMENSIONS = ("channel", "shop", "sku", "category", "region")
FILTERS = DIMENSIONS
ABC_MEASURES = ("revenue", "margin")
_INSERT = sales_facts.insert()


# -- writing (in the voucher's transaction) ------------------------------------------------------
_DIMS = ("channel", "shop", "region", "customer")
# the statements of every posting, built once (values at execute): building them per voucher cost more
# than running them
_f = sales_facts.c
_SOLD = select(_f.order_id, _f.line_no, _f.sku, _f.category, *(_f[d] for d in _DIMS)).where(
    _f.order_id.in_(bindparam("p_orders", expanding=True)), _f.kind == "sale")
_PENDING = select(_f.id, _f.order_id, _f.line_no, _f.sku).where(
    _f.order_id.in_(bindparam("p_orders", expanding=True)), _f.dims_pending)
_FILL = update(sales_facts).where(_f.id == bindparam("p_id"))  # the dimensions given at execute


def record(s, voucher_id: str, day: date, rows: list[Fact]) -> None:
    """Write a voucher's facts. A line booked before its order's sale (a cost, a return, a refund that
    overtook order_shipped on the bus) takes its dimensions from the sale's facts when they are there,
    and keeps them pending until the sale's facts fill them in otherwise."""
    record_many(s, [(voucher_id, day, rows)])


def record_many(s, vouchers: list[tuple[str, date, list[Fact]]]) -> None:
    """`record` for the (voucher id, day, facts) of a batch of vouchers: the sales' dimensions read,
    the facts written, and the pending facts of the orders sold filled in, with one statement each."""
    entries = [(voucher_id, day, f) for voucher_id, day, rows in vouchers for f in rows]
    if not entries:
        return
    sold: dict[str, list] = {}
    if any(f.dims_pending for _, _, f in entries):
        for r in s.execute(_SOLD, {"p_orders": sorted({f.order_id for _, _, f in entries if f.order_id})}):
            sold.setdefault(r.order_id, []).append(r)
    values = []
    for voucher_id, day, f in entries:
        row = asdict(f)
        if f.dims_pending and sold.get(f.order_id):
            row.update(_dims_from(sold[f.order_id], f.line_no, f.sku), dims_pending=False)
        values.append({**row, "voucher_id": voucher_id, "day": day})
    s.execute(_INSERT, values)
    _fill_pending(s, sorted({f.order_id for _, _, f in entries if f.kind == "sale" and f.order_id}))


def _dims_from(sold: list, line_no: int, sku: str) -> dict:
    """The order's dimensions from its sale facts; the category of the same line (else of the same SKU)."""
    line = next((r for r in sold if r.line_no == line_no and r.sku == sku), None) or \
        next((r for r in sold if r.sku == sku), None)
    return {**{d: getattr(sold[0], d) for d in _DIMS}, "category": line.category if line else ""}


def _fill_pending(s, order_ids: list[str]) -> None:
    """The facts of these orders booked before their sale take the sale's dimensions."""
    if not order_ids:
        return
    pending = s.execute(_PENDING, {"p_orders": order_ids}).all()
    if not pending:
        return
    sold: dict[str, list] = {}
    for r in s.execute(_SOLD, {"p_orders": sorted({p.order_id for p in pending})}):
        sold.setdefault(r.order_id, []).append(r)
    fills = [{"p_id": p.id, **_dims_from(sold[p.order_id], p.line_no, p.sku), "dims_pending": False}
             for p in pending if sold.get(p.order_id)]
    if fills:
        s.execute(_FILL, fills)


def record_reversal(s, voucher_id: str, day: date, reversed_id: str) -> None:
    """A reversal's facts: those of the voucher it reverses, negated, on the reversal's day."""
    columns = [c for c in sales_facts.c if c.name not in ("id", "voucher_id", "day")]
    original = s.execute(select(*columns).where(sales_facts.c.voucher_id == reversed_id)
                         .order_by(sales_facts.c.id)).all()
    if original:
        record(s, voucher_id, day, [Fact(**{k: v for k, v in r._mapping.items()}).negated() for r in original])


# -- checking a request --------------------------------------------------------------------------
def check_period(start: str, end: str) -> tuple[date, date]:
    return check_days(start, end, MAX_SPAN_DAYS)


def _check_by(errors: FieldErrors, by: str, allowed: tuple[str, ...]) -> None:
    if by not in allowed:
        errors.add("by", f"one of {', '.join(allowed)}")


def check_boundaries(a: str, b: str) -> tuple[Decimal, Decimal]:
    """ABC class boundaries in percent of the cumulative measure: 0 < a < b <= 100."""
    errors, values = FieldErrors(), {}
    for name, raw in (("a", a), ("b", b)):
        try:
            value = Decimal(raw)
            if not value.is_finite():
                raise ValueError
        except (ArithmeticError, TypeError, ValueError):
            errors.add(name, "a percentage such as 80")
            continue
        if not ZERO < value <= HUNDRED:
            errors.add(name, "a percentage above 0 and at most 100")
        values[name] = value
    if not errors.items and values["a"] >= values["b"]:
        errors.add("b", f"the B boundary must be above the A boundary ({a})")
    errors.raise_if_any("the class boundaries are invalid")
    return values["a"], values["b"]


# -- the sales and margin trend ------------------------------------------------------------------
def _bucket(s, by: str):
    f = sales_facts.c
    if by == "day":
        return cast(f.day, String)
    postgres = s.get_bind().dialect.name == "postgresql"
    if by == "month":
        return func.to_char(f.day, "YYYY-MM") if postgres else func.strftime("%Y-%m", f.day)
    # the ISO week's Monday
    return func.to_char(func.date_trunc("week", f.day), "YYYY-MM-DD") if postgres else \
        func.date(f.day, "weekday 0", "-6 days")


def _cents(s):
    """SUM as whole cents: PostgreSQL sums NUMERIC exactly (rounding each row first only costs time);
    SQLite's NUMERIC is binary, so each row is taken as integer cents there."""
    if s.get_bind().dialect.name == "postgresql":
        return lambda column: func.coalesce(func.sum(column), 0) * 100
    return cents_sum


def _columns(s):
    f, kind, total = sales_facts.c, sales_facts.c.kind, _cents(s)

    def of(k, column):
        return total(case((kind == k, column)))
    return [func.count(func.distinct(case((kind == "sale", f.order_id)))).label("orders"),
            func.coalesce(func.sum(case((kind.in_(("sale", "return")), f.quantity), else_=literal(0))), 0).label("units"),
            of("sale", f.list_amount).label("list_sales"), of("sale", f.revenue).label("sales"),
            of("return", f.revenue).label("returns"), of("refund", f.revenue).label("refunds"),
            of("rma_refund", f.revenue).label("rma_refunds"), total(f.revenue).label("revenue"),
            total(f.commission).label("commissions"), total(f.cogs).label("cogs")]


def _money(value) -> Decimal:
    return (Decimal(value or 0) / 100).quantize(CENT)


def _percent(part: Decimal, whole: Decimal) -> Decimal | None:
    return None if not whole else (HUNDRED * part / whole).quantize(CENT, ROUND_HALF_UP)


def _row(key: str, r) -> dict:
    money = {k: _money(getattr(r, k)) for k in ("list_sales", "sales", "returns", "refunds", "rma_refunds",
                                                 "revenue", "commissions", "cogs")}
    for k in ("returns", "refunds", "rma_refunds"):  # given back: shown positive
        money[k] = -money[k]
    net = money["revenue"] - money["commissions"]
    margin = net - money["cogs"]
    return {"key": key, "orders": int(r.orders or 0), "units": int(r.units or 0), **money,
            "discounts": money["list_sales"] - money["sales"], "net_revenue": net, "margin": margin,
            "margin_pct": _percent(margin, net)}


def sales_report(db: Database, start: str, end: str, by: str, filters: dict[str, str]) -> dict:
    """Per `by` (a time grain or a dimension) over start..end: orders, units, sales at list price,
    discounts, sales, returns, refunds (refund only; RMA), revenue (the books' 6001), commissions
    (6601), net revenue, cost of goods (6401), margin and margin %; and the total over every row."""
    errors = FieldErrors()
    _check_by(errors, by, TIME_GRAINS + DIMENSIONS)
    errors.raise_if_any("invalid report dimension")
    first, last = check_period(start, end)
    f = sales_facts.c
    where = [f.day >= first, f.day <= last] + [f[k] == v for k, v in sorted(filters.items()) if v]
    with db.reader() as s:
        key = _bucket(s, by) if by in TIME_GRAINS else f[by]
        rank = [key] if by in TIME_GRAINS else [_cents(s)(f.revenue).desc(), key]
        if s.get_bind().dialect.name == "postgresql":  # one pass: the total is the rollup's row, first
            rolled = s.execute(select(func.grouping(key).label("is_total"), key.label("key"), *_columns(s))
                               .where(and_(*where)).group_by(func.rollup(key))
                               .order_by(func.grouping(key).desc(), *rank).limit(MAX_ROWS + 2)).all()
            total, found = rolled[0], rolled[1:]
        else:
            found = s.execute(select(key.label("key"), *_columns(s)).where(and_(*where)).group_by(key)
                              .order_by(*rank).limit(MAX_ROWS + 1)).all()
            total = s.execute(select(*_columns(s)).where(and_(*where))).one()
        omitted = 0 if len(found) <= MAX_ROWS else \
            s.execute(select(func.count(func.distinct(key))).where(and_(*where))).scalar_one() - MAX_ROWS
    rows = [_row(str(r.key or ""), r) for r in found[:MAX_ROWS]]
    return {"from": first.isoformat(), "to": last.isoformat(), "by": by, "rows": rows,
            "omitted": omitted, "total": _row("", total)}


SALES_COLUMNS = [("key", 22), ("orders", 10), ("units", 10), ("list_sales", 14), ("discounts", 14), ("sales", 14),
                 ("returns", 14), ("refunds", 14), ("rma_refunds", 14), ("revenue", 14), ("commissions", 14),
                 ("net_revenue", 14), ("cogs", 14), ("margin", 14), ("margin_pct", 12)]


def sales_workbook(report: dict) -> bytes:
    body = [[r[c] if r[c] is not None else "" for c, _ in SALES_COLUMNS] for r in report["rows"]]
    body.append(["total"] + [report["total"][c] if report["total"][c] is not None else ""
                             for c, _ in SALES_COLUMNS[1:]])
    title = f"sales by {report['by']}"
    return xlsx.table(title, [(report["by"] if c == "key" else c, w) for c, w in SALES_COLUMNS], body,
                      {i: "#,##0.00" for i in range(3, len(SALES_COLUMNS))})


# -- customer ABC --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Ranked:
    key: str
    value: Decimal
    share: Decimal | None       # percent of the total of the positive values, 2 places
    cumulative: Decimal | None  # percent up to and including this one
    grade: str


def classify(values: list[tuple[str, Decimal]], a: Decimal, b: Decimal) -> list[Ranked]:
    """Pareto classes: sorted by value, largest first (ties by key). Class A is the smallest set of top
    customers that together reach a% of the total (the one that reaches it included), B those after
    them up to b%, C the rest; a customer whose value is zero or less is C. The total is that of the
    positive values; comparisons are exact, only the shown percentages are rounded."""
    ranked = sorted(values, key=lambda kv: (-kv[1], kv[0]))
    total = sum((v for _, v in ranked if v > 0), ZERO)
    out, before = [], ZERO
    for key, value in ranked:
        if value <= 0 or not total:
            grade = "C"
        elif before * HUNDRED < a * total:
            grade = "A"
        elif before * HUNDRED < b * total:
            grade = "B"
        else:
            grade = "C"
        if value > 0:
            before += value
        out.append(Ranked(key, value, _percent(value, total) if total else None,
                          _percent(before, total) if total else None, grade))
    return out


def customer_abc(db: Database, start: str, end: str, by: str, a: str, b: str, filters: dict[str, str]) -> dict:
    """Customers over start..end with their revenue, cost of goods and margin (revenue less cost of
    goods: commissions are known per shop, not per buyer) and their class by `by`."""
    errors = FieldErrors()
    _check_by(errors, by, ABC_MEASURES)
    errors.raise_if_any("invalid measure")
    first, last = check_period(start, end)
    low, high = check_boundaries(a, b)
    f = sales_facts.c
    where = [f.day >= first, f.day <= last] + [f[k] == v for k, v in sorted(filters.items()) if v]
    with db.reader() as s:
        found = s.execute(select(f.customer, _cents(s)(f.revenue), _cents(s)(f.cogs),
                                 func.count(func.distinct(case((f.kind == "sale", f.order_id)))))
                          .where(and_(*where)).group_by(f.customer)).all()
    amounts = {r[0]: (_money(r[1]), _money(r[2]), int(r[3] or 0)) for r in found}
    unattributed = amounts.pop("", (ZERO, ZERO, 0))
    measure = {k: (rev if by == "revenue" else rev - cogs) for k, (rev, cogs, _) in amounts.items()}
    ranked = classify(list(measure.items()), low, high)
    rows = [{"customer": r.key, "orders": amounts[r.key][2], "revenue": amounts[r.key][0],
             "cogs": amounts[r.key][1], "margin": amounts[r.key][0] - amounts[r.key][1], "value": r.value,
             "share": r.share, "cumulative_share": r.cumulative, "grade": r.grade} for r in ranked]
    classes = [{"grade": g, "customers": sum(1 for r in rows if r["grade"] == g),
                "value": sum((r["value"] for r in rows if r["grade"] == g), ZERO)} for g in "ABC"]
    return {"from": first.isoformat(), "to": last.isoformat(), "by": by, "a": low, "b": high,
            "rows": rows[:MAX_ROWS], "omitted": max(0, len(rows) - MAX_ROWS), "classes": classes,
            "unattributed_revenue": unattributed[0], "unattributed_cogs": unattributed[1]}


ABC_COLUMNS = [("customer", 28), ("grade", 8), ("orders", 10), ("revenue", 14), ("cogs", 14), ("margin", 14),
               ("value", 14), ("share", 10), ("cumulative_share", 16)]


def abc_workbook(report: dict) -> bytes:
    body = [[r[c] if r[c] is not None else "" for c, _ in ABC_COLUMNS] for r in report["rows"]]
    summary = [[c["grade"], c["customers"], c["value"]] for c in report["classes"]]
    return xlsx.table(f"customers by {report['by']}", ABC_COLUMNS, body, {i: "#,##0.00" for i in range(3, 9)},
                      extra=(("classes", [("grade", 8), ("customers", 12), ("value", 14)], summary),))
