"""A round of batched pushes on PostgreSQL and SQLite: every voucher of the round is claimed
(`pushing`, its save counted) before the ledger is called, with one statement for the round, and the
confirmations of the answer are written with one statement too, each with its own ledger reference;
a refused item is settled on its own row."""
from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest
from alembic import command
from sqlalchemy import delete, func, insert, inspect, select, text, update
from sqlalchemy import event as sa_event

from connectors.ledgers import clients, pusher, runner, store
from hub import components
from hubkit import clock, migrations
from hubkit.db import Database
from tests.support import infra

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pg_ledger_url():
    prefix = infra.session_name()
    url = infra.create_databases(prefix, ["ledger"])["ledger"]
    components.migrate("ledger", url)
    yield url
    infra.drop_databases(prefix, ["ledger"])


@pytest.fixture(params=["postgresql", "sqlite"])
def db(request, tmp_path):
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_ledger_url")
    else:
        url = f"sqlite:///{tmp_path / 'ledger.db'}"
        components.migrate("ledger", url)
    database = Database(url, store.metadata, pool_size=2)
    yield database
    database.dispose()


class BatchLedger:
    """A ledger with a batch save that answers item by item, and notes the push rows as they stood
    when it was called."""
    idempotent_save, batch_size = False, 10

    def __init__(self, db, refuse: str):
        self.db, self.refuse, self.seen = db, refuse, {}

    def push_many(self, vouchers, accounts):
        with self.db.reader() as s:
            self.seen = {r.voucher_id: (r.status, r.save_calls) for r in s.execute(select(store.pushes))}
        return [clients.rejected("no such account") if v["id"] == self.refuse else clients.confirmed(f"L-{v['id']}")
                for v in vouchers]


def test_a_round_is_claimed_before_the_call_and_its_confirmations_written_with_one_statement_each(db):
    ids = [uuid.uuid4().hex for _ in range(5)]
    with db.session() as s:
        runner.keep_voucher({"kingdee": None})(SimpleNamespace(session=s), [SimpleNamespace(payload={
            "id": i, "number": f"记-2026-12-{n:04d}", "period": "2026-12", "business_date": "2026-12-06",
            "lines": []}) for n, i in enumerate(ids)])
    ledger = BatchLedger(db, refuse=ids[2])
    p = pusher.Pusher("kingdee", ledger, db)
    statements: list[str] = []
    sa_event.listen(db.engine, "before_cursor_execute",
                    lambda conn, cursor, sql, params, context, many:
                    statements.extend([sql] * (len(params) if many and db.engine.dialect.name == "postgresql" else 1)))
    assert p.tick() == 5
    # every voucher claimed and counted before the ledger was called
    assert ledger.seen == {i: (store.PUSHING, 1) for i in ids}
    with db.reader() as s:
        rows = {r.voucher_id: r for r in s.execute(select(store.pushes))}
    assert {i: (r.status, r.ledger_ref, r.save_calls) for i, r in rows.items()} == {
        i: (store.REJECTED, None, 1) if i == ids[2] else (store.CONFIRMED, f"L-{i}", 1) for i in ids}
    assert rows[ids[2]].last_error == "no such account"
    updates = [sql for sql in statements if "UPDATE ledger_pushes" in sql]
    # the claim, the refused voucher's own settlement, the four confirmations (PostgreSQL: one statement;
    # SQLite: an executemany in process, counted once here as it costs one call)
    assert len(updates) == 3, updates


def test_the_pushers_reads_on_postgresql_use_the_unsettled_pushes_index_not_the_confirmed_ones(pg_ledger_url):
    # the table keeps every voucher ever pushed; a round and the gauges read the few unsettled ones
    db = Database(pg_ledger_url, store.metadata, pool_size=1)
    now = clock.now()
    rows = [dict(ledger="plans", voucher_id=f"c{n}", external_number=f"c{n}", status=store.CONFIRMED,
                 next_attempt_at=now, created_at=now, updated_at=now) for n in range(3000)]
    rows += [dict(ledger="plans", voucher_id=f"p{n}", external_number=f"p{n}", status=store.PENDING,
                  next_attempt_at=now, created_at=now, updated_at=now) for n in range(2)]
    with db.session() as s:
        s.execute(insert(store.pushes), rows)
    try:
        p = pusher.Pusher("plans", SimpleNamespace(batch_size=0), db)
        by_status = select(store.pushes.c.status, func.count()).where(
            store.pushes.c.ledger == "plans", store.status_in(store.UNSETTLED)).group_by(store.pushes.c.status)
        with db.engine.connect() as conn:
            for statement in (p._due.params(p_now=now), p._first_due, by_status):
                compiled = statement.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
                assert "'pending', 'pushing'" in compiled.string  # written in: the planner can match the index
                plan = "\n".join(conn.exec_driver_sql("EXPLAIN " + compiled.string, compiled.params)
                                 .scalars())
                assert "ix_ledger_pushes_unsettled" in plan and "Seq Scan on ledger_pushes" not in plan, plan
        assert p.due_in() == 0
        assert pusher.unsettled(db, "plans")["pending"] == 2
    finally:
        with db.session() as s:
            s.execute(delete(store.pushes).where(store.pushes.c.ledger == "plans"))
        db.dispose()


def _explained(conn, cursor, statement, parameters, context, executemany):
    return "EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters


def _plan_nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", []):
        yield from _plan_nodes(child)


def test_a_claim_on_postgresql_reads_the_vouchers_it_names_not_every_push_of_the_ledger(pg_ledger_url):
    # Every push of a connector with one ledger has the same `ledger`: a key led by it let a planner
    # without statistics (autovacuum off) fetch all of the ledger's pushes and filter the round's
    # vouchers out of them, a claim slower with every voucher ever pushed (bench/README, seventh session).
    db = Database(pg_ledger_url, store.metadata, pool_size=1)
    now = clock.now()
    with db.session() as s:  # pushed and confirmed, each row written three times as a push is
        s.execute(insert(store.pushes), [dict(ledger="claims", voucher_id=f"c{n}", external_number=f"c{n}",
                                              status=store.PENDING, next_attempt_at=now, created_at=now,
                                              updated_at=now) for n in range(5000)])
    for status in (store.PUSHING, store.CONFIRMED):
        with db.session() as s:
            s.execute(update(store.pushes).where(store.pushes.c.ledger == "claims").values(status=status))
    named = [f"c{n}" for n in range(4000, 4064)]
    try:
        with db.engine.connect() as conn:  # the claim as the pusher sends it, explained (and rolled back)
            sa_event.listen(conn, "before_cursor_execute", _explained, retval=True)
            [[plan]] = conn.execute(pusher._CLAIM, {"p_ledger": "claims", "p_ids": named, "p_now": now}).all()
            conn.rollback()
        # what reads ledger_pushes: a scan of the table, or of one of its indexes (a bitmap's names no table)
        scans = [n for n in _plan_nodes(plan[0]["Plan"]) if n["Node Type"] != "ModifyTable"
                 and (n.get("Relation Name") == "ledger_pushes" or "Index Cond" in n)]
        assert any("voucher_id" in n.get("Index Cond", "") for n in scans), plan
        assert all(n.get("Rows Removed by Filter", 0) == 0 for n in scans), plan
        assert plan[0]["Plan"]["Plans"][0]["Actual Rows"] == len(named)
    finally:
        with db.session() as s:
            s.execute(delete(store.pushes).where(store.pushes.c.ledger == "claims"))
        db.dispose()


@pytest.mark.parametrize("dialect", ["postgresql", "sqlite"])
def test_the_key_is_led_by_the_voucher_after_migrating_and_the_pushes_are_kept(dialect, tmp_path):
    prefix = infra.session_name()
    url = (infra.create_databases(prefix, ["ledger"])["ledger"] if dialect == "postgresql"
           else f"sqlite:///{tmp_path / 'ledger.db'}")
    cfg = migrations.config("ledger", components.PROJECT_ROOT / components.MIGRATION_TREES["ledger"], url)
    db = None
    try:
        command.upgrade(cfg, "0003")  # a connector's database before this key
        db = Database(url, store.metadata, pool_size=1)
        with db.engine.begin() as conn:
            conn.execute(text("INSERT INTO ledger_pushes (ledger, voucher_id, external_number, status, next_attempt_at,"
                              " created_at, updated_at) VALUES ('kingdee', 'v1', 'e1', 'confirmed', :t, :t, :t)"),
                         {"t": clock.now()})

        def key() -> list[str]:
            with db.engine.connect() as conn:
                return inspect(conn).get_pk_constraint("ledger_pushes")["constrained_columns"]
        assert key() == ["ledger", "voucher_id"]
        command.upgrade(cfg, "head")
        assert key() == ["voucher_id", "ledger"]
        with db.reader() as s:
            assert s.execute(select(store.pushes.c.voucher_id, store.pushes.c.status)).all() == [("v1", store.CONFIRMED)]
        command.downgrade(cfg, "0003")
        assert key() == ["ledger", "voucher_id"]
    finally:
        if db is not None:
            db.dispose()
        if dialect == "postgresql":
            infra.drop_databases(prefix, ["ledger"])
