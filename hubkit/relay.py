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
(hubkit.outbox.announce) that the relay LISTENs for on a connection of its own, watched by the same
ioloop as the broker's socket; while that connection is down (reconnected with back-off) the relay
polls every `POLL_SECONDS` as it did before. On SQLite, where no signal crosses processes, it reads
`PRAGMA data_version` every `POLL_SECONDS` (a few microseconds; it changes when another connection
commits) and looks at the outbox only when it changed."""
from __future__ import annotations

import logging
import os
import signal
import socket
import sqlite3
import time
import uuid
from datetime import timedelta
from typing import Any

import pika
import psycopg2
from pika.spec import Basic
from sqlalchemy import insert, or_, select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from hubkit import clock, metrics, outbox, topology
from hubkit.db import Database, is_sqlite
from hubkit.health import STALE_SECONDS, Beat, Health

log = logging.getLogger(__name__)

LEASE_NAME = "outbox"
POLL_SECONDS = 0.05      # while busy, or with nothing to wake it
WAKE_GAP_SECONDS = 0.01  # under load, wake-ups closer than this share one round
GAUGE_SECONDS = 1.0
LISTEN_BACKOFF_MAX = 30.0


class OutboxRelay:
    def __init__(self, service: str, db: Database, settings, unconsumed: frozenset[str] = frozenset()):
        self.service, self.db, self.settings = service, db, settings
        self.unconsumed = unconsumed  # event types no configured consumer subscribes to
        self.outbox = db.metadata.tables["outbox"]
        self.lease = db.metadata.tables["relay_lease"]
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
        self.gauges_at = 0.0
        self.waker: CommitListener | DataVersionWatch | None = None
        self.tick_timer: Any = None  # the next round, while one is scheduled
        self.tick_due = 0.0
        self.ticked_at = 0.0
        # an idle relay ticks only every relay_idle_poll_seconds: not stale before twice that
        self.beat = Beat("relay", max(STALE_SECONDS, 2 * settings.relay_idle_poll_seconds))
        self.exit_after_confirm = int(os.environ.get("HUB_FAULT_RELAY_EXIT_AFTER_CONFIRM", "0") or 0)

    # -- lifecycle --------------------------------------------------------
    def run(self) -> None:
        signal.signal(signal.SIGTERM, self._request_stop)
        signal.signal(signal.SIGINT, self._request_stop)
        backoff = 0.5
        while not self.stopping:
            self.connection = pika.SelectConnection(
                pika.URLParameters(self.settings.amqp_uri), on_open_callback=self._on_open,
                on_open_error_callback=self._on_open_error, on_close_callback=self._on_closed)
            started = time.monotonic()
            self.connection.ioloop.start()
            if self.stopping:
                break
            backoff = 0.5 if time.monotonic() - started > 10 else min(backoff * 2, 10.0)
            log.warning("broker connection lost; reconnecting in %.1fs", backoff)
            time.sleep(backoff)

    def _request_stop(self, *_):
        self.stopping = True
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
        self.channel, self.tick_timer = None, None
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
        if self.tick_timer is None:  # a round is running, or the channel is down
            return
        now = time.monotonic()
        due = max(now, self.ticked_at + WAKE_GAP_SECONDS)
        if due < self.tick_due:
            self.connection.ioloop.remove_timeout(self.tick_timer)
            self._schedule(due - now)

    def _tick(self):
        self.tick_timer = None
        if self.channel is None or not self.channel.is_open:
            return
        published, held, healthy = 0, False, True
        try:
            self._mark_confirmed()
            held = self._hold_lease()
            if held:
                published = self._publish_batch()
            if time.monotonic() - self.gauges_at > GAUGE_SECONDS:
                self._update_gauges()
            self.beat.up()
        except OperationalError as exc:
            healthy = False
            log.warning("relay database error: %s", exc)
            self.beat.down(f"database error: {type(exc.orig).__name__}")
        self.ticked_at = time.monotonic()
        self._schedule(self._next_round_in(published, held and healthy))

    def _next_round_in(self, published: int, held: bool) -> float:
        if published >= self.settings.relay_batch:
            return 0.0  # more is waiting
        if published or self.inflight or self.confirmed or not held or self.waker is None or not self.waker.live:
            return POLL_SECONDS  # busy, a standby or failing, or nothing would wake it
        # idle: woken on commit; else back by the fallback poll, and in time to renew the lease
        return max(0.0, min(self.settings.relay_idle_poll_seconds, self.lease_until - time.monotonic()))

    def _publish_batch(self) -> int:
        room = min(self.settings.relay_batch, self.settings.relay_window - len(self.inflight))
        if room <= 0:
            return 0
        busy = set(self.inflight.values()) | set(self.confirmed)
        o = self.outbox
        with self.db.reader() as s:
            ids = s.execute(select(o.c.id).where(o.c.published_at.is_(None),
                                                 or_(o.c.not_before.is_(None), o.c.not_before <= clock.now()))
                            .order_by(o.c.id).limit(room + len(busy))).scalars().all()
            ids = [i for i in ids if i not in busy][:room]
            rows = s.execute(select(o.c.id, o.c.event_id, o.c.event_type, o.c.body)
                             .where(o.c.id.in_(ids)).order_by(o.c.id)).all() if ids else []
        for row in rows:
            self.channel.basic_publish(
                topology.EVENTS_EXCHANGE, row.event_type, row.body,
                pika.BasicProperties(content_type="application/json", content_encoding="utf-8",
                                     delivery_mode=2, message_id=row.event_id,
                                     type=row.event_type, app_id=self.service),
                mandatory=True)
            self.next_tag += 1
            self.inflight[self.next_tag] = row.id
        return len(rows)

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
        if len(self.confirmed) >= self.settings.relay_batch:
            self._mark_confirmed()

    def _mark_confirmed(self):
        if not self.confirmed:
            return
        ids, now, o = self.confirmed, clock.now(), self.outbox
        with self.db.session() as s:
            for start in range(0, len(ids), 500):
                s.execute(update(o).where(o.c.id.in_(ids[start:start + 500])).values(published_at=now))
        metrics.OUTBOX_PUBLISHED.labels(self.service).inc(len(ids))
        self.confirmed = []

    def _hold_lease(self) -> bool:
        if time.monotonic() < self.lease_until:
            return True
        ttl = self.settings.relay_lease_seconds
        now, t = clock.now(), self.lease
        try:
            with self.db.session() as s:
                held = s.execute(update(t).where(t.c.name == LEASE_NAME,
                                                 or_(t.c.holder == self.holder, t.c.expires_at < now))
                                 .values(holder=self.holder, expires_at=now + timedelta(seconds=ttl))).rowcount
                if not held and s.execute(select(t.c.name).where(t.c.name == LEASE_NAME)).first() is None:
                    s.execute(insert(t).values(name=LEASE_NAME, holder=self.holder,
                                               expires_at=now + timedelta(seconds=ttl)))
                    held = 1
        except IntegrityError:
            held = 0
        # renew well before expiry; a standby asks again soon
        self.lease_until = time.monotonic() + (ttl / 3 if held else 0.0)
        if not held:
            time.sleep(min(0.5, ttl / 5))
        return bool(held)

    def _update_gauges(self):
        from hubkit.outbox import backlog

        with self.db.reader() as s:
            pending, age = backlog(s, self.outbox)
        metrics.OUTBOX_PENDING.labels(self.service).set(pending)
        metrics.OUTBOX_OLDEST_AGE.labels(self.service).set(age)
        self.gauges_at = time.monotonic()


def wake_on_commit(db: Database, ioloop, wake) -> CommitListener | DataVersionWatch | None:
    """What tells the relay of `db` that rows were committed, calling `wake()` on `ioloop`."""
    if is_sqlite(db.url):
        return DataVersionWatch(db.engine.url.database or "", ioloop, wake)
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


class DataVersionWatch:
    """SQLite: `PRAGMA data_version` on a connection of its own changes whenever another connection
    (another process) commits; it is read every POLL_SECONDS, which costs microseconds where a
    look at the outbox costs a millisecond and more."""

    live = True

    def __init__(self, path: str, ioloop, wake):
        self.path, self.ioloop, self.wake = path, ioloop, wake
        self.connection: sqlite3.Connection | None = None
        self.version: int | None = None
        self.timer: Any = None

    def start(self) -> None:
        try:
            self.connection = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:  # then every check wakes the relay: it polls as before
            log.warning("cannot watch %s for commits: %s", self.path, exc)
        self._check()

    def _check(self) -> None:
        try:
            version = self.connection.execute("PRAGMA data_version").fetchone()[0] if self.connection else None
        except sqlite3.Error:
            version = None  # look at the outbox anyway
        if version is None or version != self.version:
            self.version = version
            self.wake()
        self.timer = self.ioloop.call_later(POLL_SECONDS, self._check)

    def stop(self) -> None:
        if self.timer is not None:
            self.ioloop.remove_timeout(self.timer)
            self.timer = None
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def main(service: str, metadata, settings, unconsumed: frozenset[str] = frozenset()) -> None:
    """Run the relay of `service`, whose database has the outbox in `metadata`, with the
    service's settings (a HubSettings with `db_url`); `unconsumed`: the event types no configured
    consumer subscribes to."""
    from hubkit import logging as hublog

    hublog.setup(f"{service}-relay", settings.log_level)
    relay = OutboxRelay(service, Database(settings.db_url, metadata, pool_size=2), settings, unconsumed)
    metrics.serve(settings.metrics_port, Health(settings.liveness_grace_seconds, relay.beat))
    relay.run()
