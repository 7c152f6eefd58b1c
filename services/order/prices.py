"""Sales price lists: what a SKU sells for, by channel and customer tier, from a quantity on, between
two dates. A list is replaced whole by its code. The price that applies to a sale is the line of the
most specific list in force (tier and channel over channel over tier over none), then the one with the
highest minimum quantity not above the quantity; among lists equally specific, the one valid from the
latest day, then the lowest code. Every answer says which list and line, and why (`Price.explanation`).
Review reads it as the fact below_list_price."""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal, InvalidOperation

from sqlalchemy import bindparam, delete, func, select

from hubkit import clock, imports
from hubkit.db import UnitOfWork
from hubkit.errors import FieldErrors, HubError, NotFound
from hubkit.money import CURRENCIES
from services.order.models import price_list_lines, price_lists

CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-/]{0,63}$")  # a SKU's, as inventory's
LIST_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,63}$")  # no /: a list's code is a path segment
MAX_LINES = 10_000
MAX_QUANTITY = 1_000_000_000
SCOPES = {3: "tier_and_channel", 2: "channel", 1: "tier", 0: "any"}


@dataclass(frozen=True)
class Line:
    sku: str
    unit_price: Decimal
    min_quantity: int = 1


@dataclass(frozen=True)
class PriceList:
    code: str
    name: str
    currency: str
    channel: str = ""
    tier: str = ""
    valid_from: date | None = None
    valid_to: date | None = None
    lines: tuple[Line, ...] = ()

    @property
    def specificity(self) -> int:
        return 2 * bool(self.channel) + bool(self.tier)

    def in_force(self, on: date) -> bool:
        return (self.valid_from is None or self.valid_from <= on) and (self.valid_to is None or on <= self.valid_to)

    def applies_to(self, channel: str, tier: str) -> bool:
        return (not self.channel or self.channel == channel) and (not self.tier or self.tier == tier)

    def scope_text(self) -> str:
        parts = [f"tier {self.tier}" if self.tier else "", f"channel {self.channel}" if self.channel else ""]
        return " and ".join(p for p in parts if p) or "every channel and tier"


@dataclass(frozen=True)
class Price:
    price_list: PriceList
    line: Line
    explanation: str
    considered: tuple[str, ...]

    @property
    def scope(self) -> str:
        return SCOPES[self.price_list.specificity]


def _day(value: str, name: str, errors: FieldErrors) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors.add(name, "a date YYYY-MM-DD")
        return None


def checked(code: str, name: str, currency: str, channel: str, tier: str, valid_from: str, valid_to: str,
            lines: Iterable[tuple[str, object, int]], base_currency: str) -> PriceList:
    """A price list as sent, checked whole: InvalidArgument naming every field at fault (lines[i].unit_price)."""
    errors = FieldErrors()
    code, name, channel, tier = code.strip(), name.strip(), channel.strip(), tier.strip()
    currency = currency.strip().upper() or base_currency
    if not LIST_CODE.match(code):
        errors.add("code", "letters, digits, . _ - only, at most 64")
    if not name or len(name) > 200:
        errors.add("name", "required, at most 200 characters")
    if currency not in CURRENCIES:
        errors.add("currency", "an ISO 4217 currency code such as CNY")
    for field, value in (("channel", channel), ("tier", tier)):
        if len(value) > 32:
            errors.add(field, "at most 32 characters")
    start, end = _day(valid_from, "valid_from", errors), _day(valid_to, "valid_to", errors)
    if start and end and end < start:
        errors.add("valid_to", "must not be before valid_from")
    out: list[Line] = []
    seen: dict[tuple[str, int], int] = {}
    for i, (sku, raw_price, min_quantity) in enumerate(lines):
        where = f"lines[{i}]"
        if i >= MAX_LINES:
            errors.add("lines", f"at most {MAX_LINES} lines")
            break
        if not CODE.match(sku or ""):
            errors.add(f"{where}.sku", "a SKU code: letters, digits, . _ - / only, at most 64")
        try:
            price = Decimal(str(raw_price))
        except InvalidOperation:
            price = Decimal(0)
        exponent = price.normalize().as_tuple().exponent if price.is_finite() else 0
        if not price.is_finite() or price <= 0 or price >= Decimal(10) ** 12:
            errors.add(f"{where}.unit_price", "above 0 and below 1000000000000")
        elif isinstance(exponent, int) and exponent < -2:
            errors.add(f"{where}.unit_price", "at most 2 decimal places")
        quantity = max(int(min_quantity), 1)  # 0: from any quantity, as 1
        if quantity > MAX_QUANTITY:
            errors.add(f"{where}.min_quantity", f"at most {MAX_QUANTITY}")
        first = seen.setdefault((sku, quantity), i)
        if first != i:
            errors.add(f"{where}.min_quantity", f"{sku} from {quantity} is already line {first}")
        out.append(Line(sku, price, quantity))
    if not out:
        errors.add("lines", "at least one line")
    errors.raise_if_any(f"price list {code} is invalid")
    return PriceList(code, name, currency, channel, tier, start, end, tuple(sorted(out, key=lambda l: (l.sku, l.min_quantity))))


def resolve(lists: Iterable[PriceList], sku: str, channel: str, tier: str, quantity: int, on: date) -> Price | None:
    """The price that applies, and why; None when no list in force has a line for it (pure: lists given)."""
    quantity = max(quantity, 1)
    candidates = [(pl, line) for pl in lists if pl.in_force(on) and pl.applies_to(channel, tier)
                  for line in pl.lines if line.sku == sku and line.min_quantity <= quantity]
    if not candidates:
        return None

    def rank(c: tuple[PriceList, Line]) -> tuple:
        pl, line = c
        return (-pl.specificity, -line.min_quantity, -(pl.valid_from or date.min).toordinal(), pl.code)
    candidates.sort(key=rank)
    pl, line = candidates[0]
    considered = tuple(f"{p.code} ({p.scope_text()}, from {l.min_quantity}): {l.unit_price} {p.currency}"
                       for p, l in candidates)
    why = (f"{sku} x {quantity} on {on.isoformat()}: {line.unit_price} {pl.currency} from price list {pl.code} "
           f"({pl.name}; {pl.scope_text()}), its line from {line.min_quantity} unit(s)")
    if len(candidates) > 1:
        why += (f"; chosen over {len(candidates) - 1} other line(s) in force: the most specific list wins "
                f"(tier and channel over channel over tier over none), then the highest minimum quantity "
                f"not above {quantity}, then the list valid from the latest day")
    return Price(pl, line, why, considered)


# -- storage ---------------------------------------------------------------------------------------
def _header(row) -> PriceList:
    return PriceList(row.code, row.name, row.currency, row.channel, row.tier, row.valid_from, row.valid_to)


# load's statements, built once (review loads the lists of its orders' SKUs on every stock answer)
_HEADS = select(price_lists).order_by(price_lists.c.code)
_HEADS_OF = _HEADS.where(price_lists.c.code.in_(bindparam("p_codes", expanding=True)))
_LINES_OF = (select(price_list_lines).where(price_list_lines.c.code.in_(bindparam("p_codes", expanding=True)))
             .order_by(price_list_lines.c.code, price_list_lines.c.sku, price_list_lines.c.min_quantity))
_LINES_OF_SKUS = (select(price_list_lines)
                  .where(price_list_lines.c.code.in_(bindparam("p_codes", expanding=True)),
                         price_list_lines.c.sku.in_(bindparam("p_skus", expanding=True)))
                  .order_by(price_list_lines.c.code, price_list_lines.c.sku, price_list_lines.c.min_quantity))


def load(s, codes: Iterable[str] | None = None, skus: Iterable[str] | None = None) -> list[PriceList]:
    """Stored lists (all, or these codes) with their lines (all, or those of these SKUs)."""
    heads = {r.code: _header(r) for r in (s.execute(_HEADS) if codes is None
                                          else s.execute(_HEADS_OF, {"p_codes": sorted(set(codes))}))}
    if not heads:
        return []
    found = (s.execute(_LINES_OF, {"p_codes": sorted(heads)}) if skus is None
             else s.execute(_LINES_OF_SKUS, {"p_codes": sorted(heads), "p_skus": sorted(set(skus))}))
    lines: dict[str, list[Line]] = {}
    for r in found:
        lines.setdefault(r.code, []).append(Line(r.sku, Decimal(r.unit_price).quantize(Decimal("0.01")),
                                                 r.min_quantity))
    return [replace(h, lines=tuple(lines.get(c, ()))) for c, h in heads.items()]


def headers(s) -> list[tuple[PriceList, str, object, int]]:
    """Every list without its lines: (list, updated_by, updated_at, line count)."""
    counts = dict(s.execute(select(price_list_lines.c.code, func.count()).group_by(price_list_lines.c.code)).all())
    return [(_header(r), r.updated_by, r.updated_at, counts.get(r.code, 0))
            for r in s.execute(select(price_lists).order_by(price_lists.c.code))]


def get(s, code: str) -> tuple[PriceList, str, object]:
    row = s.execute(select(price_lists).where(price_lists.c.code == code)).first()
    if row is None:
        raise NotFound(f"no price list {code}")
    return load(s, [code])[0], row.updated_by, row.updated_at


def put(uow: UnitOfWork, pl: PriceList) -> bool:
    """Replace the list `pl.code` whole; False (nothing written) when it already is as given."""
    s = uow.session
    old = load(s, [pl.code])
    if old and old[0] == pl:
        return False
    values = dict(name=pl.name, currency=pl.currency, channel=pl.channel, tier=pl.tier, valid_from=pl.valid_from,
                  valid_to=pl.valid_to, updated_by=uow.actor, updated_at=clock.now())
    if old:
        s.execute(price_lists.update().where(price_lists.c.code == pl.code).values(**values))
        s.execute(delete(price_list_lines).where(price_list_lines.c.code == pl.code))
    else:
        s.execute(price_lists.insert().values(code=pl.code, **values))
    s.execute(price_list_lines.insert(), [dict(code=pl.code, sku=l.sku, min_quantity=l.min_quantity,
                                               unit_price=l.unit_price) for l in pl.lines])
    return True


def price(s, sku: str, channel: str, tier: str, quantity: int, on: date | None) -> Price | None:
    return resolve(load(s, skus=[sku]), sku, channel, tier, quantity, on or clock.today())


# -- import (gateway /imports kind price_lists) ----------------------------------------------------
@dataclass(frozen=True)
class ImportRow:
    """One row of the file: the list's header (empty fields after its first row: as on the first) and a line."""
    code: str
    name: str
    currency: str
    channel: str
    tier: str
    valid_from: str
    valid_to: str
    sku: str
    unit_price: str
    min_quantity: int


HEADER = ("name", "currency", "channel", "tier", "valid_from", "valid_to")


def import_price_lists(uow: UnitOfWork, rows: list[tuple[int, ImportRow]], dry_run: bool,
                       base_currency: str) -> imports.Outcome:
    """A file's price lists, one row per line, rows of a list grouped by its code: each list replaced
    whole as PutPriceList replaces it, all in one transaction or none (hubkit.imports). A row is
    `unchanged` when its list already was as the file says."""
    groups: dict[str, list[tuple[int, ImportRow]]] = {}
    for number, r in rows:
        groups.setdefault(r.code, []).append((number, r))

    def whole(code: str) -> PriceList:
        first = groups[code][0][1]
        return checked(code, first.name, first.currency, first.channel, first.tier, first.valid_from,
                       first.valid_to, [(r.sku, r.unit_price, r.min_quantity) for _, r in groups[code]], base_currency)
    stored = {pl.code: pl for pl in load(uow.session, list(groups))}
    changes: dict[str, bool] = {}
    for code in groups:
        try:
            changes[code] = stored.get(code) != whole(code)
        except HubError:
            changes[code] = True  # refused below, row by row
    last = {code: members[-1][0] for code, members in groups.items()}
    broken: set[str] = set()

    def one(item: tuple[int, ImportRow]) -> bool:
        number, r = item
        first_number, first = groups[r.code][0]
        errors = FieldErrors()
        for field in HEADER:
            mine = getattr(r, field)
            if mine and mine != getattr(first, field):
                errors.add(field, f"differs from row {first_number}, where price list {r.code} starts")
        try:
            errors.raise_if_any()
            # the row's own line checked with the list's header (the row number each refusal names)
            checked(r.code, first.name, first.currency, first.channel, first.tier, first.valid_from,
                    first.valid_to, [(r.sku, r.unit_price, r.min_quantity)], base_currency)
        except HubError:
            broken.add(r.code)  # the whole import is undone: its list is not written on its last row
            raise
        if number == last[r.code] and changes[r.code] and r.code not in broken:
            put(uow, whole(r.code))
        return changes[r.code]
    return imports.apply_rows(uow, ((n, (n, r)) for n, r in rows), one, dry_run, "code")
