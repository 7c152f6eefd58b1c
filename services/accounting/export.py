"""Vouchers as an .xlsx workbook in the layout accountants import into Kingdee / U8-style
software: one row per voucher line, plus a sheet of the accounts used.

Amounts are written as Decimal (openpyxl stores their exact text), never as float, with a
two-decimal number format; dates are date cells."""
from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import func, select

from hubkit import xlsx
from hubkit.db import Database, as_utc
from hubkit.money import CENT
from services.accounting import domain
from services.accounting.models import accounts, voucher_lines, vouchers

CURRENCY = "CNY"
MONEY_FORMAT = "0.00"
DATE_FORMAT = "yyyy-mm-dd"
VOUCHERS_SHEET = "凭证 Vouchers"
ACCOUNTS_SHEET = "科目 Accounts"

# (header, width); the order is the import layout
COLUMNS = [
    ("凭证日期(Date)", 12),
    ("会计年度(Year)", 10),
    ("会计期间(Period)", 10),
    ("凭证字(Type)", 9),
    ("凭证号(Number)", 10),
    ("分录号(Line)", 9),
    ("摘要(Summary)", 40),
    ("科目代码(Account)", 14),
    ("科目名称(Account name)", 34),
    ("币别(Currency)", 9),
    ("借方金额(Debit)", 16),
    ("贷方金额(Credit)", 16),
    ("核算维度(Aux)", 28),
    ("成本中心(Cost centre)", 18),
    ("制单人(Posted by)", 14),
    ("外部凭证号(Hub voucher number)", 20),
]
HEADERS = [h for h, _ in COLUMNS]
ACCOUNT_COLUMNS = [("科目代码(Account)", 14), ("科目名称(Account name)", 40)]
DEBIT_COL, CREDIT_COL = HEADERS.index("借方金额(Debit)") + 1, HEADERS.index("贷方金额(Credit)") + 1
DATE_COL = 1

_TRAILING_NUMBER = re.compile(r"(\d+)\s*$")
_CHUNK = 500  # vouchers read per query by period_workbook


def _amount(value) -> Decimal:
    if isinstance(value, float):
        raise TypeError("money must not be a float")
    return Decimal(str(value if value not in (None, "") else "0")).quantize(CENT)


def _date(value) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def _sequence(number: str) -> int | None:
    """记-2024-03-0007 -> 7: the voucher's number within its period and type."""
    m = _TRAILING_NUMBER.search(number or "")
    return int(m.group(1)) if m else None


def vouchers_workbook(vouchers: list[dict], accounts: dict[str, str]) -> bytes:
    """The vouchers (as services.accounting.handlers.list_vouchers returns them) as .xlsx bytes:
    sheet "凭证 Vouchers", one row per line under a frozen header, and sheet "科目 Accounts",
    the accounts the lines use (code, name from `accounts`: code -> name)."""
    rows: list[list] = []
    used: set[str] = set()
    fallback: dict[tuple[str, str], int] = {}  # numbers without a trailing sequence: count per period/type
    for v in vouchers:
        period = v["period"]
        year, month = int(period[:4]), int(period[5:7])
        seq = _sequence(v.get("number", ""))
        if seq is None:
            key = (period, v.get("voucher_type", ""))
            fallback[key] = seq = fallback.get(key, 0) + 1
        day = _date(v["business_date"])
        for line in sorted(v.get("lines", []), key=lambda l: l["line_no"]):
            used.add(line["account"])
            rows.append([day, year, month, v.get("voucher_type", ""), seq, line["line_no"], line.get("summary", ""),
                         line["account"], accounts.get(line["account"], ""), CURRENCY,
                         _amount(line.get("debit")), _amount(line.get("credit")), line.get("aux") or "",
                         line.get("cost_centre") or "", v.get("posted_by", ""), v.get("number", "")])
    formats = {DATE_COL: DATE_FORMAT, DEBIT_COL: MONEY_FORMAT, CREDIT_COL: MONEY_FORMAT}
    lines = xlsx.Sheet(VOUCHERS_SHEET, [xlsx.Column(h, w, formats.get(i, "")) for i, (h, w) in enumerate(COLUMNS, 1)],
                       rows)
    used_accounts = xlsx.Sheet(ACCOUNTS_SHEET, [xlsx.Column(h, w) for h, w in ACCOUNT_COLUMNS],
                               [[code, accounts.get(code, "")] for code in sorted(used)])
    return xlsx.workbook([lines, used_accounts], sample=None)


# -- a whole period from the database ---------------------------------------------


def period_vouchers(db: Database, period: str, chunk: int | None = None) -> list[dict]:
    """Every voucher of `period`, in list_vouchers' shape, in number order, read in chunks (no
    1000 cap)."""
    domain.check_period(period)
    chunk = chunk or _CHUNK
    found: list[dict] = []
    with db.reader() as s:
        ids = [r[0] for r in s.execute(
            select(vouchers.c.id).where(vouchers.c.period == period)
            .order_by(vouchers.c.voucher_type, func.length(vouchers.c.number), vouchers.c.number)).all()]
        for start in range(0, len(ids), chunk):
            part = ids[start:start + chunk]
            rows = {r.id: dict(r._mapping) for r in s.execute(select(vouchers).where(vouchers.c.id.in_(part))).all()}
            lines: dict[str, list[dict]] = {}
            for l in s.execute(select(voucher_lines).where(voucher_lines.c.voucher_id.in_(part))
                               .order_by(voucher_lines.c.voucher_id, voucher_lines.c.line_no)).all():
                lines.setdefault(l.voucher_id, []).append(dict(l._mapping))
            for vid in part:
                v = rows[vid]
                v["posted_at"] = as_utc(v["posted_at"])
                v["lines"] = lines.get(vid, [])
                found.append(v)
    return found


def period_workbook(db: Database, period: str) -> bytes:
    """All vouchers of `period` (YYYY-MM) as the import workbook."""
    found = period_vouchers(db, period)
    with db.reader() as s:
        names = dict(s.execute(select(accounts.c.code, accounts.c.name)).all())
    return vouchers_workbook(found, names)
