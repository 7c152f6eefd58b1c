"""Order rules: what a valid order is, and how line reservations make the order's status."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal

from hubkit.errors import FieldErrors
from hubkit.money import cents

MAX_LINES = 500
MAX_QUANTITY = 1_000_000
CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,63}$")

# A line's reservation, apart from the order's status.
PENDING, RESERVED, BACKORDERED = "pending", "reserved", "backordered"
SHIPPED = "shipped"  # order status once the whole order left the warehouse
RETURNED = "returned"  # every unit of a shipped order came back
TRACKING = re.compile(r"^[A-Za-z0-9][A-Za-z0-9\-]{3,63}$")


@dataclass(frozen=True)
class LineInput:
    sku: str
    quantity: int
    unit_price: Decimal


@dataclass(frozen=True)
class PlaceOrder:
    channel: str
    shop: str
    external_order_id: str
    lines: list[LineInput]
    buyer: dict = field(default_factory=dict)
    shipping_address: dict = field(default_factory=dict)
    currency: str = "CNY"


def validate(cmd: PlaceOrder) -> None:
    errors = FieldErrors()
    for name in ("channel", "shop", "external_order_id"):
        value = getattr(cmd, name)
        if not value or not CODE.match(value):
            errors.add(name, "required: 1-64 letters, digits, '.', '_' or '-'")
    if not cmd.lines:
        errors.add("lines", "an order needs at least one line")
    if len(cmd.lines) > MAX_LINES:
        errors.add("lines", f"at most {MAX_LINES} lines")
    for i, line in enumerate(cmd.lines):
        if not line.sku or not CODE.match(line.sku):
            errors.add(f"lines[{i}].sku", "required: 1-64 letters, digits, '.', '_' or '-'")
        if isinstance(line.quantity, bool) or not isinstance(line.quantity, int) \
                or not 0 < line.quantity <= MAX_QUANTITY:
            errors.add(f"lines[{i}].quantity", f"must be a whole number from 1 to {MAX_QUANTITY}")
        price = line.unit_price
        if not isinstance(price, Decimal) or not price.is_finite() or price < 0:
            errors.add(f"lines[{i}].unit_price", "must be an amount >= 0")
        elif price != cents(price):
            errors.add(f"lines[{i}].unit_price", "at most two decimal places")
    errors.raise_if_any("the order is invalid")


def line_amount(line: LineInput) -> Decimal:
    return cents(line.unit_price * line.quantity)


def order_status(reservations: list[str]) -> str:
    """pending until inventory answered every line; backordered if any line is short."""
    if PENDING in reservations:
        return PENDING
    return BACKORDERED if BACKORDERED in reservations else RESERVED


def validate_shipment(carrier: str, tracking_number: str) -> None:
    errors = FieldErrors()
    if not carrier or not CODE.match(carrier) or len(carrier) > 32:
        errors.add("carrier", "required: a carrier code such as SF, ZTO or JD")
    if not tracking_number or not TRACKING.match(tracking_number):
        errors.add("tracking_number", "required: 4-64 letters, digits or '-'")
    errors.raise_if_any("the shipment is invalid")
