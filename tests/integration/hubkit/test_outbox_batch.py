"""A unit of work writes what it emitted just before it commits, in two statements whatever the
number of events (issue 12), on SQLite and PostgreSQL: sequences per aggregate follow the order of
emission, go on from the last transaction's, and a savepoint rolled back takes its own events along
and none of the earlier ones."""
from __future__ import annotations

import pytest
from sqlalchemy import Column, String, Table, event, insert, select

from hubkit import clock, events, inbox, outbox, relay
from hubkit.db import Database, UnitOfWork, new_metadata
from hubkit.envelope import Envelope
from tests.support import infra

pytestmark = pytest.mark.integration


class WidgetMade(events.Event):
    type = "widget_made"
    publisher = "maker"
    subscribers = ("user",)

    widget_id: str


metadata = new_metadata()
widgets = Table("widgets", metadata, Column("id", String(32), primary_key=True))
outbox.add_tables(metadata)
inbox.add_tables(metadata)


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path, session_name):
    if request.param == "sqlite":
        database = Database(f"sqlite:///{tmp_path / 'outbox.db'}", metadata, pool_size=1)
    else:
        name = f"{session_name}_outbox_batch"
        database = Database(infra.create_databases(name, ["o"])["o"], metadata, pool_size=2)
        request.addfinalizer(lambda: infra.drop_databases(name, ["o"]))
    metadata.create_all(database.engine)
    yield database
    database.dispose()


def _outbox(db) -> list[tuple[str, int, str]]:
    """(aggregate, sequence, widget) of every outbox row, in the order written."""
    table = metadata.tables["outbox"]
    with db.reader() as s:
        bodies = s.execute(select(table.c.body).order_by(table.c.id)).scalars().all()
    return [(e.aggregate_id, e.sequence, e.payload["widget_id"]) for e in map(Envelope.from_json, bodies)]


def _emit(uow, widget: str, aggregate: str) -> None:
    uow.emit(WidgetMade(widget_id=widget), aggregate)


def test_a_transaction_s_events_are_written_by_two_statements_in_the_order_emitted(db):
    statements = []
    event.listen(db.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    with UnitOfWork(db, "maker", "tester", "c1") as uow:
        for widget, aggregate in [("w1", "a"), ("w2", "b"), ("w3", "a"), ("w4", "c"), ("w5", "a")]:
            _emit(uow, widget, aggregate)
        assert _outbox(db) == []  # not yet: gathered until the commit
    writes = [s for s in statements if s.startswith("INSERT INTO outbox")]
    assert len(writes) == 2, writes  # the sequences of a, b and c; the five rows
    with UnitOfWork(db, "maker", "tester", "c2") as uow:
        _emit(uow, "w6", "b")
        _emit(uow, "w7", "a")
    assert _outbox(db) == [("a", 1, "w1"), ("b", 1, "w2"), ("a", 2, "w3"), ("c", 1, "w4"), ("a", 3, "w5"),
                           ("b", 2, "w6"), ("a", 4, "w7")]
    first = Envelope.from_json(_bodies(db)[0])
    assert (first.actor, first.correlation_id, first.source) == ("tester", "c1", "maker")


def _bodies(db) -> list[str]:
    table = metadata.tables["outbox"]
    with db.reader() as s:
        return s.execute(select(table.c.body).order_by(table.c.id)).scalars().all()


def test_a_savepoint_keeps_the_order_of_emission_and_its_rollback_takes_only_its_own_events(db):
    with UnitOfWork(db, "maker", "tester", "c1") as uow:
        _emit(uow, "before", "a")
        with uow.session.begin_nested():  # released: its event stays, after the one emitted before it
            _emit(uow, "kept", "a")
        savepoint = uow.session.begin_nested()
        _emit(uow, "undone", "a")
        uow.session.execute(widgets.insert().values(id="undone"))
        savepoint.rollback()
        _emit(uow, "after", "a")
    assert _outbox(db) == [("a", 1, "before"), ("a", 2, "kept"), ("a", 3, "after")]


def test_a_transaction_rolled_back_writes_none_of_its_events_and_the_next_one_starts_clean(db):
    with pytest.raises(RuntimeError):
        with UnitOfWork(db, "maker", "tester", "c1") as uow:
            _emit(uow, "lost", "a")
            raise RuntimeError("boom")
    with UnitOfWork(db, "maker", "tester", "c2") as uow:
        with uow.session.begin_nested():
            uow.session.execute(widgets.insert().values(id="w"))
        _emit(uow, "kept", "a")
    assert _outbox(db) == [("a", 1, "kept")]


def test_more_aggregates_than_one_statement_takes(db):
    aggregates = [f"agg{i:04d}" for i in range(1207)]  # SQLAlchemy sends at most 1000 rows per statement
    with UnitOfWork(db, "maker", "tester", "c1") as uow:
        for aggregate in aggregates + aggregates[:3]:
            _emit(uow, aggregate, aggregate)
    rows = _outbox(db)
    assert len(rows) == len(aggregates) + 3
    assert {(a, s) for a, s, _ in rows} == {(a, 1) for a in aggregates} | {(a, 2) for a in aggregates[:3]}


@pytest.mark.parametrize("db", ["postgresql"], indirect=True)  # the plan is PostgreSQL's
def test_the_relay_reads_the_unpublished_rows_through_their_own_index(db):
    # the outbox keeps every event ever published; a round must not walk past them to the few that are not
    table, now = metadata.tables["outbox"], clock.now()
    with db.session() as s:
        s.execute(insert(table), [dict(event_id=f"e{n}", event_type="widget_made", body="{}", created_at=now,
                                       published_at=None if n >= 3000 else now) for n in range(3002)])
    due = relay.OutboxStatements(db).due_rows.params(now=now, limit=100)
    with db.engine.connect() as conn:
        compiled = due.compile(dialect=conn.dialect)
        plan = "\n".join(conn.exec_driver_sql("EXPLAIN " + compiled.string, compiled.params).scalars())
        assert "ix_outbox_unpublished" in plan and "Seq Scan" not in plan, plan
        assert [r.event_id for r in conn.execute(due)] == ["e3000", "e3001"]
