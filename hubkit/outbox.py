"""The transactional outbox: events are rows written in the same transaction as
the change that caused them; the relay (hubkit.relay) publishes them later. On PostgreSQL the
transaction also NOTIFYs `CHANNEL`, which reaches the relay when it commits (never if it rolls
back)."""
from __future__ import annotations

import functools
from datetime import timezone
from typing import TYPE_CHECKING

from sqlalchemy import BigInteger, Column, DateTime, Integer, MetaData, String, Table, Text, func, insert, select, text

from hubkit import clock
from hubkit.counters import next_in_sequence
from hubkit.envelope import Envelope

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection
    from sqlalchemy.orm import Session

# BigInteger ids autoincrement on PostgreSQL; SQLite needs plain INTEGER for its rowid alias.
_Id = BigInteger().with_variant(Integer, "sqlite")

CHANNEL = "hub_outbox"  # one outbox per database, and NOTIFY is per database
_ANNOUNCED = "hub_outbox_announced"  # Session.info: the transaction that has notified
_NOTIFY = text(f"NOTIFY {CHANNEL}")


def add_tables(metadata: MetaData) -> None:
    Table("outbox", metadata,
          Column("id", _Id, primary_key=True, autoincrement=True),
          Column("event_id", String(32), nullable=False, unique=True),
          Column("event_type", String(64), nullable=False),
          Column("body", Text, nullable=False),
          Column("created_at", DateTime(timezone=True), nullable=False),
          Column("published_at", DateTime(timezone=True), index=True),
          Column("attempts", Integer, nullable=False, server_default="0"),
          Column("not_before", DateTime(timezone=True)))
    # One row per aggregate: the last sequence number handed out.
    Table("outbox_sequences", metadata,
          Column("aggregate_id", String(64), primary_key=True),
          Column("last_sequence", BigInteger, nullable=False))
    # Lease held by the one active relay of this database.
    Table("relay_lease", metadata,
          Column("name", String(32), primary_key=True),
          Column("holder", String(64), nullable=False),
          Column("expires_at", DateTime(timezone=True), nullable=False))


def emit(session: Session, tables, *, source, event_type, aggregate_id, payload, actor,
         correlation_id, schema_version: int = 1) -> Envelope:
    """Write one event to the outbox of the service whose tables are given (UnitOfWork.emit checks
    it against its contract first)."""
    envelope = Envelope(type=event_type, source=source, aggregate_id=str(aggregate_id),
                        sequence=next_in_sequence(session, tables["outbox_sequences"], str(aggregate_id)),
                        payload=payload, correlation_id=correlation_id or "", actor=actor or "system",
                        schema_version=schema_version)
    session.execute(_insert_into(tables["outbox"]), {"event_id": envelope.event_id, "event_type": event_type,
                                                     "body": envelope.to_json(), "created_at": clock.now()})
    announce(session)
    return envelope


@functools.cache
def _insert_into(outbox: Table):
    """One INSERT per outbox table, its values given at execute (a reused statement keeps its cache key)."""
    return insert(outbox)


def announce(session: Session) -> None:
    """Tell the relay that this transaction writes outbox rows (once per transaction; PostgreSQL's
    NOTIFY, delivered at commit). Whatever writes outbox rows calls it."""
    if session.connection().dialect.name != "postgresql":
        return
    # a savepoint rolled back takes its NOTIFY along: each savepoint announces on its own
    # (PostgreSQL delivers one notification per channel and transaction however many were sent)
    transaction = session.get_nested_transaction() or session.get_transaction()
    if session.info.get(_ANNOUNCED) is not transaction:
        session.execute(_NOTIFY)
        session.info[_ANNOUNCED] = transaction


def backlog(session: Session | Connection, outbox: Table) -> tuple[int, float]:
    """(pending rows, age in seconds of the oldest pending row)."""
    count, oldest = session.execute(
        select(func.count(), func.min(outbox.c.created_at)).where(outbox.c.published_at.is_(None))).one()
    if not oldest:
        return int(count), 0.0
    if oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=timezone.utc)
    return int(count), max(0.0, (clock.now() - oldest).total_seconds())
