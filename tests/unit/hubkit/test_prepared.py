"""hubkit.prepared's reading of a statement: psycopg2's named parameters become positional ones in the
order they first appear (a repeated one keeps its number), `%%` is a percent sign, and only a single
SELECT, INSERT, UPDATE, DELETE or WITH of bounded length is prepared, and no upsert onto a partial index."""
from __future__ import annotations

import pytest

from hubkit import prepared


def test_named_parameters_become_positional_in_order_of_appearance():
    shape = prepared.shape_of("SELECT a FROM t WHERE b = %(b)s AND c LIKE 'x%%' AND d IN (%(d_1)s, %(b)s)")
    assert shape.prepare == f"PREPARE {shape.name} AS SELECT a FROM t WHERE b = $1 AND c LIKE 'x%' AND d IN ($2, $1)"
    assert shape.execute == f"EXECUTE {shape.name}(%(b)s, %(d_1)s)"
    assert shape.params == ("b", "d_1")


def test_a_statement_without_parameters_executes_by_name():
    shape = prepared.shape_of("  with x as (select 1) select * from x")
    assert shape.execute == f"EXECUTE {shape.name}"


def test_the_name_depends_on_the_text_only():
    one, same, other = (prepared.shape_of(q) for q in ("SELECT %(a)s", "SELECT %(a)s", "SELECT %(a)s + 1"))
    assert one.name == same.name != other.name
    assert one.name.startswith("hub_") and len(one.name) < 64  # PostgreSQL's identifiers: 63 bytes


def test_only_plain_statements_of_bounded_length_are_prepared():
    for query in ("SAVEPOINT s", "BEGIN", "LISTEN hub", "CREATE TABLE t (a int)", "SET x = 1",
                  "SELECT %(a)s" + " " * prepared.MAX_LENGTH):
        assert prepared.shape_of(query) is None
    assert prepared.shape_of("delete from t where a = %(a)s") is not None


def test_the_statements_kept_track_of_are_bounded_in_number_and_characters(monkeypatch):
    monkeypatch.setattr(prepared, "_shapes", {})
    monkeypatch.setattr(prepared, "_characters", 0)
    # a many-row VALUES too long to prepare is not remembered: each batch size is another text
    assert prepared._known("INSERT INTO t (a) VALUES " + ", ".join(["(%(a)s)"] * 3000)) is None
    assert prepared._shapes == {}
    short = "SELECT a FROM t WHERE b = %(b)s"
    assert prepared._known(short) is not None
    kept = prepared._characters
    assert kept == len(short) + len(prepared._shapes[short].prepare) + len(prepared._shapes[short].execute)
    # past the budget a new statement is not kept: its sightings are not counted, it runs as plain text
    monkeypatch.setattr(prepared, "MAX_CHARACTERS", kept + 10)
    other = "SELECT a FROM t WHERE c = %(c)s"
    assert prepared._known(other) is None
    assert list(prepared._shapes) == [short] and prepared._characters == kept
    # once the budget is spent, a statement it does not know is not even read
    monkeypatch.setattr(prepared, "MAX_CHARACTERS", kept)
    monkeypatch.setattr(prepared, "shape_of", lambda query: pytest.fail(f"{query} read past the budget"))
    assert prepared._known(other) is None
    assert prepared._known(short) is prepared._shapes[short]


def test_a_many_row_values_is_numbered_in_one_pass():
    # hundreds of parameters (a batch's multi-row INSERT): each numbered once, in order of appearance
    rows = ", ".join(f"(%(a__{i})s, %(b__{i})s, %(a__{i})s)" for i in range(200))
    shape = prepared.shape_of(f"INSERT INTO t (a, b, c) VALUES {rows}")
    assert shape.params == tuple(f"{c}__{i}" for i in range(200) for c in "ab")
    assert shape.prepare.endswith("($397, $398, $397), ($399, $400, $399)")


def test_an_upsert_onto_a_partial_index_is_not_prepared():
    # the planner picks the arbiter index by the WHERE's values: a parameter matches none at EXECUTE
    assert prepared.shape_of("INSERT INTO t (a) VALUES (%(a)s) ON CONFLICT (a) WHERE open = %(o)s DO NOTHING") is None
    assert prepared.shape_of("INSERT INTO t (a) VALUES (%(a)s) ON CONFLICT (a) DO NOTHING") is not None
