"""Engine, metadata and the unit of work each service uses for every write.

On SQLite every write transaction starts with BEGIN IMMEDIATE and is serialised
per process (one writer at a time is all SQLite allows, and a green thread must
not sit in SQLite's busy wait while holding the eventlet hub).

On PostgreSQL a process keeps one pooled connection per thread that may hold one (`pool_size`), so
none is opened and closed under load, and checks a connection before use only when it has been idle
(`IDLE_PING_SECONDS`): a database restart leaves every pooled connection dead. One found dead in use
makes SQLAlchemy discard the whole pool, and `once_more_if_disconnected` runs again the work it
broke when none of that work's transactions had tried to commit."""
from __future__ import annotations

import contextvars
import functools
import logging
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, contextmanager
from datetime import timezone
from functools import cached_property
from typing import TYPE_CHECKING, cast

from sqlalchemy import MetaData, NullPool, create_engine, event, make_url
from sqlalchemy.engine import Connection, CursorResult, Engine
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError

from hubkit import outbox
from hubkit.events import ContractError, Event
from hubkit.sql import dialect_insert  # noqa: F401 (the services import it from here)

if TYPE_CHECKING:  # the ORM (~6 MiB) is imported by the first session: a relay uses Core only
    from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

IDLE_PING_SECONDS = 10.0  # a connection idle longer may predate a database restart: checked before use
RECYCLE_SECONDS = 1800  # and none lives longer (proxies and firewalls drop idle connections)
# set once a transaction of the current call has tried to commit: then a retry could apply it twice
_commit_tried: contextvars.ContextVar[bool] = contextvars.ContextVar("hub_commit_tried", default=False)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_metadata() -> MetaData:
    return MetaData(naming_convention=NAMING_CONVENTION)


def is_sqlite(url_or_engine) -> bool:
    url = url_or_engine.url if isinstance(url_or_engine, Engine) else url_or_engine
    return str(url).startswith("sqlite")


def changed(session: Session, statement, params=None) -> int:
    """Run an INSERT, UPDATE or DELETE and say how many rows it touched (SQLAlchemy types
    `execute` as a plain Result; for these statements it is a CursorResult)."""
    return cast(CursorResult, session.execute(statement, params)).rowcount


def once_per_transaction(session: Session, key: str, load):
    """`load()`, read once per unit of work (its session lives as long as the transaction): for
    reference data that each event of a batch would otherwise read again, such as the chart of accounts."""
    memo = session.info.setdefault("hub_once_per_transaction", {})
    if key not in memo:
        memo[key] = load()
    return memo[key]


def pool_size(settings, threads: int) -> int:
    """Connections a process keeps per database: one for each of its `threads` that may hold one at a
    time, so that under load none is opened and closed (HUB_DB_POOL_SIZE instead, when it is set)."""
    return settings.db_pool_size or threads


def upkeep_warnings(urls) -> list[str]:
    """What an operator should hear about the upkeep of the database servers behind `urls` (one check
    per server). PostgreSQL with autovacuum off analyses and vacuums none of the hub's tables: the
    planner never learns how they grow, and the dead rows of every update stay."""
    servers = {(u.host, u.port): u for u in map(make_url, urls) if not u.drivername.startswith("sqlite")}
    warnings = []
    for (host, port), url in servers.items():
        engine = create_engine(url, poolclass=NullPool)
        try:
            with engine.connect() as connection:
                autovacuum = connection.exec_driver_sql("SHOW autovacuum").scalar()
        finally:
            engine.dispose()
        if autovacuum != "on":
            warnings.append(f"PostgreSQL at {host}:{port or 5432} runs with autovacuum off: nothing analyses or "
                            "vacuums the hub's tables, and its statements slow down as they grow. Turn it on, "
                            "or run VACUUM ANALYZE on every hub database regularly.")
    return warnings


def make_engine(url: str, pool_size: int = 5, autocommit: bool = False, prepare: bool = True) -> Engine:
    """The hub's engine for `url`. `autocommit` (PostgreSQL): its connections run each statement on its
    own, set once when a connection opens (for single reads: setting and resetting it per checkout, as
    an engine's execution_options(isolation_level=...) does, costs more than the read). `prepare`
    (PostgreSQL): the statements a process runs often are prepared on each connection (hubkit.prepared)."""
    if is_sqlite(url):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False},
                               poolclass=None)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record):
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn):
            # writers take the write lock up front; readers (Database.reader) read a snapshot
            read_only = conn.get_execution_options().get("hub_read_only")
            conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

        outbox.wake_relay_after_commit(engine)  # the relay learns of outbox rows as they commit
        return engine
    from hubkit import prepared  # psycopg2 is loaded by the processes that use PostgreSQL only

    # LIFO: the busy connections stay busy and the spare ones idle (checked when next used)
    engine = create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_recycle=RECYCLE_SECONDS,
                           pool_use_lifo=True, connect_args=prepared.connect_args() if prepare else {},
                           **({"isolation_level": "AUTOCOMMIT"} if autocommit else {}))

    @event.listens_for(engine, "checkin")
    def _idle_from(_dbapi_conn, record):
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_conn, record, _proxy):
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < IDLE_PING_SECONDS:
            return  # a connection in steady use is not pinged (it cost a round trip per transaction)
        try:
            engine.dialect.do_ping(dbapi_conn)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError(str(exc)) from exc  # the pool opens a fresh connection instead

    return engine


_PENDING = "hub_outbox_pending"  # Connection.info: the unit of work whose emitted events wait to be written


@functools.cache
def _session_class() -> type[Session]:
    """The hub's Session: the events a unit of work has gathered are written before a savepoint begins,
    on the connection (outside the savepoint), so that rolling the savepoint back does not take them
    along. (A "savepoint" listener on the engine did it before; but any listener of an engine's
    connection events makes SQLAlchemy look for listeners around every statement: a fifth of the
    kernel's function calls per event on PostgreSQL. Every savepoint of the hub is a Session's.)"""
    from sqlalchemy.orm import Session

    class HubSession(Session):
        def begin_nested(self):
            connection = self.connection()
            uow = connection.info.get(_PENDING)
            if uow is not None:
                uow._write_pending(connection)
            return super().begin_nested()

    return HubSession


# What a database that is away raises (a restart: connections dropped, new ones refused for a while):
# a long-running loop waits and goes on (AwayBackoff) instead of ending its process.
DATABASE_AWAY = (OperationalError, InterfaceError, DisconnectionError)


class AwayBackoff:
    """How long a loop waits after its database was away: 0.5 s, doubling to `cap`, reset by a round
    that went through."""

    def __init__(self, cap: float = 10.0):
        self.cap, self.rounds = cap, 0

    def failed(self, exc: Exception, what: str) -> float:
        self.rounds += 1
        delay = min(self.cap, 0.5 * 2 ** (self.rounds - 1))
        log.warning("%s: the database is away (%s); again in %.1fs", what, str(getattr(exc, "orig", exc)).strip(),
                    delay)
        return delay

    def succeeded(self) -> None:
        self.rounds = 0


def once_more_if_disconnected(work):
    """Run `work()`; when it failed on a connection the database had dropped (a restart) before any of
    its transactions tried to commit, nothing of it was written: run it once more (SQLAlchemy has
    discarded the stale pool by then)."""
    token = _commit_tried.set(False)
    try:
        try:
            return work()
        except DBAPIError as exc:
            if not exc.connection_invalidated or _commit_tried.get():
                raise
            log.warning("the database connection was lost before anything was committed (%s); once more",
                        str(exc.orig).strip())
        _commit_tried.set(False)
        return work()
    finally:
        _commit_tried.reset(token)


class Database:
    """One per service and process: the engine, a session factory, a write lock."""

    def __init__(self, url: str, metadata: MetaData, pool_size: int = 5, prepare: bool = True):
        self.url, self.metadata = url, metadata
        self.engine = make_engine(url, pool_size, prepare=prepare)
        self._write_lock = threading.Lock() if is_sqlite(url) else None

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        """The factory of read-write sessions (made by the first)."""
        from sqlalchemy.orm import sessionmaker
        return sessionmaker(self.engine, class_=_session_class(), expire_on_commit=False)

    @cached_property
    def readers(self) -> sessionmaker[Session]:
        """The factory of read-only sessions (made by the first)."""
        from sqlalchemy.orm import sessionmaker
        return sessionmaker(self.engine.execution_options(hub_read_only=True), expire_on_commit=False)

    @contextmanager
    def session(self):
        """A read-write transaction; commits on success, rolls back on error."""
        lock = self._write_lock
        if lock is not None:
            lock.acquire()
        try:
            with self.sessions() as session, session.begin():
                yield session
                _commit_tried.set(True)  # leaving the block commits
        finally:
            if lock is not None:
                lock.release()

    @contextmanager
    def reader(self):
        """A read-only session (no write lock taken)."""
        with self.readers() as session:
            yield session

    def dispose(self):
        self.engine.dispose()


class UnitOfWork:
    """A transaction plus who is acting and why: everything it emits is written
    to the outbox in the same transaction as the change."""

    def __init__(self, db: Database, source: str, actor: str, correlation_id: str):
        self.db, self.source = db, source
        self.actor, self.correlation_id = actor, correlation_id
        self._session: Session | None = None
        self._cm: AbstractContextManager[Session] | None = None
        self._after_commit: list = []
        self._gathered: dict[str, tuple[set, Callable[[set], None]]] = {}
        self._pending: list[outbox.Draft] = []
        self._pending_on: Connection | None = None  # the Connection whose info names this unit of work while events wait

    @property
    def session(self) -> Session:
        """The open transaction's session (only inside `with`)."""
        if self._session is None:
            raise RuntimeError("the unit of work is not open")
        return self._session

    def __enter__(self) -> UnitOfWork:
        self._cm = transaction = self.db.session()
        self._session = transaction.__enter__()
        self._after_commit, self._gathered, self._pending = [], {}, []
        return self

    def __exit__(self, *exc):
        if exc[0] is None and (self._gathered or self._pending):
            try:
                self._flush_gathered()
                self._write_pending(self.session)
            except BaseException as error:
                self._leave(type(error), error, error.__traceback__)
                raise
        return self._leave(*exc)

    def _write_pending(self, connection) -> None:
        """Write the events emitted so far (on the session, or on its Connection before a savepoint)."""
        drafts, self._pending = self._pending, []
        self._release_connection()
        outbox.write_many(connection, self.db.metadata.tables, drafts)

    def _release_connection(self) -> None:
        if self._pending_on is not None:
            self._pending_on.info.pop(_PENDING, None)
            self._pending_on = None

    def _flush_gathered(self) -> None:
        while self._gathered:  # a flush may gather for another key
            key = next(iter(self._gathered))
            items, flush = self._gathered.pop(key)
            flush(items)

    def _leave(self, *exc):
        try:
            self._pending = []  # written by now, or rolled back with the rest
            self._release_connection()
            suppressed = self._cm.__exit__(*exc)  # commits, or rolls back on an error
        finally:
            self._session = None
        if exc[0] is None:
            for callback in self._after_commit:
                callback()
        return suppressed

    def after_commit(self, callback) -> None:
        """Run `callback()` once the transaction has committed (never if it rolls back): for
        counting what was done, which a rolled-back or duplicate delivery must not count."""
        self._after_commit.append(callback)

    def gather(self, key: str, flush: Callable[[set], None]) -> set:
        """A set that collects, over the whole transaction, what `flush(items)` then does once, before
        the commit: stock_changed per SKU once per transaction, however many orders of a batch moved it."""
        if key not in self._gathered:
            self._gathered[key] = (set(), flush)
        return self._gathered[key][0]

    def forget(self, key: str | None = None) -> None:
        """Drop what was gathered under `key`, or everything (work that was undone, such as a dry run)."""
        if key is None:
            self._gathered.clear()
        else:
            self._gathered.pop(key, None)

    def emit(self, event: Event, aggregate_id: str) -> None:
        """Write `event` (a contract instance: its payload was validated when it was built) to the
        outbox, in this transaction (gathered, and written with the others just before the commit).
        Only the event's publisher may emit it."""
        if not isinstance(event, Event) or not type(event).type:
            raise ContractError(f"emit takes an event contract instance, not {type(event).__name__}")
        contract = type(event)
        if contract.publisher != self.source:
            raise ContractError(f"{self.source} emits {contract.type}, which {contract.publisher} publishes")
        draft = outbox.Draft(source=self.source, event_type=contract.type, aggregate_id=str(aggregate_id),
                             payload=event.payload(), actor=self.actor or "system", correlation_id=self.correlation_id or "",
                             schema_version=contract.schema_version)
        session = self.session
        if session.in_nested_transaction():  # goes with the savepoint if that is rolled back
            outbox.write_many(session, self.db.metadata.tables, [draft])
            return
        if self._pending_on is None:
            self._pending_on = session.connection()
            self._pending_on.info[_PENDING] = self
        self._pending.append(draft)


def as_utc(moment):
    """SQLite hands timestamps back naive; every stored time is UTC."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment
