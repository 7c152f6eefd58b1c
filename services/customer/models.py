"""Tables of the customer service's own database."""
from sqlalchemy import (
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from hubkit import commands, inbox, outbox
from hubkit.db import new_metadata

metadata = new_metadata()

# One row per buyer, keyed by (channel, identity_key): the channel's buyer id, "phone:<phone>",
# or "order:<order id>" for an anonymous buyer. The counters and order times are maintained
# in the same statement that records a new order (see handlers.record_order_placed).
customers = Table(
    "customers", metadata,
    Column("id", String(32), primary_key=True),
    Column("channel", String(32), nullable=False),
    Column("identity_key", String(128), nullable=False),
    Column("external_id", String(128), nullable=False),  # the channel's buyer id, or ""
    Column("name", String(200), nullable=False),
    Column("phone", String(32), nullable=False, index=True),
    Column("email", String(254), nullable=False),
    # placed_at of the order each contact value came from: the newest non-empty value wins,
    # whatever order the events arrive in
    Column("name_at", DateTime(timezone=True)),
    Column("phone_at", DateTime(timezone=True)),
    Column("email_at", DateTime(timezone=True)),
    Column("currency", String(3), nullable=False),
    Column("order_count", Integer, nullable=False),
    Column("lifetime_value", Numeric(18, 2), nullable=False),
    Column("first_order_at", DateTime(timezone=True)),
    Column("last_order_at", DateTime(timezone=True)),
    # the terms order review reads (customer_terms_changed): a tier such as vip, and a credit limit
    Column("tier", String(32), nullable=False, server_default="standard"),
    Column("credit_limit", Numeric(18, 2)),  # null: no limit
    # a keyed hash (HMAC) of the normalized phone: what dedup compares, never the number itself
    Column("phone_hash", String(64), nullable=False, server_default="", index=True),
    # one customer across channels: the customer this row was merged into (null: it stands for itself).
    # Each row keeps its own history and counters, so an unmerge is the link taken away.
    Column("merged_into", String(32), index=True),
    Column("created_by", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", String(64), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("channel", "identity_key", name="uq_customers_identity"),
    Index("ix_customers_channel_external_id", "channel", "external_id"),
    CheckConstraint("order_count >= 0", name="order_count_not_negative"),
)

# The customer's order history: one row per order, whatever event delivered it first.
customer_orders = Table(
    "customer_orders", metadata,
    Column("order_id", String(64), primary_key=True),
    Column("customer_id", String(32), ForeignKey("customers.id"), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("shop", String(64), nullable=False),
    Column("external_order_id", String(64), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("total", Numeric(18, 2), nullable=False),
    Column("status", String(16), nullable=False),  # placed | shipped
    Column("placed_at", DateTime(timezone=True), nullable=False),
    Column("shipped_at", DateTime(timezone=True)),
    Column("carrier", String(64), nullable=False),
    Column("tracking_number", String(128), nullable=False),
    Index("ix_customer_orders_customer_placed", "customer_id", "placed_at"),
)

# What came back of an order after it was placed, for the customer's 360° view: one row per return
# (order_returned), refund after shipment (order_refunded) and refund of lines before shipment
# (order_lines_released, whose lines never ship: no amount in the event, the quantity released).
after_sales = Table(
    "customer_after_sales", metadata,
    Column("id", String(80), primary_key=True),  # "<kind>:<return id | refund id | the release's event id>"
    Column("order_id", String(64), ForeignKey("customer_orders.order_id"), nullable=False, index=True),
    Column("kind", String(16), nullable=False),  # return | refund | release
    Column("reference", String(64), nullable=False),  # the return's or refund's id ("" for a release)
    Column("reason", String(200), nullable=False),
    Column("currency", String(3)),
    Column("amount", Numeric(18, 2)),  # money given back (none for a release: its lines were never paid out)
    Column("quantity", Integer),  # units returned or released (none for a refund: no goods move)
    Column("lines", Integer, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)

# A merge of a customer (with the rows merged into it: `moved`, JSON ids) into another; an unmerge
# closes it. Its who, when and why are the audit of the merge.
merges = Table(
    "customer_merges", metadata,
    Column("id", String(32), primary_key=True),
    Column("customer_id", String(32), nullable=False, index=True),
    Column("into_id", String(32), nullable=False),
    Column("moved", Text, nullable=False),
    Column("merged_by", String(64), nullable=False),
    Column("merged_at", DateTime(timezone=True), nullable=False),
    Column("why", String(500), nullable=False),
    Column("unmerged_by", String(64)),
    Column("unmerged_at", DateTime(timezone=True)),
    Column("unmerge_why", String(500)),
)

# What an operator (or the dedup) did to a customer: merge, unmerge, tag, untag, note, terms.
audit = Table(
    "customer_audit", metadata,
    Column("id", String(32), primary_key=True),
    Column("customer_id", String(32), nullable=False, index=True),
    Column("action", String(32), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("why", String(500), nullable=False),
    Column("detail", Text, nullable=False),  # JSON
)

tags = Table(
    "customer_tags", metadata,
    Column("customer_id", String(32), nullable=False),
    Column("tag", String(32), nullable=False),
    Column("added_by", String(64), nullable=False),
    Column("added_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("customer_id", "tag"),
)

notes = Table(
    "customer_notes", metadata,
    Column("id", String(32), primary_key=True),
    Column("customer_id", String(32), nullable=False, index=True),
    Column("text", String(2000), nullable=False),
    Column("written_by", String(64), nullable=False),
    Column("written_at", DateTime(timezone=True), nullable=False),
)

# The tier rule sets, versioned (services/customer/tiers.py); none: tiers are set by hand only.
tier_rule_sets = Table(
    "tier_rule_sets", metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("name", String(100), nullable=False),
    Column("document", Text, nullable=False),
    Column("note", String(500), nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# Every change of a customer's tier: by the rules (with the facts and trace that decided it) or by hand.
tier_history = Table(
    "customer_tier_history", metadata,
    Column("id", String(32), primary_key=True),
    Column("customer_id", String(32), nullable=False, index=True),
    Column("tier", String(32), nullable=False),
    Column("previous", String(32), nullable=False),
    Column("source", String(16), nullable=False),  # rules | operator
    Column("rule_set_version", Integer),
    Column("facts", Text, nullable=False),
    Column("trace", Text, nullable=False),
    Column("changed_by", String(64), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)

# What each buyer owes in the books (accounting's voucher_posted: the receivable account's lines naming a
# `customer:` counterparty), and the payments among them: the credit exposure, kept from events.
receivables = Table(
    "customer_receivables", metadata,
    Column("counterparty", String(128), primary_key=True),
    Column("balance", Numeric(18, 2), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

payments = Table(
    "customer_payments", metadata,
    Column("id", String(80), primary_key=True),  # "<voucher id>:<line no>"
    Column("counterparty", String(128), nullable=False, index=True),
    Column("voucher_id", String(64), nullable=False),
    Column("number", String(64), nullable=False),
    Column("reference", String(200), nullable=False),
    Column("amount", Numeric(18, 2), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)

outbox.add_tables(metadata)
inbox.add_tables(metadata)
commands.add_tables(metadata)  # commands answered once per id (hubkit.commands): imports
