"""Prepared statements on PostgreSQL (hubkit.prepared): a statement seen often runs as EXECUTE of one
prepared once per connection, with the same answers as plain text; a value the prepared statement would
read differently (a fraction for an integer, a number for text) runs that call as plain text; a statement
the server cannot prepare runs as plain text without harming the caller's transaction; a connection
that is replaced prepares again; an executemany runs prepared row by row; a statement whose table a
migration changed fails one transaction and is prepared anew; and off, nothing is prepared."""
from __future__ import annotations

import datetime
import time
from decimal import Decimal

import pytest
from sqlalchemy import ARRAY, Column, Integer, Numeric, String, Table, any_, bindparam, insert, select, text
from sqlalchemy.exc import DBAPIError

from hubkit import prepared
from hubkit.db import Database, new_metadata
from tests.integration.hubkit.test_db_connections import restart
from tests.support import infra

pytestmark = pytest.mark.integration

metadata = new_metadata()
items = Table("items", metadata, Column("id", Integer, primary_key=True, autoincrement=False),
              Column("quantity", Integer, nullable=False), Column("price", Numeric(12, 2), nullable=False),
              Column("name", String(32), nullable=False))

SEEN_ENOUGH = prepared.PREPARE_AFTER + 2


@pytest.fixture
def pg(session_name):
    name = f"{session_name}_prep"
    url = infra.create_databases(name, ["p"])["p"]
    dbs: list[Database] = []

    def make(prepare: bool = True) -> Database:
        db = Database(url, metadata, pool_size=1, prepare=prepare)
        dbs.append(db)
        return db
    first = make()
    metadata.create_all(first.engine)
    with first.session() as s:
        s.execute(insert(items), [dict(id=i, quantity=i, price=Decimal(i) * Decimal("1.25"), name=f"n{i}")
                                  for i in range(1, 21)])
    yield make
    for db in dbs:
        db.dispose()
    infra.drop_databases(name, ["p"])


def server_prepared(db: Database) -> dict[str, int]:
    """The statements prepared on the pool's one connection, with how often each ran."""
    with db.reader() as s:
        return dict(s.execute(text("SELECT statement, generic_plans + custom_plans FROM pg_prepared_statements"))
                    .all())


def runs_of(db: Database, fragment: str) -> int:
    return sum(n for statement, n in server_prepared(db).items() if fragment in statement)


def test_a_statement_seen_often_runs_prepared_with_the_same_answers(pg):
    db = pg()
    query = (select(items.c.id, items.c.price, items.c.name)
             .where(items.c.id.in_([3, 4]), items.c.name != "x").order_by(items.c.id))
    answers = []
    for _ in range(SEEN_ENOUGH):
        with db.session() as s:
            answers.append(s.execute(query).all())
    assert answers[0] == [(3, Decimal("3.75"), "n3"), (4, Decimal("5.00"), "n4")]
    assert all(a == answers[0] for a in answers)
    assert runs_of(db, "FROM items") == SEEN_ENOUGH - prepared.PREPARE_AFTER + 1


def test_writes_through_a_prepared_statement_are_rolled_back_with_their_transaction(pg):
    db = pg()
    for _ in range(SEEN_ENOUGH):
        with pytest.raises(RuntimeError), db.session() as s:
            s.execute(items.update().where(items.c.id == 1).values(quantity=items.c.quantity + 1))
            raise RuntimeError("the caller fails after the write")
    with db.session() as s:
        s.execute(items.update().where(items.c.id == 1).values(quantity=items.c.quantity + 1))
    with db.reader() as s:
        assert s.execute(select(items.c.quantity).where(items.c.id == 1)).scalar_one() == 2
    assert runs_of(db, "UPDATE items") >= 2


def test_a_value_the_prepared_statement_would_read_differently_runs_as_plain_text(pg):
    db = pg()
    times = text("SELECT quantity * :factor FROM items WHERE id = :id")
    label = text("SELECT :label AS label, id FROM items WHERE id = :id")
    for _ in range(SEEN_ENOUGH):  # prepared with an integer factor: the server types it integer
        with db.reader() as s:
            assert s.execute(times, dict(factor=2, id=3)).scalar_one() == 6
            assert s.execute(label, dict(label="a", id=3)).one() == ("a", 3)
    with db.reader() as s:
        # 2.5 in an integer parameter would be rounded to 3 (9 instead of 7.5); a number read as text
        assert s.execute(times, dict(factor=Decimal("2.5"), id=3)).scalar_one() == Decimal("7.5")
        assert s.execute(label, dict(label=7, id=3)).one() == (7, 3)


def test_a_statement_the_server_cannot_prepare_runs_as_plain_text_in_the_same_transaction(pg):
    db = pg()
    unknowable = text("SELECT :value IS NULL")  # the server cannot infer the parameter's type
    for i in range(SEEN_ENOUGH):
        with db.session() as s:
            s.execute(items.update().where(items.c.id == 2).values(name=f"try{i}"))
            assert s.execute(unknowable, dict(value=None)).scalar_one() is True
    with db.reader() as s:
        assert s.execute(select(items.c.name).where(items.c.id == 2)).scalar_one() == f"try{SEEN_ENOUGH - 1}"
    assert runs_of(db, "IS NULL") == 0


def test_a_replaced_connection_prepares_again(pg):
    db = pg()
    query = select(items.c.name).where(items.c.id == 5)
    for _ in range(SEEN_ENOUGH):
        with db.reader() as s:
            assert s.execute(query).scalar_one() == "n5"
    restart(db)  # every backend terminated: the pooled connection and its prepared statements are gone
    for attempt in range(2):  # the first use finds the connection dead (once_more_if_disconnected's case)
        try:
            with db.reader() as s:
                assert s.execute(query).scalar_one() == "n5"
            break
        except Exception:
            if attempt:
                raise
    with db.reader() as s:
        assert s.execute(query).scalar_one() == "n5"
    assert runs_of(db, "FROM items") >= 1


def test_off_nothing_is_prepared(pg):
    db = pg(prepare=False)
    at = datetime.datetime.now(datetime.timezone.utc)
    for _ in range(SEEN_ENOUGH):
        with db.reader() as s:
            assert s.execute(text("SELECT count(*) FROM items WHERE id > :id AND now() >= :at"),
                             dict(id=10, at=at)).scalar_one() == 10
    assert server_prepared(db) == {}


def test_an_update_of_many_rows_runs_prepared_row_by_row_unless_a_row_would_be_read_differently(pg):
    db = pg()
    bump = text("UPDATE items SET quantity = quantity + :step WHERE id = :row_id")
    with db.session() as s:
        s.execute(bump, [dict(step=1, row_id=i) for i in range(1, SEEN_ENOUGH + 1)])
    with db.session() as s:  # a fraction into the integer quantity: plain text, the server rounds as before
        s.execute(bump, [dict(step=1, row_id=1), dict(step=Decimal("0.4"), row_id=2)])
    with db.reader() as s:
        quantities = dict(s.execute(select(items.c.id, items.c.quantity).where(items.c.id <= 3)).all())
    assert quantities == {1: 3, 2: 3, 3: 4}
    assert runs_of(db, "UPDATE items") == SEEN_ENOUGH  # each row a sighting: prepared at once


def test_a_table_changed_under_a_prepared_statement_fails_one_transaction_then_is_prepared_anew(pg):
    db = pg()
    query = select(items.c.id, items.c.name).where(items.c.id == 6)
    for _ in range(SEEN_ENOUGH):
        with db.reader() as s:
            assert s.execute(query).one() == (6, "n6")
    with pg(prepare=False).session() as s:  # a migration, from another process
        s.execute(text("ALTER TABLE items ALTER COLUMN name TYPE text"))
    with pytest.raises(DBAPIError, match="cached plan must not change result type"), db.reader() as s:
        s.execute(query).one()
    for _ in range(2):
        with db.reader() as s:
            assert s.execute(query).one() == (6, "n6")
    assert runs_of(db, "FROM items") >= 2


def test_a_plan_made_on_a_small_table_is_made_anew_as_the_connection_ages(pg, monkeypatch):
    # without autovacuum nothing tells the server that a table has grown: its generic plan would scan it whole
    monkeypatch.setattr(prepared, "REPLAN_FIRST", 0.5)
    db = pg()
    query = select(items.c.name).where(items.c.id == any_(bindparam("ids", type_=ARRAY(Integer)))).order_by(items.c.id)

    def plan() -> str:
        with db.reader() as s:
            name = s.execute(text("SELECT name FROM pg_prepared_statements WHERE statement LIKE '%FROM items%'")).scalar_one()
            return "\n".join(s.execute(text(f"EXPLAIN EXECUTE {name}('{{7,8}}')")).scalars())

    with db.reader() as s:
        s.execute(text("ALTER TABLE items SET (autovacuum_enabled = false)"))
        s.execute(text("ANALYZE items"))  # 20 rows, one page: the statistics it is planned with
        s.execute(text("SET plan_cache_mode = force_generic_plan"))  # the session's: its one pooled connection
        s.commit()
    for _ in range(SEEN_ENOUGH):
        with db.reader() as s:
            assert s.execute(query, {"ids": [7, 8]}).scalars().all() == ["n7", "n8"]
    assert "Seq Scan" in plan()  # 20 rows: one page
    with pg(prepare=False).session() as s:
        s.execute(text("INSERT INTO items SELECT i, i, 1, 'm' FROM generate_series(100, 60099) AS i"))
    assert "Seq Scan" in plan()  # the same plan: nothing has told the server
    time.sleep(0.6)
    with db.reader() as s:
        assert s.execute(query, {"ids": [7, 8]}).scalars().all() == ["n7", "n8"]
    assert "Index Scan" in plan()
    assert runs_of(db, "FROM items") == 2  # prepared anew: the one run and the EXPLAIN since
