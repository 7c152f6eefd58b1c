"""Tables of the customer service's own database."""
from sqlalchemy import CheckConstraint, Column, DateTime, ForeignKey, Index, Integer, Numeric, String, Table, UniqueConstraint

from hubkit import inbox, outbox
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

outbox.add_tables(metadata)
inbox.add_tables(metadata)
