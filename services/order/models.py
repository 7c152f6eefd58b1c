"""Tables of the order service's own database."""
from sqlalchemy import (
                        BigInteger,
                        Boolean,
                        CheckConstraint,
                        Column,
                        Date,
                        DateTime,
                        ForeignKey,
                        ForeignKeyConstraint,
                        Index,
                        Integer,
                        Numeric,
                        String,
                        Table,
                        Text,
                        UniqueConstraint,
)
from sqlalchemy import false as sa_false

from hubkit import commands, inbox, outbox
from hubkit.db import new_metadata

metadata = new_metadata()

orders = Table(
    "orders", metadata,
    Column("id", String(32), primary_key=True),
    Column("channel", String(32), nullable=False),
    Column("shop", String(64), nullable=False),
    Column("external_order_id", String(64), nullable=False),
    Column("buyer", Text, nullable=False),             # JSON: external_id, name, phone, email
    Column("shipping_address", Text, nullable=False),  # JSON
    Column("currency", String(3), nullable=False),
    Column("exchange_rate", Numeric(18, 8)),  # to the books' currency when accepted; null: in the books' currency
    Column("total", Numeric(18, 2), nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("created_by", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", String(64), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("carrier", String(32)),
    Column("tracking_number", String(64)),
    Column("shipped_at", DateTime(timezone=True)),
    # the channel's own view: its last applied version (modified time, ms) and status
    Column("channel_version", BigInteger, nullable=False, server_default="0"),
    Column("channel_status", String(24)),
    # review (services.order.review): the buyer as the customer facts name them, `channel:external id`
    # (null without a buyer id), and what the rules set: a priority and a double check at outbound
    Column("customer_key", String(128), index=True),
    Column("priority", Integer, nullable=False, server_default="0"),
    Column("double_check", Boolean, nullable=False, server_default=sa_false()),
    # the first of the two people of the double check (services.order.handlers.double_check): the
    # shipment must come from another user
    Column("double_checked_by", String(64)),
    Column("double_checked_at", DateTime(timezone=True)),
    # merge (services.order.merge): the shop, buyer and normalised address as one digest (domain.merge_key;
    # null: never merged, e.g. taken out of its group) and the merge group the order ships with (null: alone)
    Column("merge_key", String(40), index=True),
    Column("merge_group", String(32), index=True),
    # the review stage (services.order.reservation): when the order asked inventory to reserve (order_placed;
    # null: not yet: reviewed before reservation and held), and what that request carries, as placed
    Column("reservation_requested_at", DateTime(timezone=True)),
    Column("placed_priority", Integer, nullable=False, server_default="0"),
    Column("ship_by", DateTime(timezone=True)),
    # what the buyer wrote to the seller with the order (a channel's buyer message, a storefront's note)
    Column("buyer_message", String(500), nullable=False, server_default=""),
    UniqueConstraint("channel", "shop", "external_order_id", name="uq_orders_external"),
)

order_lines = Table(
    "order_lines", metadata,
    Column("order_id", String(32), ForeignKey("orders.id"), primary_key=True),
    Column("line_no", Integer, primary_key=True),
    Column("sku", String(64), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit_price", Numeric(18, 2), nullable=False),
    Column("amount", Numeric(18, 2), nullable=False),
    Column("reservation", String(16), nullable=False),
    Column("warehouse", String(32)),
    Column("returned_quantity", Integer, nullable=False, server_default="0"),
    Column("refund_status", String(24)),  # as the channel reports it, e.g. requested, refunded
    # money given back for the line (services.order.refunds): all it was paid when intercepted before
    # shipment (reservation `refunded`), the refunds without a return after it
    Column("refunded_amount", Numeric(18, 2), nullable=False, server_default="0"),
    # units shipped so far (a partial shipment ships parcels of the reserved units; the whole order: all)
    Column("shipped_quantity", Integer, nullable=False, server_default="0"),
    CheckConstraint("quantity > 0", name="quantity_positive"),
    CheckConstraint("returned_quantity >= 0 AND returned_quantity <= quantity", name="returned_in_range"),
)

# Goods sent back after shipment, one row per return and line.
order_returns = Table(
    "order_returns", metadata,
    Column("id", String(32), primary_key=True),
    Column("order_id", String(32), ForeignKey("orders.id"), nullable=False, index=True),
    Column("reason", String(200), nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

order_return_lines = Table(
    "order_return_lines", metadata,
    Column("return_id", String(32), ForeignKey("order_returns.id"), primary_key=True),
    Column("line_no", Integer, primary_key=True),
    Column("quantity", Integer, nullable=False),
    CheckConstraint("quantity > 0", name="quantity_positive"),
)

# Refunds (services.order.refunds), one row per refund and line: `intercept` (before shipment, the whole
# line: never picked, shipped or invoiced) or `refund_only` (after shipment, money without goods back).
order_refunds = Table(
    "order_refunds", metadata,
    Column("id", String(32), primary_key=True),
    Column("order_id", String(32), ForeignKey("orders.id"), nullable=False, index=True),
    Column("kind", String(16), nullable=False),    # intercept | refund_only
    Column("source", String(16), nullable=False),  # operator (the gateway) | channel (the platform's refund)
    Column("reason", String(200), nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

order_refund_lines = Table(
    "order_refund_lines", metadata,
    Column("refund_id", String(32), ForeignKey("order_refunds.id"), primary_key=True),
    Column("line_no", Integer, primary_key=True),
    Column("quantity", Integer, nullable=False),  # the line's units taken out of fulfilment (0: refund only)
    Column("amount", Numeric(18, 2), nullable=False),
    CheckConstraint("amount >= 0", name="amount_not_negative"),
)

# Return documents (RMA, services.order.rma): requested -> received (scanned at a warehouse) ->
# inspected (resellable back to stock, damaged quarantined or scrapped) -> refunded (a return) or
# exchanged (a replacement order). external_id: the caller's stable id (a platform's refund-with-return),
# so creating it again is the same RMA.
rmas = Table(
    "rmas", metadata,
    Column("id", String(32), primary_key=True),
    Column("order_id", String(32), ForeignKey("orders.id"), nullable=False, index=True),
    Column("external_id", String(64), unique=True),
    Column("kind", String(16), nullable=False),    # return | exchange
    Column("status", String(16), nullable=False),  # requested | received | inspected | refunded | exchanged
    Column("reason", String(200), nullable=False),
    Column("warehouse", String(32)),                # where the goods were received
    Column("replacement_order_id", String(32)),     # an exchange's replacement order
    Column("created_by", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

rma_lines = Table(
    "rma_lines", metadata,
    Column("rma_id", String(32), ForeignKey("rmas.id"), primary_key=True),
    Column("line_no", Integer, primary_key=True),  # the order's line
    Column("sku", String(64), nullable=False),
    Column("quantity", Integer, nullable=False),   # asked to come back
    Column("received", Integer, nullable=False, server_default="0"),
    Column("resellable", Integer, nullable=False, server_default="0"),
    Column("damaged", Integer, nullable=False, server_default="0"),
    Column("disposition", String(16), nullable=False, server_default=""),  # quarantine | scrap (of damaged)
    Column("serials", Text, nullable=False, server_default="[]"),  # JSON: the serials scanned
    Column("replacement_sku", String(64), nullable=False, server_default=""),  # exchange: what goes out
    Column("amount", Numeric(18, 2), nullable=False, server_default="0"),  # refunded for the line
    CheckConstraint("quantity > 0 AND received >= 0 AND received <= quantity AND resellable >= 0 AND damaged >= 0 "
                    "AND resellable + damaged <= received", name="quantities_in_range"),
)

# Holds (services.order.holds): an order with an open hold (released_at null) is `held` and cannot ship.
order_holds = Table(
    "order_holds", metadata,
    Column("id", String(32), primary_key=True),
    Column("order_id", String(32), ForeignKey("orders.id"), nullable=False, index=True),
    Column("reason", String(32), nullable=False),  # one of domain.HOLD_REASONS
    Column("rule", String(64)),                    # the review rule that placed it; null: an operator
    Column("note", String(500), nullable=False),
    Column("placed_by", String(64), nullable=False),
    Column("placed_at", DateTime(timezone=True), nullable=False),
    Column("released_by", String(64)),
    Column("released_at", DateTime(timezone=True)),
    Column("outcome", String(16)),                 # released or rejected; null while open
    Column("outcome_note", String(500)),           # why it was released or rejected
    CheckConstraint("(released_at IS NULL) = (outcome IS NULL)", name="closed_with_outcome"),
)

# Every operator or rule action on an order's workflow (hold, release, reject, cancel, address edit):
# who, when, why, and what changed.
order_audit = Table(
    "order_audit", metadata,
    Column("id", String(32), primary_key=True),
    Column("order_id", String(32), ForeignKey("orders.id"), nullable=False, index=True),
    Column("action", String(24), nullable=False),
    Column("hold_id", String(32)),
    Column("actor", String(64), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("note", String(500), nullable=False),
    Column("detail", Text, nullable=False),  # JSON: e.g. the status before and after, the old address
)

outbox.add_tables(metadata)
inbox.add_tables(metadata)
commands.add_tables(metadata)  # commands answered once per id (hubkit.commands)


# Review (services.order.review). Rule sets: each applied document is a new version, never changed;
# the newest is in force (a roll back applies an older one's document again as a new version).
review_rule_sets = Table(
    "review_rule_sets", metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("name", String(100), nullable=False),
    Column("document", Text, nullable=False),  # JSON, as validated
    Column("note", String(500), nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# Every review decision with its inputs: the rule-set version (0: the shipped default), the facts it
# saw, per rule whether it matched and what it read, the outcome and the matched rules' actions.
review_decisions = Table(
    "review_decisions", metadata,
    Column("id", String(32), primary_key=True),
    Column("order_id", String(32), ForeignKey("orders.id"), nullable=False, index=True),
    Column("rule_set_version", Integer, nullable=False),
    Column("outcome", String(16), nullable=False),  # approve or hold
    Column("reason", String(32)),                   # the hold's reason
    Column("rule", String(64)),                     # the rule that decided; null: the rule set's `otherwise`
    Column("facts", Text, nullable=False),
    Column("trace", Text, nullable=False),
    Column("actions", Text, nullable=False),
    Column("decided_at", DateTime(timezone=True), nullable=False, index=True),
)

# The customer's terms as review reads them (tier, credit limit), per channel and buyer id: a
# projection of the customer service's customer_terms_changed.
customer_terms = Table(
    "customer_terms", metadata,
    Column("channel", String(32), primary_key=True),
    Column("external_id", String(128), primary_key=True),
    Column("tier", String(32), nullable=False),
    Column("credit_limit", Numeric(18, 2)),  # null: no limit
    # the customer service's customer the buyer belongs to (customer_terms_changed's group_id): the
    # buyers of one group are one customer, whose exposure and return rate review adds up
    Column("customer_id", String(32), nullable=False, server_default="", index=True),
    Column("updated_by", String(64), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# The SKUs' categories as review reads them: a projection of inventory's sku_changed (inventory's SKU
# master owns the category; a SKU never announced has none).
sku_categories = Table(
    "sku_categories", metadata,
    Column("sku", String(64), primary_key=True),
    Column("category", String(64), nullable=False),  # "" : none
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# What each buyer owes in the books (receivable, books' currency), per counterparty as the books name it
# (`customer:<channel>:<buyer id>`): a projection of accounting's voucher_posted, review's exposure.
customer_receivables = Table(
    "customer_receivables", metadata,
    Column("counterparty", String(128), primary_key=True),
    Column("balance", Numeric(18, 2), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# Electronic waybills (services.order.waybills): one row per parcel, written before the carrier is asked,
# under a stable key (the parcel key, sent as the carrier's object_id). status: requesting (nothing can
# have been issued: asked, or asked again, freely), uncertain (a call went out and its answer was lost:
# the carrier is asked for the order's numbers before it is asked to issue again), issued (the number,
# never asked for again). claimed_until: one caller at a time works on a parcel.
waybills = Table(
    "waybills", metadata,
    Column("parcel_key", String(48), primary_key=True),
    Column("order_id", String(32), nullable=False, index=True),
    Column("carrier", String(32), nullable=False),  # the carrier code (cp_code), e.g. ZTO
    Column("status", String(12), nullable=False),
    Column("tracking_number", String(64)),
    Column("get_calls", Integer, nullable=False, server_default="0"),
    Column("lookups", Integer, nullable=False, server_default="0"),
    Column("last_error", String(500)),
    Column("claimed_until", DateTime(timezone=True)),
    Column("requested_by", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# Parcels of an order shipped in parts (services.order.parcels): each with its own carrier and tracking
# number, and per line the units it carries and their share of the line's amount (to the cent, taken
# cumulatively, so the parcels of a line add up to exactly its amount).
order_parcels = Table(
    "order_parcels", metadata,
    Column("order_id", String(32), ForeignKey("orders.id"), primary_key=True),
    Column("parcel_no", Integer, primary_key=True),
    Column("carrier", String(32), nullable=False),
    Column("tracking_number", String(64), nullable=False),
    Column("amount", Numeric(18, 2), nullable=False),
    Column("shipped_by", String(64), nullable=False),
    Column("shipped_at", DateTime(timezone=True), nullable=False),
)

order_parcel_lines = Table(
    "order_parcel_lines", metadata,
    Column("order_id", String(32), primary_key=True),
    Column("parcel_no", Integer, primary_key=True),
    Column("line_no", Integer, primary_key=True),
    Column("quantity", Integer, nullable=False),
    Column("amount", Numeric(18, 2), nullable=False),
    ForeignKeyConstraint(["order_id", "parcel_no"], ["order_parcels.order_id", "order_parcels.parcel_no"]),
    CheckConstraint("quantity > 0", name="quantity_positive"),
)

# Sales price lists (services.order.prices): replaced whole by code; a line per SKU and minimum quantity.
price_lists = Table(
    "price_lists", metadata,
    Column("code", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("channel", String(32), nullable=False),  # "": every channel
    Column("tier", String(32), nullable=False),  # "": every customer tier
    Column("valid_from", Date),  # null: always (inclusive)
    Column("valid_to", Date),  # null: open-ended (inclusive)
    Column("updated_by", String(64), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

price_list_lines = Table(
    "price_list_lines", metadata,
    Column("code", String(64), ForeignKey("price_lists.code"), primary_key=True),
    Column("sku", String(64), primary_key=True),
    Column("min_quantity", Integer, primary_key=True),  # 1: any quantity
    Column("unit_price", Numeric(18, 2), nullable=False),
    Index("ix_price_list_lines_sku", "sku"),
)
