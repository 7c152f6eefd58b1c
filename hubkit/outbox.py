"""The transactional outbox: events are rows written in the same transaction as
the change that caused them; the relay (hubkit.relay) publishes them later. On PostgreSQL the
transaction also NOTIFYs `CHANNEL`, which reaches the relay when it commits (never if it rolls
back). On SQLite, which has no such signal, a commit that wrote outbox rows sends one datagram,
after the COMMIT, to a Unix socket named after the database file that the relay binds
(`wake_relay_after_commit`, `wake_address`).

A unit of work gathers what it emits and writes it with `write_many` just before it commits (and
before a savepoint begins, so a savepoint rolled back never takes earlier events along): one
statement bumps the sequence of every aggregate of the transaction, one writes every row. An event
emitted inside a savepoint is written at once, so that it goes if the savepoint does."""
from __future__ import annotations

import functools
import hashlib
import os
import socket
from collections import Counter
from dataclasses import dataclass
from datetime import timezone
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    event,
    func,
    insert,
    literal_column,
    select,
    text,
)

from hubkit import clock
from hubkit.envelope import Envelope
from hubkit.sql import core, insert_for

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine
    from sqlalchemy.orm import Session

# BigInteger ids autoincrement on PostgreSQL; SQLite needs plain INTEGER for its rowid alias.
_Id = BigInteger().with_variant(Integer, "sqlite")

CHANNEL = "hub_outbox"  # one outbox per database, and NOTIFY is per database
_WROTE = "hub_outbox_wrote"  # Connection.info (SQLite): the open transaction wrote outbox rows


def add_tables(metadata: MetaData) -> None:
    Table("outbox", metadata,
          Column("id", _Id, primary_key=True, autoincrement=True),
          Column("event_id", String(32), nullable=False, unique=True),
          Column("event_type", String(64), nullable=False),
          Column("body", Text, nullable=False),
          Column("created_at", DateTime(timezone=True), nullable=False),
          Column("published_at", DateTime(timezone=True)),
          Column("attempts", Integer, nullable=False, server_default="0"),
          Column("not_before", DateTime(timezone=True)),
          # the relay's rounds read the unpublished rows in id order through this index alone: the
          # published ones, nearly all of the table, are not walked past (hubkit.relay)
          Index("ix_outbox_unpublished", "id", postgresql_where=text("published_at IS NULL"),
                sqlite_where=text("published_at IS NULL")))
    # One row per aggregate: the last sequence number handed out.
    Table("outbox_sequences", metadata,
          Column("aggregate_id", String(64), primary_key=True),
          Column("last_sequence", BigInteger, nullable=False))
    # Lease held by the one active relay of this database.
    Table("relay_lease", metadata,
          Column("name", String(32), primary_key=True),
          Column("holder", String(64), nullable=False),
          Column("expires_at", DateTime(timezone=True), nullable=False))


@dataclass(frozen=True)
class Draft:
    """An event emitted in a transaction whose sequence is handed out when it is written."""
    source: str
    event_type: str
    aggregate_id: str
    payload: dict
    actor: str
    correlation_id: str
    schema_version: int


def write_many(connection, tables, drafts: list[Draft]) -> list[Envelope]:
    """Write `drafts` in the order given: the sequences of their aggregates bumped by one statement
    (in aggregate order, so that two transactions lock the rows in the same order), the rows by one
    multi-row INSERT. `connection`: the Session, or the Connection under it when a savepoint is about
    to begin. Announces the transaction to the relay (PostgreSQL's NOTIFY, delivered at commit: one
    however many were sent; on SQLite a mark that makes its COMMIT send the relay a datagram, see
    `wake_relay_after_commit`). The envelopes written, in order."""
    if not drafts:
        return []
    connection = core(connection)
    dialect = connection.dialect.name
    counts = sorted(Counter(d.aggregate_id for d in drafts).items())
    # one statement for all of them (SQLAlchemy's "insertmanyvalues"), each aggregate once in it
    # on PostgreSQL the bump's RETURNING also NOTIFYs the relay (pg_notify per row: one notification
    # per channel and payload reaches it at commit, however many were sent): no statement of its own
    last = {row[0]: row[1] for row in connection.execute(
        _bump(dialect, tables["outbox_sequences"]), [{"a": aggregate, "n": n} for aggregate, n in counts])}
    taken = {aggregate: last[aggregate] - n for aggregate, n in counts}
    now, rows, envelopes = clock.now(), [], []
    for d in drafts:
        taken[d.aggregate_id] += 1
        envelope = Envelope(type=d.event_type, source=d.source, aggregate_id=d.aggregate_id,
                            sequence=taken[d.aggregate_id], payload=d.payload, correlation_id=d.correlation_id,
                            actor=d.actor, schema_version=d.schema_version)
        envelopes.append(envelope)
        rows.append({"event_id": envelope.event_id, "event_type": d.event_type, "body": envelope.to_json(),
                     "created_at": now})
    connection.execute(_insert_into(tables["outbox"]), rows)
    if dialect == "sqlite":
        connection.info[_WROTE] = True
    return envelopes


def wake_address(path: str) -> bytes:
    """The name, in Linux's abstract namespace, of the Unix datagram socket the relay of the SQLite
    file at `path` binds: the same in every process that opens that file, whatever path it gave."""
    digest = hashlib.sha256(os.path.realpath(path).encode()).hexdigest()[:16]
    return b"\0hub-outbox-" + digest.encode()


def wake_relay_after_commit(engine: Engine) -> None:
    """SQLite: a COMMIT of a transaction that wrote outbox rows (write_many marks its connection) is
    followed by one datagram to the relay's socket (`wake_address`): after it, never before, for a
    relay woken earlier would find nothing yet. SQLAlchemy has no event after a COMMIT on a Connection
    (its `commit` event comes before; the Session's `after_commit` misses Connection-level
    transactions), so this wraps the dialect's do_commit, which every COMMIT on `engine` goes through.
    Sending never fails the writer and never waits: no relay listening, or its buffer full, and the
    datagram is dropped (the relay also looks at its outbox every relay_idle_poll_seconds)."""
    path = engine.url.database
    if not path or path == ":memory:" or path.startswith("file:"):
        return
    address, do_commit = wake_address(path), engine.dialect.do_commit

    def commit_then_wake(dbapi_connection) -> None:
        do_commit(dbapi_connection)  # SQLAlchemy's pool proxy, whose info is the Connection's
        info = getattr(dbapi_connection, "info", None)
        if info is not None and info.pop(_WROTE, False):
            _send(address)

    engine.dialect.do_commit = commit_then_wake  # type: ignore[method-assign]

    @event.listens_for(engine, "begin")
    def _unmarked(conn) -> None:  # a mark left by a transaction rolled back goes
        conn.info.pop(_WROTE, None)


_sender: socket.socket | None = None  # one per process, made by its first wake-up


def _send(address: bytes) -> None:
    global _sender
    try:
        if _sender is None:
            sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sender.setblocking(False)
            _sender = sender
        _sender.sendto(b"!", address)
    except OSError:  # nobody bound it (ECONNREFUSED), its buffer is full (EAGAIN), not Linux ...
        pass


@functools.cache
def _bump(dialect: str, sequences: Table):
    """INSERT … ON CONFLICT that adds n to aggregate a's last sequence and returns the new one; run with
    many (a, n) at once. (A multi-row VALUES written out would have no cache key: compiled each time.)
    On PostgreSQL it also NOTIFYs `CHANNEL` (the NOTIFY that write_many owes, without a round trip)."""
    upsert = insert_for(dialect, sequences).values(aggregate_id=bindparam("a"), last_sequence=bindparam("n"))
    returned: list[Any] = [sequences.c.aggregate_id, sequences.c.last_sequence]
    if dialect == "postgresql":
        returned.append(func.pg_notify(literal_column(f"'{CHANNEL}'"), literal_column("''")))
    return (upsert.on_conflict_do_update(
        index_elements=[sequences.c.aggregate_id],
        set_={"last_sequence": sequences.c.last_sequence + upsert.excluded.last_sequence})
        .returning(*returned))


def emit(session: Session, tables, *, source, event_type, aggregate_id, payload, actor,
         correlation_id, schema_version: int = 1) -> Envelope:
    """Write one event to the outbox of the service whose tables are given, now (UnitOfWork.emit
    checks it against its contract first, and gathers until the commit)."""
    return write_many(session, tables, [Draft(source=source, event_type=event_type, aggregate_id=str(aggregate_id),
                                               payload=payload, actor=actor or "system",
                                               correlation_id=correlation_id or "", schema_version=schema_version)])[0]


@functools.cache
def _insert_into(outbox: Table):
    """One INSERT per outbox table, its values given at execute (a reused statement keeps its cache key);
    inline: a single row's id is not returned (nobody reads it)."""
    return insert(outbox).inline()


def backlog(session: Session | Connection, outbox: Table) -> tuple[int, float]:
    """(pending rows, age in seconds of the oldest pending row)."""
    count, oldest = session.execute(
        select(func.count(), func.min(outbox.c.created_at)).where(outbox.c.published_at.is_(None))).one()
    if not oldest:
        return int(count), 0.0
    if oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=timezone.utc)
    return int(count), max(0.0, (clock.now() - oldest).total_seconds())
