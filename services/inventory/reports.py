"""Stock reports: pure reads over the ledger (stock_movements), the places (place_stock, lots) and
the FIFO cost layers.

Money is Decimal to the cent. Sums of money are taken in the database as whole cents (integers),
so no float is involved even on SQLite, whose NUMERIC storage is binary. Stored times are UTC; a
date given to a report is a day in the merchant's time zone (`tz`), and a date used as a moment
("as of 2024-03-31") means the end of that local day. A naive datetime is read as local time."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import BigInteger, case, cast, func, literal, select

from hubkit import clock
from hubkit import forecast as fc
from hubkit.ageing import DEFAULT_BUCKETS, bucket_labels, check_buckets
from hubkit.db import Database, as_utc
from hubkit.errors import FieldErrors, NotFound
from hubkit.money import CENT, cents, unit_cost
from services.inventory.models import cost_layers, documents, lots, place_stock, skus, stock_movements

ZERO = Decimal("0.00")
ON_HAND_BY = ("bin", "lot", "warehouse")
TURNOVER_BY = ("sku", "category", "warehouse")
MAX_LIMIT = 5000
MAX_PERIOD_DAYS = 3660  # a period a report may span: ten years (what the supplier scorecard allows too)
TURNOVER_EXPLAINED = ("average_value = (opening_value + closing_value) / 2; turnover = cogs / average_value; "
                      "days_of_supply = closing_value x days / cogs; cogs = the value of the sales (issues) in "
                      "the period, opening/closing = the ledger's stock value before the first / after the last day")
m = stock_movements


# -- helpers ----------------------------------------------------------------------------------
def _cents_sum(column):
    """SUM of a money column as whole cents: an integer in SQL on both dialects."""
    return func.coalesce(func.sum(cast(func.round(column * 100), BigInteger)), 0)


def _from_cents(value) -> Decimal:
    return (Decimal(value or 0) / 100).quantize(CENT)


def _zone(tz: str | None, errors: FieldErrors):
    """The zone a report is asked in; by default the merchant's (the one clock's)."""
    if tz is None:
        return clock.zone()
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        errors.add("tz", f"unknown time zone {tz!r}")
        return timezone.utc


def _when(value, field: str, errors: FieldErrors, dates_only: bool = False):
    """A date or datetime, or its ISO 8601 text -> date | datetime; None (error noted) otherwise."""
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value) if len(value) == 10 else datetime.fromisoformat(value)
        except ValueError:
            pass
    if isinstance(value, datetime) and not dates_only or type(value) is date:
        return value
    errors.add(field, "expected a date (YYYY-MM-DD)" if dates_only else
               "expected a date (YYYY-MM-DD) or an ISO 8601 time")
    return None


def _day_of(when, zone) -> date:
    """The local date of a moment (a date stays itself)."""
    if isinstance(when, datetime):
        return (when if when.tzinfo else when.replace(tzinfo=zone)).astimezone(zone).date()
    return when


def _start_of(day: date, zone) -> datetime:
    """Local midnight at the start of `day`, in UTC (what the database stores)."""
    return datetime.combine(day, time(), tzinfo=zone).astimezone(timezone.utc)


def _until(column, when, zone):
    """column up to `when`: a moment inclusive, a date to the end of that local day."""
    if isinstance(when, datetime):
        return column <= (when if when.tzinfo else when.replace(tzinfo=zone)).astimezone(timezone.utc)
    return column < _start_of(when + timedelta(days=1), zone)


def today(tz: str | None = None) -> date:
    """Today in the time zone asked (by default the merchant's)."""
    errors = FieldErrors()
    zone = _zone(tz, errors)
    errors.raise_if_any("invalid time zone")
    return datetime.now(zone).date()


def _positive_int(value, field: str, errors: FieldErrors, most: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0 or (most and value > most):
        errors.add(field, f"expected a whole number from 1{f' to {most}' if most else ''}")


# -- on hand ----------------------------------------------------------------------------------
def on_hand(db: Database, warehouse: str = "", sku: str = "", by: str = "bin") -> list[dict]:
    """Units where they lie, from place_stock: per warehouse, SKU, bin and lot (by="bin"), per
    warehouse, SKU and lot across bins (by="lot") or per warehouse and SKU (by="warehouse").
    Rows: {"warehouse", "sku", "bin", "lot", "quantity", "received_at" (earliest arrival),
    "expires_on", "status"}; bin/lot are "" where summed over, expires_on/status come from the
    lot (None / "" without one). Zero rows are left out. Sorted by warehouse, SKU, bin, lot."""
    errors = FieldErrors()
    if by not in ON_HAND_BY:
        errors.add("by", f"expected one of {', '.join(ON_HAND_BY)}")
    errors.raise_if_any("invalid on-hand report")
    p = place_stock
    keys = [p.c.warehouse, p.c.sku, *([p.c.bin] if by == "bin" else []), *([p.c.lot] if by != "warehouse" else [])]
    lot_columns = [lots.c.expires_on, lots.c.status] if by != "warehouse" else []
    query = (select(*keys, *lot_columns, func.sum(p.c.quantity).label("quantity"),
                    func.min(p.c.received_at).label("received_at"))
             .where(p.c.quantity > 0).group_by(*keys, *lot_columns).order_by(*keys))
    if lot_columns:
        query = query.select_from(p.outerjoin(lots, (lots.c.sku == p.c.sku) & (lots.c.lot == p.c.lot)))
    if warehouse:
        query = query.where(p.c.warehouse == warehouse)
    if sku:
        query = query.where(p.c.sku == sku)
    with db.reader() as s:
        found = s.execute(query).mappings().all()
    return [{"warehouse": r["warehouse"], "sku": r["sku"], "bin": r.get("bin", ""), "lot": r.get("lot", ""),
             "quantity": int(r["quantity"]), "received_at": as_utc(r["received_at"]),
             "expires_on": r.get("expires_on"), "status": r.get("status") or ""} for r in found]


# -- movement history (stock card) ------------------------------------------------------------
def movement_history(db: Database, sku: str, warehouse: str = "", limit: int = 500) -> dict:
    """The SKU's ledger lines (in one warehouse, or all), oldest first by occurred_at then id, each
    with the running quantity and value after it. Only the latest `limit` lines are listed; the
    opening balance covers the `omitted` earlier ones, so the running figures stay exact.
    {"sku", "warehouse", "opening_quantity", "opening_value", "omitted", "lines": [{"id",
    "occurred_at", "kind", "document", "warehouse", "bin", "lot", "serial", "reason", "quantity",
    "unit_cost", "value", "reference", "actor", "balance_quantity", "balance_value"}],
    "closing_quantity", "closing_value"}."""
    errors = FieldErrors()
    if not sku:
        errors.add("sku", "required")
    _positive_int(limit, "limit", errors, MAX_LIMIT)
    errors.raise_if_any("invalid movement history")
    where = [m.c.sku == sku, *([m.c.warehouse == warehouse] if warehouse else [])]
    with db.reader() as s:
        if s.execute(select(skus.c.code).where(skus.c.code == sku)).first() is None:
            raise NotFound(f"SKU {sku!r} not found")
        count, quantity, value = s.execute(
            select(func.count(), func.coalesce(func.sum(m.c.quantity), 0), _cents_sum(m.c.value)).where(*where)).one()
        found = s.execute(select(m).where(*where).order_by(m.c.occurred_at.desc(), m.c.id.desc())
                          .limit(limit)).mappings().all()
    found = found[::-1]
    balance_qty = int(quantity) - sum(int(r["quantity"]) for r in found)
    balance_value = _from_cents(value) - sum((cents(r["value"]) for r in found), ZERO)
    result = {"sku": sku, "warehouse": warehouse, "opening_quantity": balance_qty, "opening_value": balance_value,
              "omitted": int(count) - len(found), "lines": []}
    for r in found:
        balance_qty += int(r["quantity"])
        balance_value += cents(r["value"])
        result["lines"].append({
            **{k: r[k] for k in ("id", "kind", "document", "warehouse", "bin", "lot", "serial", "reason",
                                 "reference", "actor")},
            "occurred_at": as_utc(r["occurred_at"]), "quantity": int(r["quantity"]),
            "unit_cost": unit_cost(r["unit_cost"]), "value": cents(r["value"]),
            "balance_quantity": balance_qty, "balance_value": balance_value})
    return {**result, "closing_quantity": balance_qty, "closing_value": balance_value}


# -- ageing -----------------------------------------------------------------------------------
def stock_ageing(db: Database, warehouse: str = "", as_of=None, buckets=DEFAULT_BUCKETS,
                 tz: str | None = None) -> list[dict]:
    """What remains in the FIFO cost layers, per SKU and warehouse, in buckets by the age in days
    of each layer's received_at (local date) at `as_of` (a local date; default today). Layers in
    transit between warehouses are left out (they are in no warehouse until received). The
    remaining quantities are today's: `as_of` only moves the date ages are counted to (a layer
    received after it counts as age 0).
    Rows: {"sku", "warehouse", "quantity", "value", "oldest_received_on", "buckets": [{"label",
    "quantity", "value"}]} with labels as bucket_labels(buckets). Sorted by SKU, warehouse."""
    errors = FieldErrors()
    buckets = check_buckets(buckets, errors)
    zone = _zone(tz, errors)
    day = _when(as_of, "as_of", errors) if as_of is not None else None
    errors.raise_if_any("invalid ageing report")
    day = _day_of(day, zone) if day is not None else today(tz)
    labels = bucket_labels(buckets)
    c = cost_layers
    query = (select(c.c.sku, c.c.warehouse, c.c.remaining, c.c.remaining_value, c.c.received_at)
             .where(c.c.remaining > 0, c.c.in_transit.is_(False)).order_by(c.c.sku, c.c.warehouse, c.c.received_at))
    if warehouse:
        query = query.where(c.c.warehouse == warehouse)
    with db.reader() as s:
        layers = s.execute(query).all()

    rows: dict[tuple[str, str], dict] = {}
    for sku, where, remaining, value, received_at in layers:
        received_on = as_utc(received_at).astimezone(zone).date()
        age = max((day - received_on).days, 0)
        index = next((i for i, limit in enumerate(buckets) if age <= limit), len(buckets))
        row = rows.setdefault((sku, where), {
            "sku": sku, "warehouse": where, "quantity": 0, "value": ZERO, "oldest_received_on": received_on,
            "buckets": [{"label": label, "quantity": 0, "value": ZERO} for label in labels]})
        for target in (row, row["buckets"][index]):
            target["quantity"] += int(remaining)
            target["value"] += cents(value)
        row["oldest_received_on"] = min(row["oldest_received_on"], received_on)
    return list(rows.values())


# -- slow movers ------------------------------------------------------------------------------
def slow_movers(db: Database, days: int, warehouse: str = "", as_of=None, tz: str | None = None,
                per_warehouse: bool = False, min_value=None, min_days_in_stock: int = 0,
                category: str = "") -> list[dict]:
    """SKUs with stock on hand at the end of `as_of` (a local date; default today) and no `issue`
    (sale) in the `days` days ending that day (as_of - days + 1 .. as_of), in `warehouse` or in all
    warehouses together, or per warehouse (`per_warehouse`: a row per SKU and warehouse, a sale
    counting in its own warehouse only). Quantity and value are the ledger's at the end of `as_of`.
    Thresholds: `min_value` (a decimal: rows tying up less money are left out), `min_days_in_stock`
    (rows whose oldest stock is younger are left out); `category` filters the SKUs.
    days_in_stock: days from the local date the oldest unit still on hand arrived (the oldest
    remaining FIFO layer, today's layers as the ageing report reads them) to as_of; None without
    layers (stock that came in with no cost).
    Rows: {"sku", "category", "warehouse" (the row's, or the filter, "" for all), "quantity", "value",
    "last_issue_on" (the local date of the latest sale up to as_of, None if never), "days_since_issue",
    "oldest_received_on", "days_in_stock"}; sorted by value (most money tied up first), then SKU and
    warehouse."""
    errors = FieldErrors()
    _positive_int(days, "days", errors)
    if isinstance(min_days_in_stock, bool) or not isinstance(min_days_in_stock, int) or \
            not 0 <= min_days_in_stock <= MAX_PERIOD_DAYS:
        errors.add("min_days_in_stock", f"expected a whole number from 0 to {MAX_PERIOD_DAYS}")
    threshold = ZERO
    if min_value not in (None, ""):
        try:
            threshold = Decimal(str(min_value))
            if not threshold.is_finite() or threshold < 0 or threshold != threshold.quantize(CENT):
                raise ValueError
        except (ArithmeticError, ValueError):
            errors.add("min_value", "expected an amount of at least 0 with at most 2 decimals")
    zone = _zone(tz, errors)
    day = _when(as_of, "as_of", errors) if as_of is not None else None
    errors.raise_if_any("invalid slow movers report")
    day = _day_of(day, zone) if day is not None else today(tz)
    window_start = _start_of(day - timedelta(days=days - 1), zone)
    keys = [m.c.sku, *([m.c.warehouse] if per_warehouse else [])]
    where = [_until(m.c.occurred_at, day, zone), *([m.c.warehouse == warehouse] if warehouse else []),
             *([skus.c.category == category] if category else [])]
    joined = m.join(skus, skus.c.code == m.c.sku)
    c = cost_layers
    layer_keys = [c.c.sku, *([c.c.warehouse] if per_warehouse else [])]
    with db.reader() as s:
        # one scan of the ledger: what is held, and the last sale
        held = s.execute(select(*keys, skus.c.category, func.sum(m.c.quantity), _cents_sum(m.c.value),
                                func.max(case((m.c.kind == "issue", m.c.occurred_at))))
                         .select_from(joined).where(*where).group_by(*keys, skus.c.category)).all()
        oldest = {tuple(r[:-1]): r[-1] for r in s.execute(
            select(*layer_keys, func.min(c.c.received_at))
            .where(c.c.remaining > 0, c.c.in_transit.is_(False), *([c.c.warehouse == warehouse] if warehouse else []))
            .group_by(*layer_keys)).all()}
    rows = []
    for *key, sku_category, quantity, value, last_sale in held:
        last = as_utc(last_sale)
        amount = _from_cents(value)
        if int(quantity or 0) <= 0 or (last is not None and last >= window_start) or amount < threshold:
            continue
        first_in = as_utc(oldest.get(tuple(key)))
        received_on = first_in.astimezone(zone).date() if first_in else None
        in_stock = max((day - received_on).days, 0) if received_on else None
        if min_days_in_stock and (in_stock is None or in_stock < min_days_in_stock):
            continue
        last_on = last.astimezone(zone).date() if last else None
        rows.append({"sku": key[0], "category": sku_category or "", "warehouse": key[1] if per_warehouse else warehouse,
                     "quantity": int(quantity), "value": amount, "last_issue_on": last_on,
                     "days_since_issue": (day - last_on).days if last_on else None,
                     "oldest_received_on": received_on, "days_in_stock": in_stock})
    rows.sort(key=lambda r: (-r["value"], r["sku"], r["warehouse"]))
    return rows


def stock_by_warehouse(db: Database, slow_days: int) -> dict[tuple[str, bool], dict]:
    """(warehouse, in transit to it) -> {"quantity", "value", "slow_quantity", "slow_value"} from the cost
    layers (what the inventory accounts hold). Slow: units in layers received more than `slow_days` ago
    of a SKU the warehouse has not issued (sold) since then - money tied up in goods that do not move;
    goods in transit are never slow. For the business metrics: no SKU leaves this function."""
    since = clock.now() - timedelta(days=slow_days)
    c = cost_layers
    old = c.c.received_at < since
    with db.reader() as s:
        layers = s.execute(select(c.c.warehouse, c.c.sku, c.c.in_transit, old, func.sum(c.c.remaining),
                                  _cents_sum(c.c.remaining_value))
                           .where(c.c.remaining > 0).group_by(c.c.warehouse, c.c.sku, c.c.in_transit, old)).all()
        moving = set(s.execute(select(m.c.warehouse, m.c.sku).where(m.c.kind == "issue", m.c.occurred_at >= since)
                               .distinct()).tuples())
    out: dict[tuple[str, bool], dict] = {}
    for warehouse, sku, in_transit, aged, quantity, value in layers:
        row = out.setdefault((warehouse, bool(in_transit)), {"quantity": 0, "value": ZERO, "slow_quantity": 0,
                                                             "slow_value": ZERO})
        row["quantity"] += int(quantity)
        row["value"] += _from_cents(value)
        if aged and not in_transit and (warehouse, sku) not in moving:
            row["slow_quantity"] += int(quantity)
            row["slow_value"] += _from_cents(value)
    return out


# -- turnover ---------------------------------------------------------------------------------
def _turnover_row(cogs: Decimal, opening: Decimal, closing: Decimal, days: int) -> dict:
    average = cents((opening + closing) / 2)
    return {"cogs": cogs, "opening_value": opening, "closing_value": closing, "average_value": average,
            "turnover": cents(cogs / average) if average > 0 else None,
            "days_of_supply": cents(closing * days / cogs) if cogs > 0 else None}


def _period(date_from, date_to, errors: FieldErrors) -> tuple[date | None, date | None]:
    """Local days date_from..date_to, both given, in order, at most MAX_PERIOD_DAYS apart."""
    first = _when(date_from, "date_from", errors, dates_only=True)
    last = _when(date_to, "date_to", errors, dates_only=True)
    if first and last and last < first:
        errors.add("date_to", "must not be before date_from (the period is upside down)")
    elif first and last and (last - first).days >= MAX_PERIOD_DAYS:
        errors.add("date_to", f"a period of at most {MAX_PERIOD_DAYS} days")
    return first, last


def turnover(db: Database, date_from, date_to, by: str = "sku", warehouse: str = "",
             tz: str | None = None, category: str = "") -> dict:
    """Stock turnover over the local days date_from..date_to (inclusive, at most MAX_PERIOD_DAYS),
    per SKU, category or warehouse; `warehouse` and `category` filter (both may be given).

    cogs = cost of goods issued: -sum(value) of `issue` lines in the period (customer returns are
    not netted off). opening / closing = stock value from the ledger (sum of movement value before
    the period's start / end). average = (opening + closing) / 2 to the cent.
    turnover = cogs / average to 2 places (None when average <= 0); days_of_supply = how many days
    the closing stock lasts at the period's daily cogs = closing * days / cogs (None when no cogs).
    {"date_from", "date_to", "days", "by", "warehouse", "category", "explanation", "rows": [{"key",
    "cogs", "opening_value", "closing_value", "average_value", "turnover", "days_of_supply"}],
    "total": {...same, key ""}}. Rows with neither stock nor issues are left out; sorted by key."""
    errors = FieldErrors()
    if by not in TURNOVER_BY:
        errors.add("by", f"expected one of {', '.join(TURNOVER_BY)}")
    zone = _zone(tz, errors)
    first, last = _period(date_from, date_to, errors)
    errors.raise_if_any("invalid turnover report")
    assert first is not None and last is not None
    start, end = _start_of(first, zone), _start_of(last + timedelta(days=1), zone)
    days = (last - first).days + 1
    key = {"sku": m.c.sku, "category": skus.c.category, "warehouse": m.c.warehouse}[by]
    filters = [*([m.c.warehouse == warehouse] if warehouse else []), *([skus.c.category == category] if category else [])]

    value = cast(func.round(m.c.value * 100), BigInteger)
    # one scan of the ledger up to the period's end: opening, closing and cogs as sums of cents
    query = (select(key, func.coalesce(func.sum(case((m.c.occurred_at < start, value), else_=0)), 0),
                    func.coalesce(func.sum(value), 0),
                    func.coalesce(func.sum(case(((m.c.kind == "issue") & (m.c.occurred_at >= start), -value),
                                                else_=0)), 0))
             .select_from(m.join(skus, skus.c.code == m.c.sku)).where(m.c.occurred_at < end, *filters)
             .group_by(key))
    with db.reader() as s:
        found = s.execute(query).all()
    rows = []
    for k, opening, closing, cogs in sorted(found, key=lambda r: r[0]):
        figures = (_from_cents(cogs), _from_cents(opening), _from_cents(closing))
        if any(figures):
            rows.append({"key": k, **_turnover_row(*figures, days)})
    total = _turnover_row(*(sum((r[f] for r in rows), ZERO) for f in ("cogs", "opening_value", "closing_value")),
                          days)
    return {"date_from": first, "date_to": last, "days": days, "by": by, "warehouse": warehouse, "category": category,
            "explanation": TURNOVER_EXPLAINED, "rows": rows, "total": {"key": "", **total}}


# -- sales forecast -----------------------------------------------------------------------------
def _units(value: float) -> Decimal:
    return Decimal(repr(value)).quantize(CENT, ROUND_HALF_UP)


FORECAST_PARAMETERS = {"window": int, "alpha": float, "beta": float, "gamma": float, "season_length": int}


def sales_forecast(db: Database, horizon: int, method: str = "moving_average", history_days: int = 30,
                   sku: str = "", warehouse: str = "", category: str = "", as_of=None, tz: str | None = None,
                   params: dict | None = None) -> dict:
    """Per SKU, the units forecast for each of the `horizon` days after `as_of` (a local date; default
    today) by hubkit.forecast.sales_forecast, the function replenishment forecasts with, over the
    SKU's daily sales (`issue` lines, local days) in the `history_days` days up to as_of, in
    `warehouse` or all together. `method` is one of hubkit.forecast.METHODS with its `params` (the
    defaults named in the answer); a moving average without a window averages the whole history.
    Days out of stock are not left out here (the ledger does not say when a shelf was empty;
    replenishment's projection does). SKUs: `sku` (it must exist), else every SKU (of `category`)
    that sold in the history.
    {"as_of", "horizon", "method", "params", "history_days", "history_from", "history_to", "warehouse",
    "rows": [{"sku", "category", "history" (units per day, oldest first), "history_units", "forecast"
    (units per day ahead, 2 places), "total" (2 places)}]} sorted by SKU."""
    errors = FieldErrors()
    _positive_int(horizon, "horizon", errors, fc.MAX_HORIZON)
    _positive_int(history_days, "history_days", errors, fc.MAX_HISTORY)
    if method not in fc.METHODS:
        errors.add("method", f"expected one of {', '.join(fc.METHODS)}")
    given = {k: v for k, v in (params or {}).items() if v is not None}
    for name, value in given.items():
        if method in fc.METHODS and name not in fc.PARAMETERS[method]:
            errors.add(name, f"{method} takes {', '.join(fc.PARAMETERS[method])}, not {name}")
        elif name not in FORECAST_PARAMETERS or isinstance(value, bool) or \
                not isinstance(value, (int, float) if FORECAST_PARAMETERS[name] is float else int):
            errors.add(name, "expected a number" if FORECAST_PARAMETERS.get(name) is float else "expected a whole number")
    zone = _zone(tz, errors)
    day = _when(as_of, "as_of", errors, dates_only=True) if as_of is not None else None
    errors.raise_if_any("invalid sales forecast")
    try:  # the method's own limits (alpha 0..1, window >= 1, season >= 2), said as the field
        fc.forecast(method, [], 1, **given)
    except ValueError as exc:
        wrong = next((n for n in given if str(exc).startswith(n)), "method")
        errors.add(wrong, str(exc))
    errors.raise_if_any("invalid sales forecast")
    day = _day_of(day, zone) if day is not None else today(tz)
    first = day - timedelta(days=history_days - 1)
    where = [m.c.kind == "issue", m.c.occurred_at >= _start_of(first, zone),
             m.c.occurred_at < _start_of(day + timedelta(days=1), zone),
             *([m.c.warehouse == warehouse] if warehouse else []), *([skus.c.category == category] if category else []),
             *([m.c.sku == sku] if sku else [])]
    with db.reader() as s:
        categories = dict(s.execute(select(skus.c.code, skus.c.category)
                                    .where(*([skus.c.code == sku] if sku else []))).all()) if sku else {}
        if sku and sku not in categories:
            raise NotFound(f"SKU {sku!r} not found")
        found = s.execute(select(m.c.sku, skus.c.category, m.c.occurred_at, m.c.quantity)
                          .select_from(m.join(skus, skus.c.code == m.c.sku)).where(*where)).all()
    named = sku and (not category or categories[sku] == category)
    sales: dict[str, dict[date, float]] = {sku: {}} if named else {}
    for code, sku_category, at, quantity in found:
        categories[code] = sku_category
        daily = sales.setdefault(code, {})
        local = as_utc(at).astimezone(zone).date()
        daily[local] = daily.get(local, 0) - int(quantity)  # an issue's quantity is negative
    rows, used = [], dict(given)
    for code in sorted(sales):
        ahead = fc.sales_forecast(method, sales[code], day, history_days, horizon, **given)
        used = ahead.params
        rows.append({"sku": code, "category": categories.get(code) or "", "history": [int(v) for v in ahead.history],
                     "history_units": int(sum(ahead.history)),
                     "forecast": [_units(v) for v in ahead.values], "total": _units(ahead.total)})
    if not rows:  # the parameters in force all the same
        used = fc.sales_forecast(method, {}, day, history_days, 1, **given).params
    return {"as_of": day, "horizon": horizon, "method": method, "params": used, "history_days": history_days,
            "history_from": first, "history_to": day, "warehouse": warehouse, "rows": rows}


# -- value at a moment ------------------------------------------------------------------------
def stock_value_at(db: Database, as_of, warehouse: str = "", tz: str | None = None) -> list[dict]:
    """Quantity and value per warehouse and SKU at `as_of` from the ledger: the sums of movement
    quantity and value up to it (a datetime, inclusive; a local date: to the end of that day).
    Goods shipped by a transfer and not yet received by then are rows of their destination with
    "in_transit" True, at the value that left the source. Rows: {"warehouse", "sku", "quantity",
    "value", "in_transit"}, zero rows left out, on hand first, each part sorted by warehouse, SKU."""
    errors = FieldErrors()
    zone = _zone(tz, errors)
    when = _when(as_of, "as_of", errors)
    errors.raise_if_any("invalid stock value report")
    until = _until(m.c.occurred_at, when, zone)
    query = (select(m.c.warehouse, m.c.sku, func.sum(m.c.quantity), _cents_sum(m.c.value))
             .where(until, *([m.c.warehouse == warehouse] if warehouse else []))
             .group_by(m.c.warehouse, m.c.sku).order_by(m.c.warehouse, m.c.sku))
    # a transfer's out and in movements cancel once both happened: what is left of them is on the road
    d = documents
    transit = (select(d.c.to_warehouse, m.c.sku, -func.sum(m.c.quantity), -_cents_sum(m.c.value))
               .join(d, m.c.document == literal("transfer:").concat(d.c.id))
               .where(until, m.c.kind.in_(("transfer_out", "transfer_in")), d.c.kind == "transfer",
                      *([d.c.to_warehouse == warehouse] if warehouse else []))
               .group_by(d.c.to_warehouse, m.c.sku).order_by(d.c.to_warehouse, m.c.sku))
    with db.reader() as s:
        found = [(row, False) for row in s.execute(query).all()] + [(row, True) for row in s.execute(transit).all()]
    rows = [{"warehouse": w, "sku": sku, "quantity": int(q or 0), "value": _from_cents(v), "in_transit": t}
            for (w, sku, q, v), t in found]
    return [r for r in rows if r["quantity"] or r["value"]]
