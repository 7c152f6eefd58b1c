"""Tables of the inventory service's own database."""
from sqlalchemy import (BigInteger, CheckConstraint, Column, DateTime, ForeignKey, Integer, Numeric,
                        String, Table)

from hubkit import inbox, outbox
from hubkit.db import new_metadata

metadata = new_metadata()
_Id = BigInteger().with_variant(Integer, "sqlite")

skus = Table(
    "skus", metadata,
    Column("code", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

warehouses = Table(
    "warehouses", metadata,
    Column("code", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("priority", Integer, nullable=False, server_default="100"),
    Column("created_by", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# Running balance per SKU and warehouse. available = on_hand - reserved, never negative.
stock_levels = Table(
    "stock_levels", metadata,
    Column("sku", String(64), ForeignKey("skus.code"), primary_key=True),
    Column("warehouse", String(32), ForeignKey("warehouses.code"), primary_key=True),
    Column("on_hand", BigInteger, nullable=False),
    Column("reserved", BigInteger, nullable=False),
    CheckConstraint("reserved >= 0", name="reserved_not_negative"),
    CheckConstraint("on_hand >= reserved", name="available_not_negative"),
)

# Immutable stock ledger: every movement, who made it and at what unit cost.
stock_movements = Table(
    "stock_movements", metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),  # receipt | issue
    Column("sku", String(64), ForeignKey("skus.code"), nullable=False),
    Column("warehouse", String(32), ForeignKey("warehouses.code"), nullable=False),
    Column("quantity", BigInteger, nullable=False),  # signed: receipts add, issues take away
    Column("unit_cost", Numeric(18, 6), nullable=False),
    Column("value", Numeric(18, 2), nullable=False, server_default="0"),  # signed, to the cent
    Column("reference", String(128), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
)

# FIFO cost layers: one per receipt, consumed oldest first when stock is issued.
cost_layers = Table(
    "cost_layers", metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("movement_id", _Id, ForeignKey("stock_movements.id"), nullable=False),
    Column("sku", String(64), nullable=False),
    Column("warehouse", String(32), nullable=False),
    Column("quantity", BigInteger, nullable=False),
    Column("remaining", BigInteger, nullable=False),
    Column("unit_cost", Numeric(18, 6), nullable=False),
    # What the remaining units are worth; the last issue takes exactly what is left.
    Column("remaining_value", Numeric(18, 2), nullable=False, server_default="0"),
    # FIFO follows when goods arrived, not the order in which their events were processed
    Column("received_at", DateTime(timezone=True), nullable=False, server_default="1970-01-01 00:00:00"),
    CheckConstraint("remaining >= 0 AND remaining <= quantity", name="remaining_in_range"),
    CheckConstraint("remaining_value >= 0", name="remaining_value_not_negative"),
)

# One row per order line: what inventory answered.
reservations = Table(
    "reservations", metadata,
    Column("order_id", String(32), primary_key=True),
    Column("line_no", Integer, primary_key=True),
    Column("sku", String(64), nullable=False),
    Column("warehouse", String(32)),
    Column("quantity", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),  # reserved | backordered | issued
    Column("cost", Numeric(18, 2)),  # cost of goods, once issued
    Column("returned_quantity", BigInteger, nullable=False, server_default="0"),
    Column("returned_cost", Numeric(18, 2), nullable=False, server_default="0"),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

outbox.add_tables(metadata)
inbox.add_tables(metadata)
