"""One class per integration event: its type, publisher, subscribers and payload fields.

The fields are what the producers write today, and nothing is renamed: stored outbox rows and
events already on the broker still parse. A field is optional (`= None`) only where a producer
may leave it out; `X | None` without a default means it is always written, sometimes as null.
Amounts are Money (decimal strings on the wire), moments Timestamp (ISO 8601 with offset), days
Day (YYYY-MM-DD). Buyers and addresses stay free-form objects: the channels decide their keys."""
from __future__ import annotations

from typing import Any, Literal

from hubkit.delivery import DEAD_LETTERED
from hubkit.events import Day, Event, Money, Record, Timestamp

# Subscribers are consumer names: a service, or a connector ("ledger", "shops_<platform>").
ORDER, INVENTORY, PROCUREMENT, CUSTOMER, ACCOUNTING = "order", "inventory", "procurement", "customer", "accounting"
SHOPS = "shops"  # the shop connectors, as a publisher (one source for every platform)
SHOP_CONNECTORS = ("shops_taobao", "shops_jd")  # and as subscribers, one per platform
LEDGER = "ledger"
NOTIFY = "notify"  # the notifier (connectors/notify): only in a hub with notification targets
# as a publisher: whichever consumer set the message aside (each one's broker user may publish it)
ANY_CONSUMER = "any_consumer"

__all__ = [
    "OrderPlaced", "OrderHeld", "OrderShipped", "OrderReturned", "OrderCancelled", "OrderLinesReleased",
    "OrderRefunded", "OrderPrioritised", "ChannelOrderChanged",
    "StockReserved", "StockShort", "ReservationExpired", "OrderMoved", "GoodsIssued", "GoodsReturned", "StockAdjusted",
    "StockReceived",
    "StockChanged", "StockTransferred", "KitChanged", "PurchaseReturnShipped", "PurchaseReceiptRefused",
    "PurchaseReturnRefused", "LowStock", "LotExpiring",
    "LotHoldChanged", "InspectionRecorded", "PurchaseReceived", "PurchaseReturned", "VoucherPosted",
    "CustomerTermsChanged", "SkuChanged",
    "ApprovalWaiting", "VoucherRefused", "ShopFailing", "DeadLettered",
    "PurchaseCostBilled", "PurchaseCostAdjusted",
]

Json = dict[str, Any]


# -- customer ------------------------------------------------------------------------------
class CustomerTermsChanged(Event):
    """A customer's tier and credit limit, as the customer service keeps them; the order service's
    review reads its projection (customer_terms)."""
    type = "customer_terms_changed"
    publisher = CUSTOMER
    subscribers = (ORDER,)

    customer_id: str
    channel: str
    external_id: str          # the channel's buyer id ("" for a buyer known by phone or order only)
    tier: str
    credit_limit: Money | None  # None: no limit
    changed_at: Timestamp
    # the customer the buyer belongs to (a merged customer's root id): review adds up the exposure and
    # return rate over every buyer of one group_id. Left out by older producers: the buyer alone
    group_id: str = ""


# -- order ---------------------------------------------------------------------------------
class PlacedLine(Record):
    line_no: int
    sku: str
    quantity: int
    unit_price: Money


class OrderPlaced(Event):
    type = "order_placed"
    publisher = ORDER
    subscribers = (INVENTORY, CUSTOMER)

    order_id: str
    channel: str
    shop: str
    external_order_id: str
    currency: str
    total: Money
    placed_at: Timestamp
    buyer: Json
    shipping_address: Json
    lines: list[PlacedLine]
    # who gets scarce stock first (inventory's allocation): a higher priority, then the earlier
    # promised ship-by time, then the older order. Left out by older producers: 0 and no promise.
    priority: int = 0
    ship_by: Timestamp | None = None


class SoldLine(Record):
    line_no: int
    sku: str
    quantity: int
    unit_price: Money
    amount: Money
    warehouse: str | None  # where it was reserved (None before inventory answered)
    # a parcel of a partial shipment: what the line's earlier parcels carried of its amount (the books
    # split VAT cumulatively, so a line's parcels add up to exactly its sale); None for a whole shipment
    amount_shipped_before: Money | None = None
    # the SKU's category when it shipped (the order service's projection of sku_changed; "" none), for the
    # sales facts of the books' KPIs; None from older producers
    category: str | None = None


class OrderShipped(Event):
    type = "order_shipped"
    publisher = ORDER
    subscribers = (INVENTORY, CUSTOMER, ACCOUNTING, *SHOP_CONNECTORS)

    order_id: str
    channel: str
    shop: str
    external_order_id: str
    currency: str
    buyer: Json
    carrier: str
    tracking_number: str
    shipped_at: Timestamp
    total: Money
    lines: list[SoldLine]
    exchange_rate: Money | None = None  # to the books' currency, when the document is in another
    # a parcel of a partial shipment (services.order.parcels): its number, its key (`<order id>-P<n>`, the
    # source of its vouchers) and whether it ships the order's last units; all None for a whole shipment
    parcel: int | None = None
    shipment_id: str | None = None
    completes_order: bool | None = None
    # where it goes: the shipping address's province ("" unknown), the region of the sales KPIs
    region: str | None = None


class ReturnedSaleLine(SoldLine):
    # amount: the returned units' share of what the buyer paid for the line; what earlier returns of
    # the line already reversed lets the books split VAT so that all returns add up to the sale
    amount_returned_before: Money | None = None
    # an RMA's inspection: of `quantity`, the units found damaged, and where they go (quarantine | scrap)
    damaged: int = 0
    disposition: str = ""


class OrderReturned(Event):
    type = "order_returned"
    publisher = ORDER
    subscribers = (INVENTORY, ACCOUNTING, CUSTOMER)

    order_id: str
    return_id: str
    channel: str
    shop: str
    external_order_id: str
    buyer: Json
    reason: str
    returned_at: Timestamp
    lines: list[ReturnedSaleLine]  # the quantities returned and what the buyer paid for them
    currency: str | None = None
    exchange_rate: Money | None = None  # to the books' currency, when the document is in another
    # an RMA's inspected goods: inventory restocks them now, the sale is reversed by the RMA's refund
    # (order_refunded) or, for an exchange, not at all
    refund_deferred: bool = False


class OrderLineRef(Record):
    line_no: int
    sku: str
    quantity: int


class OrderCancelled(Event):
    type = "order_cancelled"
    publisher = ORDER
    subscribers = (INVENTORY, CUSTOMER)

    order_id: str
    cancelled_at: Timestamp
    lines: list[OrderLineRef]


class OrderLinesReleased(Event):
    """Lines of an open order refunded before shipment (on the platform or through the gateway): they
    are taken out of fulfilment, and inventory releases what it reserved for them (stock_changed pushes
    the channels' sellable stock up again). The rest of the order ships; an order refunded whole is
    cancelled instead (order_cancelled)."""
    type = "order_lines_released"
    publisher = ORDER
    subscribers = (INVENTORY, CUSTOMER)

    order_id: str
    released_at: Timestamp
    reason: str
    lines: list[OrderLineRef]


class RefundedSaleLine(Record):
    line_no: int
    sku: str
    amount: Money  # the money given back for the line now
    # what earlier returns and refunds of the line already reversed, so the books split VAT so that
    # everything reversed of a line adds up to its sale
    amount_reversed_before: Money


class OrderRefunded(Event):
    """Money given back after shipment without goods coming back (仅退款): accounting reverses the sale at
    the refunded amount, a credit to the receivable (the buyer's, or the platform's on a marketplace).
    No stock moves."""
    type = "order_refunded"
    publisher = ORDER
    subscribers = (ACCOUNTING, CUSTOMER)

    order_id: str
    refund_id: str
    channel: str
    shop: str
    external_order_id: str
    buyer: Json
    reason: str
    refunded_at: Timestamp
    currency: str
    lines: list[RefundedSaleLine]
    exchange_rate: Money | None = None  # to the books' currency, when the document is in another
    # refund_only (仅退款, services.order.refunds) or rma (an RMA's refund after inspection); None: older producers
    kind: str | None = None


class OrderHeld(Event):
    """A hold placed on an order (a review rule's or an operator's): it waits for a person. A hold
    whose reason is a finance approval (services.order.holds.FINANCE_REASONS) is an approval waiting."""
    type = "order_held"
    publisher = ORDER
    subscribers = (NOTIFY,)

    order_id: str
    hold_id: str
    reason: str
    rule: str | None
    note: str
    approval: bool  # only a caller with the finance right may release it
    placed_by: str
    placed_at: Timestamp


class OrderPrioritised(Event):
    """A review rule raised an order's priority after inventory had reserved it (first review or a
    re-review): inventory raises its reservations' priority, so its backorders are filled in the new
    order. A priority only rises: inventory keeps the higher of this and what it has."""
    type = "order_prioritised"
    publisher = ORDER
    subscribers = (INVENTORY,)

    order_id: str
    priority: int
    rule: str | None = None  # the rule that set it, when one did (for the logs; inventory does not read it)


class ChannelLine(Record):
    sku: str
    quantity: int
    unit_price: Money
    amount: Money | None = None  # what the buyer paid for the line, when the channel allocated discounts
    refund_status: str | None = None


class ChannelOrderChanged(Event):
    """A channel's view of one order version (connectors/shops core.hub_order builds it)."""
    type = "channel_order_changed"
    publisher = SHOPS
    subscribers = (ORDER,)

    channel: str
    shop: str
    external_order_id: str
    version: int  # the channel's modified time in milliseconds, not a schema version
    status: str
    currency: str | None = None
    buyer: Json | None = None
    shipping_address: Json | None = None
    lines: list[ChannelLine]
    ship_by: Timestamp | None = None  # the platform's promised ship-by time, when it has one
    buyer_message: str | None = None  # what the buyer wrote to the seller (Taobao buyer_message, JD orderRemark)


# -- inventory: answers to orders --------------------------------------------------------------
class Allocation(Record):
    warehouse: str
    quantity: int


class AnsweredLine(Record):
    line_no: int
    sku: str
    quantity: int
    status: Literal["reserved", "backordered"]
    warehouse: str | None  # the main warehouse; None while nothing is reserved
    reserved_quantity: int
    allocations: list[Allocation]


class StockReserved(Event):
    type = "stock_reserved"
    publisher = INVENTORY
    subscribers = (ORDER,)

    order_id: str
    lines: list[AnsweredLine]


class StockShort(Event):
    type = "stock_short"
    publisher = INVENTORY
    subscribers = (ORDER,)

    order_id: str
    lines: list[AnsweredLine]


class OrderMoved(Event):
    """An operator moved an order to another warehouse: inventory's MoveOrder emits it in the move's
    own transaction, and the order service records the move in the order's audit from it
    (change_warehouse, by the actor who moved it), exactly once by its inbox. So the move and its
    audit entry never part, even when the order api's own transaction fails after inventory moved.
    The lines learn the new warehouse from the stock_reserved emitted with it."""
    type = "order_moved"
    publisher = INVENTORY
    subscribers = (ORDER,)

    order_id: str
    warehouse: str
    before: list[str]  # the warehouses that held its stock before
    note: str
    moved_at: Timestamp
    lines: list[AnsweredLine]


class ReservationExpired(Event):
    type = "reservation_expired"
    publisher = INVENTORY
    subscribers = (ORDER,)

    order_id: str
    expired_at: Timestamp
    lines: list[OrderLineRef]  # the lines whose stock was released


class CostedLine(Record):
    line_no: int
    sku: str
    warehouse: str
    quantity: int
    cost: Money


class GoodsIssued(Event):
    type = "goods_issued"
    publisher = INVENTORY
    subscribers = (ACCOUNTING, PROCUREMENT)  # procurement: the sales per SKU, warehouse and day

    order_id: str
    channel: str | None
    issued_at: Timestamp
    lines: list[CostedLine]
    total_cost: Money
    shipment_id: str | None = None  # the parcel issued (order_shipped's); None: the whole order


class GoodsReturned(Event):
    type = "goods_returned"
    publisher = INVENTORY
    subscribers = (ACCOUNTING,)

    order_id: str
    return_id: str
    channel: str | None
    returned_at: Timestamp
    lines: list[CostedLine]


# -- inventory: stock documents ---------------------------------------------------------------
class StockAdjusted(Event):
    type = "stock_adjusted"
    publisher = INVENTORY
    subscribers = (ACCOUNTING,)

    adjustment_id: str
    sku: str
    warehouse: str
    quantity: int  # either sign
    reason: str
    note: str
    value: Money  # signed, as the quantity
    occurred_at: Timestamp


class StockReceived(Event):
    """Goods received outside a purchase (opening stock, an other receipt, found goods, finished
    goods from production): the reason names the account the books credit against inventory."""
    type = "stock_received"
    publisher = INVENTORY
    subscribers = (ACCOUNTING,)

    document_id: str
    reason: Literal["opening", "other", "found", "production"]
    sku: str
    warehouse: str
    quantity: int  # > 0
    value: Money  # >= 0, what the units added to stock
    reference: str
    occurred_at: Timestamp


class ValuedLine(Record):
    sku: str
    quantity: int
    value: Money


class StockTransferred(Event):
    type = "stock_transferred"
    publisher = INVENTORY
    subscribers = (ACCOUNTING,)

    transfer_id: str
    stage: Literal["shipped", "received"]
    from_warehouse: str
    to_warehouse: str
    occurred_at: Timestamp
    lines: list[ValuedLine]
    total_value: Money


class SkuChanged(Event):
    """A SKU created, or its category changed, in inventory's SKU master; the order service's review
    reads its projection (sku_categories)."""
    type = "sku_changed"
    publisher = INVENTORY
    subscribers = (ORDER,)

    sku: str
    category: str  # "" : none
    changed_at: Timestamp


class KitChanged(Event):
    type = "kit_changed"
    publisher = INVENTORY
    subscribers = (ACCOUNTING,)

    document_id: str
    action: Literal["assembled", "disassembled"]
    kit_sku: str
    warehouse: str
    quantity: int
    value: Money
    occurred_at: Timestamp
    components: list[ValuedLine]


class Supplier(Record):
    code: str
    name: str


class ReturnedToSupplierLine(Record):
    line_no: int
    sku: str
    quantity: int
    cost: Money


class PurchaseReturnShipped(Event):
    type = "purchase_return_shipped"
    publisher = INVENTORY
    subscribers = (ACCOUNTING,)

    purchase_order_id: str
    return_id: str
    supplier: Supplier
    warehouse: str
    total_net: Money
    total_tax: Money
    total: Money
    returned_at: Timestamp
    lines: list[ReturnedToSupplierLine]
    total_cost: Money
    currency: str | None = None  # of the purchase order, and the rate it was accepted at
    exchange_rate: Money | None = None  # to the books' currency, when the document is in another


class FieldProblem(Record):
    field: str
    message: str


class PurchaseReceiptRefused(Event):
    """Inventory did not take a purchase receipt into stock (a permanent refusal: an unknown bin, a
    serial already in stock, ...): procurement marks the receipt refused and reopens its quantities,
    accounting reverses the purchase voucher. Written in the transaction that decided it."""
    type = "purchase_receipt_refused"
    publisher = INVENTORY
    subscribers = (PROCUREMENT, ACCOUNTING)

    purchase_order_id: str
    receipt_id: str
    warehouse: str
    reason: str
    errors: list[FieldProblem]  # fields as the receipt's lines name them: lines[i].bin
    refused_at: Timestamp


class PurchaseReturnRefused(Event):
    """Inventory did not send goods back to the supplier (not free: reserved, held, gone): procurement
    marks the return refused and restores what may still be returned. Nothing was posted for it."""
    type = "purchase_return_refused"
    publisher = INVENTORY
    subscribers = (PROCUREMENT,)

    purchase_order_id: str
    return_id: str
    warehouse: str
    reason: str
    errors: list[FieldProblem]
    refused_at: Timestamp


# -- inventory: stock signals -------------------------------------------------------------------
class StockLevel(Record):
    sku: str
    warehouse: str
    on_hand: int
    reserved: int
    held: int
    in_transit: int
    available: int


class StockChanged(Event):
    """What is available of one SKU; its sequence (per SKU) is the version of the quantity."""
    type = "stock_changed"
    publisher = INVENTORY
    subscribers = (*SHOP_CONNECTORS, PROCUREMENT)  # procurement: positions and days out of stock
    latest_only = True

    sku: str
    levels: list[StockLevel]
    available: int


class LowStock(Event):
    type = "low_stock"
    publisher = INVENTORY
    subscribers = (PROCUREMENT, NOTIFY)

    sku: str
    warehouse: str
    available: int
    minimum: int
    maximum: int
    shortfall: int
    occurred_at: Timestamp


class LotQuantity(Record):
    warehouse: str
    quantity: int


class LotExpiring(Event):
    type = "lot_expiring"
    publisher = INVENTORY
    subscribers = (PROCUREMENT,)

    sku: str
    lot: str
    expires_on: Day
    days_left: int
    quantities: list[LotQuantity]
    occurred_at: Timestamp


class LotHoldChanged(Event):
    type = "lot_hold_changed"
    publisher = INVENTORY
    subscribers = (PROCUREMENT,)

    sku: str
    lot: str
    warehouse: str
    held: bool
    reason: Literal["quarantine", "expired", "released"]
    quantity: int
    note: str
    occurred_at: Timestamp


class InspectionRecorded(Event):
    """An incoming inspection's result: `passed` units of the received line were released to
    available stock; `failed` ones were scrapped (disposition scrap, stock_adjusted posted their
    value) or wait quarantined in `return_lot` for procurement to send them back to the supplier
    (disposition return: procurement raises the purchase return). Procurement also keeps the result
    for the supplier scorecard's quality pass rate."""
    type = "inspection_recorded"
    publisher = INVENTORY
    subscribers = (PROCUREMENT,)

    inspection_id: str
    receipt_id: str
    purchase_order_id: str
    line_no: int
    supplier: str
    warehouse: str
    sku: str
    lot: str
    quantity: int
    passed: int
    failed: int
    disposition: Literal["", "return", "scrap"]
    return_lot: str
    note: str
    inspected_by: str
    inspected_at: Timestamp


# -- procurement --------------------------------------------------------------------------------
class PurchasedLine(Record):
    line_no: int
    sku: str
    quantity: int
    unit_cost: Money  # six decimal places, excluding VAT
    vat_rate: Money
    amount: Money
    tax: Money


class ReceivedLine(PurchasedLine):
    # how the line arrived, when the receipt said so
    bin: str | None = None
    lot: str | None = None
    expires_on: Day | None = None
    serials: list[str] | None = None


class PurchaseReceived(Event):
    type = "purchase_received"
    publisher = PROCUREMENT
    subscribers = (INVENTORY, ACCOUNTING)

    purchase_order_id: str
    receipt_id: str
    supplier: Supplier
    warehouse: str
    currency: str
    exchange_rate: Money | None = None  # to the books' currency, when the document is in another
    received_at: Timestamp
    reference: str
    lines: list[ReceivedLine]
    total_net: Money
    total_tax: Money
    total: Money
    # goods before invoice (先货后票): the supplier's invoice did not come with the goods, so the books
    # owe the supplier a provisional payable (暂估应付) at the order's price, VAT not yet claimed
    invoice_pending: bool = False


class BilledLine(Record):
    receipt_id: str
    line_no: int
    sku: str
    quantity: int         # units of the receipt line the bill is about
    change: Money         # what the bill changes their cost by (either sign), to the cent


class PurchaseCostBilled(Event):
    """A supplier's invoice matched to goods received before it (kind supplier_invoice: `provisional`
    is what the receipts were booked at, each line's change the price difference), or a landed cost
    (kind landed_cost: freight, duty, insurance on a separate bill, its lines the shares of one
    receipt's lines). Inventory puts each change on the units still held and says what went to cost of
    goods (purchase_cost_adjusted)."""
    type = "purchase_cost_billed"
    publisher = PROCUREMENT
    subscribers = (INVENTORY,)

    document_id: str
    kind: Literal["supplier_invoice", "landed_cost"]
    purchase_order_id: str
    supplier: Supplier    # who bills: the goods' supplier, or the carrier, customs broker, insurer
    warehouse: str
    currency: str
    reference: str        # the invoice's or bill's number
    charge: str           # landed_cost: freight | duty | insurance | other; "" for an invoice
    billed_at: Timestamp
    provisional: Money    # supplier_invoice: the provisional payable reversed; 0.00 for a landed cost
    total_net: Money
    total_tax: Money
    total: Money
    lines: list[BilledLine]


class PurchaseCostAdjusted(Event):
    """What a purchase_cost_billed did to the cost of stock: `to_stock` went into the cost layers of the
    units still held, `to_cost_of_goods` is the part of units already gone. Accounting posts the bill."""
    type = "purchase_cost_adjusted"
    publisher = INVENTORY
    subscribers = (ACCOUNTING,)

    document_id: str
    kind: Literal["supplier_invoice", "landed_cost"]
    purchase_order_id: str
    supplier: Supplier
    warehouse: str
    reference: str
    charge: str
    billed_at: Timestamp
    provisional: Money
    total_net: Money
    total_tax: Money
    total: Money
    to_stock: Money
    to_cost_of_goods: Money


class ReturnedLine(PurchasedLine):
    # which units go back, when it matters (inventory takes them as named)
    lot: str | None = None
    serials: list[str] | None = None


class PurchaseReturned(Event):
    type = "purchase_returned"
    publisher = PROCUREMENT
    subscribers = (INVENTORY,)

    purchase_order_id: str
    return_id: str
    supplier: Supplier
    warehouse: str
    currency: str
    exchange_rate: Money | None = None  # to the books' currency, when the document is in another
    returned_at: Timestamp
    reason: str
    lines: list[ReturnedLine]
    total_net: Money
    total_tax: Money
    total: Money


# -- accounting ---------------------------------------------------------------------------------
class VoucherLine(Record):
    line_no: int
    account: str
    summary: str
    debit: Money
    credit: Money
    aux: str
    cost_centre: str


class VoucherPosted(Event):
    """A voucher as posted: the ledger connector exports it; the order service's review and the customer
    service keep what each buyer owes from its receivable lines (customer_receivables), the customer
    service also the payments among them."""
    type = "voucher_posted"
    publisher = ACCOUNTING
    subscribers = (LEDGER, ORDER, CUSTOMER)

    id: str
    number: str
    voucher_type: str
    period: str
    kind: str
    source_type: str
    source_id: str
    posted_by: str
    export_status: str
    reverses: str | None  # the voucher this one reverses
    business_date: Day
    posted_at: Timestamp
    total: Money
    lines: list[VoucherLine]
    currency: str | None = None  # of a document in another currency than the books', and the rate used
    exchange_rate: Money | None = None  # to the books' currency, when the document is in another


# -- what a person must act on (the notifier's; only in a hub with a target that wants them) ---------
class ApprovalWaiting(Event):
    """A step of a requisition's or purchase order's approval chain waits for its approver: sent when
    the step opens (overdue false) and once more when it has waited longer than the chain's
    overdue_hours (overdue true). Aggregate: "<document_kind>:<document_id>"."""
    type = "approval_waiting"
    publisher = PROCUREMENT
    subscribers = (NOTIFY,)

    document_kind: Literal["requisition", "purchase_order"]
    document_id: str
    step_no: int
    step: str                  # the step's id in the chain, e.g. finance-director
    approver: str | None       # a named user's step, or
    role: str | None           # a role's (exactly one of the two)
    waiting_since: Timestamp
    overdue: bool
    amount: Money              # the document's total, VAT included, in the base currency
    requester: str

class VoucherRefused(Event):
    """A ledger refused a voucher (or gave no certain answer too often): it waits, rejected, for a
    person to fix the cause and re-push it (connectors/ledgers/pusher.py)."""
    type = "voucher_refused"
    publisher = LEDGER
    subscribers = (NOTIFY,)

    ledger: str
    voucher_id: str
    external_number: str
    error: str
    refused_at: Timestamp


class ShopFailing(Event):
    """A shop connector's pulls of one shop started failing (the platform refuses it, its token
    expired, it does not answer): no orders come in from that shop until a person looks. Published at
    every failed pull while the shop is in error, under one event id (platform, shop, since), so the
    notifier tells once each time the shop falls into error."""
    type = "shop_failing"
    publisher = SHOPS
    subscribers = (NOTIFY,)

    connector: str            # shops_taobao, shops_jd
    platform: str
    shop: str
    error: str
    since: Timestamp


class DeadLettered(Event):
    """A consumer gave up on a message and put it in its dead-letter queue (hubkit.delivery): a person
    looks at it (`hub dlq list`) and replays it once the cause is fixed. Published by the consumer that
    set it aside, with an event id derived from the queue, the message and its replays, so the same
    dead letter announced twice is one notification."""
    type = DEAD_LETTERED
    publisher = ANY_CONSUMER
    subscribers = (NOTIFY,)

    queue: str
    dead_letter_queue: str
    event_id: str | None      # of the message set aside (None: not an envelope)
    event_type: str | None
    aggregate_id: str | None
    attempts: int
    error: str
    failed_at: Timestamp
