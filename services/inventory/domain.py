"""Inventory rules: valid codes, quantities and costs."""
from __future__ import annotations

import re
from decimal import Decimal

from hubkit.errors import FieldErrors
from hubkit.money import to_decimal, unit_cost

CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,63}$")
MAX_QUANTITY = 10_000_000
RESERVED, BACKORDERED, ISSUED, RELEASED = "reserved", "backordered", "issued", "released"


def check_code(errors: FieldErrors, field: str, value: str, max_len: int = 64) -> None:
    if not value or not CODE.match(value) or len(value) > max_len:
        errors.add(field, f"required: 1-{max_len} letters, digits, '.', '_' or '-'")


def check_receipt(sku: str, warehouse: str, quantity: int, cost: str) -> Decimal | None:
    """Validate a receipt; return its unit cost (6 places)."""
    errors = FieldErrors()
    check_code(errors, "sku", sku)
    check_code(errors, "warehouse", warehouse, 32)
    if isinstance(quantity, bool) or not isinstance(quantity, int) or not 0 < quantity <= MAX_QUANTITY:
        errors.add("quantity", f"must be a whole number from 1 to {MAX_QUANTITY}")
    value = None
    try:
        value = to_decimal(cost if cost not in (None, "") else "0")
        if value < 0:
            errors.add("unit_cost", "must be >= 0")
        elif value != unit_cost(value):
            errors.add("unit_cost", "at most six decimal places")
    except ValueError as exc:
        errors.add("unit_cost", str(exc))
    errors.raise_if_any("the receipt is invalid")
    return unit_cost(value)


# why goods are received outside a purchase; each is booked against its own account (stock_received)
RECEIPT_REASONS = ("opening", "other", "found", "production")
DEFAULT_RECEIPT_REASON = "opening"  # what a receipt without a reason has always meant: opening stock


def check_receipt_reason(reason: str) -> str:
    """The reason of a receipt outside a purchase; empty means opening stock."""
    reason = reason or DEFAULT_RECEIPT_REASON
    if reason not in RECEIPT_REASONS:
        errors = FieldErrors()
        errors.add("reason", f"one of {', '.join(RECEIPT_REASONS)}")
        errors.raise_if_any("the receipt is invalid")
    return reason


ADJUSTMENT_REASONS = ("count", "scrap", "loss", "expired")


def check_adjustment(sku: str, warehouse: str, quantity: int, reason: str, cost: str) -> Decimal | None:
    """A count difference (either sign) or scrap (a loss); gains may name their unit cost."""
    errors = FieldErrors()
    check_code(errors, "sku", sku)
    check_code(errors, "warehouse", warehouse, 32)
    if reason not in ADJUSTMENT_REASONS:
        errors.add("reason", f"one of {', '.join(ADJUSTMENT_REASONS)}")
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity == 0 or abs(quantity) > MAX_QUANTITY:
        errors.add("quantity", "a non-zero whole number: positive for a gain, negative for a loss")
    elif reason != "count" and quantity > 0:
        errors.add("quantity", f"{reason} takes stock away: the quantity must be negative")
    value = None
    if cost not in (None, ""):
        try:
            value = to_decimal(cost)
            if value < 0 or value != unit_cost(value):
                errors.add("unit_cost", "must be >= 0 with at most six decimal places")
        except ValueError as exc:
            errors.add("unit_cost", str(exc))
    errors.raise_if_any("the adjustment is invalid")
    return unit_cost(value) if value is not None else None


COSTING_METHODS = ("fifo", "average")
RECEIPT_KINDS = ("opening", "found", "other")


def check_quantity(errors: FieldErrors, field: str, quantity, allow_zero: bool = False) -> None:
    low = 0 if allow_zero else 1
    if isinstance(quantity, bool) or not isinstance(quantity, int) or not low <= quantity <= MAX_QUANTITY:
        errors.add(field, f"must be a whole number from {low} to {MAX_QUANTITY}")


def check_serials(errors: FieldErrors, serials: list[str], quantity: int, required: bool) -> None:
    """A serial-tracked SKU names exactly one distinct serial per unit; others name none."""
    if not required:
        if serials:
            errors.add("serials", "this SKU is not serial-tracked")
        return
    if len(serials) != quantity or len(set(serials)) != len(serials):
        errors.add("serials", f"exactly one distinct serial per unit: {quantity} needed, {len(serials)} given")
    for i, serial in enumerate(serials):
        if not CODE.match(serial or ""):
            errors.add(f"serials[{i}]", "1-64 letters, digits, '.', '_' or '-'")


def check_lot(errors: FieldErrors, lot: str, required: bool) -> None:
    if required and not lot:
        errors.add("lot", "this SKU is lot-tracked: name the lot")
    elif not required and lot:
        errors.add("lot", "this SKU is not lot-tracked")
    elif lot and not CODE.match(lot):
        errors.add("lot", "1-64 letters, digits, '.', '_' or '-'")


def check_bin(errors: FieldErrors, field: str, code: str) -> None:
    """'' is the warehouse's unnamed bin; named bins look like A-01-03."""
    if code:
        check_code(errors, field, code, 32)
