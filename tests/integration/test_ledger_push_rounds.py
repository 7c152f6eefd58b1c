"""A round of batched pushes on PostgreSQL and SQLite: every voucher of the round is claimed
(`pushing`, its save counted) before the ledger is called, with one statement for the round, and the
confirmations of the answer are written with one statement too, each with its own ledger reference;
a refused item is settled on its own row."""
from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest
from sqlalchemy import delete, func, insert, select
from sqlalchemy import event as sa_event

from connectors.ledgers import clients, pusher, runner, store
from hub import components
from hubkit import clock
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
