"""The shop connectors' own database: per shop the pull watermark and error state, the versions
published, orders held as exceptions, SKU mappings, and the shipments and stock quantities
owed to the platforms."""
from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, DateTime, Integer, String, Table, Text

from hubkit import commands, inbox
from hubkit.db import new_metadata

metadata = new_metadata()

shops = Table(
    "shop_state", metadata,
    Column("platform", String(16), primary_key=True),
    Column("shop", String(64), primary_key=True),
    Column("watermark", DateTime(timezone=True), nullable=False),  # every change up to here is published
    Column("last_pull_at", DateTime(timezone=True)),
    Column("last_error", String(500)),
    Column("error_since", DateTime(timezone=True)),  # set while the shop is in an error state
    Column("retries", Integer, nullable=False, server_default="0"),
    Column("orders_published", BigInteger, nullable=False, server_default="0"),
    Column("duplicates_suppressed", BigInteger, nullable=False, server_default="0"),
    # the platform's OAuth tokens, which rotate on refresh: the latest pair is kept here
    Column("access_token", String(200)),
    Column("refresh_token", String(200)),
)

published = Table(
    "published_versions", metadata,
    Column("platform", String(16), primary_key=True),
    Column("shop", String(64), primary_key=True),
    Column("external_order_id", String(64), primary_key=True),
    Column("version", BigInteger, nullable=False),  # the platform's modified time (ms) last published
    Column("line_ids", Text, nullable=False, server_default="[]"),  # platform line id of each hub line
    Column("line_amounts", Text, nullable=False, server_default="[]"),  # what was paid for each hub line
    # each hub line's quantity and what was paid for its goods (shipping excluded): a refund with goods
    # back says no quantity, its amount tells whether the whole line comes back ([]: published before)
    Column("line_quantities", Text, nullable=False, server_default="[]"),
    Column("line_goods", Text, nullable=False, server_default="[]"),
)

refunds = Table(
    "platform_refunds", metadata,
    Column("platform", String(16), primary_key=True),
    Column("shop", String(64), primary_key=True),
    Column("refund_id", String(64), primary_key=True),  # the platform's refund id: applied once by it
    Column("external_order_id", String(64), nullable=False),
    Column("line_id", String(64), nullable=False),  # the platform's line (Taobao oid, JD skuId)
    Column("amount", String(24), nullable=False),  # what the platform gives back, yuan
    Column("goods_return", Boolean, nullable=False),
    Column("platform_status", String(32), nullable=False),  # as the platform says it
    Column("version", BigInteger, nullable=False),  # the refund's modified time (ms) last recorded
    # waiting (not yet succeeded) | pending (succeeded, to apply) | applied | superseded (the hub had
    # refunded the line already, e.g. from the trade's own refund status) | closed | held (an exception)
    Column("outcome", String(12), nullable=False, index=True),
    Column("kind", String(16)),  # intercept | refund_only, as the order service applied it; rma (goods back)
    Column("hub_refund_id", String(32)),  # the hub's refund id; for kind rma, the RMA's id
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_error", String(500)),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

exceptions = Table(
    "order_exceptions", metadata,
    Column("platform", String(16), primary_key=True),
    Column("shop", String(64), primary_key=True),
    Column("external_order_id", String(64), primary_key=True),
    Column("reason", String(32), nullable=False),  # unmapped_sku | unparseable_address | amount_mismatch | missing_field
    Column("detail", String(500), nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("payload", Text, nullable=False),  # the platform's order as pulled, to re-drive once resolved
    Column("status", String(12), nullable=False, index=True),  # open | resolved
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("resolved_at", DateTime(timezone=True)),
)

sku_mappings = Table(
    "sku_mappings", metadata,
    Column("platform", String(16), primary_key=True),
    Column("outer_sku", String(64), primary_key=True),
    Column("components", Text, nullable=False),  # JSON [{"sku": hub SKU, "quantity": n}], several = a combination
    Column("platform_ref", String(64)),  # the platform's own id for stock pushes (JD skuId, Taobao num_iid:sku_id)
)

available = Table(
    "hub_available", metadata,
    Column("sku", String(64), primary_key=True),
    Column("available", BigInteger, nullable=False),
    Column("version", BigInteger, nullable=False),  # stock_changed sequence
)

stock_pushes = Table(
    "stock_pushes", metadata,
    Column("platform", String(16), primary_key=True),
    Column("shop", String(64), primary_key=True),
    Column("outer_sku", String(64), primary_key=True),
    Column("quantity", BigInteger, nullable=False),
    Column("version", BigInteger, nullable=False),   # newest hub version this quantity reflects
    Column("pushed_version", BigInteger, nullable=False, server_default="0"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_error", String(500)),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

shipments = Table(
    "shipment_confirmations", metadata,
    Column("platform", String(16), primary_key=True),
    Column("shop", String(64), primary_key=True),
    Column("external_order_id", String(64), primary_key=True),
    # one per parcel (an order shipped whole: its one); JD's combined shipment names every parcel's
    # carrier (`|`) and waybills (`,` within a carrier)
    Column("carrier", String(200), nullable=False),
    Column("tracking_number", String(500), primary_key=True),
    Column("line_ids", Text, nullable=False),  # JSON list of platform line ids shipped (empty: all)
    # pending | confirmed | failed | waiting (a JD parcel sent with the order's last one)
    Column("status", String(12), nullable=False, index=True),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_error", String(500)),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

inbox.add_tables(metadata)
commands.add_tables(metadata)  # a file's import of SKU mappings applied once (hubkit.commands)
