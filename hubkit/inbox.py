"""Consumer-side idempotency: the event ids a consumer has applied, recorded in the
same transaction as the effect, and the last sequence seen per aggregate.

Events are applied in batches: the inbox rows and sequences of a whole batch are written with one
statement each, and the effect of every fresh event runs in that one transaction (one commit, one
ack round for the lot). `handle_many` falls back to one event per transaction when a batch fails,
so a poison event fails alone and the rest go through."""
from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import contextmanager

from sqlalchemy import BigInteger, Column, DateTime, MetaData, String, Table, bindparam, select, text
from sqlalchemy.dialects.postgresql import ARRAY

from hubkit import clock
from hubkit import logging as hublog
from hubkit.db import Database, UnitOfWork, dialect_insert
from hubkit.envelope import Envelope
from hubkit.sql import core, once_per_dialect

log = logging.getLogger(__name__)

# effect(uow, fresh): applies the events of a batch that were not seen before, in delivery order
BatchEffect = Callable[[UnitOfWork, list[Envelope]], None]


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


@once_per_dialect
def _accept_statements(session, inbox: Table, positions: Table) -> tuple:
    """accept_many's statements, their values given at execute (building them and their cache keys on
    every batch was most of an accept's CPU)."""
    record = dialect_insert(session, inbox).on_conflict_do_nothing().returning(inbox.c.event_id)
    last = (select(positions.c.source, positions.c.aggregate_id, positions.c.last_sequence)
            .where(positions.c.consumer == bindparam("consumer"),
                   positions.c.aggregate_id.in_(bindparam("aggregates", expanding=True))))
    upsert = dialect_insert(session, positions)
    move = upsert.on_conflict_do_update(
        index_elements=[positions.c.consumer, positions.c.source, positions.c.aggregate_id],
        set_={"last_sequence": upsert.excluded.last_sequence},
        where=positions.c.last_sequence < upsert.excluded.last_sequence)
    # with RETURNING, many rows are one multi-row statement (hubkit.sql.many_rows), never row by row
    return record, last, move.returning(positions.c.source, positions.c.aggregate_id), _record_and_move(session)


def _record_and_move(session):
    """PostgreSQL: record and move (the usual batch, each aggregate once) in one statement: the events
    are recorded, and the positions of those recorded (not the duplicates) moved where they are behind,
    in aggregate order; it names the positions moved. The batch travels as arrays: one statement, and one
    compiled form, whatever its size. (SQLite has no INSERT in a WITH: two statements there.)"""
    if session.get_bind().dialect.name != "postgresql":
        return None
    return text(
        "WITH recorded AS (INSERT INTO inbox (consumer, event_id, processed_at) "
        "SELECT :consumer, e, :now FROM unnest(:ids) AS e ON CONFLICT DO NOTHING RETURNING event_id) "
        "INSERT INTO inbox_positions (consumer, source, aggregate_id, last_sequence) "
        "SELECT :consumer, v.source, v.aggregate_id, v.sequence "
        "FROM unnest(:ids, :sources, :aggregates, :sequences) AS v (event_id, source, aggregate_id, sequence) "
        "JOIN recorded ON recorded.event_id = v.event_id ORDER BY v.source, v.aggregate_id "
        "ON CONFLICT (consumer, source, aggregate_id) DO UPDATE SET last_sequence = excluded.last_sequence "
        "WHERE inbox_positions.last_sequence < excluded.last_sequence "
        "RETURNING inbox_positions.source, inbox_positions.aggregate_id"
    ).bindparams(bindparam("now", type_=DateTime(timezone=True)), bindparam("ids", type_=ARRAY(String)),
                 bindparam("sources", type_=ARRAY(String)), bindparam("aggregates", type_=ARRAY(String)),
                 bindparam("sequences", type_=ARRAY(BigInteger)))


def accept_many(session, tables, consumer: str, envelopes: Sequence[Envelope]) -> list[Envelope]:
    """The events this consumer should apply now, in the given order: not those seen before
    (duplicates) nor those older than one already applied for the same aggregate (stale),
    counting the ones earlier in the same batch. Records all of them as seen."""
    record, last_seen, move, record_and_move = _accept_statements(
        session, tables["inbox"], tables["inbox_positions"])
    unique = list({e.event_id: e for e in envelopes}.values())
    if not unique:
        return []
    now = clock.now()
    execute = core(session).execute
    if record_and_move is not None and len({(e.source, e.aggregate_id) for e in unique}) == len(unique):
        moved_now = set(execute(record_and_move, {
            "consumer": consumer, "now": now, "ids": [e.event_id for e in unique],
            "sources": [e.source for e in unique], "aggregates": [e.aggregate_id for e in unique],
            "sequences": [e.sequence for e in unique]}).tuples())
        return [e for e in unique if (e.source, e.aggregate_id) in moved_now]
    new_ids = set(execute(
        record, [{"consumer": consumer, "event_id": e.event_id, "processed_at": now} for e in unique]).scalars())
    candidates = [e for e in unique if e.event_id in new_ids]
    if not candidates:
        return []
    keys = {(e.source, e.aggregate_id) for e in candidates}
    if len(keys) == len(candidates):
        # each aggregate once (the usual batch): one upsert moves every position that is behind and
        # names them; those events are the fresh ones (a row not moved was at or past the event)
        moved_keys = set(execute(move, [
            {"consumer": consumer, "source": e.source, "aggregate_id": e.aggregate_id, "last_sequence": e.sequence}
            for e in sorted(candidates, key=lambda e: (e.source, e.aggregate_id))]).tuples())
        return [e for e in candidates if (e.source, e.aggregate_id) in moved_keys]
    last = {(source, aggregate): seq for source, aggregate, seq in execute(
        last_seen, {"consumer": consumer, "aggregates": sorted({e.aggregate_id for e in candidates})})}
    fresh: list[Envelope] = []
    moved: dict[tuple[str, str], int] = {}
    for e in candidates:
        key = (e.source, e.aggregate_id)
        if e.sequence > last.get(key, 0):
            fresh.append(e)
            last[key] = moved[key] = e.sequence
    if moved:
        execute(move, [{"consumer": consumer, "source": source, "aggregate_id": aggregate,
                        "last_sequence": seq} for (source, aggregate), seq in moved.items()])
    return fresh


def accept(session, tables, consumer: str, envelope: Envelope) -> bool:
    """True if this consumer should apply the event now; False for a duplicate or a
    stale version (an event older than one already applied for the same aggregate)."""
    return bool(accept_many(session, tables, consumer, [envelope]))


@contextmanager
def on_behalf_of(uow: UnitOfWork, envelope: Envelope):
    """Within a batch: what is emitted and logged now carries this event's actor and correlation id."""
    saved = uow.actor, uow.correlation_id
    token = hublog.correlation_id.set(envelope.correlation_id)
    uow.actor, uow.correlation_id = envelope.actor, envelope.correlation_id
    try:
        yield
    finally:
        uow.actor, uow.correlation_id = saved
        hublog.correlation_id.reset(token)


def handle_batch(db: Database, service: str, consumer: str, envelopes: Sequence[Envelope],
                 effect: BatchEffect) -> list[bool]:
    """Apply `effect(uow, fresh)` to the events of `envelopes` not applied before, in one transaction
    with their inbox records. Returns per envelope whether it was applied (False: a duplicate or
    stale one). Raises if the transaction failed: then none was applied."""
    first = envelopes[0]
    with UnitOfWork(db, service, actor=first.actor, correlation_id=first.correlation_id) as uow:
        fresh = accept_many(uow.session, db.metadata.tables, consumer, envelopes)
        if fresh:
            effect(uow, fresh)
    applied = {e.event_id for e in fresh}
    return [e.event_id in applied for e in envelopes]


def handle_many(db: Database, service: str, consumer: str, envelopes: Sequence[Envelope],
                effect: BatchEffect) -> list[bool | Exception]:
    """`handle_batch`, and when the batch as a whole failed, each event alone, so that one that
    cannot be applied fails by itself. Per envelope: applied (True), duplicate or stale (False), or
    the exception its own transaction raised (for the delivery policy: retry or dead-letter)."""
    if len(envelopes) > 1:
        try:
            return list(handle_batch(db, service, consumer, envelopes, effect))
        except Exception as exc:
            log.warning("a batch of %d %s events failed (%s: %s); applying them one at a time",
                        len(envelopes), consumer, type(exc).__name__, exc)
    outcomes: list[bool | Exception] = []
    for envelope in envelopes:
        try:
            outcomes.append(handle_batch(db, service, consumer, [envelope], effect)[0])
        except Exception as exc:
            outcomes.append(exc)
    return outcomes


def handle_once(db: Database, service: str, consumer: str, envelope: Envelope, effect) -> bool:
    """Apply `effect(uow, envelope)` at most once per event, in one transaction with
    the inbox record. Returns False when the event was a duplicate or stale."""
    hublog.correlation_id.set(envelope.correlation_id)  # this green thread's log lines carry it
    return handle_batch(db, service, consumer, [envelope], lambda uow, fresh: effect(uow, fresh[0]))[0]
