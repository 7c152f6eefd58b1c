"""Order rules: what a valid order is, and how line reservations make the order's status."""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from hubkit.errors import FieldErrors
from hubkit.money import CURRENCIES, cents, share

MAX_LINES = 500
MAX_QUANTITY = 1_000_000
CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,63}$")

# A line's reservation, apart from the order's status.
PENDING, RESERVED, BACKORDERED = "pending", "reserved", "backordered"
# A line refunded before shipment (services.order.refunds): out of fulfilment, never picked, shipped or invoiced.
REFUNDED = "refunded"
# A platform's refund_status (as the connectors lower-case it) that says the buyer got the money back:
# Taobao's SUCCESS; a line of an open order reported so is intercepted as a refund through the gateway is.
CHANNEL_REFUNDED = ("success", "refunded")
SHIPPED = "shipped"  # order status once the whole order left the warehouse
RETURNED = "returned"  # every unit of a shipped order came back
# some units left in parcels (services.order.parcels), the rest still to ship (reserved or backordered);
# shipped once the last parcel carries the last unit. Not open: it can no longer be cancelled or held.
PARTLY_SHIPPED = "partly_shipped"
TRACKING = re.compile(r"^[A-Za-z0-9][A-Za-z0-9\-]{3,63}$")


@dataclass(frozen=True)
class LineInput:
    sku: str
    quantity: int
    unit_price: Decimal
    amount: Decimal | None = None  # what the buyer paid for the line, when a channel allocated discounts
    refund_status: str | None = None


@dataclass(frozen=True)
class PlaceOrder:
    channel: str
    shop: str
    external_order_id: str
    lines: list[LineInput]
    buyer: dict = field(default_factory=dict)
    shipping_address: dict = field(default_factory=dict)
    currency: str = "CNY"
    exchange_rate: Decimal | None = None  # to the books' currency, for an order in another (accounting's)
    # carried on order_placed for inventory's allocation (not stored by the order service)
    priority: int = 0
    ship_by: datetime | None = None
    buyer_message: str = ""  # what the buyer wrote to the seller (stored: review's buyer_message fact)


MAX_PRIORITY = 1000
MAX_BUYER_MESSAGE = 500


def validate(cmd: PlaceOrder) -> None:
    errors = FieldErrors()
    for name in ("channel", "shop", "external_order_id"):
        value = getattr(cmd, name)
        if not value or not CODE.match(value):
            errors.add(name, "required: 1-64 letters, digits, '.', '_' or '-'")
    if cmd.currency not in CURRENCIES:
        errors.add("currency", "an ISO 4217 currency code such as CNY")
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
    if isinstance(cmd.priority, bool) or not isinstance(cmd.priority, int) or not 0 <= cmd.priority <= MAX_PRIORITY:
        errors.add("priority", f"a whole number from 0 to {MAX_PRIORITY}")
    if cmd.ship_by is not None and (cmd.ship_by.tzinfo is None or not 1900 <= cmd.ship_by.year <= 2999):
        errors.add("ship_by", "a moment from 1900 to 2999 with its UTC offset")
    if not isinstance(cmd.buyer_message, str) or len(cmd.buyer_message) > MAX_BUYER_MESSAGE:
        errors.add("buyer_message", f"at most {MAX_BUYER_MESSAGE} characters")
    errors.raise_if_any("the order is invalid")


def line_amount(line: LineInput) -> Decimal:
    return line.amount if line.amount is not None else cents(line.unit_price * line.quantity)


def returned_amounts(line, quantity: int) -> dict[str, Decimal]:
    """What the buyer paid for `quantity` more units of a sold line (its `amount` over its `quantity`,
    of which `returned_quantity` came back before): the share of everything returned so far less the
    share returned before, so the returns of a line add up to exactly what was paid for it."""
    before = share(line.amount, line.returned_quantity, line.quantity)
    return {"amount": share(line.amount, line.returned_quantity + quantity, line.quantity) - before,
            "amount_returned_before": before}


def parcel_amount(amount: Decimal, quantity: int, shipped_before: int, units: int) -> tuple[Decimal, Decimal]:
    """(what `units` more units of a line of `quantity` units for `amount` carry, what the units shipped
    before carried): the share of everything shipped so far less the share shipped before, to the cent, so
    a line's parcels add up to exactly its amount (and an order's parcels to exactly its total) whatever
    the split, and no parcel is off its units' exact share by a cent or more."""
    before = share(amount, shipped_before, quantity)
    return share(amount, shipped_before + units, quantity) - before, before


CANCELLED = "cancelled"
HELD = "held"  # order status while a hold is open: see order_status and services.order.holds
# What a channel may say about an order (its own states are mapped to these by the connectors).
CHANNEL_STATUSES = ("awaiting_payment", "paid", "shipped", "completed", "cancelled")
OPEN = (PENDING, RESERVED, BACKORDERED, HELD)  # not shipped, not cancelled: can still be cancelled

# Why an order is held: a closed set, so the review queue can be filtered and counted by it.
HOLD_REASONS = (
    "needs_review",      # a review rule wants a person to look at it
    "finance_approval",  # credit, amount or payment: only the finance role may release it
    "address_check",     # the shipping address is incomplete or suspicious
    "fraud_suspicion",
    "out_of_stock",      # waiting for goods the operator wants to ship together
    "double_check",      # a second pair of eyes before it leaves
    "manual",            # an operator held it for a reason in the note
)
RELEASED, REJECTED = "released", "rejected"  # how a hold ends (order_holds.outcome)
MAX_NOTE = 500

# The shop platforms whose connectors pull orders (connectors/shops), with the state their trade closes
# in. Neither documents a seller-side cancel of a paid trade (EXTERNAL_APIS.md 1.4-1.6 and 2.3-2.4: order
# pulls, shipment and stock only): an order of theirs cancelled in the hub (an operator's cancel or reject,
# an abandoned reservation) stays open on the platform, to ship, until the buyer's refund closes it; the
# connector then pulls it as cancelled. The released stock does reach them (stock_changed -> stock push).
CLOSED_BY_BUYER_REFUND = {"taobao": "TRADE_CLOSED", "jd": "TRADE_CANCELED"}


def channel_notice(channel: str, external_order_id: str, status: str, channel_status: str | None) -> str:
    """What the operator must see to for an order cancelled in the hub whose platform trade is still
    open (empty for any other order, and once the platform reports the trade cancelled). An order that
    never came from a connector (no channel status) is the placer's to close."""
    closed_as = CLOSED_BY_BUYER_REFUND.get(channel)
    if closed_as is None or status != CANCELLED or channel_status in (None, CANCELLED):
        return ""
    return (f"cancelled in the hub only: {channel} trade {external_order_id} is still open on the platform "
            f"(it was {channel_status} when last pulled); the platform has no documented seller-side cancel of "
            f"a paid trade, so it closes ({closed_as}) when the buyer's refund succeeds: have the buyer apply "
            f"for a refund and agree to it in the platform's seller centre, and do not ship it there")


@dataclass(frozen=True)
class ChannelOrder:
    """An order as a channel reports it: the newest version wins, older or repeated ones change nothing."""
    order: PlaceOrder
    version: int          # the channel's modified time in milliseconds
    status: str           # one of CHANNEL_STATUSES


def validate_channel(co: ChannelOrder) -> None:
    errors = FieldErrors()
    if co.status not in CHANNEL_STATUSES:
        errors.add("status", f"one of {', '.join(CHANNEL_STATUSES)}")
    if isinstance(co.version, bool) or not isinstance(co.version, int) or co.version <= 0:
        errors.add("version", "a positive whole number (the channel's modified time in ms)")
    for i, line in enumerate(co.order.lines):
        if line.amount is not None and (line.amount < 0 or line.amount != cents(line.amount)):
            errors.add(f"lines[{i}].amount", "an amount >= 0 with at most two decimals")
    errors.raise_if_any("the channel order is invalid")
    validate(co.order)


def order_status(reservations: list[str], held: bool = False) -> str:
    """The status of an open order: held while any hold is open (its lines keep what they reserved,
    and inventory's answers still update them); otherwise pending until inventory answered every
    line, backordered if any line is short, else reserved.

    The state machine (every transition audited in order_audit; any other is a 409 that changes nothing):

        pending | reserved | backordered --hold--> held         (the reservation stays)
        held --release of its last open hold--> pending | reserved | backordered (from the lines)
        held --reject--> cancelled                               (stock released: order_cancelled)
        pending | reserved | backordered | held --cancel--> cancelled (open holds closed as rejected)
        reserved --ship--> shipped --return--> returned
        reserved | backordered | partly_shipped --ship a parcel--> partly_shipped, or shipped by the last unit
        a line of an open order --refund--> refunded (out of fulfilment; the last line's refund cancels the order)
        shipped | returned --refund only--> the same (money back without goods, no stock moves)

    Reviewed before reservation (HUB_ORDER_REVIEW_STAGE=before_reservation), a new order is held before
    it asked inventory to reserve (its lines stay pending); the release of its last hold asks (pending),
    a reject or cancel asks nothing of inventory (services.order.reservation).
    """
    if held:
        return HELD
    reservations = [r for r in reservations if r != REFUNDED]  # a line refunded before shipment never ships
    if PENDING in reservations:
        return PENDING
    return BACKORDERED if BACKORDERED in reservations else RESERVED


def customer_key(channel: str, buyer: dict) -> str | None:
    """The buyer as review's customer facts name it (customer_terms, exposure, return rate); None
    without the channel's buyer id."""
    external_id = (buyer or {}).get("external_id")
    return f"{channel}:{external_id}"[:128] if external_id else None


# Merge (services.order.merge): the address fields a merge compares, as the gateway's address schema names them
MERGE_ADDRESS_FIELDS = ("recipient", "phone", "country", "province", "city", "district", "street", "postal_code")


def _normal(value) -> str:
    """Trimmed, inner runs of white space (full-width too) collapsed to one space, case folded."""
    return " ".join(str(value or "").split()).casefold()


def merge_key(channel: str, shop: str, customer_key: str | None, address: dict) -> str | None:
    """What orders that ship together share: the shop (channel and shop: a merge never crosses shops),
    the buyer (customer_key) and the shipping address, each field normalised. A digest, so it fits an
    indexed column; None (never merged) without a buyer id."""
    if not customer_key:
        return None
    parts = [channel, shop, customer_key, *(_normal((address or {}).get(f)) for f in MERGE_ADDRESS_FIELDS)]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]


def validate_hold(reason: str, note: str) -> None:
    errors = FieldErrors()
    if reason not in HOLD_REASONS:
        errors.add("reason", f"one of {', '.join(HOLD_REASONS)}")
    if len(note or "") > MAX_NOTE:
        errors.add("note", f"at most {MAX_NOTE} characters")
    errors.raise_if_any("the hold is invalid")


def validate_shipment(carrier: str, tracking_number: str) -> None:
    errors = FieldErrors()
    if not carrier or not CODE.match(carrier) or len(carrier) > 32:
        errors.add("carrier", "required: a carrier code such as SF, ZTO or JD")
    if not tracking_number or not TRACKING.match(tracking_number):
        errors.add("tracking_number", "required: 4-64 letters, digits or '-'")
    errors.raise_if_any("the shipment is invalid")


def channel_order(event) -> ChannelOrder:
    """A channel_order_changed event (contracts.ChannelOrderChanged, already validated) as a ChannelOrder."""
    lines = [LineInput(sku=l.sku, quantity=l.quantity, unit_price=l.unit_price, amount=l.amount,
                       refund_status=l.refund_status) for l in event.lines]
    order = PlaceOrder(channel=event.channel, shop=event.shop, external_order_id=event.external_order_id,
                       lines=lines, buyer=dict(event.buyer or {}), shipping_address=dict(event.shipping_address or {}),
                       currency=event.currency or "CNY",  # the shop platforms sell in CNY
                       ship_by=event.ship_by, buyer_message=(event.buyer_message or "")[:MAX_BUYER_MESSAGE])
    return ChannelOrder(order=order, version=event.version, status=event.status)
