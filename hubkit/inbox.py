"""Consumer-side idempotency: the event ids a consumer has applied, recorded in the
same transaction as the effect, and the last sequence seen per aggregate."""
from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, MetaData, String, Table, select, update

from hubkit import clock
from hubkit import logging as hublog
from hubkit.db import Database, UnitOfWork, dialect_insert
from hubkit.envelope import Envelope


class PredecessorMissing(Exception):
    """Raised by a handler when the event it needs to have seen first has not
    arrived yet: the message is set aside and retried later, never dropped."""


def add_tables(metadata: MetaData) -> None:
    Table("inbox", metadata,
          Column("consumer", String(96), primary_key=True),
          Column("event_id", String(32), primary_key=True),
          Column("processed_at", DateTime(timezone=True), nullable=False))
    Table("inbox_positions", metadata,
          Column("consumer", String(96), primary_key=True),
          Column("source", String(32), primary_key=True),
          Column("aggregate_id", String(64), primary_key=True),
          Column("last_sequence", BigInteger, nullable=False))


def accept(session, tables, consumer: str, envelope: Envelope) -> bool:
    """True if this consumer should apply the event now; False for a duplicate or a
    stale version (an event older than one already applied for the same aggregate)."""
    inbox, positions = tables["inbox"], tables["inbox_positions"]
    inserted = session.execute(
        dialect_insert(session, inbox).values(consumer=consumer, event_id=envelope.event_id,
                                       processed_at=clock.now())
        .on_conflict_do_nothing()).rowcount
    if not inserted:
        return False
    key = (positions.c.consumer == consumer) & (positions.c.source == envelope.source) & \
          (positions.c.aggregate_id == envelope.aggregate_id)
    last = session.execute(select(positions.c.last_sequence).where(key)).scalar()
    if last is None:
        session.execute(dialect_insert(session, positions).values(
            consumer=consumer, source=envelope.source, aggregate_id=envelope.aggregate_id,
            last_sequence=envelope.sequence))
        return True
    if envelope.sequence <= last:
        return False
    session.execute(update(positions).where(key).values(last_sequence=envelope.sequence))
    return True


def handle_once(db: Database, service: str, consumer: str, envelope: Envelope, effect) -> bool:
    """Apply `effect(uow, envelope)` at most once per event, in one transaction with
    the inbox record. Returns False when the event was a duplicate or stale."""
    hublog.correlation_id.set(envelope.correlation_id)  # this green thread's log lines carry it
    with UnitOfWork(db, service, actor=envelope.actor, correlation_id=envelope.correlation_id) as uow:
        if not accept(uow.session, db.metadata.tables, consumer, envelope):
            return False
        effect(uow, envelope)
    return True
