"""INSERT … ON CONFLICT (hubkit.sql.dialect_insert) on PostgreSQL and SQLite: compiled once per
statement shape and then taken from SQLAlchemy's cache, with each call's own values, and statements
that differ only in their ON CONFLICT clause never sharing a compiled form."""
from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import Column, Integer, String, Table, event, select

from hubkit.db import Database, dialect_insert, new_metadata
from hubkit.sql import many_rows
from tests.support import infra

pytestmark = pytest.mark.integration

metadata = new_metadata()
items = Table("items", metadata, Column("code", String(16), primary_key=True), Column("name", String(32)),
              Column("hits", Integer, nullable=False, default=0))


@pytest.fixture(params=["postgresql", "sqlite"])
def db(request, tmp_path, session_name):
    name = f"{session_name}_dins"
    if request.param == "postgresql":
        url = infra.create_databases(name, ["d"])["d"]
    else:
        url = f"sqlite:///{tmp_path / 'd.db'}"
    database = Database(url, metadata, pool_size=2)
    metadata.create_all(database.engine)
    yield database
    database.dispose()
    if request.param == "postgresql":
        infra.drop_databases(name, ["d"])


def test_on_conflict_statements_are_compiled_once_and_keep_each_calls_values(db):
    seen: Counter = Counter()
    event.listen(db.engine, "after_cursor_execute",
                 lambda _c, _cur, _sql, _p, context, _m: seen.update([context._get_cache_stats().split(" ")[0]]))
    for round_ in range(3):
        for code in ("A", "B"):
            with db.session() as s:
                s.execute(dialect_insert(s, items).values(code=code, name=f"{code}{round_}", hits=1)
                          .on_conflict_do_update(index_elements=["code"],
                                                 set_={"name": f"{code}{round_}", "hits": items.c.hits + 1}))
                s.execute(dialect_insert(s, items).values(code=code, name="never", hits=0)
                          .on_conflict_do_nothing(index_elements=["code"]))
                s.execute(dialect_insert(s, items).values(code=code, name="never", hits=0)
                          .on_conflict_do_update(index_elements=["code"], set_={"hits": 100},
                                                 where=items.c.hits > 1000))
    compiled = dict(seen)
    with db.reader() as s:
        rows = dict(s.execute(select(items.c.code, items.c.name)).all())
        hits = dict(s.execute(select(items.c.code, items.c.hits)).all())
    assert rows == {"A": "A2", "B": "B2"}  # the last call's SET value, not the first one's
    assert hits == {"A": 3, "B": 3}  # DO NOTHING did nothing; the guarded update never ran
    assert compiled.get("no", 0) == 0  # every statement had a cache key
    assert compiled["generated"] == 3 and compiled["cached"] == 15  # three shapes, each compiled once


def test_an_upsert_of_many_rows_is_one_statement(db):
    sent: list[tuple[int, bool]] = []  # per INSERT sent: the rows its SQL carries, whether run row by row

    def seen(_conn, _cursor, sql, _params, _context, executemany):
        if sql.startswith("INSERT"):
            sent.append((sql.count("), (") + 1, executemany))
    event.listen(db.engine, "before_cursor_execute", seen)
    rows = [{"code": c, "name": c.lower(), "hits": 1} for c in "ABCDEFGH"]
    with db.session() as s:
        bump = dialect_insert(s, items)
        bump = bump.on_conflict_do_update(index_elements=["code"], set_={"hits": items.c.hits + bump.excluded.hits})
        s.execute(many_rows(bump), rows)
        s.execute(many_rows(bump), rows[:3])
        s.execute(many_rows(dialect_insert(s, items).on_conflict_do_nothing()),
                  [*rows, {"code": "Z", "name": "z", "hits": 0}] * 2)
    with db.reader() as s:
        hits = dict(s.execute(select(items.c.code, items.c.hits)).all())
    assert hits == {**{c: 1 for c in "DEFGH"}, "A": 2, "B": 2, "C": 2, "Z": 0}
    assert [rows for rows, _ in sent] == [8, 3, 18]  # each one statement with all its rows
    sent.clear()
    with db.session() as s:  # without it, SQLAlchemy sends the statement once per row
        s.execute(bump, rows)
    assert sent == [(1, True)]
