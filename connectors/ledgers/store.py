"""The ledger connector's own database: the vouchers it was given, and per ledger and voucher
the push state that makes delivery effectively once."""
from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, Index, Integer, PrimaryKeyConstraint, String, Table, Text, bindparam, text

from hubkit import inbox
from hubkit.db import new_metadata

metadata = new_metadata()

# pending  -> not yet sent (or sent and refused for a reason that stored nothing: retry)
# pushing  -> a save call is (or was, when the process died) in flight: looked up before it is sent
#             again, or (a ledger with an idempotency key, U8 biz_id) sent again under the same key
# confirmed -> the ledger holds it (ledger_ref); never sent again
# rejected -> the ledger refused it, or gave no certain answer too often (message); waits for a
#             person and a re-push (resolved like `pushing`), never retried blindly
PENDING, PUSHING, CONFIRMED, REJECTED = "pending", "pushing", "confirmed", "rejected"
OWED = (PENDING, PUSHING)  # to be pushed, now or later
UNSETTLED = (PENDING, PUSHING, REJECTED)  # not (yet) in the ledger

# In summary mode (connectors/ledgers/summary.py) a summary voucher is kept like a hub voucher
# (a ledger_vouchers row with the summed lines, id "<ledger>:<external number>", and its own push
# row with is_summary set); each hub voucher it sums names it in summary_id and mirrors its status.

vouchers = Table(
    "ledger_vouchers", metadata,
    Column("voucher_id", String(64), primary_key=True),
    Column("number", String(48), nullable=False),
    Column("period", String(7), nullable=False, index=True),
    Column("body", Text, nullable=False),  # the voucher_posted payload, as JSON
    Column("received_at", DateTime(timezone=True), nullable=False),
)

pushes = Table(
    "ledger_pushes", metadata,
    Column("ledger", String(16), nullable=False),
    Column("voucher_id", String(64), nullable=False),
    Column("external_number", String(48), nullable=False),  # stable; written where the ledger keeps it
    Column("status", String(12), nullable=False, index=True),
    Column("is_summary", Boolean, nullable=False, server_default="0"),
    Column("summary_id", String(64), index=True),  # the summary voucher this hub voucher went into
    Column("save_calls", Integer, nullable=False, server_default="0"),
    Column("lookups", Integer, nullable=False, server_default="0"),  # uncertain rounds since a person's decision
    Column("ledger_ref", String(64)),
    Column("last_error", String(500)),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # The voucher first: a round's claim and settle name their vouchers (`voucher_id IN ...`) of one
    # ledger, and every row of a connector with one ledger has the same `ledger`. Led by it, the key let
    # a planner without statistics (autovacuum off) read all of the ledger's rows for a claim, ever more.
    PrimaryKeyConstraint("voucher_id", "ledger"),
    # The unsettled pushes are few, and the table keeps every voucher ever pushed: the pusher's rounds
    # and the gauges (several a second while busy) read them through this index alone.
    Index("ix_ledger_pushes_unsettled", "ledger", "next_attempt_at",
          postgresql_where=text("status IN ('pending', 'pushing', 'rejected')"),
          sqlite_where=text("status IN ('pending', 'pushing', 'rejected')")),
)


def status_in(statuses: tuple[str, ...]):
    """`pushes.status IN (...)` with the statuses written into the statement, not bound: the planner
    proves from them that the partial index holds every row asked for, also in a prepared statement."""
    return pushes.c.status.in_(bindparam(None, list(statuses), expanding=True, literal_execute=True))


account_mappings = Table(
    "ledger_account_mappings", metadata,
    Column("ledger", String(16), primary_key=True),
    Column("hub_account", String(32), primary_key=True),
    Column("ledger_account", String(32), nullable=False),
    Column("updated_by", String(64), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

inbox.add_tables(metadata)
