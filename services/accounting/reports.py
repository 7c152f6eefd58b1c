"""Accounting reports over the posted vouchers: general ledger (总账), account detail (明细账)
and receivable / payable ageing (账龄). Pure queries over a Database.

Money is Decimal to the cent throughout. Sums are taken in the database as whole cents
(integers), so no float is involved even on SQLite, whose NUMERIC storage is binary; single
amounts come back through the Numeric(18, 2) column type as Decimal. Balances are
debit-positive (a credit balance is negative), as in the trial balance."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import BigInteger, and_, case, cast, func, or_, select

from hubkit.ageing import DEFAULT_BUCKETS, bucket_labels, check_buckets
from hubkit.db import Database
from hubkit.errors import FieldErrors, NotFound
from hubkit.money import CENT
from services.accounting import domain
from services.accounting.models import accounts, voucher_lines, vouchers

ZERO = Decimal("0.00")


# -- helpers ----------------------------------------------------------------
def _money(value) -> Decimal:
    """A single Numeric(18, 2) value from the database -> Decimal to the cent."""
    if value is None:
        return ZERO
    if isinstance(value, float):  # never expected: the column type converts; refuse to guess
        raise TypeError("money came back as float")
    return Decimal(value).quantize(CENT)


def _from_cents(value) -> Decimal:
    """A sum of whole cents (int, or Decimal on PostgreSQL) -> Decimal to the cent."""
    return (Decimal(value or 0) / 100).quantize(CENT)


def _cents(column):
    """A money column as whole cents, an integer in SQL on both dialects."""
    return cast(func.round(column * 100), BigInteger)




def _account(session, code: str) -> dict:
    row = session.execute(select(accounts).where(accounts.c.code == code)).first()
    if row is None:
        raise NotFound(f"account {code} not found")
    return dict(row._mapping)


def _number_order():
    """Voucher numbers (记-YYYY-MM-0001) in numeric order, also past 9999 in a period."""
    return func.length(vouchers.c.number), vouchers.c.number


# -- 总账 general ledger -----------------------------------------------------
def general_ledger(db: Database, year: int, account: str = "") -> list[dict]:
    """Per account (every account with a balance or activity, or just `account`) and month of
    `year`: {"account", "name", "period", "opening", "debit", "credit", "closing",
    "year_debit", "year_credit"} (the last two cumulative from January: 本年累计).

    A month is listed when the account has activity or a balance in it. Months run up to the
    extent of the ledger: all twelve for a year before the latest posting's, up to that
    posting's month in its own year, none for a later year. Sorted by account, period."""
    errors = FieldErrors()
    if isinstance(year, bool) or not isinstance(year, int) or not 1 <= year <= 9999:
        errors.add("year", "expected a year, 1 to 9999")
    errors.raise_if_any("invalid year")
    first, last = f"{year:04d}-01", f"{year:04d}-12"
    l, v = voucher_lines, vouchers
    net = _cents(l.c.debit) - _cents(l.c.credit)
    with db.reader() as s:
        if account:
            _account(s, account)
        latest = s.execute(select(func.max(v.c.period))).scalar()
        if latest is None or latest < first:
            return []
        months = 12 if latest > last else int(latest[5:7])

        base = select(l.c.account).join(v, v.c.id == l.c.voucher_id)
        if account:
            base = base.where(l.c.account == account)
        opening_q = (base.add_columns(func.sum(net)).where(v.c.period < first).group_by(l.c.account))
        opening = {a: _from_cents(x) for a, x in s.execute(opening_q).all()}
        within_q = (base.add_columns(v.c.period, func.sum(_cents(l.c.debit)), func.sum(_cents(l.c.credit)))
                    .where(v.c.period >= first, v.c.period <= last).group_by(l.c.account, v.c.period))
        within: dict[str, dict[str, tuple[Decimal, Decimal]]] = {}
        for a, period, debit, credit in s.execute(within_q).all():
            within.setdefault(a, {})[period] = (_from_cents(debit), _from_cents(credit))
        codes = sorted(set(opening) | set(within))
        names = dict(s.execute(select(accounts.c.code, accounts.c.name).where(accounts.c.code.in_(codes))).all()) \
            if codes else {}

    rows = []
    for code in codes:
        balance, year_debit, year_credit = opening.get(code, ZERO), ZERO, ZERO
        for month in range(1, months + 1):
            period = f"{year:04d}-{month:02d}"
            debit, credit = within.get(code, {}).get(period, (ZERO, ZERO))
            year_debit, year_credit = year_debit + debit, year_credit + credit
            closing = balance + debit - credit
            if balance or debit or credit:
                rows.append({"account": code, "name": names.get(code, ""), "period": period, "opening": balance,
                             "debit": debit, "credit": credit, "closing": closing,
                             "year_debit": year_debit, "year_credit": year_credit})
            balance = closing
    return rows


# -- 明细账 account detail ----------------------------------------------------
def account_detail(db: Database, account: str, period: str, aux: str = "") -> dict:
    """One account's postings in `period`, optionally for one counterparty (`aux`):
    {"account", "name", "period", "aux", "opening", "lines": [{"business_date", "voucher_number",
    "voucher_id", "summary", "debit", "credit", "balance", "aux", "cost_centre"}], "debit",
    "credit", "closing"}. Opening from all earlier periods; lines by business date, voucher
    number, line number, each with the running balance (debit-positive)."""
    domain.check_period(period)
    l, v = voucher_lines, vouchers
    where = [l.c.account == account] + ([l.c.aux == aux] if aux else [])
    with db.reader() as s:
        acc = _account(s, account)
        opening = _from_cents(s.execute(
            select(func.sum(_cents(l.c.debit) - _cents(l.c.credit))).join(v, v.c.id == l.c.voucher_id)
            .where(v.c.period < period, *where)).scalar())
        found = s.execute(
            select(v.c.business_date, v.c.number, v.c.id, l.c.summary, l.c.debit, l.c.credit, l.c.aux,
                   l.c.cost_centre)
            .join(v, v.c.id == l.c.voucher_id).where(v.c.period == period, *where)
            .order_by(v.c.business_date, *_number_order(), l.c.line_no)).all()
    balance, total_debit, total_credit, lines = opening, ZERO, ZERO, []
    for business_date, number, voucher_id, summary, debit, credit, line_aux, cost_centre in found:
        debit, credit = _money(debit), _money(credit)
        balance = balance + debit - credit
        total_debit, total_credit = total_debit + debit, total_credit + credit
        lines.append({"business_date": business_date, "voucher_number": number, "voucher_id": voucher_id,
                      "summary": summary, "debit": debit, "credit": credit, "balance": balance,
                      "aux": line_aux or "", "cost_centre": cost_centre or ""})
    return {"account": acc["code"], "name": acc["name"], "period": period, "aux": aux, "opening": opening,
            "lines": lines, "debit": total_debit, "credit": total_credit, "closing": balance}


# -- balances -----------------------------------------------------------------
# accounting's own documents: money in and out, and opening balances (the other vouchers follow a
# business event of another service)
OWN_DOCUMENTS = ("payment", "settlement", "opening")


def balances(db: Database, codes) -> list[dict]:
    """Balances of the accounts `codes` over every posted voucher, per account, cost centre and
    counterparty: [{"account", "cost_centre", "aux", "balance", "own_documents"}] (debit-positive;
    own_documents: the part posted by payments, settlements, opening balances and reversals of
    them), zero ones left out, sorted by account, cost centre, counterparty."""
    l, v = voucher_lines, vouchers
    undone = vouchers.alias("undone")
    net = _cents(l.c.debit) - _cents(l.c.credit)
    own = or_(v.c.kind.in_(OWN_DOCUMENTS), and_(v.c.kind == "reversal", undone.c.kind.in_(OWN_DOCUMENTS)))
    query = (select(l.c.account, l.c.cost_centre, l.c.aux, func.sum(net), func.sum(case((own, net), else_=0)))
             .select_from(l.join(v, v.c.id == l.c.voucher_id).outerjoin(undone, undone.c.id == v.c.reverses))
             .where(l.c.account.in_(sorted(set(codes))))
             .group_by(l.c.account, l.c.cost_centre, l.c.aux).order_by(l.c.account, l.c.cost_centre, l.c.aux))
    with db.reader() as s:
        found = s.execute(query).all()
    rows = [{"account": a, "cost_centre": cc or "", "aux": aux or "", "balance": _from_cents(b),
             "own_documents": _from_cents(o)} for a, cc, aux, b, o in found]
    return [r for r in rows if r["balance"] or r["own_documents"]]


# -- 账龄 ageing ----------------------------------------------------------------
def ageing(db: Database, account: str, as_of: date, buckets=DEFAULT_BUCKETS) -> list[dict]:
    """Receivable (debit-normal account) or payable (credit-normal) ageing per counterparty.

    Open items are the postings that increase the balance; the postings that decrease it settle
    them first-in-first-out (a reversal voucher first settles the item of the voucher it
    reverses). Only postings dated on or before `as_of` count. What remains open is bucketed by
    the age in days of its business date at `as_of`. A decrease with nothing left to settle
    (an overpayment or advance) stays unapplied, counts negative in the bucket of its own date
    and settles later increases first.

    Returns, sorted by balance descending (then counterparty), one dict per counterparty with a
    non-zero balance: {"aux", "balance", "oldest_date", "0-30", "31-60", "61-90", "over-90"}
    (bucket keys as bucket_labels(buckets)); balances are positive in the account's normal
    direction. "oldest_date" is the business date of the oldest open item (None if none)."""
    errors = FieldErrors()
    buckets = check_buckets(buckets, errors)
    errors.raise_if_any("invalid buckets")
    errors = FieldErrors()
    if not isinstance(as_of, date):
        errors.add("as_of", "expected a date")
    errors.raise_if_any("invalid as_of")
    if isinstance(as_of, datetime):
        as_of = as_of.date()
    labels = bucket_labels(buckets)
    l, v = voucher_lines, vouchers
    with db.reader() as s:
        acc = _account(s, account)
        found = s.execute(
            select(l.c.aux, v.c.business_date, v.c.id, v.c.reverses, l.c.debit, l.c.credit)
            .join(v, v.c.id == l.c.voucher_id)
            .where(l.c.account == account, v.c.business_date <= as_of)
            .order_by(l.c.aux, v.c.business_date, *_number_order(), l.c.line_no)).all()
    sign = 1 if acc["normal_balance"] == "debit" else -1

    # per counterparty: open items [voucher_id, date, remaining] and unapplied decreases [date, amount]
    items: dict[str, list[list]] = {}
    unapplied: dict[str, list[list]] = {}
    for aux, business_date, voucher_id, reverses, debit, credit in found:
        amount = (_money(debit) - _money(credit)) * sign  # > 0 increases the balance
        open_items, credits = items.setdefault(aux, []), unapplied.setdefault(aux, [])
        if amount > 0:
            while amount and credits:  # an earlier advance settles this item first
                used = min(amount, credits[0][1])
                amount, credits[0][1] = amount - used, credits[0][1] - used
                if not credits[0][1]:
                    credits.pop(0)
            if amount:
                open_items.append([voucher_id, business_date, amount])
        elif amount < 0:
            amount = -amount
            if reverses:  # a reversal settles the item it reverses before any other
                for item in open_items:
                    if item[0] == reverses and amount:
                        used = min(amount, item[2])
                        amount, item[2] = amount - used, item[2] - used
            for item in open_items:
                if not amount:
                    break
                used = min(amount, item[2])
                amount, item[2] = amount - used, item[2] - used
            items[aux] = [i for i in open_items if i[2]]
            if amount:
                credits.append([business_date, amount])

    def label(day: date) -> str:
        age = (as_of - day).days
        for limit, name in zip(buckets, labels):
            if age <= limit:
                return name
        return labels[-1]

    rows = []
    for aux in items:
        row = {"aux": aux, "balance": ZERO, "oldest_date": None, **{name: ZERO for name in labels}}
        for _voucher_id, day, remaining in items[aux]:
            row[label(day)] += remaining
            row["balance"] += remaining
            if row["oldest_date"] is None or day < row["oldest_date"]:
                row["oldest_date"] = day
        for day, remaining in unapplied.get(aux, []):
            row[label(day)] -= remaining
            row["balance"] -= remaining
        if row["balance"]:
            rows.append(row)
    rows.sort(key=lambda r: (-r["balance"], r["aux"]))
    return rows
