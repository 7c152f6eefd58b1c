"""CPU and statements per order of the handlers that keep the books, alone (no broker, no worker
process): the customer worker's order_placed, order_shipped and the two voucher_posted, the accounting
worker's two postings of a shipped order (cost of goods, then the sale), and the ledger connector keeping
the two vouchers and pushing them (rounds of `--batch` orders' vouchers to a ledger that confirms all).

    python -m bench.books_handlers [--db postgresql|sqlite] [--orders N] [--batch B] [--json]

N orders shaped as the journey bench's (one line, a buyer of their own on the taobao marketplace),
`--batch` events per transaction (default 1: what the journey at 10/s hands a worker), through the
workers' own batched entry points (contract parse, inbox, effect, commit). Reported per handler: CPU
milliseconds per order of this process (time.process_time; the database's own CPU is not counted),
medians of three rounds, and the statements sent per order (an executemany of an UPDATE on PostgreSQL
counted per row, as psycopg2 sends it). The voucher_posted events the customer and ledger handlers take are the
ones the accounting handlers wrote to their outbox. Fresh databases (PostgreSQL: tests.support.infra
naming, dropped at the end; SQLite: a temp dir)."""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import event, select

from connectors.ledgers import clients, pusher, runner, store
from hub import components
from hubkit import clock
from hubkit.db import Database
from hubkit.envelope import Envelope
from services.accounting import chart, handlers
from services.accounting import config as accounting_config
from services.accounting import worker as accounting_worker
from services.accounting.models import metadata as accounting_metadata
from services.customer import config as customer_config
from services.customer import worker as customer_worker
from services.customer.models import metadata as customer_metadata
from tests.support import infra

ROUNDS = 3


def _envelope(type_: str, source: str, aggregate: str, sequence: int, payload: dict) -> Envelope:
    return Envelope(type=type_, source=source, aggregate_id=aggregate, sequence=sequence, payload=payload,
                    correlation_id=uuid.uuid4().hex, actor="bench")


def order_events(n: int) -> list[tuple[Envelope, Envelope, Envelope]]:
    """(order_placed, order_shipped, goods_issued) of n one-line orders, as the journey's."""
    out, now = [], clock.now().isoformat()
    for i in range(n):
        oid, ext = uuid.uuid4().hex, f"B{i}-{uuid.uuid4().hex[:6]}"
        buyer = {"external_id": f"b-{ext}", "name": "Test Buyer", "phone": "13900000000"}
        line = {"line_no": 1, "sku": "BENCH-1", "quantity": 1, "unit_price": "19.90"}
        placed = {"order_id": oid, "channel": "taobao", "shop": "test-shop", "external_order_id": ext,
                  "currency": "CNY", "total": "19.90", "placed_at": now, "buyer": buyer,
                  "shipping_address": {"recipient": "Test Buyer", "city": "Hangzhou", "street": "1 Test Road"},
                  "lines": [line]}
        shipped = {"order_id": oid, "channel": "taobao", "shop": "test-shop", "external_order_id": ext,
                   "currency": "CNY", "buyer": buyer, "carrier": "SF", "tracking_number": f"SF{ext}",
                   "shipped_at": now, "total": "19.90", "region": "",
                   "lines": [{**line, "amount": "19.90", "warehouse": "WH-MAIN", "category": ""}]}
        issued = {"order_id": oid, "channel": "taobao", "issued_at": now, "total_cost": "5.00",
                  "lines": [{"line_no": 1, "sku": "BENCH-1", "warehouse": "WH-MAIN", "quantity": 1, "cost": "5.00"}]}
        out.append((_envelope("order_placed", "order", oid, 1, placed),
                    _envelope("order_shipped", "order", oid, 2, shipped),
                    _envelope("goods_issued", "inventory", oid, 2, issued)))
    return out


STATEMENTS = {"n": 0}  # what the databases were sent, counted by _count_statements


def _count_statements(database: Database) -> None:
    """Count each statement sent: an executemany of an UPDATE or DELETE on PostgreSQL as one per row
    (psycopg2 sends them one by one), an INSERT's as SQLAlchemy's multi-row statements."""
    postgres = database.engine.dialect.name == "postgresql"

    def count(conn, cursor, statement, parameters, context, executemany):
        many = executemany and postgres and not statement.lstrip().upper().startswith("INSERT")
        STATEMENTS["n"] += len(parameters) if many else 1
    event.listen(database.engine, "before_cursor_execute", count)


class _ConfirmingLedger:
    """A ledger with a batch save that confirms every voucher (no network: the connector's own work)."""
    idempotent_save, batch_size = False, 100

    def push_many(self, vouchers: list[dict], accounts: dict) -> list:
        return [clients.confirmed(f"L-{v['id']}") for v in vouchers]


def _cpu_ms(work, batches: list, orders: int, statements: dict | None = None, name: str = "") -> float:
    start, sent = time.process_time(), STATEMENTS["n"]
    for batch in batches:
        outcomes = work(batch)
        if any(isinstance(o, BaseException) for o in outcomes):
            raise SystemExit(f"a handler failed: {outcomes}")
    if statements is not None:
        statements[name] = round((STATEMENTS["n"] - sent) / orders, 2)
    return (time.process_time() - start) * 1000 / orders


def _chunks(items: list, size: int) -> list[list]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def one_round(dbs: dict[str, Database], orders: int, batch: int) -> dict[str, float]:
    acc = accounting_worker.Worker()
    acc.db, acc.rules = dbs["accounting"], chart.rules(accounting_config.Settings())[0]
    cus = customer_worker.Worker()
    cus.db, cus.settings = dbs["customer"], customer_config.Settings()
    events = order_events(orders)
    counted: dict = {}
    out = {
        "customer.order_placed": _cpu_ms(cus.on_order_placed, _chunks([e[0] for e in events], batch), orders,
                                         counted, "customer.order_placed"),
        "customer.order_shipped": _cpu_ms(cus.on_order_shipped, _chunks([e[1] for e in events], batch), orders,
                                          counted, "customer.order_shipped"),
        "accounting.goods_issued": _cpu_ms(acc.on_goods_issued, _chunks([e[2] for e in events], batch), orders,
                                           counted, "accounting.goods_issued"),
        "accounting.order_shipped": _cpu_ms(acc.on_order_shipped, _chunks([e[1] for e in events], batch), orders,
                                            counted, "accounting.order_shipped"),
    }
    ids = {e[0].aggregate_id for e in events}
    with dbs["accounting"].reader() as s:
        outbox = dbs["accounting"].metadata.tables["outbox"]
        posted = [Envelope.from_json(body) for (body,) in s.execute(
            select(outbox.c.body).where(outbox.c.event_type == "voucher_posted").order_by(outbox.c.id))]
    posted = [e for e in posted if e.payload["source_id"] in ids]
    if len(posted) != 2 * orders:
        raise SystemExit(f"{len(posted)} vouchers posted for {orders} orders")
    out["customer.voucher_posted"] = _cpu_ms(cus.on_voucher_posted, _chunks(posted, batch), orders,
                                             counted, "customer.voucher_posted")
    ledger = runner.Connector.__new__(runner.Connector)
    ledger.db, ledger.effect, ledger.push_asked = dbs["ledger"], runner.keep_voucher({"kingdee": None}), False
    out["ledger.voucher_posted"] = _cpu_ms(lambda b: ledger.on_voucher_posted([(None, e) for e in b]),
                                           _chunks(posted, batch), orders, counted, "ledger.voucher_posted")
    # a round of pushes of the batch's vouchers to a ledger that confirms them all (Kingdee's batch save)
    # (two vouchers per order, and `batch` orders' worth per round), as the connector's loop pushes them
    pushes = pusher.Pusher("kingdee", _ConfirmingLedger(), dbs["ledger"])
    pushes._due = pushes._due.limit(2 * batch)
    out["ledger.push"] = _cpu_ms(lambda rounds: [pushes.tick() for _ in rounds],
                                 _chunks(posted, 2 * batch), orders, counted, "ledger.push")
    out["total"] = sum(out.values())
    out["statements_per_order"] = {**counted, "total": round(sum(counted.values()), 2)}
    return out


def run(db_kind: str, orders: int, batch: int) -> dict:
    prefix, tmp = infra.session_name(), tempfile.TemporaryDirectory()
    names = ["accounting", "customer", "ledger"]
    if db_kind == "postgresql":
        urls = infra.create_databases(prefix, names)
    else:
        urls = {n: f"sqlite:///{Path(tmp.name) / n}.db" for n in names}
    metadatas = {"accounting": accounting_metadata, "customer": customer_metadata, "ledger": store.metadata}
    dbs = {}
    try:
        for name in names:
            components.migrate(name, urls[name])
            dbs[name] = Database(urls[name], metadatas[name], pool_size=2)
            _count_statements(dbs[name])
        handlers.ensure_chart(dbs["accounting"], chart.rules(accounting_config.Settings())[1])
        one_round(dbs, 20, batch)  # warm-up: statement caches, the chart, the pool
        rounds = [one_round(dbs, orders, batch) for _ in range(ROUNDS)]
    finally:
        for database in dbs.values():
            database.dispose()
        if db_kind == "postgresql":
            infra.drop_databases(prefix, names)
        tmp.cleanup()
    return {"db": db_kind, "orders": orders, "batch": batch, "rounds": ROUNDS,
            "cpu_ms_per_order": {k: round(statistics.median(r[k] for r in rounds), 3) for k in rounds[0]
                                 if k != "statements_per_order"},
            "statements_per_order": rounds[-1]["statements_per_order"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args.db, args.orders, args.batch)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{result['db']}, {result['orders']} orders, {result['batch']} per transaction, median of {ROUNDS} rounds")
    for name, ms in result["cpu_ms_per_order"].items():
        if name != "statements_per_order":
            print(f"  {name:28s} {ms:7.3f} ms CPU per order   {result['statements_per_order'].get(name, ''):>6} statements")


if __name__ == "__main__":
    main()
