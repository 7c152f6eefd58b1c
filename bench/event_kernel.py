"""The event kernel's fixed cost: a batched handler's transaction (hubkit.inbox.handle_many: inbox
records and positions, the effect, the outbox rows and sequences, the commit), per message, for batches
of 1 and of 10 events, with an effect that does nothing but emit one event per event applied (what
inventory's on_order_placed or order's on_stock_reserved add to it is their own).

Reported per batch size: CPU microseconds per message of this process (time.process_time: hubkit,
SQLAlchemy and the driver; median of --rounds rounds), the function calls per message (Python and C, as
cProfile counts them over 200 more: a figure a busy machine does not move), and the statements per
transaction (every statement the driver executed, BEGIN and COMMIT included; an executemany counts
once), on SQLite (a file, as embedded) and on PostgreSQL (a fresh database; HUB_TEST_* as for the tests).

    python -m bench.event_kernel [--events N] [--rounds R] [--db sqlite|postgresql|both] [--json]
"""
from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import statistics
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

from sqlalchemy import event

from hubkit import events, inbox, outbox
from hubkit.db import Database, new_metadata
from hubkit.envelope import Envelope
from hubkit.inbox import handle_many


class Seen(events.Event):
    type = "bench_seen"
    publisher = "bench"
    subscribers = ("bench",)
    ref: str


metadata = new_metadata()
outbox.add_tables(metadata)
inbox.add_tables(metadata)


def _envelopes(n: int) -> list[Envelope]:
    return [Envelope(type="order_placed", source="order", aggregate_id=f"order:{uuid.uuid4().hex[:12]}", sequence=1,
                     payload={"order_id": str(i)}, correlation_id=f"c{i}", actor="bench") for i in range(n)]


def _effect(uow, fresh) -> None:
    for envelope in fresh:
        with inbox.on_behalf_of(uow, envelope):
            uow.emit(Seen(ref=envelope.aggregate_id), envelope.aggregate_id)


def _chunks(envelopes: list[Envelope], batch: int) -> list[list[Envelope]]:
    return [envelopes[start:start + batch] for start in range(0, len(envelopes), batch)]


def _calls(work) -> int:
    """Python and C function calls made by `work()`: a count the machine's load does not move."""
    profile = cProfile.Profile()
    profile.runcall(work)
    return sum(stat[1] for stat in pstats.Stats(profile).stats.values())  # type: ignore[attr-defined]


def _apply(db: Database, n: int, batch: int) -> None:
    for chunk in _chunks(_envelopes(n), batch):
        outcomes = handle_many(db, "bench", "bench.order_placed", chunk, _effect)
        assert all(o is True for o in outcomes), outcomes


def _statements(url: str, n: int, batch: int) -> dict[str, float]:
    """The statements per transaction, by first word, counted by listeners on an engine of their own
    (listeners slow every statement of their engine down, for as long as it lives)."""
    statements: Counter = Counter()
    db = Database(url, metadata, pool_size=1)

    def count(_conn, _cursor, statement, *_args):
        statements[statement.split(None, 1)[0].upper()] += 1

    def commit(_conn):
        statements["COMMIT"] += 1

    event.listen(db.engine, "before_cursor_execute", count)
    event.listen(db.engine, "commit", commit)
    try:
        _apply(db, n, batch)
    finally:
        db.dispose()
    transactions = -(-n // batch)
    if db.engine.dialect.name == "postgresql":
        statements["BEGIN"] = transactions  # psycopg2 begins implicitly, with the first statement
    return {k: round(v / transactions, 2) for k, v in sorted(statements.items())}


def run(db: Database, n: int, batch: int, rounds: int) -> dict:
    _apply(db, n, batch)  # warms up (compiled cache, connections)
    per_message = []
    for _ in range(rounds):
        cpu = time.process_time()
        _apply(db, n, batch)
        per_message.append((time.process_time() - cpu) * 1e6 / n)
    calls = _calls(lambda: _apply(db, 200, batch))
    statements = _statements(db.url, 100, batch)
    return {"batch": batch, "cpu_us_per_message": round(statistics.median(per_message), 1),
            "calls_per_message": round(calls / 200, 1),
            "statements_per_transaction": round(sum(statements.values()), 2), "statements": statements}


def bench(kind: str, n: int, rounds: int) -> list[dict]:
    if kind == "sqlite":
        folder = tempfile.TemporaryDirectory()
        url, drop = f"sqlite:///{Path(folder.name) / 'kernel.db'}", folder.cleanup
    else:
        from tests.support import infra
        name = f"{infra.session_name()}_kernel"
        url = infra.create_databases(name, ["bench"])["bench"]

        def drop() -> None:
            infra.drop_databases(name, ["bench"])
    try:
        db = Database(url, metadata, pool_size=1)
        metadata.create_all(db.engine)
        try:
            return [{"db": kind, **run(db, n, batch, rounds)} for batch in (1, 10)]
        finally:
            db.dispose()
    finally:
        drop()


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=1000, help="events per round")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    kinds = ("sqlite", "postgresql") if args.db == "both" else (args.db,)
    results = [row for kind in kinds for row in bench(kind, args.events, args.rounds)]
    if args.json:
        print(json.dumps(results))
        return
    for row in results:
        print(f"{row['db']:>10} batch {row['batch']:>2}: {row['cpu_us_per_message']:>7} us CPU per message, "
              f"{row['calls_per_message']} calls per message, "
              f"{row['statements_per_transaction']} statements per transaction {row['statements']}")


if __name__ == "__main__":
    main()
