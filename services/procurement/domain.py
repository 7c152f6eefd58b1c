"""Procurement rules: valid suppliers and purchase orders, line amounts and VAT,
what a receipt may take, and how received quantities make a purchase order's status."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal

from hubkit.errors import Conflict, FieldErrors, InvalidArgument
from hubkit.money import CURRENCIES, allocate, cents, to_decimal, unit_cost

CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,63}$")  # the SKU code rule (services/inventory/domain.py)
MAX_LINES = 500
MAX_QUANTITY = 10_000_000
DEFAULT_CURRENCY = "CNY"
DEFAULT_VAT_RATE = "0.13"
VAT_PLACES = Decimal("0.0001")
# Amounts stay within 15 significant digits, which every database (SQLite keeps NUMERIC
# as a double) stores exactly: unit costs below 10^9 with 6 places, totals below 10^13.
MAX_UNIT_COST = Decimal("999999999.999999")
MAX_TOTAL = Decimal("9999999999999.99")
MAX_REFERENCE = 128

OPEN, PARTIALLY_RECEIVED, RECEIVED = "open", "partially_received", "received"
ACCEPTED, REFUSED = "accepted", "refused"  # a receipt or return, until inventory refuses it


def check_code(errors: FieldErrors, field: str, value: str, max_len: int = 64) -> None:
    if not value or not CODE.match(value) or len(value) > max_len:
        errors.add(field, f"required: 1-{max_len} letters, digits, '.', '_' or '-'")


def check_supplier(code: str, name: str) -> None:
    errors = FieldErrors()
    check_code(errors, "supplier.code", code)
    if not name or not name.strip() or len(name) > 200:
        errors.add("supplier.name", "required, at most 200 characters")
    errors.raise_if_any("the supplier is invalid")


@dataclass(frozen=True)
class LineInput:
    sku: str
    quantity: int
    unit_cost: str            # excluding VAT, decimal string, at most 6 places
    vat_rate: str = ""        # "" -> DEFAULT_VAT_RATE
    expected_on: str = ""     # YYYY-MM-DD the supplier is to deliver it; "" -> not promised


@dataclass(frozen=True)
class CreatePurchaseOrder:
    supplier: str
    warehouse: str
    lines: list[LineInput]
    currency: str = ""        # "" -> DEFAULT_CURRENCY
    exchange_rate: Decimal | None = None  # to the books' currency, for an order in another (accounting's)


@dataclass(frozen=True)
class Line:
    """A validated purchase order line."""
    line_no: int
    sku: str
    quantity: int
    unit_cost: Decimal        # 6 places
    vat_rate: Decimal         # 4 places
    amount: Decimal           # net, cents(quantity x unit_cost)
    expected_on: date | None = None


def parse_day(errors: FieldErrors, field: str, raw: str) -> date | None:
    """An optional YYYY-MM-DD (from 1900 to 2999); "" -> None."""
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw)
    except (TypeError, ValueError):
        errors.add(field, "expected a date YYYY-MM-DD")
        return None
    if not 1900 <= day.year <= 2999 or len(raw) != 10:
        errors.add(field, "expected a date YYYY-MM-DD from 1900-01-01 to 2999-12-31")
        return None
    return day


def line_amount(quantity: int, cost) -> Decimal:
    """Net amount of a quantity at a unit cost excluding VAT, rounded half-up to the cent."""
    return cents(to_decimal(quantity) * to_decimal(cost))


def line_tax(amount, rate) -> Decimal:
    """Input VAT on a net amount, rounded half-up to the cent."""
    return cents(to_decimal(amount) * to_decimal(rate))


def _is_quantity(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, int) and 0 < value <= MAX_QUANTITY


def _decimal(errors: FieldErrors, field: str, raw, low: Decimal, high: Decimal, places: Decimal,
             high_open: bool, what: str) -> Decimal | None:
    """Parse a decimal string in [low, high] (or [low, high) when high_open) with at most `places`."""
    if raw is None or str(raw).strip() == "":
        errors.add(field, "required")
        return None
    if isinstance(raw, float):
        errors.add(field, "must be a decimal string, not a float")
        return None
    try:
        value = to_decimal(raw)
    except ValueError as exc:
        errors.add(field, str(exc))
        return None
    if value < low or value > high or (high_open and value == high):
        errors.add(field, what)
        return None
    if value != value.quantize(places):
        errors.add(field, f"at most {-int(places.as_tuple().exponent)} decimal places")
        return None
    return value.quantize(places) + 0  # + 0 turns -0 into 0


def parse_unit_cost(errors: FieldErrors, field: str, raw) -> Decimal | None:
    return _decimal(errors, field, raw, Decimal(0), MAX_UNIT_COST, Decimal("0.000001"), False,
                    f"must be from 0 to {MAX_UNIT_COST}")


def parse_vat_rate(errors: FieldErrors, field: str, raw) -> Decimal | None:
    if raw is None or str(raw).strip() == "":
        raw = DEFAULT_VAT_RATE
    return _decimal(errors, field, raw, Decimal(0), Decimal(1), VAT_PLACES, True,
                    "must be at least 0 and below 1")


def validate(cmd: CreatePurchaseOrder) -> tuple[str, list[Line]]:
    """Every problem with the command, each with its field, in one InvalidArgument;
    otherwise (currency, lines with their amounts)."""
    errors = FieldErrors()
    check_code(errors, "supplier", cmd.supplier)
    check_code(errors, "warehouse", cmd.warehouse, 32)
    currency = (cmd.currency or DEFAULT_CURRENCY).strip().upper()
    if currency not in CURRENCIES:
        errors.add("currency", "an ISO 4217 currency code, e.g. CNY")
    if not cmd.lines:
        errors.add("lines", "a purchase order needs at least one line")
    elif len(cmd.lines) > MAX_LINES:
        errors.add("lines", f"at most {MAX_LINES} lines")
    lines = []
    for i, line in enumerate(cmd.lines[:MAX_LINES]):
        check_code(errors, f"lines[{i}].sku", line.sku)
        ok = _is_quantity(line.quantity)
        if not ok:
            errors.add(f"lines[{i}].quantity", f"must be a whole number from 1 to {MAX_QUANTITY}")
        cost = parse_unit_cost(errors, f"lines[{i}].unit_cost", line.unit_cost)
        rate = parse_vat_rate(errors, f"lines[{i}].vat_rate", line.vat_rate)
        expected_on = parse_day(errors, f"lines[{i}].expected_on", line.expected_on)
        if ok and cost is not None and rate is not None:
            lines.append(Line(line_no=i + 1, sku=line.sku, quantity=line.quantity, unit_cost=unit_cost(cost),
                              vat_rate=rate, amount=line_amount(line.quantity, cost), expected_on=expected_on))
    if not errors.items:
        gross = sum((l.amount + line_tax(l.amount, l.vat_rate) for l in lines), start=Decimal("0.00"))
        if gross > MAX_TOTAL:
            errors.add("lines", f"the total including VAT must be at most {MAX_TOTAL}")
    errors.raise_if_any("the purchase order is invalid")
    return currency, lines


def status_of(lines: list[tuple[int, int]]) -> str:
    """(ordered, received) per line -> open | partially_received | received."""
    if all(received >= ordered for ordered, received in lines):
        return RECEIVED
    if any(received > 0 for _, received in lines):
        return PARTIALLY_RECEIVED
    return OPEN


def plan_receipt(purchase_order_id: str, status: str, lines: dict[int, tuple[int, int]],
                 requested: list[tuple[int, int]], reference: str = "") -> list[tuple[int, int]]:
    """What a receipt takes: (line_no, quantity) per line, in line order.

    `lines` maps line_no -> (ordered, received); `requested` is the receipt's
    (line_no, quantity) list, empty for everything still open. Raises Conflict
    for a purchase order already fully received and InvalidArgument (every problem,
    with its field) for an unknown or repeated line, a quantity above what is still
    open on its line, or a reference that is too long."""
    if status == RECEIVED or all(received >= ordered for ordered, received in lines.values()):
        raise Conflict(f"purchase order {purchase_order_id} is already fully received",
                       [{"field": "purchase_order_id", "message": "already fully received"}])
    errors, seen, plan = FieldErrors(), set(), []
    if len(reference or "") > MAX_REFERENCE:
        errors.add("reference", f"at most {MAX_REFERENCE} characters")
    if not requested:
        plan = [(no, ordered - received) for no, (ordered, received) in lines.items() if ordered > received]
    elif len(requested) > MAX_LINES:
        errors.add("lines", f"at most {MAX_LINES} lines")
    for i, (line_no, quantity) in enumerate(requested[:MAX_LINES]):
        if line_no not in lines:
            errors.add(f"lines[{i}].line_no", f"the purchase order has no line {line_no}")
            continue
        if line_no in seen:
            errors.add(f"lines[{i}].line_no", f"line {line_no} is listed more than once")
            continue
        seen.add(line_no)
        ordered, received = lines[line_no]
        still_open = ordered - received
        if not _is_quantity(quantity):
            errors.add(f"lines[{i}].quantity", f"must be a whole number from 1 to {MAX_QUANTITY}")
        elif quantity > still_open:
            errors.add(f"lines[{i}].quantity",
                       f"{quantity} is more than the {still_open} still open on line {line_no}")
        else:
            plan.append((line_no, quantity))
    errors.raise_if_any("the receipt is invalid")
    return sorted(plan)


def check_tracking(plan: list[tuple[int, int]], tracking: dict[int, dict]) -> dict[int, dict]:
    """Where and how each received line arrives: bin, lot, expiry, one serial per unit. Only the
    shapes are checked here; inventory checks them against how each SKU is tracked. Returns the
    non-empty tracking per line_no."""
    errors, quantities, out = FieldErrors(), dict(plan), {}
    for line_no, t in sorted(tracking.items()):
        field = f"lines[line_no={line_no}]"
        t = {k: v for k, v in t.items() if v}
        if not t:
            continue
        if line_no not in quantities:
            errors.add(f"{field}.line_no", f"line {line_no} is not being received")
            continue
        for key, most in (("bin", 32), ("lot", 64)):
            if key in t and (not CODE.match(t[key]) or len(t[key]) > most):
                errors.add(f"{field}.{key}", f"1-{most} letters, digits, '.', '_' or '-'")
        if "expires_on" in t:
            try:
                date.fromisoformat(t["expires_on"])
            except ValueError:
                errors.add(f"{field}.expires_on", "expected YYYY-MM-DD")
            if "lot" not in t:
                errors.add(f"{field}.expires_on", "only a lot has an expiry date")
        serials = t.get("serials") or []
        if serials and (len(serials) != quantities[line_no] or len(set(serials)) != len(serials)
                        or not all(CODE.match(x) for x in serials)):
            errors.add(f"{field}.serials", f"{quantities[line_no]} distinct serials, one per unit received")
        out[line_no] = t
    errors.raise_if_any("the receipt is invalid")
    return out


# -- stock signals from inventory --------------------------------------------------------
SUGGESTION_OPEN, SUGGESTION_ORDERED, SUGGESTION_DISMISSED = "open", "ordered", "dismissed"
SUGGESTION_STATUSES = (SUGGESTION_OPEN, SUGGESTION_ORDERED, SUGGESTION_DISMISSED)
LOT_EXPIRING, LOT_HOLD_CHANGED = "lot_expiring", "lot_hold_changed"
ALERT_KINDS = (LOT_EXPIRING, LOT_HOLD_CHANGED)
HOLD_REASONS = ("quarantine", "expired", "released")
MAX_LIST = 1000


@dataclass(frozen=True)
class LowStock:
    sku: str
    warehouse: str
    available: int
    minimum: int
    maximum: int
    shortfall: int
    occurred_at: datetime


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_time(errors: FieldErrors, field: str, raw) -> datetime | None:
    """An ISO 8601 moment as UTC; a naive one is taken as UTC."""
    try:
        moment = datetime.fromisoformat(raw)
    except (TypeError, ValueError):
        errors.add(field, "an ISO 8601 date and time")
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def _signal_fields(errors: FieldErrors, payload: dict, codes: dict[str, int], ints: tuple = (),
                   non_negative: tuple = ()) -> None:
    for name, max_len in codes.items():
        value = payload.get(name)
        if not isinstance(value, str) or not value or len(value) > max_len:
            errors.add(name, f"required: a code of 1-{max_len} characters")
    for name in ints:
        if not _is_int(payload.get(name)):
            errors.add(name, "a whole number")
        elif name in non_negative and payload[name] < 0:
            errors.add(name, "at least 0")


def parse_low_stock(payload: dict) -> LowStock:
    """The low_stock payload; InvalidArgument (poison: dead-lettered) for a malformed one."""
    errors = FieldErrors()
    _signal_fields(errors, payload, {"sku": 64, "warehouse": 32},
                   ("available", "minimum", "maximum", "shortfall"), ("minimum", "maximum"))
    occurred_at = parse_time(errors, "occurred_at", payload.get("occurred_at"))
    errors.raise_if_any("malformed low_stock event")
    assert occurred_at is not None  # refused above when missing
    return LowStock(sku=payload["sku"], warehouse=payload["warehouse"], available=payload["available"],
                    minimum=payload["minimum"], maximum=payload["maximum"], shortfall=payload["shortfall"],
                    occurred_at=occurred_at)


def alerts_from_signal(kind: str, payload: dict) -> tuple[datetime, list[dict]]:
    """(occurred_at, rows) for a lot_expiring or lot_hold_changed payload: a lot_expiring becomes one
    row per warehouse that holds the lot (one without a warehouse if none is named)."""
    errors = FieldErrors()
    rows = []
    if kind == LOT_EXPIRING:
        _signal_fields(errors, payload, {"sku": 64, "lot": 64}, ("days_left",))
        expires_on = payload.get("expires_on")
        try:
            date.fromisoformat(expires_on or "")  # missing: refused as not a date
        except (TypeError, ValueError):
            errors.add("expires_on", "a date, YYYY-MM-DD")
        quantities = payload.get("quantities")
        if not isinstance(quantities, list):
            errors.add("quantities", "a list of {warehouse, quantity}")
            quantities = []
        for i, q in enumerate(quantities):
            if not isinstance(q, dict) or not isinstance(q.get("warehouse"), str) or not q["warehouse"] \
                    or len(q["warehouse"]) > 32 or not _is_int(q.get("quantity")):
                errors.add(f"quantities[{i}]", "a warehouse code and a whole-number quantity")
                continue
            rows.append({"warehouse": q["warehouse"], "details": {
                "expires_on": expires_on, "days_left": payload.get("days_left"), "quantity": q["quantity"]}})
        if not quantities:
            rows.append({"warehouse": None, "details": {
                "expires_on": expires_on, "days_left": payload.get("days_left"), "quantity": 0}})
    elif kind == LOT_HOLD_CHANGED:
        _signal_fields(errors, payload, {"sku": 64, "lot": 64, "warehouse": 32}, ("quantity",))
        if not isinstance(payload.get("held"), bool):
            errors.add("held", "true or false")
        if payload.get("reason") not in HOLD_REASONS:
            errors.add("reason", f"one of {', '.join(HOLD_REASONS)}")
        note = payload.get("note")
        if note is not None and not isinstance(note, str):
            errors.add("note", "text")
        rows.append({"warehouse": payload.get("warehouse"), "details": {
            "held": payload.get("held"), "reason": payload.get("reason"), "quantity": payload.get("quantity"),
            "note": note or ""}})
    else:
        errors.add("kind", f"one of {', '.join(ALERT_KINDS)}")
    occurred_at = parse_time(errors, "occurred_at", payload.get("occurred_at"))
    errors.raise_if_any(f"malformed {kind} event")
    assert occurred_at is not None  # refused above when missing
    return occurred_at, rows


def check_list_filter(field: str, value: str, allowed: tuple) -> None:
    if value and value not in allowed:
        raise InvalidArgument(f"unknown {field} {value!r}", [{"field": field, "message": f"one of {', '.join(allowed)}"}])


def list_limit(limit: int, default: int = 100) -> int:
    return max(1, min(limit or default, MAX_LIST))


# -- goods before invoice (先货后票): the supplier invoice's three-way match ----------------------
DEFAULT_PRICE_TOLERANCE = Decimal("0.05")  # an invoice price may differ from the order's by 5 % of it


@dataclass(frozen=True)
class InvoiceLineInput:
    line_no: int              # the purchase order line invoiced
    quantity: int
    unit_price: str           # excluding VAT, decimal string, at most 6 places
    vat_rate: str = ""        # "" -> the purchase order line's


@dataclass(frozen=True)
class OpenReceiptLine:
    """What of a purchase order line was received and is still provisional (not yet invoiced)."""
    line_no: int
    sku: str
    unit_cost: Decimal        # the order's price the receipt was booked at
    vat_rate: Decimal
    uninvoiced: int           # received (net of returns) less invoiced


@dataclass(frozen=True)
class MatchedLine:
    line_no: int
    sku: str
    quantity: int
    unit_price: Decimal
    vat_rate: Decimal
    provisional: Decimal      # the receipt's amount at the order's price, reversed off the provisional payable
    amount: Decimal           # the invoice's net amount
    tax: Decimal              # the invoice's input VAT
    difference: Decimal       # amount - provisional: the price difference the goods' cost takes


def match_invoice(open_lines: dict[int, OpenReceiptLine], lines: list[InvoiceLineInput],
                  tolerance: Decimal = DEFAULT_PRICE_TOLERANCE) -> list[MatchedLine]:
    """Three-way match of a supplier invoice: each line names a purchase order line received and not
    yet invoiced, for at most the quantity still provisional, at a price within `tolerance` (a share
    of the order's price) of the order's. Every problem, with its field, in one InvalidArgument;
    nothing is matched unless all lines are."""
    errors, seen, matched = FieldErrors(), set(), []
    if not lines:
        errors.add("lines", "an invoice needs at least one line")
    elif len(lines) > MAX_LINES:
        errors.add("lines", f"at most {MAX_LINES} lines")
    for i, line in enumerate(lines[:MAX_LINES]):
        field = f"lines[{i}]"
        known = open_lines.get(line.line_no) if _is_int(line.line_no) else None
        if known is None:
            errors.add(f"{field}.line_no", f"no received, uninvoiced goods on purchase order line {line.line_no}")
            continue
        if line.line_no in seen:
            errors.add(f"{field}.line_no", f"line {line.line_no} is listed more than once")
            continue
        seen.add(line.line_no)
        price = parse_unit_cost(errors, f"{field}.unit_price", line.unit_price)
        rate = known.vat_rate if not (line.vat_rate or "").strip() else \
            parse_vat_rate(errors, f"{field}.vat_rate", line.vat_rate)
        if not _is_quantity(line.quantity):
            errors.add(f"{field}.quantity", f"must be a whole number from 1 to {MAX_QUANTITY}")
            continue
        if line.quantity > known.uninvoiced:
            errors.add(f"{field}.quantity", f"{line.quantity} is more than the {known.uninvoiced} received and "
                                            f"not yet invoiced on line {line.line_no}")
            continue
        if price is None or rate is None:
            continue
        if abs(price - known.unit_cost) > tolerance * known.unit_cost:
            errors.add(f"{field}.unit_price", f"{price} is more than {tolerance * 100:g} % away from the order's "
                                              f"{known.unit_cost}")
            continue
        provisional, amount = line_amount(line.quantity, known.unit_cost), line_amount(line.quantity, price)
        matched.append(MatchedLine(line_no=line.line_no, sku=known.sku, quantity=line.quantity,
                                   unit_price=unit_cost(price), vat_rate=rate, provisional=provisional,
                                   amount=amount, tax=line_tax(amount, rate), difference=amount - provisional))
    errors.raise_if_any("the supplier invoice matches no received goods within tolerance")
    return sorted(matched, key=lambda m: m.line_no)


# -- landed costs (freight, duty, insurance on a separate bill) ------------------------------------
ALLOCATION_BASES = ("value", "quantity", "weight")
LANDED_CHARGES = ("freight", "duty", "insurance", "other")
MAX_WEIGHT = Decimal("999999999.999")


def parse_weight(errors: FieldErrors, field: str, raw) -> Decimal | None:
    """A receipt line's weight (any unit, the same for every line), at most 3 places."""
    return _decimal(errors, field, raw, Decimal(0), MAX_WEIGHT, Decimal("0.001"), False,
                    f"must be from 0 to {MAX_WEIGHT}")


def allocate_by_units(amount: Decimal, units: list[int]) -> list[Decimal]:
    """An amount over parts of so many units each, adding up to exactly the amount."""
    return allocate(amount, units) if len(units) > 1 else [cents(amount)] * len(units)


@dataclass(frozen=True)
class ReceiptLineBasis:
    line_no: int
    quantity: int
    amount: Decimal           # the line's value at its purchase price
    weight: Decimal = Decimal(0)


def parse_amount(errors: FieldErrors, field: str, raw) -> Decimal | None:
    """A positive amount to the cent (a bill's charge)."""
    value = _decimal(errors, field, raw, Decimal(0), MAX_TOTAL, Decimal("0.01"), False,
                     f"must be from 0.01 to {MAX_TOTAL}")
    if value is not None and value == 0:
        errors.add(field, f"must be from 0.01 to {MAX_TOTAL}")
        return None
    return value


def allocate_landed_cost(amount: Decimal, basis: str, lines: list[ReceiptLineBasis]) -> list[Decimal]:
    """A landed cost's share per receipt line, by the lines' value, quantity or weight, adding up to
    exactly the amount (largest remainder). InvalidArgument for an unknown basis or one every line
    has none of (e.g. no weights)."""
    errors = FieldErrors()
    if basis not in ALLOCATION_BASES:
        errors.add("basis", f"one of {', '.join(ALLOCATION_BASES)}")
    elif not lines:
        errors.add("receipt_id", "the receipt has no lines")
    else:
        weights = [{"value": l.amount, "quantity": Decimal(l.quantity), "weight": l.weight}[basis] for l in lines]
        if any(w < 0 for w in weights) or sum(weights) <= 0:
            errors.add("basis", f"the receipt's lines have no {basis} to share the cost by")
    errors.raise_if_any("the landed cost cannot be allocated")
    return allocate(amount, weights)


def held_and_sold(share: Decimal, received: int, held: int) -> tuple[Decimal, Decimal]:
    """A receipt line's share of a cost change split between its units still held (their cost layers
    absorb it) and those already gone (cost of goods), by units, adding up to exactly the share."""
    if not 0 <= held <= received or received <= 0:
        raise ValueError(f"{held} held of {received} received")
    if held == received:
        return cents(share), Decimal("0.00")
    if held == 0:
        return Decimal("0.00"), cents(share)
    kept, gone = allocate(share, [held, received - held])
    return kept, gone
