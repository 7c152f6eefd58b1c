"""Tables of the procurement service's own database."""
from sqlalchemy import (
                        JSON,
                        BigInteger,
                        Boolean,
                        CheckConstraint,
                        Column,
                        Date,
                        DateTime,
                        ForeignKey,
                        Index,
                        Integer,
                        Numeric,
                        String,
                        Table,
                        Text,
                        text,
)

from hubkit import commands, inbox, outbox
from hubkit.db import new_metadata

metadata = new_metadata()

suppliers = Table(
    "suppliers", metadata,
    Column("code", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", String(64), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

purchase_orders = Table(
    "purchase_orders", metadata,
    Column("id", String(32), primary_key=True),
    Column("supplier", String(64), ForeignKey("suppliers.code"), nullable=False, index=True),
    Column("warehouse", String(32), nullable=False),  # inventory owns warehouses; the gateway checks it
    Column("currency", String(3), nullable=False),
    Column("exchange_rate", Numeric(18, 8)),  # to the books' currency when accepted; null: in the books' currency
    Column("status", String(24), nullable=False, index=True),  # open | partially_received | received
    # pending | approved | rejected: received only once approved (services.procurement.approvals)
    Column("approval", String(16), nullable=False, server_default="approved"),
    Column("chain_version", Integer),  # the approval chain it went through; null: approved by its requisition
    Column("requisition_id", String(32)),  # made from approved requisitions (the first of them)
    Column("created_by", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", String(64), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# received only grows, by one conditional UPDATE, and never passes quantity.
purchase_order_lines = Table(
    "purchase_order_lines", metadata,
    Column("purchase_order_id", String(32), ForeignKey("purchase_orders.id"), primary_key=True),
    Column("line_no", Integer, primary_key=True),
    Column("sku", String(64), nullable=False),
    Column("quantity", BigInteger, nullable=False),
    Column("received", BigInteger, nullable=False, server_default="0"),
    Column("returned", BigInteger, nullable=False, server_default="0"),  # sent back to the supplier
    Column("unit_cost", Numeric(18, 6), nullable=False),  # excluding VAT
    Column("vat_rate", Numeric(5, 4), nullable=False),
    Column("amount", Numeric(18, 2), nullable=False),     # cents(quantity x unit_cost), excluding VAT
    Column("expected_on", Date),  # when the supplier is to deliver it (the scorecard's on-time rate)
    CheckConstraint("quantity > 0", name="quantity_positive"),
    CheckConstraint("received >= 0", name="received_not_negative"),
    CheckConstraint("received <= quantity", name="received_at_most_ordered"),
    CheckConstraint("returned >= 0 AND returned <= received", name="returned_at_most_received"),
)

# One row per delivery taken in; each emits one purchase_received. Inventory may refuse it
# (purchase_receipt_refused): then it is `refused`, with inventory's reason, and its quantities are open again.
receipts = Table(
    "receipts", metadata,
    Column("id", String(32), primary_key=True),
    Column("purchase_order_id", String(32), ForeignKey("purchase_orders.id"), nullable=False, index=True),
    Column("reference", String(128), nullable=False),
    Column("total_net", Numeric(18, 2), nullable=False),
    Column("total_tax", Numeric(18, 2), nullable=False),
    Column("total", Numeric(18, 2), nullable=False),
    Column("received_by", String(64), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("status", String(16), nullable=False, server_default="accepted"),  # accepted | refused
    Column("refused_reason", String(500)),
    Column("refused_at", DateTime(timezone=True)),
    # goods before invoice (先货后票): booked at the order's price as a provisional payable until invoiced
    Column("invoice_pending", Boolean, nullable=False, server_default="0"),
    CheckConstraint("status IN ('accepted', 'refused')", name="status_known"),
)

receipt_lines = Table(
    "receipt_lines", metadata,
    Column("receipt_id", String(32), ForeignKey("receipts.id"), primary_key=True),
    Column("line_no", Integer, primary_key=True),
    Column("sku", String(64), nullable=False),
    Column("quantity", BigInteger, nullable=False),
    Column("unit_cost", Numeric(18, 6), nullable=False),
    Column("vat_rate", Numeric(5, 4), nullable=False),
    Column("amount", Numeric(18, 2), nullable=False),  # net
    Column("tax", Numeric(18, 2), nullable=False),
    Column("tracking", JSON),  # bin, lot, expires_on, serials as received, if given
    # of a receipt awaiting its invoice: the units a supplier invoice has matched so far
    Column("invoiced", BigInteger, nullable=False, server_default="0"),
    CheckConstraint("quantity > 0", name="quantity_positive"),
    CheckConstraint("invoiced >= 0 AND invoiced <= quantity", name="invoiced_at_most_received"),
)

# Bills that change what received goods cost: a supplier invoice matched to receipts that awaited it
# (kind supplier_invoice) or a landed cost on one receipt (kind landed_cost: freight, duty, insurance).
# Each emits one purchase_cost_billed; its lines say which receipt lines' cost changes by how much.
purchase_bills = Table(
    "purchase_bills", metadata,
    Column("id", String(32), primary_key=True),
    Column("kind", String(16), nullable=False),  # supplier_invoice | landed_cost
    Column("purchase_order_id", String(32), ForeignKey("purchase_orders.id"), nullable=False, index=True),
    Column("receipt_id", String(32)),            # a landed cost's receipt
    Column("supplier", String(64), ForeignKey("suppliers.code"), nullable=False),  # who bills
    Column("reference", String(128), nullable=False),  # the invoice's or bill's number
    Column("charge", String(16), nullable=False, server_default=""),  # freight | duty | insurance | other
    Column("basis", String(16), nullable=False, server_default=""),   # value | quantity | weight
    Column("provisional", Numeric(18, 2), nullable=False),  # the provisional payable an invoice reverses
    Column("total_net", Numeric(18, 2), nullable=False),
    Column("total_tax", Numeric(18, 2), nullable=False),
    Column("total", Numeric(18, 2), nullable=False),
    Column("billed_by", String(64), nullable=False),
    Column("billed_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("kind IN ('supplier_invoice', 'landed_cost')", name="kind_known"),
)

purchase_bill_lines = Table(
    "purchase_bill_lines", metadata,
    Column("bill_id", String(32), ForeignKey("purchase_bills.id"), primary_key=True),
    Column("receipt_id", String(32), primary_key=True),
    Column("line_no", Integer, primary_key=True),
    Column("sku", String(64), nullable=False),
    Column("quantity", BigInteger, nullable=False),
    Column("unit_price", Numeric(18, 6)),  # an invoice's price
    Column("provisional", Numeric(18, 2), nullable=False),
    Column("amount", Numeric(18, 2), nullable=False),  # net billed for the line
    Column("change", Numeric(18, 2), nullable=False),  # what it changes the line's cost by
)

# Goods sent back to the supplier; each emits one purchase_returned. Refused by inventory
# (purchase_return_refused): `refused`, with the reason, and its quantities may be returned again.
purchase_returns = Table(
    "purchase_returns", metadata,
    Column("id", String(32), primary_key=True),
    Column("purchase_order_id", String(32), ForeignKey("purchase_orders.id"), nullable=False, index=True),
    Column("reference", String(128), nullable=False),
    Column("reason", String(200), nullable=False),
    Column("total_net", Numeric(18, 2), nullable=False),
    Column("total_tax", Numeric(18, 2), nullable=False),
    Column("total", Numeric(18, 2), nullable=False),
    Column("returned_by", String(64), nullable=False),
    Column("returned_at", DateTime(timezone=True), nullable=False),
    Column("status", String(16), nullable=False, server_default="accepted"),  # accepted | refused
    Column("refused_reason", String(500)),
    Column("refused_at", DateTime(timezone=True)),
    CheckConstraint("status IN ('accepted', 'refused')", name="status_known"),
)

purchase_return_lines = Table(
    "purchase_return_lines", metadata,
    Column("return_id", String(32), ForeignKey("purchase_returns.id"), primary_key=True),
    Column("line_no", Integer, primary_key=True),
    Column("sku", String(64), nullable=False),
    Column("quantity", BigInteger, nullable=False),
    Column("unit_cost", Numeric(18, 6), nullable=False),
    Column("vat_rate", Numeric(5, 4), nullable=False),
    Column("amount", Numeric(18, 2), nullable=False),
    Column("tax", Numeric(18, 2), nullable=False),
    CheckConstraint("quantity > 0", name="quantity_positive"),
)

# What to buy: inventory's low_stock signals, one open suggestion per SKU and warehouse, kept up to date
# by newer signals; closed when a purchase order is raised for it (ordered) or a buyer dismisses it.
# A signal that arrives after the suggestion was closed opens a new one.
purchase_suggestions = Table(
    "purchase_suggestions", metadata,
    Column("id", String(32), primary_key=True),
    Column("sku", String(64), nullable=False),
    Column("warehouse", String(32), nullable=False),
    Column("status", String(16), nullable=False, index=True),  # open | ordered | dismissed
    Column("available", BigInteger, nullable=False),  # as of the latest signal
    Column("minimum", BigInteger, nullable=False),
    Column("maximum", BigInteger, nullable=False),
    Column("quantity", BigInteger, nullable=False),   # suggested: maximum - available (the shortfall)
    Column("signalled_at", DateTime(timezone=True), nullable=False),  # occurred_at of the latest signal
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("closed_by", String(64)),                  # who dismissed it or raised the purchase order
    Column("closed_at", DateTime(timezone=True)),
    Column("purchase_order_id", String(32)),          # the purchase order that took it up
    # replenishment: why this quantity (replenish.plan's terms, JSON), the preferred supplier and last price
    Column("basis", String(80)),                      # minimum_maximum | velocity | rule:<id>
    Column("terms", Text),
    Column("supplier", String(64)),
    Column("last_price", Numeric(18, 6)),
    Column("rule_set_version", Integer),
    CheckConstraint("status IN ('open', 'ordered', 'dismissed')", name="status_known"),
    CheckConstraint("quantity > 0", name="quantity_positive"),
    Index("ix_purchase_suggestions_sku_warehouse", "sku", "warehouse"),
    Index("uq_purchase_suggestions_open", "sku", "warehouse", unique=True,
          sqlite_where=text("status = 'open'"), postgresql_where=text("status = 'open'")),
)

# Lot signals from inventory, kept for buyers to act on: lot_expiring (one row per warehouse holding the
# lot) and lot_hold_changed. details is JSON: expires_on, days_left, quantity | held, reason, quantity, note.
_Id = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements only INTEGER primary keys
stock_alerts = Table(
    "stock_alerts", metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("event_id", String(32), nullable=False, index=True),
    Column("kind", String(24), nullable=False),  # lot_expiring | lot_hold_changed
    Column("sku", String(64), nullable=False, index=True),
    Column("lot", String(64), nullable=False),
    Column("warehouse", String(32)),
    Column("details", Text, nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False, index=True),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("kind IN ('lot_expiring', 'lot_hold_changed')", name="kind_known"),
)

# Inventory's incoming-inspection results (inspection_recorded), per received line: the supplier
# scorecard's quality pass rate; a failed part with disposition return raised return_id.
inspection_results = Table(
    "inspection_results", metadata,
    Column("inspection_id", String(32), primary_key=True),
    Column("receipt_id", String(32), nullable=False),
    Column("purchase_order_id", String(32), nullable=False, index=True),
    Column("line_no", Integer, nullable=False),
    Column("supplier", String(64), nullable=False, index=True),
    Column("sku", String(64), nullable=False),
    Column("lot", String(64), nullable=False),
    Column("quantity", BigInteger, nullable=False),
    Column("passed", BigInteger, nullable=False),
    Column("failed", BigInteger, nullable=False),
    Column("disposition", String(16), nullable=False),
    Column("return_id", String(32)),
    Column("inspected_by", String(64), nullable=False),
    Column("inspected_at", DateTime(timezone=True), nullable=False, index=True),
)

# The scorecard's grade bands (one row, id 1; absent: the default bands). document is the JSON
# {"weights": {...}, "bands": [{"grade", "min", "max"}]}, validated by services.procurement.scorecard.
scorecard_config = Table(
    "scorecard_config", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("document", Text, nullable=False),
    Column("updated_by", String(64), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# Approvals (services.procurement.approvals). Chains: each applied document a new version, never changed;
# the newest is in force (version 0: the shipped default, services/procurement/default_approval_chain.yaml).
approval_chains = Table(
    "approval_chains", metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("name", String(100), nullable=False),
    Column("document", Text, nullable=False),  # JSON, as validated
    Column("note", String(500), nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# A document's steps (requisition or purchase order), resolved from the chain in force when it was raised.
approval_steps = Table(
    "approval_steps", metadata,
    Column("document_kind", String(16), primary_key=True),  # requisition | purchase_order
    Column("document_id", String(32), primary_key=True),
    Column("step_no", Integer, primary_key=True),
    Column("step_id", String(64), nullable=False),
    Column("role", String(16)),        # a role step, or
    Column("user_name", String(64)),   # a named user's
    Column("status", String(16), nullable=False),  # queued | waiting | approved | rejected | cancelled
    Column("opened_at", DateTime(timezone=True)),  # when it started waiting
    Column("decided_by", String(64)),
    Column("on_behalf_of", String(64)),  # the delegator, when a delegate decided
    Column("decided_at", DateTime(timezone=True)),
    Column("comment", String(500)),
    Column("overdue_announced_at", DateTime(timezone=True)),  # approval_waiting sent as overdue
    Column("requester", String(64), nullable=False),   # the document's, for approval_waiting
    Column("amount", Numeric(18, 2), nullable=False),  # the document's total in the base currency
    CheckConstraint("status IN ('queued', 'waiting', 'approved', 'rejected', 'cancelled')", name="status_known"),
    Index("ix_approval_steps_status_opened", "status", "opened_at"),
)

# Every approval action on a document: raised, step opened, approved, rejected, ordered (who, when, comment).
approval_log = Table(
    "approval_log", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("document_kind", String(16), nullable=False),
    Column("document_id", String(32), nullable=False),
    Column("step_no", Integer),
    Column("action", String(16), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("on_behalf_of", String(64)),
    Column("comment", String(500), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("ix_approval_log_document", "document_kind", "document_id"),
)

# An approver's delegation for a period [starts_at, ends_at): the delegate approves their steps meanwhile.
approval_delegations = Table(
    "approval_delegations", metadata,
    Column("id", String(32), primary_key=True),
    Column("delegator", String(64), nullable=False, index=True),
    Column("delegator_role", String(16), nullable=False),  # the delegator's role when delegating
    Column("delegate", String(64), nullable=False, index=True),
    Column("starts_at", DateTime(timezone=True), nullable=False),
    Column("ends_at", DateTime(timezone=True), nullable=False),
    Column("note", String(500), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("ends_at > starts_at", name="period_positive"),
)

# A person's request to buy, or one made from purchase suggestions; approved ones become purchase orders.
requisitions = Table(
    "requisitions", metadata,
    Column("id", String(32), primary_key=True),
    Column("requester", String(64), nullable=False),
    Column("warehouse", String(32), nullable=False),
    Column("currency", String(3), nullable=False),  # the books' (base) currency
    Column("total", Numeric(18, 2), nullable=False),  # VAT included
    Column("category", String(64), nullable=False),
    Column("material_type", String(64), nullable=False),
    Column("project", String(64), nullable=False),
    Column("cost_centre", String(64), nullable=False),
    Column("department", String(64), nullable=False),
    Column("note", String(500), nullable=False),
    Column("status", String(16), nullable=False, index=True),  # pending | approved | rejected | ordered
    Column("chain_version", Integer, nullable=False),
    Column("rejected_reason", String(500)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("status IN ('pending', 'approved', 'rejected', 'ordered')", name="status_known"),
)

requisition_lines = Table(
    "requisition_lines", metadata,
    Column("requisition_id", String(32), ForeignKey("requisitions.id"), primary_key=True),
    Column("line_no", Integer, primary_key=True),
    Column("sku", String(64), nullable=False),
    Column("quantity", BigInteger, nullable=False),
    Column("supplier", String(64), ForeignKey("suppliers.code"), nullable=False),
    Column("unit_cost", Numeric(18, 6), nullable=False),
    Column("vat_rate", Numeric(5, 4), nullable=False),
    Column("amount", Numeric(18, 2), nullable=False),
    Column("suggestion_id", String(32)),       # the purchase suggestion it takes up
    Column("purchase_order_id", String(32)),   # once ordered
    CheckConstraint("quantity > 0", name="quantity_positive"),
)

outbox.add_tables(metadata)
inbox.add_tables(metadata)
commands.add_tables(metadata)  # commands answered once per id (hubkit.commands)


# -- replenishment ----------------------------------------------------------
# A SKU's terms in a warehouse, set by a buyer; defaults (replenish.Terms) where there is no row.
replenishment_terms = Table(
    "replenishment_terms", metadata,
    Column("sku", String(64), primary_key=True),
    Column("warehouse", String(32), primary_key=True),
    Column("lead_time_days", Integer, nullable=False),
    Column("review_period_days", Integer, nullable=False),
    Column("safety_stock", BigInteger, nullable=False),
    Column("min_order_quantity", BigInteger, nullable=False),
    Column("order_multiple", BigInteger, nullable=False),
    Column("window_days", Integer, nullable=False),
    Column("promotion_factor", Numeric(8, 4), nullable=False),
    Column("supplier", String(64)),  # preferred; else the last purchase order's
    Column("updated_by", String(64), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("lead_time_days >= 0 AND review_period_days >= 0 AND safety_stock >= 0", name="terms_not_negative"),
    CheckConstraint("min_order_quantity >= 1 AND order_multiple >= 1", name="order_sizes_positive"),
)

# Inventory's position of a SKU in a warehouse, projected from stock_changed (available, in transit)
# and low_stock (minimum and maximum as of the latest signal).
stock_positions = Table(
    "stock_positions", metadata,
    Column("sku", String(64), primary_key=True),
    Column("warehouse", String(32), primary_key=True),
    Column("available", BigInteger, nullable=False),
    Column("in_transit", BigInteger, nullable=False),
    Column("minimum", BigInteger),
    Column("maximum", BigInteger),
    Column("out_since", Date),  # the UTC day available fell to zero, while it stays there
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# Units sold per SKU, warehouse and day (UTC), projected from goods_issued; stocked_out marks the days
# of a stretch with nothing available (from stock_changed; left out of the velocity unless they sold).
daily_sales = Table(
    "daily_sales", metadata,
    Column("sku", String(64), primary_key=True),
    Column("warehouse", String(32), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("quantity", BigInteger, nullable=False),
    Column("stocked_out", Boolean, nullable=False),
)

# The merchant's demand rule sets (hubkit.rules documents), newest version in force.
demand_rule_sets = Table(
    "demand_rule_sets", metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("name", String(100), nullable=False),
    Column("document", Text, nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
