"""Migrations match the models, and the inbox applies an event once, on PostgreSQL and SQLite."""
from __future__ import annotations

import importlib

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import event, func, select

from gateway.models import metadata as gateway_metadata
from hub import components
from hub.components import SERVICES
from hubkit.db import Database
from hubkit.envelope import Envelope
from hubkit.inbox import handle_many, handle_once, on_behalf_of
from services.order.models import metadata as order_metadata

pytestmark = pytest.mark.integration
METADATA = {**{svc: importlib.import_module(f"services.{svc}.models").metadata for svc in SERVICES},
            "gateway": gateway_metadata}


@pytest.fixture(params=["postgresql", "sqlite"])
def urls(request, pg_urls, tmp_path):
    if request.param == "postgresql":
        return pg_urls
    return {name: f"sqlite:///{tmp_path / (name + '.db')}" for name in METADATA}


@pytest.mark.parametrize("name", list(METADATA))
def test_migrations_match_the_models(urls, name):
    components.migrate(name, urls[name])
    db = Database(urls[name], METADATA[name])
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), METADATA[name])
    db.dispose()
    assert diff == []


def test_an_event_is_applied_once_and_stale_versions_are_ignored(urls):
    components.migrate("order", urls["order"])
    db = Database(urls["order"], order_metadata)
    applied = []

    def effect(uow, env):
        applied.append(env.sequence)

    def event(seq, event_id=None):
        kw = {"event_id": event_id} if event_id else {}
        return Envelope(type="stock_reserved", source="inventory", aggregate_id=f"agg-{id(db)}", sequence=seq,
                        payload={}, correlation_id="c", actor="t", **kw)

    second = event(2)
    assert handle_once(db, "order", "test.consumer", second, effect)
    assert not handle_once(db, "order", "test.consumer", second, effect)  # duplicate delivery
    assert not handle_once(db, "order", "test.consumer", event(1), effect)  # older version
    assert handle_once(db, "order", "test.consumer", event(3), effect)
    assert applied == [2, 3]
    inbox = order_metadata.tables["inbox"]
    with db.reader() as s:
        assert s.execute(select(func.count()).select_from(inbox).where(inbox.c.consumer == "test.consumer")).scalar() == 3
    db.dispose()


def test_an_effect_that_fails_leaves_no_inbox_record(urls):
    components.migrate("order", urls["order"])
    db = Database(urls["order"], order_metadata)
    env = Envelope(type="stock_reserved", source="inventory", aggregate_id="fails", sequence=1, payload={},
                   correlation_id="c", actor="t")

    def boom(uow, _env):
        raise RuntimeError("handler failed")
    with pytest.raises(RuntimeError):
        handle_once(db, "order", "test.fail", env, boom)
    assert handle_once(db, "order", "test.fail", env, lambda uow, e: None)  # retried later, applied then
    db.dispose()


def _reserved(aggregate: str, seq: int, **kw) -> Envelope:
    return Envelope(type="stock_reserved", source="inventory", aggregate_id=aggregate, sequence=seq, payload={},
                    correlation_id=f"c{seq}", actor=f"a{seq}", **kw)


def test_a_batch_applies_each_new_event_once_in_one_transaction(urls):
    components.migrate("order", urls["order"])
    db = Database(urls["order"], order_metadata)
    seen = _reserved("b", 2)
    assert handle_once(db, "order", "test.batch", seen, lambda uow, e: None)
    batch = [_reserved("a", 1), _reserved("b", 1), seen, _reserved("a", 3), _reserved("a", 2), _reserved("c", 1)]
    batch.append(batch[0])  # the same message twice in one batch (a redelivery)
    transactions, applied = [], []
    moves: list[int] = []  # the positions' upserts sent: how many rows each carries
    event.listen(db.engine, "before_cursor_execute", lambda _c, _cur, sql, *_: moves.append(
        sql.count("), (") + 1) if sql.startswith("INSERT INTO inbox_positions") else None)

    def effect(uow, fresh):
        transactions.append(uow)
        for env in fresh:
            with on_behalf_of(uow, env):
                applied.append((env.aggregate_id, env.sequence, uow.actor, uow.correlation_id))
    outcomes = handle_many(db, "order", "test.batch", batch, effect)
    # "b" 1 is older than the 2 applied before, "a" 2 older than the 3 before it in the same batch
    assert outcomes == [True, False, False, True, False, True, True]
    assert applied == [("a", 1, "a1", "c1"), ("a", 3, "a3", "c3"), ("c", 1, "a1", "c1")]
    assert len(transactions) == 1
    assert moves == [2]  # "a" and "c" moved by one statement, not one per row (an aggregate twice: no WITH)
    assert handle_many(db, "order", "test.batch", batch, effect) == [False] * len(batch)  # all seen now
    assert not handle_once(db, "order", "test.batch", _reserved("a", 2), effect)  # the position is 3
    positions = order_metadata.tables["inbox_positions"]
    with db.reader() as s:
        assert dict(s.execute(select(positions.c.aggregate_id, positions.c.last_sequence)
                              .where(positions.c.consumer == "test.batch")).all()) == {"a": 3, "b": 2, "c": 1}
    db.dispose()


def test_a_batch_of_distinct_aggregates_moves_only_the_positions_behind_it(urls):
    """Each aggregate once in the batch (one upsert names the fresh events): an event at or behind its
    aggregate's position is stale, one ahead of it or of a new aggregate is applied."""
    components.migrate("order", urls["order"])
    db = Database(urls["order"], order_metadata)
    for seeded in (_reserved("x", 3), _reserved("z", 4), _reserved("w", 2)):
        assert handle_once(db, "order", "test.distinct", seeded, lambda uow, e: None)
    applied = []
    batch = [_reserved("x", 2), _reserved("y", 1), _reserved("z", 5), _reserved("w", 2)]
    outcomes = handle_many(db, "order", "test.distinct", batch,
                           lambda uow, fresh: applied.extend((e.aggregate_id, e.sequence) for e in fresh))
    assert outcomes == [False, True, True, False]
    assert applied == [("y", 1), ("z", 5)]
    positions = order_metadata.tables["inbox_positions"]
    with db.reader() as s:
        assert dict(s.execute(select(positions.c.aggregate_id, positions.c.last_sequence)
                              .where(positions.c.consumer == "test.distinct")).all()) == {"x": 3, "y": 1, "z": 5, "w": 2}
    db.dispose()


def test_an_event_s_transaction_costs_the_inbox_one_statement_on_postgresql_and_two_on_sqlite(urls):
    """Recording an event and moving its aggregate's position: PostgreSQL does both in one statement
    (a statement's round trip costs CPU on every event); SQLite cannot (no INSERT in a WITH)."""
    components.migrate("order", urls["order"])
    db = Database(urls["order"], order_metadata)
    statements: list[str] = []
    event.listen(db.engine, "before_cursor_execute", lambda *a: statements.append(a[2].split(None, 1)[0].upper()))
    assert handle_once(db, "order", "test.count", _reserved("n", 1), lambda uow, e: None)
    assert not handle_once(db, "order", "test.count", _reserved("n", 1), lambda uow, e: None)  # stale
    postgresql = db.engine.dialect.name == "postgresql"
    assert statements == (["WITH", "WITH"] if postgresql else ["BEGIN", "INSERT", "INSERT"] * 2)
    db.dispose()


def test_a_failing_batch_is_applied_one_event_at_a_time_and_only_the_culprit_fails(urls):
    components.migrate("order", urls["order"])
    db = Database(urls["order"], order_metadata)
    batch = [_reserved(f"p{i}", 1) for i in range(4)]
    poison, committed = batch[2].event_id, []

    def effect(uow, fresh):
        if any(env.event_id == poison for env in fresh):
            raise RuntimeError("cannot apply p2")
        uow.after_commit(lambda: committed.extend(env.aggregate_id for env in fresh))
    outcomes = handle_many(db, "order", "test.poison", batch, effect)
    assert outcomes[:2] == [True, True] and outcomes[3] is True
    assert isinstance(outcomes[2], RuntimeError)
    assert committed == ["p0", "p1", "p3"]  # the failed batch committed nothing
    # the culprit left no inbox record: a retry applies it once the cause is gone
    assert handle_many(db, "order", "test.poison", [batch[2]], lambda uow, fresh: None) == [True]
    db.dispose()
