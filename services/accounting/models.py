"""Tables of the accounting service's own database."""
from sqlalchemy import (
                        BigInteger,
                        Boolean,
                        CheckConstraint,
                        Column,
                        Date,
                        DateTime,
                        ForeignKey,
                        Integer,
                        Numeric,
                        String,
                        Table,
                        UniqueConstraint,
)

from hubkit import inbox, outbox
from hubkit.db import new_metadata

metadata = new_metadata()

accounts = Table(
    "accounts", metadata,
    Column("code", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("category", String(16), nullable=False),
    Column("normal_balance", String(6), nullable=False),
)

# Posted vouchers are never updated: corrections are made by reversal.
vouchers = Table(
    "vouchers", metadata,
    Column("id", String(32), primary_key=True),
    Column("number", String(32), nullable=False, unique=True),
    Column("voucher_type", String(8), nullable=False),
    Column("period", String(7), nullable=False, index=True),
    Column("kind", String(24), nullable=False),
    Column("source_type", String(32), nullable=False),
    Column("source_id", String(64), nullable=False, index=True),
    Column("business_date", Date, nullable=False),
    Column("total", Numeric(18, 2), nullable=False),
    Column("posted_at", DateTime(timezone=True), nullable=False),
    Column("posted_by", String(64), nullable=False),
    Column("export_status", String(16), nullable=False, server_default="pending"),
    Column("reverses", String(32)),  # the voucher this one reverses (corrections are reversals)
    # a document in another currency than the books': its currency and the rate its amounts were
    # converted at (both null: the document was in the books' currency)
    Column("currency", String(3)),
    Column("exchange_rate", Numeric(18, 8)),
    # one voucher of each kind per business document: a repeated event cannot post twice
    UniqueConstraint("kind", "source_id", name="uq_vouchers_kind_source"),
)

voucher_lines = Table(
    "voucher_lines", metadata,
    Column("voucher_id", String(32), ForeignKey("vouchers.id"), primary_key=True),
    Column("line_no", Integer, primary_key=True),
    Column("account", String(32), ForeignKey("accounts.code"), nullable=False, index=True),
    Column("summary", String(200), nullable=False),
    Column("debit", Numeric(18, 2), nullable=False),
    Column("credit", Numeric(18, 2), nullable=False),
    Column("aux", String(128), nullable=False, server_default=""),  # counterparty: customer/platform/supplier
    Column("cost_centre", String(64), nullable=False, server_default=""),  # warehouse:SH, channel:taobao
    CheckConstraint("debit >= 0 AND credit >= 0 AND (debit = 0 OR credit = 0)", name="one_side"),
)

# A period is open unless closed here; nothing posts into a closed period.
periods = Table(
    "periods", metadata,
    Column("period", String(7), primary_key=True),
    Column("status", String(8), nullable=False),  # closed
    Column("closed_by", String(64), nullable=False),
    Column("closed_at", DateTime(timezone=True), nullable=False),
)

# Exchange rates to the books' currency, entered or imported; a document takes the latest rate
# of its currency dated on or before its own date.
exchange_rates = Table(
    "exchange_rates", metadata,
    Column("currency", String(3), primary_key=True),
    Column("valid_from", Date, primary_key=True),
    Column("rate", Numeric(18, 8), nullable=False),  # units of the books' currency per unit of `currency`
    Column("entered_by", String(64), nullable=False),
    Column("entered_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("rate > 0", name="rate_positive"),
)

# Voucher numbers run per period and voucher type.
voucher_counters = Table(
    "voucher_counters", metadata,
    Column("key", String(32), primary_key=True),  # "<period>/<type>"
    Column("last_sequence", BigInteger, nullable=False),
)

# The sales facts behind the sales KPIs (services.accounting.kpis): written with the voucher that books
# them, one row per document line that moves revenue (6001), cost of goods (6401) or platform fees
# (6601), signed as the books move them, dated the voucher's business date. So the facts of a period
# add up to exactly what the trial balance shows on those accounts. Never updated, except that the
# dimensions of a line booked before its order's sale (dims_pending) are filled in when the sale comes.
sales_facts = Table(
    "sales_facts", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("voucher_id", String(32), nullable=False, index=True),
    Column("day", Date, nullable=False, index=True),
    # sale | return | refund | rma_refund | cost | return_cost | cost_adjustment | commission | other
    Column("kind", String(16), nullable=False),
    Column("order_id", String(64), nullable=False, server_default="", index=True),
    Column("line_no", Integer, nullable=False, server_default="0"),
    Column("channel", String(32), nullable=False, server_default=""),
    Column("shop", String(64), nullable=False, server_default=""),
    Column("region", String(64), nullable=False, server_default=""),
    Column("category", String(64), nullable=False, server_default=""),
    Column("sku", String(64), nullable=False, server_default=""),
    Column("customer", String(128), nullable=False, server_default=""),  # customer:<channel>:<buyer id>
    Column("quantity", Integer, nullable=False, server_default="0"),  # units sold (+) or back (-)
    Column("list_amount", Numeric(18, 2), nullable=False, server_default="0"),  # a sale at list price, net of VAT
    Column("revenue", Numeric(18, 2), nullable=False, server_default="0"),     # 6001, credit-positive
    Column("cogs", Numeric(18, 2), nullable=False, server_default="0"),        # 6401, debit-positive
    Column("commission", Numeric(18, 2), nullable=False, server_default="0"),  # 6601, debit-positive
    Column("dims_pending", Boolean, nullable=False, server_default="0"),
)

outbox.add_tables(metadata)
inbox.add_tables(metadata)
