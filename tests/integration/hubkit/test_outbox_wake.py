"""On SQLite, where no NOTIFY crosses processes, a commit that wrote outbox rows sends one datagram,
after the COMMIT, to the socket named after the database file (hubkit.outbox.wake_address), which the
relay binds and its ioloop watches (hubkit.relay.WakeSocket): an idle relay is woken without polling
(issue 12). A writer never fails or waits for it, and a relay that cannot bind the name polls
`PRAGMA data_version` as before."""
from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time

import pytest
from pika.adapters.select_connection import IOLoop
from sqlalchemy import insert, text

from hub import components
from hubkit import clock, outbox, relay
from hubkit.db import Database, new_metadata

pytestmark = pytest.mark.integration

metadata = new_metadata()
outbox.add_tables(metadata)

# a writer in another process: what it commits reaches the relay's ioloop only by the datagram
WRITER = """
import sys, time
from hubkit import outbox
from hubkit.db import Database, new_metadata
metadata = new_metadata()
outbox.add_tables(metadata)
db = Database(sys.argv[1], metadata, pool_size=1)
with db.session() as s:
    outbox.emit(s, metadata.tables, source="maker", event_type="widget_made", aggregate_id="w-1", payload={},
                actor="test", correlation_id="")
print(time.monotonic())
"""


@pytest.fixture
def db(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'outbox.db'}", metadata, pool_size=1)
    metadata.create_all(database.engine)
    yield database
    database.dispose()


@pytest.fixture
def listener(db):
    """The relay's end of the wake-up socket, bound by the test."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(outbox.wake_address(db.engine.url.database))
    yield sock
    sock.close()


def _emit(db, rows: int = 1) -> None:
    with db.session() as s:
        for n in range(rows):
            outbox.emit(s, metadata.tables, source="maker", event_type="widget_made", aggregate_id=f"w-{n}",
                        payload={}, actor="test", correlation_id="")


def _datagrams(sock) -> int:
    sock.setblocking(False)
    count = 0
    try:
        while True:
            sock.recv(16)
            count += 1
    except BlockingIOError:
        return count


def test_a_commit_that_wrote_outbox_rows_sends_one_datagram_once_they_are_visible(db, listener):
    seen: list[int] = []

    def relay_end():  # reads the outbox as soon as it is woken, from a connection of its own
        listener.recv(16)
        with db.engine.execution_options(hub_read_only=True).connect() as c:
            seen.append(c.execute(text("SELECT count(*) FROM outbox")).scalar_one())

    woken = threading.Thread(target=relay_end)
    woken.start()
    _emit(db, 3)
    woken.join(5)
    assert seen == [3], "woken before the rows were committed, or not at all"
    assert _datagrams(listener) == 0  # one datagram per transaction
    # a transaction with no outbox rows, and one that wrote some and rolled back, wake nobody
    with db.session() as s:
        s.execute(insert(metadata.tables["relay_lease"]).values(name="x", holder="h", expires_at=clock.now()))
    with pytest.raises(RuntimeError), db.session() as s:
        outbox.emit(s, metadata.tables, source="maker", event_type="widget_made", aggregate_id="w-9", payload={},
                    actor="test", correlation_id="")
        raise RuntimeError("rolled back")
    with db.session() as s:
        s.execute(text("DELETE FROM relay_lease"))
    assert _datagrams(listener) == 0


def test_a_writer_commits_with_no_listener_and_with_one_that_reads_nothing(db, listener, tmp_path):
    other = Database(f"sqlite:///{tmp_path / 'other.db'}", metadata, pool_size=1)  # nobody listens for it
    metadata.create_all(other.engine)
    _emit(other)
    other.dispose()
    started = time.monotonic()
    for _ in range(60):  # more than a Unix datagram socket queues (net.unix.max_dgram_qlen, 10 by default)
        _emit(db)
    assert time.monotonic() - started < 20  # none waited for room
    with db.engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM outbox")).scalar_one() == 60
    assert 1 <= _datagrams(listener) < 60


def _run_until(ioloop, wakes: list, count: int, seconds: float) -> None:
    """Run the ioloop until `count` wake-ups in all, or `seconds`."""
    timers = [ioloop.call_later(seconds, ioloop.stop)]

    def check():
        if len(wakes) >= count:
            ioloop.stop()
        else:
            timers.append(ioloop.call_later(0.01, check))

    check()
    ioloop.start()
    for timer in timers:
        ioloop.remove_timeout(timer)


def test_the_relay_is_woken_by_a_commit_in_another_process_without_polling(db, monkeypatch):
    monkeypatch.setattr(relay, "POLL_SECONDS", 3600.0)  # a data_version poll would come too late
    ioloop, wakes = IOLoop(), []
    watch = relay.wake_on_commit(db, ioloop, lambda: wakes.append(time.monotonic()))
    assert watch is not None
    watch.start()
    assert len(wakes) == 1  # for what committed before it listened
    try:
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(db.engine.url)], cwd=components.PROJECT_ROOT,
                                  stdout=subprocess.PIPE, text=True)
        _run_until(ioloop, wakes, 2, 20)
        out, _ = writer.communicate(timeout=20)
        assert writer.returncode == 0
        assert len(wakes) == 2, "the commit did not wake the relay"
        assert wakes[1] - float(out) < 0.5
        _emit(db, 2)  # and again, in this process
        _run_until(ioloop, wakes, 3, 5)
        assert len(wakes) == 3
    finally:
        watch.stop()
        ioloop.close()


def test_a_relay_that_cannot_bind_the_name_polls_data_version_until_it_can(db, listener, monkeypatch):
    monkeypatch.setattr(relay.WakeSocket, "BIND_RETRY_SECONDS", 0.5)
    ioloop, wakes = IOLoop(), []
    watch = relay.wake_on_commit(db, ioloop, lambda: wakes.append(time.monotonic()))
    assert watch is not None
    watch.start()  # the name is the listener's: it polls
    try:
        _run_until(ioloop, wakes, 1, 1)
        _run_until(ioloop, wakes, 2, 0.3)
        assert len(wakes) == 1  # nothing committed: the poll wakes nobody
        _emit(db)
        _run_until(ioloop, wakes, 2, 5)
        assert len(wakes) == 2
        listener.close()  # the other relay is gone: the name is taken up and the poll stops
        _run_until(ioloop, wakes, 3, 5)
        assert len(wakes) == 3  # for what committed while it switched
        assert isinstance(watch, relay.WakeSocket) and watch.socket is not None and watch.polling is None
        other = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        with pytest.raises(OSError):
            other.bind(outbox.wake_address(db.engine.url.database))
        other.close()
        _emit(db)
        _run_until(ioloop, wakes, 4, 5)
        assert len(wakes) == 4
    finally:
        watch.stop()
        ioloop.close()
