"""Stock reports: pure reads over the ledger (stock_movements), the places (place_stock, lots) and
the FIFO cost layers.

Money is Decimal to the cent. Sums of money are taken in the database as whole cents (integers),
so no float is involved even on SQLite, whose NUMERIC storage is binary. Stored times are UTC; a
date given to a report is a day in the merchant's time zone (`tz`), and a date used as a moment
("as of 2024-03-31") means the end of that local day. A naive datetime is read as local time."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import BigInteger, cast, func, literal, select

from hubkit import clock
from hubkit.ageing import DEFAULT_BUCKETS, bucket_labels, check_buckets
from hubkit.db import Database, as_utc
from hubkit.errors import FieldErrors, NotFound
from hubkit.money import CENT, cents, unit_cost
from services.inventory.models import cost_layers, documents, lots, place_stock, skus, stock_movements

ZERO = Decimal("0.00")
ON_HAND_BY = ("bin", "lot", "warehouse")
TURNOVER_BY = ("sku", "category")
MAX_LIMIT = 5000
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
def slow_movers(db: Database, days: int, warehouse: str = "", as_of=None, tz: str | None = None) -> list[dict]:
    """SKUs with stock on hand at the end of `as_of` (a local date; default today) and no `issue`
    (sale) in the `days` days ending that day (as_of - days + 1 .. as_of), in `warehouse` or in
    all warehouses together. Quantity and value are the ledger's at the end of `as_of`.
    Rows: {"sku", "warehouse" (the filter, "" for all), "quantity", "value", "last_issue_on" (the
    local date of the latest sale up to as_of, None if never), "days_since_issue"}; sorted by
    value (most money tied up first), then SKU."""
    errors = FieldErrors()
    _positive_int(days, "days", errors)
    zone = _zone(tz, errors)
    day = _when(as_of, "as_of", errors) if as_of is not None else None
    errors.raise_if_any("invalid slow movers report")
    day = _day_of(day, zone) if day is not None else today(tz)
    window_start = _start_of(day - timedelta(days=days - 1), zone)
    where = [_until(m.c.occurred_at, day, zone), *([m.c.warehouse == warehouse] if warehouse else [])]
    with db.reader() as s:
        held = s.execute(select(m.c.sku, func.sum(m.c.quantity), _cents_sum(m.c.value))
                         .where(*where).group_by(m.c.sku)).all()
        last_issue = dict(s.execute(select(m.c.sku, func.max(m.c.occurred_at))
                                    .where(*where, m.c.kind == "issue").group_by(m.c.sku)).all())
    rows = []
    for sku, quantity, value in held:
        last = as_utc(last_issue.get(sku))
        if int(quantity or 0) <= 0 or (last is not None and last >= window_start):
            continue
        last_on = last.astimezone(zone).date() if last else None
        rows.append({"sku": sku, "warehouse": warehouse, "quantity": int(quantity), "value": _from_cents(value),
                     "last_issue_on": last_on, "days_since_issue": (day - last_on).days if last_on else None})
    rows.sort(key=lambda r: (-r["value"], r["sku"]))
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


def turnover(db: Database, date_from, date_to, by: str = "sku", warehouse: str = "",
             tz: str | None = None) -> dict:
    """Stock turnover over the local days date_from..date_to (inclusive), per SKU or category.

    cogs = cost of goods issued: -sum(value) of `issue` lines in the period (customer returns are
    not netted off). opening / closing = stock value from the ledger (sum of movement value before
    the period's start / end). average = (opening + closing) / 2 to the cent.
    turnover = cogs / average to 2 places (None when average <= 0); days_of_supply = how many days
    the closing stock lasts at the period's daily cogs = closing * days / cogs (None when no cogs).
    {"date_from", "date_to", "days", "by", "rows": [{"key", "cogs", "opening_value",
    "closing_value", "average_value", "turnover", "days_of_supply"}], "total": {...same, key ""}}.
    Rows with neither stock nor issues are left out; sorted by key."""
    errors = FieldErrors()
    if by not in TURNOVER_BY:
        errors.add("by", f"expected one of {', '.join(TURNOVER_BY)}")
    zone = _zone(tz, errors)
    first = _when(date_from, "date_from", errors, dates_only=True)
    last = _when(date_to, "date_to", errors, dates_only=True)
    if first and last and last < first:
        errors.add("date_to", "must not be before date_from")
    errors.raise_if_any("invalid turnover report")
    start, end = _start_of(first, zone), _start_of(last + timedelta(days=1), zone)
    days = (last - first).days + 1
    key = m.c.sku if by == "sku" else skus.c.category

    def value_by(s, *conditions) -> dict:
        query = (select(key, _cents_sum(m.c.value)).select_from(m.join(skus, skus.c.code == m.c.sku))
                 .where(*conditions, *([m.c.warehouse == warehouse] if warehouse else [])).group_by(key))
        return {k: _from_cents(v) for k, v in s.execute(query).all()}

    with db.reader() as s:
        opening = value_by(s, m.c.occurred_at < start)
        closing = value_by(s, m.c.occurred_at < end)
        cogs = {k: -v for k, v in value_by(s, m.c.kind == "issue", m.c.occurred_at >= start,
                                             m.c.occurred_at < end).items()}
    rows = []
    for k in sorted(set(opening) | set(closing) | set(cogs)):
        figures = (cogs.get(k, ZERO), opening.get(k, ZERO), closing.get(k, ZERO))
        if any(figures):
            rows.append({"key": k, **_turnover_row(*figures, days)})
    total = _turnover_row(*(sum((r[f] for r in rows), ZERO) for f in ("cogs", "opening_value", "closing_value")),
                          days)
    return {"date_from": first, "date_to": last, "days": days, "by": by, "rows": rows, "total": {"key": "", **total}}


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
