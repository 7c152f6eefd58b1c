"""Customer rules: who the buyer of an order is, and what a valid order event is.

Pure: no I/O. Error messages name fields, never personal data (names, phones, emails),
because they end up in logs and dead-letter headers."""
from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal

from hubkit.errors import FieldErrors
from hubkit.money import cents, to_decimal

PLACED, SHIPPED, CANCELLED = "placed", "shipped", "cancelled"
RETURN, REFUND, RELEASE = "return", "refund", "release"  # what came back of an order (after_sales)
PARTLY_SHIPPED = "partly_shipped"  # some parcels of the order left, not yet its last
MAX_AMOUNT = Decimal("9999999999999999.99")  # Numeric(18, 2)
CURRENCY = re.compile(r"^[A-Z]{3}$")
CHANNEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,31}$")  # as the order service names channels
DEFAULT_LIMIT, MAX_LIMIT = 50, 500

# column sizes (services/customer/models.py)
CHANNEL_LEN, CODE_LEN, ORDER_ID_LEN = 32, 64, 64
EXTERNAL_ID_LEN, NAME_LEN, PHONE_LEN, EMAIL_LEN = 128, 200, 32, 254
CARRIER_LEN, TRACKING_LEN = 64, 128


@dataclass(frozen=True)
class Identity:
    """(channel, key): the channel's buyer id, else "phone:<phone>", else "order:<order id>"."""
    channel: str
    key: str
    external_id: str  # the channel's buyer id; empty for phone or anonymous customers

    @property
    def anonymous(self) -> bool:
        return self.key.startswith("order:")


@dataclass(frozen=True)
class Buyer:
    external_id: str = ""
    name: str = ""
    phone: str = ""
    email: str = ""


@dataclass(frozen=True)
class OrderPlaced:
    order_id: str
    channel: str
    shop: str
    external_order_id: str
    currency: str
    total: Decimal
    placed_at: datetime
    buyer: Buyer


@dataclass(frozen=True)
class OrderShipped:
    order_id: str
    shipped_at: datetime
    carrier: str
    tracking_number: str


def _text(value) -> str:
    """A payload value as trimmed text; None and non-scalars are treated as absent."""
    if value is None or isinstance(value, (dict, list, tuple, bool)):
        return ""
    return str(value).strip()


def normalize_phone(phone) -> str:
    """Digits and a leading '+' only, so '138 0013-8000' and '13800138000' are one buyer."""
    phone = _text(phone)
    digits = re.sub(r"\D", "", phone)
    return ("+" + digits if phone.startswith("+") else digits) if digits else ""


def phone_hash(key: bytes, phone: str) -> str:
    """The keyed hash (HMAC-SHA256) of a normalized phone that finds one buyer across channels: the
    number itself never leaves the customer's row ("" without a phone)."""
    return hmac.new(key, phone.encode("utf-8"), hashlib.sha256).hexdigest() if phone else ""


def identity(channel: str, order_id: str, buyer: Buyer) -> Identity:
    if buyer.external_id:
        return Identity(channel, buyer.external_id, buyer.external_id)
    if buyer.phone:
        return Identity(channel, "phone:" + buyer.phone, "")
    return Identity(channel, "order:" + order_id, "")


def parse_time(errors: FieldErrors, name: str, value) -> datetime | None:
    """ISO 8601 -> aware UTC datetime; a time without offset is taken as UTC."""
    if not isinstance(value, str) or not value.strip():
        errors.add(name, "required: an ISO 8601 time")
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        errors.add(name, "not an ISO 8601 time")
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def _required(errors: FieldErrors, payload: dict, name: str, max_len: int) -> str:
    value = _text(payload.get(name))
    if not value or len(value) > max_len:
        errors.add(name, f"required, at most {max_len} characters")
    return value


def parse_buyer(errors: FieldErrors, raw) -> Buyer:
    if raw in (None, ""):
        raw = {}
    if not isinstance(raw, dict):
        errors.add("buyer", "must be an object")
        return Buyer()
    buyer = Buyer(external_id=_text(raw.get("external_id")), name=_text(raw.get("name"))[:NAME_LEN],
                  phone=normalize_phone(raw.get("phone")), email=_text(raw.get("email"))[:EMAIL_LEN])
    if len(buyer.external_id) > EXTERNAL_ID_LEN:
        errors.add("buyer.external_id", f"at most {EXTERNAL_ID_LEN} characters")
    if len(buyer.phone) > PHONE_LEN:
        errors.add("buyer.phone", f"at most {PHONE_LEN} digits")
    return buyer


def parse_amount(errors: FieldErrors, name: str, value) -> Decimal | None:
    if isinstance(value, (float, bool)) or value is None or value == "":
        errors.add(name, "required: a decimal string")
        return None
    try:
        amount = to_decimal(value)
    except (ValueError, TypeError):
        errors.add(name, "not a decimal amount")
        return None
    if amount < 0 or amount > MAX_AMOUNT:
        errors.add(name, f"must be from 0 to {MAX_AMOUNT}")
    elif amount != cents(amount):
        errors.add(name, "at most two decimal places")
    else:
        return cents(amount)
    return None


def parse_order_placed(payload: dict) -> OrderPlaced:
    """Validate an order_placed payload; every problem is reported with its field."""
    errors = FieldErrors()
    order_id = _required(errors, payload, "order_id", ORDER_ID_LEN)
    channel = _required(errors, payload, "channel", CHANNEL_LEN)
    shop = _required(errors, payload, "shop", CODE_LEN)
    external_order_id = _required(errors, payload, "external_order_id", CODE_LEN)
    currency = _text(payload.get("currency")) or "CNY"
    if not CURRENCY.match(currency):
        errors.add("currency", "must be a three-letter ISO 4217 code")
    total = parse_amount(errors, "total", payload.get("total"))
    placed_at = parse_time(errors, "placed_at", payload.get("placed_at"))
    buyer = parse_buyer(errors, payload.get("buyer"))
    errors.raise_if_any("the order_placed event is invalid")
    assert total is not None and placed_at is not None  # refused above when missing
    return OrderPlaced(order_id=order_id, channel=channel, shop=shop, external_order_id=external_order_id,
                       currency=currency, total=total, placed_at=placed_at, buyer=buyer)


def parse_order_shipped(payload: dict) -> OrderShipped:
    errors = FieldErrors()
    order_id = _required(errors, payload, "order_id", ORDER_ID_LEN)
    shipped_at = parse_time(errors, "shipped_at", payload.get("shipped_at"))
    errors.raise_if_any("the order_shipped event is invalid")
    assert shipped_at is not None  # refused above when missing
    return OrderShipped(order_id=order_id, shipped_at=shipped_at,
                        carrier=_text(payload.get("carrier"))[:CARRIER_LEN],
                        tracking_number=_text(payload.get("tracking_number"))[:TRACKING_LEN])


@dataclass(frozen=True)
class Criteria:
    channel: str = ""
    external_id: str = ""
    phone: str = ""
    order_id: str = ""
    limit: int = DEFAULT_LIMIT


def check_criteria(channel: str, external_id: str, phone: str, order_id: str, limit: int) -> Criteria:
    """FindCustomers: at least one criterion (channel + external_id, phone, order_id); all given must match."""
    errors = FieldErrors()
    channel, external_id, order_id = channel.strip(), external_id.strip(), order_id.strip()
    phone_key = normalize_phone(phone)
    if bool(channel) != bool(external_id):
        errors.add("external_id" if channel else "channel", "channel and external_id go together")
    if phone.strip() and not phone_key:
        errors.add("phone", "must contain digits")
    if not (channel or external_id or phone.strip() or order_id):
        errors.add("channel", "give channel and external_id, phone, or order_id")
    if limit < 0:
        errors.add("limit", f"must be from 0 (default {DEFAULT_LIMIT}) to {MAX_LIMIT}")
    errors.raise_if_any("the search is invalid")
    return Criteria(channel=channel, external_id=external_id, phone=phone_key, order_id=order_id,
                    limit=min(limit or DEFAULT_LIMIT, MAX_LIMIT))
