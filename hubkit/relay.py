"""The outbox relay: publishes outbox rows with publisher confirms and marks them
only after the broker confirmed them.

Publishing is pipelined: up to `relay_window` messages are outstanding at once
and confirms (often `multiple`) are matched back to rows by delivery tag. Messages
are `mandatory`: a row the broker cannot route is returned, left unmarked and
retried later with back-off, unless no consumer of this hub subscribes to its
event type (say voucher_posted without a ledger connector): that one is delivered
to nobody by design, marked and counted. A row the broker refuses (a nack: a full
queue refuses new messages) also waits with back-off. One relay per database is
active at a time, by a lease row renewed while it runs. A crash between confirm and
mark re-publishes those rows; consumers absorb the duplicates (hubkit.inbox). Its
`beat` (hubkit.health) is ready while its broker channel is open and its database
answers, a standby relay included.

An idle relay costs next to nothing: it learns of new rows as they commit and otherwise looks at its
outbox every `relay_idle_poll_seconds` (for rows a lost wake-up missed, rows whose back-off is over
and its lease). On PostgreSQL each transaction that writes outbox rows sends a NOTIFY
(hubkit.outbox.write_many) that the relay LISTENs for on a connection of its own, watched by the same
ioloop as the broker's socket; while that connection is down (reconnected with back-off) the relay
polls every `POLL_SECONDS` as it did before. On SQLite, which has no such signal, each commit that
wrote outbox rows sends, after the COMMIT, one datagram to a Unix socket in Linux's abstract namespace
named after the database file (hubkit.outbox.wake_relay_after_commit) that the relay binds and its
ioloop watches: nothing to do while idle. Where it cannot bind that name (another relay of the same
file holds it, or not Linux) or the socket fails, it reads `PRAGMA data_version` every `POLL_SECONDS`
instead (a few microseconds; it changes when another connection commits), looks at the outbox only
when a commit added rows to it, and tries the name again every 30 s.

A round costs little, for under low load each publishes one event: its statements are built once
and run on connections it keeps (OutboxStatements), a round that published all it saw is not
followed by another, confirmed rows are marked together MARK_SECONDS after the first of them was
confirmed (at once when a batch is; when it stops), and the backlog gauges are read when /metrics is
scraped."""
from __future__ import annotations

import logging
import os
import signal
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Sequence
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pika
import psycopg2
from pika.spec import Basic
from sqlalchemy import BigInteger, any_, bindparam, insert, or_, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from hubkit import clock, heap, metrics, outbox, topology
from hubkit.db import Database, is_sqlite
from hubkit.health import STALE_SECONDS, Beat, Health

log = logging.getLogger(__name__)

LEASE_NAME = "outbox"
POLL_SECONDS = 0.05      # while busy, or with nothing to wake it
WAKE_GAP_SECONDS = 0.01  # under load, wake-ups closer than this share one round
MARK_SECONDS = 0.2       # confirmed rows wait at most this long for others to share their marking
GAUGE_SECONDS = 1.0
LISTEN_BACKOFF_MAX = 30.0


class OutboxRelay:
    def __init__(self, service: str, db: Database, settings, unconsumed: frozenset[str] = frozenset()):
        self.service, self.db, self.settings = service, db, settings
        self.unconsumed = unconsumed  # event types no configured consumer subscribes to
        self.outbox = db.metadata.tables["outbox"]
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.lease_until = 0.0
        self.stopping = False
        # set and cleared by pika's callbacks on the ioloop
        self.connection: Any = None
        self.channel: Any = None
        self.next_tag = 0
        self.inflight: dict[int, int] = {}       # delivery tag -> outbox row id
        self.returned: set[int] = set()          # row ids the broker returned as unroutable
        self.confirmed: list[int] = []           # row ids confirmed, not yet marked
        self.statements = OutboxStatements(db)
        self.gauges = BacklogGauges(service, db, self.outbox)
        self.rounds = self.empty_rounds = self.published = 0  # logged when it stops
        self.waker: CommitListener | WakeSocket | None = None
        self.tick_timer: Any = None  # the next round, while one is scheduled
        self.mark_timer: Any = None  # the marking of confirmed rows, while one is scheduled
        self.tick_due = 0.0
        self.ticked_at = 0.0
        # an idle relay ticks only every relay_idle_poll_seconds: not stale before twice that
        self.beat = Beat(f"{service}-relay", max(STALE_SECONDS, 2 * settings.relay_idle_poll_seconds))
        self.exit_after_confirm = int(os.environ.get("HUB_FAULT_RELAY_EXIT_AFTER_CONFIRM", "0") or 0)

    # -- lifecycle --------------------------------------------------------
    def run(self) -> None:
        """Publish until `request_stop` (from another thread or a signal handler)."""
        self.gauges.export()
        backoff = 0.5
        while not self.stopping:
            self.connection = pika.SelectConnection(
                pika.URLParameters(self.settings.amqp_uri), on_open_callback=self._on_open,
                on_open_error_callback=self._on_open_error, on_close_callback=self._on_closed)
            if self.stopping:  # asked after the look above: it may have told the connection before
                break
            started = time.monotonic()
            self.connection.ioloop.start()
            if self.stopping:
                break
            backoff = 0.5 if time.monotonic() - started > 10 else min(backoff * 2, 10.0)
            log.warning("broker connection lost; reconnecting in %.1fs", backoff)
            time.sleep(backoff)
        if self.confirmed:
            self._mark_now()  # what the broker confirmed is not published again by the next relay
        self.statements.close()
        log.info("relay %s stopping: %d events published in %d rounds, %d of which found nothing to publish",
                 self.service, self.published, self.rounds, self.empty_rounds)

    def request_stop(self) -> None:
        self.stopping = True  # first: `run` looks again once it has made a new connection
        if self.connection is not None:
            self.connection.ioloop.add_callback_threadsafe(self._close)

    def _close(self):
        if self.connection.is_open:
            self.connection.close()
        else:
            self.connection.ioloop.stop()

    def _on_open(self, connection):
        connection.channel(on_open_callback=self._on_channel)

    def _on_open_error(self, _connection, error):
        log.warning("cannot connect to the broker: %s", error)
        self.beat.down(f"cannot connect to the broker: {error}")
        self.connection.ioloop.stop()

    def _on_closed(self, _connection, reason):
        self.channel, self.tick_timer, self.mark_timer = None, None, None
        if self.waker is not None:
            self.waker.stop()
            self.waker = None
        self.inflight.clear()  # unconfirmed rows stay unmarked and are published again
        self.beat.down(f"broker connection closed: {reason}")
        if not self.stopping:
            log.warning("broker connection closed: %s", reason)
        self.connection.ioloop.stop()

    def _on_channel(self, channel):
        self.channel, self.next_tag = channel, 0
        channel.add_on_close_callback(lambda _ch, reason: self._close_after_channel_loss(reason))
        channel.add_on_return_callback(self._on_return)
        channel.confirm_delivery(self._on_confirm)
        log.info("relay %s connected (holder %s)", self.service, self.holder)
        self._schedule(0)
        self.waker = wake_on_commit(self.db, self.connection.ioloop, self._wake)
        if self.waker is not None:
            self.waker.start()

    def _close_after_channel_loss(self, reason):
        log.warning("relay channel closed: %s", reason)
        if self.connection and self.connection.is_open:
            self.connection.close()

    # -- the loop ---------------------------------------------------------
    def _schedule(self, delay: float) -> None:
        self.tick_due = time.monotonic() + delay
        self.tick_timer = self.connection.ioloop.call_later(delay, self._tick)

    def _wake(self) -> None:
        """Rows were committed: a round now (or as soon as the last one is WAKE_GAP_SECONDS old)."""
        self._round_within(WAKE_GAP_SECONDS)

    def _round_within(self, gap: float) -> None:
        """A round no later than `gap` after the last one (and not before), unless one is due sooner."""
        if self.tick_timer is None:  # a round is running, or the channel is down
            return
        now = time.monotonic()
        due = max(now, self.ticked_at + gap)
        if due < self.tick_due:
            self.connection.ioloop.remove_timeout(self.tick_timer)
            self._schedule(due - now)

    def _tick(self):
        self.tick_timer = None
        if self.channel is None or not self.channel.is_open:
            return
        published, more, held, healthy = 0, False, False, True
        try:
            if self.confirmed and self.mark_timer is None:  # its marking failed
                self._mark_confirmed()
            held = self._hold_lease()
            if held:
                published, more = self._publish_batch()
            self.beat.up()
        except OperationalError as exc:
            healthy = False
            log.warning("relay database error: %s", exc)
            self.beat.down(f"database error: {type(exc.orig).__name__}")
        self.rounds += 1
        self.empty_rounds += held and not published
        self.ticked_at = time.monotonic()
        self._schedule(self._next_round_in(published, more, held and healthy))

    def _next_round_in(self, published: int, more: bool, held: bool) -> float:
        if more:  # more is waiting: at once, or when confirms have made room in the window
            return 0.0 if published >= self.settings.relay_batch else POLL_SECONDS
        if (self.confirmed and self.mark_timer is None) or not held or self.waker is None or not self.waker.live:
            return POLL_SECONDS  # marks failed, a standby or failing, or nothing would wake it
        # all it saw is published, and its confirms are marked by the mark timer: woken on commit;
        # else back by the fallback poll, and in time to renew the lease
        return max(0.0, min(self.settings.relay_idle_poll_seconds, self.lease_until - time.monotonic()))

    def _publish_batch(self) -> tuple[int, bool]:
        """Publish what is due and not in flight, up to the room in the window; (published, whether
        more may be waiting)."""
        room = min(self.settings.relay_batch, self.settings.relay_window - len(self.inflight))
        if room <= 0:
            return 0, True
        busy = set(self.inflight.values()).union(self.confirmed)
        rows, more = self.statements.due(room, busy)
        for row_id, event_id, event_type, body in rows:  # the body is the envelope's JSON already
            self.channel.basic_publish(
                topology.EVENTS_EXCHANGE, event_type, body,
                pika.BasicProperties(content_type="application/json", content_encoding="utf-8", delivery_mode=2,
                                     message_id=event_id, type=event_type, app_id=self.service),
                mandatory=True)
            self.next_tag += 1
            self.inflight[self.next_tag] = row_id
        return len(rows), more

    def _on_return(self, _channel, _method, properties, _body):
        if properties.type in self.unconsumed:  # nobody here consumes it: the broker's ack marks it
            metrics.OUTBOX_UNCONSUMED.labels(self.service, properties.type).inc()
            return
        o = self.outbox
        with self.db.session() as s:
            row = s.execute(select(o.c.id).where(o.c.event_id == properties.message_id)).first()
            if row is None:
                return
            self.returned.add(row.id)
            delay = self._postpone(s, [row.id])
        metrics.OUTBOX_RETURNED.labels(self.service).inc()
        log.error("broker could not route event %s (%s): the queue of a configured consumer is missing "
                  "(run `hub migrate`); retrying in %ss", properties.message_id, properties.type, delay)

    def _postpone(self, session, ids: list[int]) -> int:
        """Publish these rows again later, each after twice as long as the last time (at most 5
        minutes); returns the longest delay."""
        o, longest = self.outbox, 0
        for row in session.execute(select(o.c.id, o.c.attempts).where(o.c.id.in_(ids))).all():
            delay = min(2 ** row.attempts, 300)
            session.execute(update(o).where(o.c.id == row.id)
                            .values(attempts=row.attempts + 1, not_before=clock.now() + timedelta(seconds=delay)))
            longest = max(longest, delay)
        return longest

    def _on_confirm(self, frame):
        method = frame.method
        tags = ([t for t in self.inflight if t <= method.delivery_tag] if method.multiple
                else [method.delivery_tag])
        ids = [self.inflight.pop(t) for t in tags if t in self.inflight]
        if isinstance(method, Basic.Ack):
            self.confirmed.extend(i for i in ids if i not in self.returned)
        elif ids:
            with self.db.session() as s:
                delay = self._postpone(s, ids)
            metrics.OUTBOX_REFUSED.labels(self.service).inc(len(ids))
            log.warning("broker refused %d message(s) (a full queue?); publishing them again in up to %ss",
                        len(ids), delay)
        self.returned.difference_update(ids)
        if self.exit_after_confirm and len(self.confirmed) >= self.exit_after_confirm:
            log.error("fault injection: exiting after confirm, before marking %d rows", len(self.confirmed))
            os._exit(137)
        # marked in one statement once a batch is confirmed, else MARK_SECONDS after the first
        # confirm, with all the rounds in between confirmed
        if len(self.confirmed) >= self.settings.relay_batch:
            self._mark_now()
        elif self.confirmed and self.mark_timer is None:
            self.mark_timer = self.connection.ioloop.call_later(MARK_SECONDS, self._mark_now)

    def _mark_now(self):
        try:
            self._mark_confirmed()
        except OperationalError as exc:  # left to the next round, soon
            log.warning("relay database error: %s", exc)
            self._round_within(POLL_SECONDS)

    def _mark_confirmed(self):
        if self.mark_timer is not None:
            self.connection.ioloop.remove_timeout(self.mark_timer)
            self.mark_timer = None
        if not self.confirmed:
            return
        self.statements.mark(self.confirmed, clock.now())
        metrics.OUTBOX_PUBLISHED.labels(self.service).inc(len(self.confirmed))
        self.published += len(self.confirmed)
        self.confirmed = []

    def _hold_lease(self) -> bool:
        if time.monotonic() < self.lease_until:
            return True
        ttl = self.settings.relay_lease_seconds
        held = self.statements.take_lease(self.holder, clock.now(), ttl)
        # renew well before expiry; a standby asks again soon
        self.lease_until = time.monotonic() + (ttl / 3 if held else 0.0)
        if not held:
            time.sleep(min(0.5, ttl / 5))
        return held


class OutboxStatements:
    """What the relay does to its database in every round, as statements built once (SQLAlchemy
    compiles each once and caches it) and run without an ORM session on connections it keeps (no
    pool checkout and reset per round; a connection that failed is dropped and opened again)."""

    MARK_CHUNK = 500
    FEW_BUSY = 100

    def __init__(self, db: Database):
        o, lease = db.metadata.tables["outbox"], db.metadata.tables["relay_lease"]
        due = (o.c.published_at.is_(None), or_(o.c.not_before.is_(None), o.c.not_before <= bindparam("now")))
        # what a round publishes: selected at once when few rows are in flight or confirmed and not
        # yet marked (a relay keeping up), else the ids first, to skip those without reading their
        # bodies again
        self.due_rows = select(o.c.id, o.c.event_id, o.c.event_type, o.c.body).where(*due) \
            .order_by(o.c.id).limit(bindparam("limit"))
        self.due_ids = select(o.c.id).where(*due).order_by(o.c.id).limit(bindparam("limit"))
        self.rows_between = select(o.c.id, o.c.event_id, o.c.event_type, o.c.body) \
            .where(o.c.id.between(bindparam("low"), bindparam("high")), *due).order_by(o.c.id)
        if is_sqlite(db.url):  # a snapshot to read; writes take the write lock up front (BEGIN IMMEDIATE)
            self.reads, self.writes = db.engine.execution_options(hub_read_only=True), db.engine
            marked = update(o).where(o.c.id.in_(bindparam("ids", expanding=True)))
        else:
            # every statement is atomic alone (a partial mark only publishes again), so reads and
            # writes go on one connection in autocommit: a round trip each, no BEGIN and COMMIT
            self.reads = self.writes = db.engine.execution_options(isolation_level="AUTOCOMMIT")
            # an array is one parameter: no statement text rendered for each list of ids
            marked = update(o).where(o.c.id == any_(bindparam("ids", type_=ARRAY(BigInteger))))
        self.marked = marked.values(published_at=bindparam("at", type_=o.c.published_at.type))
        expires_at = bindparam("expires_at", type_=lease.c.expires_at.type)
        self.lease_renewed = update(lease).where(
            lease.c.name == LEASE_NAME, or_(lease.c.holder == bindparam("holder"), lease.c.expires_at < bindparam("now"))
        ).values(holder=bindparam("holder"), expires_at=expires_at)
        self.lease_exists = select(lease.c.name).where(lease.c.name == LEASE_NAME)
        self.lease_taken = insert(lease).values(name=LEASE_NAME, holder=bindparam("holder"), expires_at=expires_at)
        self.kept: dict[Any, Connection] = {}  # engine -> the connection kept for it

    @contextmanager
    def _transaction(self, engine):
        connection = self.kept.get(engine)
        if connection is None:
            connection = self.kept[engine] = engine.connect()
        try:
            with connection.begin():
                yield connection
        except DBAPIError as exc:
            if not isinstance(exc, IntegrityError):  # a connection that failed is not trusted again
                del self.kept[engine]
                connection.close()  # an invalidated one leaves the pool
            raise

    def due(self, room: int, busy: set[int]) -> tuple[Sequence[Any], bool]:
        """Up to `room` rows due for publishing, in id order, none of `busy`; and whether more may be
        waiting."""
        now = clock.now()
        with self._transaction(self.reads) as c:
            if len(busy) <= self.FEW_BUSY:  # their bodies read again cost less than a statement more
                rows = c.execute(self.due_rows, {"now": now, "limit": room + len(busy)}).all()
                return [r for r in rows if r[0] not in busy][:room], len(rows) == room + len(busy)
            ids = c.execute(self.due_ids, {"now": now, "limit": room + len(busy)}).scalars().all()
            wanted = [i for i in ids if i not in busy][:room]
            if not wanted:
                return [], len(ids) == room + len(busy)
            rows = c.execute(self.rows_between, {"now": now, "low": wanted[0], "high": wanted[-1]}).all()
        wanted_set = set(wanted)
        return [r for r in rows if r[0] in wanted_set], len(ids) == room + len(busy)

    def mark(self, ids: list[int], at) -> None:
        """Mark these rows published (one statement for up to MARK_CHUNK rows)."""
        with self._transaction(self.writes) as c:
            for start in range(0, len(ids), self.MARK_CHUNK):
                c.execute(self.marked, {"ids": ids[start:start + self.MARK_CHUNK], "at": at})

    def take_lease(self, holder: str, now, ttl: float) -> bool:
        """Take or renew the lease for `ttl` seconds from `now`; whether `holder` has it."""
        values = {"holder": holder, "now": now, "expires_at": now + timedelta(seconds=ttl)}
        try:
            with self._transaction(self.writes) as c:
                if c.execute(self.lease_renewed, values).rowcount:
                    return True
                if c.execute(self.lease_exists).first() is not None:
                    return False
                c.execute(self.lease_taken, values)
                return True
        except IntegrityError:  # another relay took it first
            return False

    def close(self) -> None:
        for connection in self.kept.values():
            connection.close()
        self.kept.clear()


class BacklogGauges:
    """The outbox's pending rows and the age of the oldest, computed when /metrics is scraped (from
    the metrics server's thread) rather than by the relay's loop; at most once per GAUGE_SECONDS."""

    def __init__(self, service: str, db: Database, table):
        self.service, self.db, self.table = service, db, table
        self.lock = threading.Lock()
        self.at, self.value = 0.0, (0, 0.0)

    def export(self) -> None:
        metrics.OUTBOX_PENDING.labels(self.service).set_function(lambda: self.read()[0])
        metrics.OUTBOX_OLDEST_AGE.labels(self.service).set_function(lambda: self.read()[1])

    def read(self) -> tuple[int, float]:
        with self.lock:
            if time.monotonic() - self.at > GAUGE_SECONDS:
                try:
                    # a connection, not a session: the relay is Core only and keeps the ORM unimported
                    with self.db.engine.execution_options(hub_read_only=True).connect() as c:
                        self.value = outbox.backlog(c, self.table)
                except OperationalError as exc:  # the last value stands; the beat says the database is away
                    log.debug("outbox backlog unreadable: %s", exc)
                self.at = time.monotonic()
            return self.value


def wake_on_commit(db: Database, ioloop, wake) -> CommitListener | WakeSocket | None:
    """What tells the relay of `db` that rows were committed, calling `wake()` on `ioloop`."""
    if is_sqlite(db.url):
        return WakeSocket(db.engine.url.database or "", ioloop, wake)
    if db.engine.dialect.driver == "psycopg2":
        return CommitListener(db, ioloop, wake)
    return None


class CommitListener:
    """PostgreSQL: LISTENs for the outbox's NOTIFY on a connection of its own, whose socket the
    relay's ioloop watches beside the broker's. `live` while listening; a lost connection is opened
    again with back-off (meanwhile the relay polls fast), and every (re)start wakes the relay once
    for what committed while nobody listened."""

    def __init__(self, db: Database, ioloop, wake):
        self.db, self.ioloop, self.wake = db, ioloop, wake
        self.connection: Any = None
        self.fd = -1  # the connection's socket, watched by the ioloop
        self.retry: Any = None
        self.backoff = 0.5

    @property
    def live(self) -> bool:
        return self.connection is not None

    def start(self) -> None:
        self.retry = None
        engine = self.db.engine
        cargs, cparams = engine.dialect.create_connect_args(engine.url)
        # it blocks the ioloop while it connects: not for long; keepalives notice a connection
        # dropped without a word within about a minute
        cparams = {"connect_timeout": 5, **cparams, "keepalives": 1, "keepalives_idle": 30,
                   "keepalives_interval": 10, "keepalives_count": 3}
        connection = None
        try:
            connection = psycopg2.connect(*cargs, **cparams)
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(f"LISTEN {outbox.CHANNEL}")
        except psycopg2.Error as exc:
            log.warning("cannot listen for outbox commits (%s); polling, trying again in %.1fs",
                        str(exc).strip(), self.backoff)
            if connection is not None:
                connection.close()
            self._retry_later()
            return
        self.connection, self.fd, self.backoff = connection, connection.fileno(), 0.5
        self.ioloop.add_handler(self.fd, self._readable, self.ioloop.READ)
        self.wake()

    def _readable(self, _fd, _events) -> None:
        try:
            self.connection.poll()
        except psycopg2.Error as exc:
            log.warning("outbox listener lost (%s); polling, listening again in %.1fs", str(exc).strip(),
                        self.backoff)
            self._drop()
            self._retry_later()
            self.wake()  # to poll fast until it listens again
            return
        if self.connection.notifies:
            self.connection.notifies.clear()
            self.wake()

    def _retry_later(self) -> None:
        self.retry = self.ioloop.call_later(self.backoff, self.start)
        self.backoff = min(self.backoff * 2, LISTEN_BACKOFF_MAX)

    def _drop(self) -> None:
        if self.connection is not None:
            try:
                self.ioloop.remove_handler(self.fd)
            except OSError:
                pass  # a connection that failed is closed already, and its socket with it
            try:
                self.connection.close()
            except psycopg2.Error:
                pass
            self.connection = None

    def stop(self) -> None:
        if self.retry is not None:
            self.ioloop.remove_timeout(self.retry)
            self.retry = None
        self._drop()


class WakeSocket:
    """SQLite: binds the database file's wake-up socket (hubkit.outbox.wake_address), a datagram
    socket the relay's ioloop watches beside the broker's; each datagram is a commit that wrote outbox
    rows, sent after it committed. What is queued when it becomes readable is read at once: one wake-up
    however many commits. If the name cannot be bound (another process has it: a standby relay of the
    same file) or the socket fails, it watches `PRAGMA data_version` instead (DataVersionWatch) and
    tries the name again every BIND_RETRY_SECONDS; every start wakes the relay once for what committed
    while nobody listened."""

    live = True
    READ_AT_MOST = 1000  # datagrams read at one wake-up: a writer cannot keep the ioloop here
    BIND_RETRY_SECONDS = 30.0

    def __init__(self, path: str, ioloop, wake):
        self.path, self.ioloop, self.wake = path, ioloop, wake
        self.socket: socket.socket | None = None
        self.polling: DataVersionWatch | None = None
        self.retry: Any = None

    def start(self) -> None:
        try:
            self._listen()
        except OSError as exc:
            log.warning("cannot listen for outbox commits of %s (%s): polling its data_version", self.path, exc)
            self._poll()

    def _listen(self) -> None:
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            listener.setblocking(False)
            listener.bind(outbox.wake_address(self.path))
        except OSError:
            listener.close()
            raise
        self.socket = listener
        self.ioloop.add_handler(listener.fileno(), self._readable, self.ioloop.READ)
        self.wake()

    def _readable(self, _fd, _events) -> None:
        try:
            for _ in range(self.READ_AT_MOST):
                self.socket.recv(16)  # type: ignore[union-attr]
        except BlockingIOError:
            pass  # all read
        except OSError as exc:
            log.warning("outbox wake-up socket failed (%s): polling its data_version", exc)
            self._close()
            self._poll()
        self.wake()

    def _poll(self) -> None:
        self.polling = DataVersionWatch(self.path, self.ioloop, self.wake)
        self.polling.start()
        self.retry = self.ioloop.call_later(self.BIND_RETRY_SECONDS, self._listen_again)

    def _listen_again(self) -> None:
        self.retry = None
        try:
            self._listen()
        except OSError:
            self.retry = self.ioloop.call_later(self.BIND_RETRY_SECONDS, self._listen_again)
            return
        log.info("listening for outbox commits of %s again", self.path)
        if self.polling is not None:
            self.polling.stop()
            self.polling = None

    def _close(self) -> None:
        if self.socket is not None:
            self.ioloop.remove_handler(self.socket.fileno())
            self.socket.close()
            self.socket = None

    def stop(self) -> None:
        self._close()
        if self.retry is not None:
            self.ioloop.remove_timeout(self.retry)
            self.retry = None
        if self.polling is not None:
            self.polling.stop()
            self.polling = None


class DataVersionWatch:
    """SQLite, where WakeSocket cannot listen: `PRAGMA data_version` on a connection of its own changes
    whenever another connection (another process, or the relay's own marks) commits; it is read every
    POLL_SECONDS, which costs microseconds where a look at the outbox costs a millisecond and more. When it changed, the
    outbox's newest id tells whether that commit added rows (SQLite has one writer at a time, so ids
    commit in order): a commit that wrote no outbox row wakes nobody."""

    live = True
    NEWEST = "SELECT max(id) FROM outbox"

    def __init__(self, path: str, ioloop, wake):
        self.path, self.ioloop, self.wake = path, ioloop, wake
        self.connection: sqlite3.Connection | None = None
        self.version: int | None = None
        self.newest: int | None = None
        self.timer: Any = None

    def start(self) -> None:
        try:
            self.connection = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:  # then every check wakes the relay: it polls as before
            log.warning("cannot watch %s for commits: %s", self.path, exc)
        self.wake()  # for what committed before it watched
        self._check()

    def _check(self) -> None:
        if self.connection is None:
            self.wake()
        else:
            try:
                version = self.connection.execute("PRAGMA data_version").fetchone()[0]
                if version != self.version:
                    newest = self.connection.execute(self.NEWEST).fetchone()[0]
                    if newest != self.newest:
                        self.wake()
                    self.version, self.newest = version, newest
            except sqlite3.Error:
                self.version = None
                self.wake()  # look at the outbox anyway
        self.timer = self.ioloop.call_later(POLL_SECONDS, self._check)

    def stop(self) -> None:
        if self.timer is not None:
            self.ioloop.remove_timeout(self.timer)
            self.timer = None
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def main(relayed: Sequence[tuple[str, Any, Any]], unconsumed: frozenset[str] = frozenset()) -> None:
    """Run the relay of each service in `relayed`, (service, the metadata of its database's outbox,
    its settings: a HubSettings with `db_url` and `amqp_uri`), in one process: a thread each, with its
    own database and broker connections; `unconsumed`: the event types no configured consumer
    subscribes to. The process serves one /metrics and /readyz, on the first service's port, and
    ends when any relay fails: the process is what a supervisor restarts."""
    from hubkit import logging as hublog

    names = [f"{service}-relay" for service, _, _ in relayed]
    first = relayed[0][2]
    hublog.setup(names[0] if len(names) == 1 else "relays", first.log_level)
    # the connections each keeps for reads and writes, and one for the backlog gauges when scraped
    relays = [OutboxRelay(service, Database(settings.db_url, metadata, pool_size=3,
                                            prepare=settings.db_prepared_statements), settings, unconsumed)
              for service, metadata, settings in relayed]
    metrics.serve(first.metrics_port, Health(first.liveness_grace_seconds, *(r.beat for r in relays)))

    def stop(*_):
        for relay in relays:
            relay.request_stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    def run(relay: OutboxRelay, name: str) -> None:
        hublog.process_name.set(name)  # its log lines name the relay, not the process
        try:
            relay.run()
        except BaseException:
            log.exception("relay %s failed", relay.service)
            os._exit(1)  # the others' confirmed rows are published again by the next start

    threads = [threading.Thread(target=run, args=(relay, name), name=name, daemon=True)
               for relay, name in zip(relays, names)]
    heap.started()
    for thread in threads:
        thread.start()
    for thread in threads:
        while thread.is_alive():  # a timed join: the signal handlers run in this thread meanwhile
            thread.join(1.0)
