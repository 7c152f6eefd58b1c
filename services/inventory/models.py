"""Tables of the inventory service's own database."""
from sqlalchemy import (
                        JSON,
                        BigInteger,
                        Boolean,
                        CheckConstraint,
                        Column,
                        Date,
                        DateTime,
                        ForeignKey,
                        ForeignKeyConstraint,
                        Integer,
                        Numeric,
                        String,
                        Table,
)

from hubkit import commands, inbox, outbox
from hubkit.db import new_metadata

metadata = new_metadata()
_Id = BigInteger().with_variant(Integer, "sqlite")

skus = Table(
    "skus", metadata,
    Column("code", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("base_unit", String(16), nullable=False, server_default="pcs"),
    Column("category", String(64), nullable=False, server_default=""),
    Column("lot_tracked", Boolean, nullable=False, server_default="0"),
    Column("serial_tracked", Boolean, nullable=False, server_default="0"),
    Column("costing", String(8), nullable=False, server_default="fifo"),  # fifo | average
    Column("created_by", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# Several barcodes may name one SKU (the maker's EAN, our own label, a case code).
barcodes = Table(
    "barcodes", metadata,
    Column("code", String(64), primary_key=True),
    Column("sku", String(64), ForeignKey("skus.code"), nullable=False, index=True),
)

# A kit is a SKU made of components: assembly consumes them, disassembly gives them back.
kit_components = Table(
    "kit_components", metadata,
    Column("kit_sku", String(64), ForeignKey("skus.code"), primary_key=True),
    Column("component_sku", String(64), ForeignKey("skus.code"), primary_key=True),
    Column("quantity", BigInteger, nullable=False),
    CheckConstraint("quantity > 0", name="component_quantity_positive"),
)

warehouses = Table(
    "warehouses", metadata,
    Column("code", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("priority", Integer, nullable=False, server_default="100"),
    Column("region", String(64), nullable=False, server_default=""),
    Column("address", String(300), nullable=False, server_default=""),
    Column("created_by", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# Bins inside a warehouse; a count freezes the bins it covers. Stock received without a bin
# lies in the warehouse's unnamed bin ''.
bins = Table(
    "bins", metadata,
    Column("warehouse", String(32), ForeignKey("warehouses.code"), primary_key=True),
    Column("code", String(32), primary_key=True),
    Column("frozen_by", String(32)),  # the count that froze it
)

# Lots of lot-tracked SKUs. A held lot (quality hold, or expired) is never issued for a sale.
lots = Table(
    "lots", metadata,
    Column("sku", String(64), ForeignKey("skus.code"), primary_key=True),
    Column("lot", String(64), primary_key=True),
    Column("expires_on", Date),
    Column("status", String(16), nullable=False, server_default="ok"),  # ok | quarantined | expired
    Column("expiry_signalled_on", Date),  # lot_expiring was sent for this expiry date
)

serials = Table(
    "serials", metadata,
    Column("sku", String(64), ForeignKey("skus.code"), primary_key=True),
    Column("serial", String(64), primary_key=True),
    Column("status", String(16), nullable=False),  # in_stock | in_transit | issued | scrapped
    Column("warehouse", String(32), nullable=False),
    Column("bin", String(32), nullable=False, server_default=""),
    Column("lot", String(64), nullable=False, server_default=""),
)

# Minimum and maximum stock per SKU and warehouse: low_stock fires once when available
# reaches the minimum and re-arms when it rises above it.
stock_limits = Table(
    "stock_limits", metadata,
    Column("sku", String(64), ForeignKey("skus.code"), primary_key=True),
    Column("warehouse", String(32), ForeignKey("warehouses.code"), primary_key=True),
    Column("minimum", BigInteger, nullable=False),
    Column("maximum", BigInteger, nullable=False),
    Column("signalled", Boolean, nullable=False, server_default="0"),
    CheckConstraint("minimum >= 0 AND maximum >= minimum", name="limits_in_order"),
)

# Running balance per SKU and warehouse. held = units in held lots; available =
# on_hand - reserved - held. in_transit = units shipped by a transfer towards this warehouse.
stock_levels = Table(
    "stock_levels", metadata,
    Column("sku", String(64), ForeignKey("skus.code"), primary_key=True),
    Column("warehouse", String(32), ForeignKey("warehouses.code"), primary_key=True),
    Column("on_hand", BigInteger, nullable=False),
    Column("reserved", BigInteger, nullable=False),
    Column("held", BigInteger, nullable=False, server_default="0"),
    Column("in_transit", BigInteger, nullable=False, server_default="0"),
    CheckConstraint("reserved >= 0", name="reserved_not_negative"),
    CheckConstraint("on_hand >= reserved", name="available_not_negative"),
    CheckConstraint("held >= 0 AND held <= on_hand", name="held_in_range"),
    CheckConstraint("in_transit >= 0", name="in_transit_not_negative"),
)

# Where the units are: per SKU, warehouse, bin and lot ('' when not lot-tracked).
place_stock = Table(
    "place_stock", metadata,
    Column("sku", String(64), ForeignKey("skus.code"), primary_key=True),
    Column("warehouse", String(32), ForeignKey("warehouses.code"), primary_key=True),
    Column("bin", String(32), primary_key=True),
    Column("lot", String(64), primary_key=True),
    Column("quantity", BigInteger, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),  # first arrival: FIFO among bins
    CheckConstraint("quantity >= 0", name="place_quantity_not_negative"),
)

# Immutable stock ledger: every movement, who made it and at what unit cost.
stock_movements = Table(
    "stock_movements", metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),  # receipt | issue | return | adjustment | transfer_out | ...
    Column("document", String(64), nullable=False, server_default="", index=True),  # kind:id of the document
    Column("sku", String(64), ForeignKey("skus.code"), nullable=False),
    Column("warehouse", String(32), ForeignKey("warehouses.code"), nullable=False),
    Column("bin", String(32), nullable=False, server_default=""),
    Column("lot", String(64), nullable=False, server_default=""),
    Column("serial", String(64), nullable=False, server_default=""),
    Column("reason", String(32), nullable=False, server_default=""),
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
    # units shipped by a transfer travel in their own layers (document = transfer:<id>) until received
    Column("in_transit", Boolean, nullable=False, server_default="0"),
    Column("document", String(64), nullable=False, server_default=""),
    CheckConstraint("remaining >= 0 AND remaining <= quantity", name="remaining_in_range"),
    CheckConstraint("remaining_value >= 0", name="remaining_value_not_negative"),
)

# One row per order line: what inventory answered.
reservations = Table(
    "reservations", metadata,
    Column("order_id", String(32), primary_key=True),
    Column("line_no", Integer, primary_key=True),
    Column("sku", String(64), nullable=False),
    Column("warehouse", String(32)),  # where most of it is reserved
    Column("quantity", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),  # reserved | backordered | issued | released | expired
    Column("expires_at", DateTime(timezone=True)),  # an abandoned order's reservation lapses then
    Column("cost", Numeric(18, 2)),  # cost of goods, once issued
    # units issued so far: a partial shipment (parcels) issues a line in parts; issued once all are
    Column("issued_quantity", BigInteger, nullable=False, server_default="0"),
    Column("returned_quantity", BigInteger, nullable=False, server_default="0"),
    Column("returned_cost", Numeric(18, 2), nullable=False, server_default="0"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # who gets stock first when it arrives for backorders: higher priority, earlier ship-by, older
    Column("priority", Integer, nullable=False, server_default="0"),
    Column("ship_by", DateTime(timezone=True)),
)

# How much of a line is reserved in which warehouse (a line may be split, or partly reserved).
allocations = Table(
    "allocations", metadata,
    Column("order_id", String(32), primary_key=True),
    Column("line_no", Integer, primary_key=True),
    Column("warehouse", String(32), primary_key=True),
    Column("quantity", BigInteger, nullable=False),
    Column("cost", Numeric(18, 2)),  # once issued (what its parcels issued so far)
    Column("issued_quantity", BigInteger, nullable=False, server_default="0"),
    ForeignKeyConstraint(["order_id", "line_no"], ["reservations.order_id", "reservations.line_no"]),
    CheckConstraint("quantity > 0", name="allocation_positive"),
)

# Allocation rules (services/inventory/allocation.py), replaced as a whole through the gateway:
# which warehouses serve a region, most preferred first (province and city '' = the default row;
# city '' = the whole province) ...
allocation_coverage = Table(
    "allocation_coverage", metadata,
    Column("province", String(64), primary_key=True),
    Column("city", String(64), primary_key=True),
    Column("warehouse", String(32), ForeignKey("warehouses.code"), primary_key=True),
    Column("rank", Integer, nullable=False),
)

# ... and which warehouses alone may ship a shop's orders (shop '' = every shop of the channel).
shop_warehouses = Table(
    "shop_warehouses", metadata,
    Column("channel", String(64), primary_key=True),
    Column("shop", String(64), primary_key=True),
    Column("warehouse", String(32), ForeignKey("warehouses.code"), primary_key=True),
    Column("rank", Integer, nullable=False),
)

# Why an order ships from where it does: the candidates weighed and the choice, as decided when
# the order was placed (backorders filled later take from the same candidates).
allocation_decisions = Table(
    "allocation_decisions", metadata,
    Column("order_id", String(32), primary_key=True),
    Column("channel", String(64), nullable=False),
    Column("shop", String(64), nullable=False),
    Column("province", String(64), nullable=False),
    Column("city", String(64), nullable=False),
    Column("priority", Integer, nullable=False),
    Column("candidates", JSON, nullable=False),  # [{warehouse, rank, source, covers, lacks}]
    Column("chosen", JSON, nullable=False),  # [warehouse], first chosen first
    Column("split_reason", String(32)),  # allocation.SPLIT_REASONS, when more than one parcel
    Column("reason", String(1000), nullable=False),
    Column("decided_at", DateTime(timezone=True), nullable=False),
)

# Later decisions on an order's allocation, appended, never changed: a backorder filled when stock
# arrived or was freed (decided again by the rules in force), an operator's move.
allocation_redecisions = Table(
    "allocation_redecisions", metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("order_id", String(32), nullable=False, index=True),
    Column("why", String(300), nullable=False),  # what made it decide again
    Column("candidates", JSON, nullable=False),  # [{warehouse, rank, source, covers, lacks}] over the open lines
    Column("chosen", JSON, nullable=False),  # [warehouse] this decision took from
    Column("filled", JSON, nullable=False),  # [{line_no, sku, warehouse, quantity}] reserved by it
    Column("split_reason", String(32)),
    Column("reason", String(1000), nullable=False),
    Column("decided_at", DateTime(timezone=True), nullable=False),
)

# A picker's scans: the exact bin, lot and serial an order line leaves from.
picks = Table(
    "picks", metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("order_id", String(32), nullable=False, index=True),
    Column("line_no", Integer, nullable=False),
    Column("warehouse", String(32), nullable=False),
    Column("bin", String(32), nullable=False),
    Column("lot", String(64), nullable=False),
    Column("serial", String(64), nullable=False),
    Column("quantity", BigInteger, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("picked_at", DateTime(timezone=True), nullable=False),
)

# Pick waves (services.inventory.waves): released orders of one warehouse picked together. A wave's
# orders go open -> packed (every unit scanned at packing) -> shipped (order_shipped), or cancelled
# (released before they shipped); an order is in at most one wave that is not done with it.
waves = Table(
    "waves", metadata,
    Column("id", String(32), primary_key=True),
    Column("warehouse", String(32), ForeignKey("warehouses.code"), nullable=False, index=True),
    Column("created_by", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

wave_orders = Table(
    "wave_orders", metadata,
    Column("wave_id", String(32), ForeignKey("waves.id"), primary_key=True),
    Column("order_id", String(32), primary_key=True, index=True),
    Column("position", Integer, nullable=False),  # the wave's order: most urgent first
    Column("status", String(16), nullable=False),  # open | packed | shipped | cancelled
    Column("packed_by", String(64)),  # who scanned its last unit at packing
    Column("packed_at", DateTime(timezone=True)),
)

# The pick list: what to take for each order line, where (bin, lot, serial, as inventory's picking
# rules chose: named serials, FEFO over lots with an expiry, else FIFO), and how much was scanned at packing.
wave_lines = Table(
    "wave_lines", metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("wave_id", String(32), ForeignKey("waves.id"), nullable=False, index=True),
    Column("order_id", String(32), nullable=False),
    Column("line_no", Integer, nullable=False),
    Column("sku", String(64), nullable=False),
    Column("bin", String(32), nullable=False),
    Column("lot", String(64), nullable=False),
    Column("serial", String(64), nullable=False),
    Column("quantity", BigInteger, nullable=False),
    Column("packed", BigInteger, nullable=False, server_default="0"),
    CheckConstraint("quantity > 0 AND packed >= 0 AND packed <= quantity", name="packed_in_range"),
)


# Documents that live longer than one call: transfers (shipped -> received) and counts
# (open -> submitted -> awaiting_approval -> posted | cancelled).
documents = Table(
    "documents", metadata,
    Column("id", String(32), primary_key=True),
    Column("kind", String(16), nullable=False),  # transfer | count
    Column("status", String(24), nullable=False),
    Column("warehouse", String(32), ForeignKey("warehouses.code"), nullable=False),
    Column("to_warehouse", String(32), ForeignKey("warehouses.code")),
    Column("details", JSON, nullable=False),  # count scope, notes
    Column("created_by", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", String(64), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# Lines of a transfer (what travels, at what value) or of a count (expected vs counted).
document_lines = Table(
    "document_lines", metadata,
    Column("document_id", String(32), ForeignKey("documents.id"), primary_key=True),
    Column("line_no", Integer, primary_key=True),
    Column("sku", String(64), nullable=False),
    Column("bin", String(32), nullable=False, server_default=""),
    Column("lot", String(64), nullable=False, server_default=""),
    Column("serial", String(64), nullable=False, server_default=""),
    Column("quantity", BigInteger, nullable=False),  # transfer: units sent; count: expected
    Column("counted", BigInteger),
    Column("value", Numeric(18, 2)),
)

# Incoming inspection (质检): a purchase receipt line that must be inspected arrives in its lot, which
# stays quarantined (on hand, held, not available) until the result: passed units are released,
# failed ones go back to the supplier (disposition return) or are scrapped (disposition scrap).
inspections = Table(
    "inspections", metadata,
    Column("id", String(32), primary_key=True),
    Column("receipt_id", String(32), nullable=False, index=True),
    Column("purchase_order_id", String(32), nullable=False),
    Column("line_no", Integer, nullable=False),
    Column("supplier", String(64), nullable=False, index=True),
    Column("warehouse", String(32), ForeignKey("warehouses.code"), nullable=False),
    Column("sku", String(64), ForeignKey("skus.code"), nullable=False),
    Column("lot", String(64), nullable=False),
    Column("quantity", BigInteger, nullable=False),
    Column("status", String(16), nullable=False, index=True),  # open | passed | failed | partial
    Column("passed", BigInteger, nullable=False, server_default="0"),
    Column("failed", BigInteger, nullable=False, server_default="0"),
    Column("disposition", String(16), nullable=False, server_default=""),  # '' | return | scrap
    Column("note", String(500), nullable=False, server_default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("inspected_by", String(64)),
    Column("inspected_at", DateTime(timezone=True)),
    CheckConstraint("quantity > 0", name="quantity_positive"),
    CheckConstraint("passed >= 0 AND failed >= 0 AND passed + failed <= quantity", name="results_in_range"),
    CheckConstraint("status IN ('open', 'passed', 'failed', 'partial')", name="status_known"),
)

outbox.add_tables(metadata)
inbox.add_tables(metadata)
commands.add_tables(metadata)  # commands answered once per id (hubkit.commands)
