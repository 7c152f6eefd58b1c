"""Counters (outbox sequences, voucher numbers) on PostgreSQL: writers racing for a key that does
not exist yet all get a number, without gaps and without a unique violation to retry."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import BigInteger, Column, String, Table

from hubkit.counters import next_in_sequence
from hubkit.db import Database, new_metadata
from tests.support import infra

pytestmark = pytest.mark.integration

metadata = new_metadata()
counters = Table("counters", metadata, Column("name", String(64), primary_key=True),
                 Column("last_sequence", BigInteger, nullable=False))


@pytest.fixture
def pg_db(session_name):
    name = f"{session_name}_counters"
    url = infra.create_databases(name, ["c"])["c"]
    db = Database(url, metadata, pool_size=20)
    metadata.create_all(db.engine)
    yield db
    db.dispose()
    infra.drop_databases(name, ["c"])


def test_writers_racing_for_a_new_key_each_get_the_next_number(pg_db):
    got, errors, start = [], [], threading.Barrier(16)

    def take():
        try:
            start.wait()
            with pg_db.session() as s:
                got.append(next_in_sequence(s, counters, "2026-11/记"))
        except Exception as exc:  # a unique violation here was the bug
            errors.append(exc)
    threads = [threading.Thread(target=take) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert sorted(got) == list(range(1, 17))


def test_a_counter_counts_on_from_where_it_stands(pg_db):
    with pg_db.session() as s:
        assert [next_in_sequence(s, counters, k) for k in ("a", "a", "b", "a")] == [1, 2, 1, 3]
