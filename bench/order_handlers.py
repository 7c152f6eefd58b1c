"""CPU per call of the order service's hot handlers, in process (no broker, no gRPC): what the order api
spends on PlaceOrder (handlers.placed_order), ShipOrder (handlers.ship_order: half the orders) and ShipOrders
(the other half in waves of WAVE, per order), and what the order worker
spends on one stock_reserved answer with its review (handlers.apply_stock_answers in a unit of work: the
lines' answers, the rule set in force, the facts, the decision and its holds, the commit).

Orders are shaped as the journey bench's (one line, a buyer of their own); a few buyers have customer
terms (tier, credit limit) and a receivable, a few SKUs a category, so the review reads every fact. One
thread; CPU is this process's (time.thread_time), so PostgreSQL's backend is not in it. Prints the medians
per call, and a digest of the review decisions (outcome, reason, rule, facts) so two runs of the same
seed can be compared for identical decisions.

The stock answers go `--batch` to a transaction (as the worker's batches: 1-2 at 10-30 orders/s), with
the worker's merge window (`--merge-minutes`, 30 by default, 0: merge off); per answer, CPU and the
statements the server runs (an executemany counts its rows: psycopg2 sends one statement per row).

    python -m bench.order_handlers [--db postgresql|sqlite] [--orders 300] [--batch 1] [--merge-minutes 30] [--json]

PostgreSQL: a fresh database (tests.support.infra naming) is created and dropped. SQLite: a temp file.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import tempfile
import time
import uuid
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import event, select

from hub import components
from hubapi.order.v1 import order_service_pb2 as pb
from hubkit import clock
from hubkit.db import Database, UnitOfWork
from hubkit.envelope import Envelope
from services.order import domain, handlers, review
from services.order.grpc_server import OrderServicer
from services.order.models import (
    customer_receivables,
    customer_terms,
    metadata,
    orders,
    review_decisions,
    sku_categories,
)
from tests.support import infra

SKUS = [f"BENCH-{i}" for i in range(8)]
WAVE = 20  # orders per ShipOrders call, as a wave of the journey bench at 10/s


class _Context:  # the gRPC context ShipOrders reads its caller from
    def invocation_metadata(self):
        return (("x-hub-actor", "warehouse"),)


def _uow(db: Database, actor: str = "bench") -> UnitOfWork:
    return UnitOfWork(db, "order", actor, "bench")


def _command(i: int, tag: str) -> domain.PlaceOrder:
    external = f"{tag}-{i}"
    return domain.PlaceOrder(
        channel="taobao", shop="bench-shop", external_order_id=external,
        buyer={"external_id": f"b-{external}", "name": "Bench Buyer", "phone": "13900000000"},
        shipping_address={"recipient": "Bench Buyer", "city": "Hangzhou", "street": "1 Bench Road"},
        lines=[domain.LineInput(sku=SKUS[i % len(SKUS)], quantity=1 + i % 3, unit_price=Decimal("19.90"))])


def _seed(db: Database, n: int, tag: str) -> None:
    """Terms for every third buyer (vip with a limit for some), a receivable for every fifth, categories."""
    now = clock.now()
    with _uow(db) as u:
        s = u.session
        for i in range(0, n, 3):
            s.execute(customer_terms.insert().values(
                channel="taobao", external_id=f"b-{tag}-{i}", tier="vip" if i % 2 else "standard",
                credit_limit=Decimal("50.00") if i % 9 == 0 else None, customer_id=f"c-{tag}-{i // 6}",
                updated_by="bench", updated_at=now))
        for i in range(0, n, 5):
            s.execute(customer_receivables.insert().values(
                counterparty=review.counterparty(f"taobao:b-{tag}-{i}"), balance=Decimal("30.00"), updated_at=now))
        for sku in SKUS[::2]:
            s.execute(sku_categories.insert().values(sku=sku, category="tea", updated_at=now))


def _cpu_ms(call) -> float:
    began = time.thread_time()
    call()
    return (time.thread_time() - began) * 1000


def run(backend: str, n: int, batch: int = 1, merge_minutes: int = 30) -> dict:
    prefix, tmp = infra.session_name(), tempfile.TemporaryDirectory(prefix="hub-bench-order-")
    url = (infra.create_databases(prefix, ["order"])["order"] if backend == "postgresql"
           else f"sqlite:///{Path(tmp.name) / 'order.db'}")
    db = None
    merge_window = timedelta(minutes=merge_minutes) if merge_minutes else None  # the worker's default: 30
    result = {"backend": backend, "orders": n, "load_average_before": round(os.getloadavg()[0], 2)}
    try:
        components.migrate("order", url)
        db = Database(url, metadata, pool_size=2)
        tag = uuid.uuid4().hex[:6]
        _seed(db, n, tag)
        place, answer, ship, ids = [], [], [], []
        for i in range(n):
            cmd = _command(i, tag)

            def placed(cmd=cmd):
                with _uow(db, "sales") as u:
                    ids.append(handlers.placed_order(u, cmd)[0]["id"])
            place.append(_cpu_ms(placed))
        executed = [0]  # statements the server runs (an executemany: one per row, as psycopg2 sends them; a
        # multi-row INSERT SQLAlchemy batched into one statement comes with a dict of parameters: one)

        def count(conn, cursor, statement, parameters, context, executemany):
            executed[0] += len(parameters) if executemany and isinstance(parameters, (list, tuple)) else 1
        event.listen(db.engine, "before_cursor_execute", count)
        answer_statements = []
        for at in range(0, len(ids), batch):  # the worker's stock_reserved batches: `batch` answers a transaction
            envelopes = [Envelope(type="stock_reserved", source="inventory", aggregate_id=order_id, sequence=1,
                                  correlation_id="bench", actor="inventory",
                                  payload={"order_id": order_id,
                                           "lines": [{"line_no": 1, "status": domain.RESERVED, "warehouse": "WH1"}]})
                         for order_id in ids[at:at + batch]]

            def answered(envelopes=envelopes):
                with _uow(db, "inventory") as u:
                    handlers.apply_stock_answers(u, [(None, e) for e in envelopes], merge_window)
            executed[0] = 0
            answer.append(_cpu_ms(answered) / len(envelopes))
            answer_statements.append(executed[0] / len(envelopes))
        event.remove(db.engine, "before_cursor_execute", count)
        with db.reader() as s:
            decided = s.execute(select(review_decisions.c.outcome, review_decisions.c.reason, review_decisions.c.rule,
                                       review_decisions.c.facts)).all()
            shippable = set(s.execute(select(orders.c.id)
                                      .where(orders.c.status == domain.RESERVED)).scalars())
        ready = [i for i in ids if i in shippable]
        half = len(ready) // 2
        for order_id in ready[:half]:  # one by one (POST /orders/{id}/shipment)

            def shipped(order_id=order_id):
                with _uow(db, "warehouse") as u:
                    handlers.ship_order(u, order_id, "SF", f"SF{order_id[:20]}")
            ship.append(_cpu_ms(shipped))
        servicer, waves = OrderServicer(db), []
        for at in range(half, len(ready), WAVE):  # the rest in waves (POST /shipments/batch: ShipOrders)
            wave = [pb.ShipOrderRequest(order_id=i, carrier="SF", tracking_number=f"SF{i[:20]}")
                    for i in ready[at:at + WAVE]]
            cpu = _cpu_ms(lambda wave=wave: servicer.ShipOrders(pb.ShipOrdersRequest(shipments=wave), _Context()))
            waves.append(cpu / len(wave))
        outcomes: dict[str, int] = {}
        digest = hashlib.sha256()
        for r in decided:
            key = f"{r.outcome}:{r.reason or ''}:{r.rule or ''}"
            outcomes[key] = outcomes.get(key, 0) + 1
        # the facts name no id or key: the same seed gives the same digest when the decisions are the same
        for line in sorted(f"{r.outcome}|{r.reason}|{r.rule}|{json.loads(r.facts)}" for r in decided):
            digest.update(line.encode())
        warm = slice(min(20, n // 5), None)  # the first calls compile statements
        warm_answers = slice(-(-warm.start // batch), None)

        result.update({
            "cpu_ms_place_order": round(statistics.median(place[warm]), 3),
            "batch": batch, "merge_window_minutes": merge_minutes,
            "cpu_ms_stock_answer_with_review": round(statistics.median(answer[warm_answers]), 3),
            "statements_per_stock_answer": round(statistics.median(answer_statements[warm_answers]), 2),
            "cpu_ms_ship_order": round(statistics.median(ship[warm]), 3) if ship[warm] else None,
            "cpu_ms_ship_orders_per_order": round(statistics.median(waves[1:] or waves), 3) if waves else None,
            "wave": WAVE, "shipped": len(ship) + sum(1 for _ in ready[half:]), "decisions": len(decided), "outcomes": outcomes,
            "decisions_digest": digest.hexdigest()[:16],
            "load_average_after": round(os.getloadavg()[0], 2)})
    finally:
        if db is not None:
            db.dispose()
        if backend == "postgresql":
            infra.drop_databases(prefix, ["order"])
        tmp.cleanup()
    return result


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", choices=("postgresql", "sqlite"), default="postgresql")
    ap.add_argument("--orders", type=int, default=300)
    ap.add_argument("--batch", type=int, default=1, help="stock answers per transaction (the worker's batch)")
    ap.add_argument("--merge-minutes", type=int, default=30, help="the worker's merge window (0: merge off)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    result = run(args.db, args.orders, max(1, args.batch), args.merge_minutes)
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
