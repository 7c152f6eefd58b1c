"""Database connections on PostgreSQL: a busy pool neither pings nor churns, and a database restart
(every backend terminated) heals by itself: an idle connection is checked before use, and work a dead
connection broke before anything committed runs once more."""
from __future__ import annotations

import threading

import psycopg2
import pytest
from sqlalchemy import Column, Integer, String, Table, event, func, select, text

from hubkit import db as hubdb
from hubkit import grpc_server
from hubkit.db import Database, new_metadata, once_more_if_disconnected, pool_size
from hubkit.settings import HubSettings
from tests.support import infra

pytestmark = pytest.mark.integration

metadata = new_metadata()
notes = Table("notes", metadata, Column("id", Integer, primary_key=True, autoincrement=True),
              Column("text", String(64), nullable=False))


@pytest.fixture
def pg(session_name):
    name = f"{session_name}_conns"
    url = infra.create_databases(name, ["c"])["c"]
    dbs: list[Database] = []

    def make(size: int) -> Database:
        db = Database(url, metadata, pool_size=size)
        metadata.create_all(db.engine)
        dbs.append(db)
        return db
    yield make
    for db in dbs:
        db.dispose()
    infra.drop_databases(name, ["c"])


def restart(db: Database) -> None:
    """What a database restart does to a pool: every one of its connections is terminated."""
    url = db.engine.url
    with psycopg2.connect(host=url.host, port=url.port, user=url.username, dbname=url.database) as conn, \
            conn.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()")


def count(db: Database) -> int:
    with db.reader() as s:
        return s.execute(select(func.count()).select_from(notes)).scalar_one()


def test_connections_in_steady_use_are_not_pinged(pg, monkeypatch):
    db = pg(4)
    pings = []
    real_ping = db.engine.dialect.do_ping
    monkeypatch.setattr(db.engine.dialect, "do_ping", lambda conn: pings.append(1) or real_ping(conn))
    for i in range(50):
        with db.session() as s:
            s.execute(notes.insert().values(text=f"n{i}"))
    assert count(db) == 50
    assert pings == []


def test_a_busy_api_process_opens_each_connection_once(pg):
    """Every thread of an api process (its server's and the metrics scrape's) holding a connection at
    once: the pool keeps them all (none is opened and closed per call, as overflow connections are)."""
    db = pg(pool_size(HubSettings(), grpc_server.API_THREADS))
    opened = []
    event.listen(db.engine, "connect", lambda *_: opened.append(1))
    threads, rounds = grpc_server.API_THREADS, 5
    barrier = threading.Barrier(threads)

    def call():
        for _ in range(rounds):
            with db.session() as s:
                s.execute(notes.insert().values(text="x"))
                barrier.wait(timeout=60)  # all threads hold a connection at this moment
    workers = [threading.Thread(target=call) for _ in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    assert count(db) == threads * rounds
    assert len(opened) <= threads


def test_an_idle_pool_heals_after_a_database_restart(pg, monkeypatch):
    db = pg(4)
    with db.session() as s:
        s.execute(notes.insert().values(text="before"))
    restart(db)
    monkeypatch.setattr(hubdb, "IDLE_PING_SECONDS", 0.0)  # the connection has been idle long enough
    with db.session() as s:
        s.execute(notes.insert().values(text="after"))
    assert count(db) == 2


def test_work_a_restart_broke_before_it_committed_runs_once_more(pg):
    db = pg(4)
    with db.session() as s:
        s.execute(notes.insert().values(text="warm"))  # a pooled connection, in steady use
    restart(db)
    attempts = []

    def work():
        attempts.append(1)
        with db.session() as s:
            s.execute(notes.insert().values(text="work"))
        return "done"
    assert once_more_if_disconnected(work) == "done"
    assert len(attempts) == 2
    assert count(db) == 2


def test_work_that_committed_before_the_restart_is_not_run_again(pg):
    db = pg(4)
    with db.session() as s:
        s.execute(notes.insert().values(text="warm"))
    attempts = []

    def work():
        attempts.append(1)
        with db.session() as s:
            s.execute(notes.insert().values(text="first"))
        restart(db)  # between two transactions of one call: a retry would write "first" twice
        with db.session() as s:
            s.execute(notes.insert().values(text="second"))
    with pytest.raises(Exception) as caught:
        once_more_if_disconnected(work)
    assert getattr(caught.value, "connection_invalidated", False)
    assert len(attempts) == 1
    assert count(db) == 2  # warm and first


def test_an_operator_hears_once_per_server_that_postgresql_runs_without_autovacuum(pg, tmp_path):
    db = pg(1)
    with db.reader() as s:
        autovacuum = s.execute(text("SHOW autovacuum")).scalar()
    urls = [db.engine.url.render_as_string(hide_password=False)] * 2 + [f"sqlite:///{tmp_path / 'x.db'}"]
    warnings = hubdb.upkeep_warnings(urls)
    if autovacuum == "on":
        assert warnings == []
    else:  # this machine's configuration: said once for the server, never for SQLite
        assert len(warnings) == 1 and "autovacuum off" in warnings[0], warnings
