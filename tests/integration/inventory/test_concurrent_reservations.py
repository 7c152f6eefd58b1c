"""Never oversell (docs/ARCHITECTURE.md, rule 3) under real concurrency: many threads, each its own unit of
work, reserve one hot SKU stocked in two warehouses at once. Nothing is sold twice, nothing that
was free is refused, the balances agree with the allocations and the ledger, and every order hears
exactly one answer. On PostgreSQL (row locks + conditional UPDATE) and on SQLite (BEGIN IMMEDIATE
+ the per-process write lock, here with two Database objects on one file, as two processes would
be). Two-line orders naming two SKUs in opposite orders must not deadlock."""
from __future__ import annotations

import random
import threading
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from hub import components
from hubkit.db import Database
from services.inventory import domain, reservations
from services.inventory.models import allocations, metadata, stock_levels
from services.inventory.models import reservations as reservation_rows

from .conftest import Inventory

pytestmark = pytest.mark.integration

# PostgreSQL allows 100 connections and other suites share it: at most THREADS are checked out at
# once (pool_size = THREADS; the pool's overflow is never reached with THREADS threads).
THREADS = 20
ANSWERS = ("stock_reserved", "stock_short")


@pytest.fixture
def pg_inv(inventory_pg_url):
    components.migrate("inventory", inventory_pg_url)
    database = Database(inventory_pg_url, metadata, pool_size=THREADS)
    yield Inventory(database)
    database.dispose()


def _reserve_all(inv: Inventory, orders: list[list[tuple[str, int]]], threads: int,
                 invs: list[Inventory] | None = None) -> list[tuple[list[tuple[str, int]], str, list[dict]]]:
    """Place every order at once from `threads` threads (started together on a barrier); each
    order is its own unit of work calling reservations.reserve_order, as the worker does."""
    invs = invs or [inv]
    start = threading.Barrier(threads)
    local = threading.local()

    def place(i: int):
        if not hasattr(local, "started"):
            local.started = True
            start.wait(30)
        which = invs[i % len(invs)]
        order_id, answer = which.order(orders[i])
        return orders[i], order_id, answer

    with ThreadPoolExecutor(threads) as pool:
        futures = [pool.submit(place, i) for i in range(len(orders))]
        return [f.result(timeout=300) for f in futures]  # a deadlock or a lost update raises here


def _check(inv: Inventory, placed, stocked: dict[tuple[str, str], int]) -> None:
    """Everything rule 3 promises, for the (sku, warehouse) places in `stocked` (units received)."""
    order_ids = {order_id for _, order_id, _ in placed}
    sku_codes = {sku for sku, _ in stocked}
    demand, reserved = Counter(), Counter()
    for lines, _order_id, answer in placed:
        assert [l["line_no"] for l in answer] == list(range(1, len(lines) + 1))
        for (sku, qty), line in zip(lines, answer):
            assert (line["sku"], line["quantity"]) == (sku, qty)
            got = line["reserved_quantity"]
            assert got == sum(a["quantity"] for a in line["allocations"])
            assert 0 <= got <= qty
            # a line is reserved exactly when all of it is; a backordered line may be partly reserved
            assert line["status"] == (domain.RESERVED if got == qty else domain.BACKORDERED), line
            demand[sku] += qty
            reserved[sku] += got

    total = Counter()
    for (sku, _), units in stocked.items():
        total[sku] += units
    for sku in sku_codes:
        # no oversell, and no under-fill: with every order reserving what is free when it runs,
        # the orders together take all the stock or all the demand, whichever is less
        assert reserved[sku] == min(demand[sku], total[sku]), (sku, reserved[sku], demand[sku], total[sku])

    with inv.db.reader() as s:
        kept = {(r.sku, r.warehouse): r for r in s.execute(select(stock_levels)
                                                             .where(stock_levels.c.sku.in_(sku_codes)))}
        allocated = dict(((sku, wh), int(q)) for sku, wh, q in s.execute(
            select(reservation_rows.c.sku, allocations.c.warehouse, func.sum(allocations.c.quantity))
            .join(allocations, (allocations.c.order_id == reservation_rows.c.order_id)
                  & (allocations.c.line_no == reservation_rows.c.line_no))
            .where(reservation_rows.c.sku.in_(sku_codes))
            .group_by(reservation_rows.c.sku, allocations.c.warehouse)))
        rows = s.execute(select(func.count()).select_from(reservation_rows)
                         .where(reservation_rows.c.order_id.in_(order_ids))).scalar()
    assert rows == sum(len(lines) for lines, _, _ in placed)
    assert set(kept) == set(stocked)
    for place, units in stocked.items():
        level = kept[place]
        assert level.on_hand == units
        assert level.reserved == allocated.get(place, 0), place
        assert level.on_hand - level.reserved >= 0, place
    for sku in sku_codes:
        if reserved[sku] < demand[sku]:  # something was refused: only because nothing was left
            assert all(kept[p].on_hand == kept[p].reserved for p in stocked if p[0] == sku), sku

    assert inv.audit() == []

    answers = Counter(p["order_id"] for t in ANSWERS for p in inv.events(t))
    assert set(answers) == order_ids
    assert set(answers.values()) == {1}, [o for o, n in answers.items() if n != 1]
    short = {p["order_id"] for p in inv.events("stock_short")}
    assert short == {order_id for _, order_id, answer in placed
                     if any(l["status"] == domain.BACKORDERED for l in answer)}


def _one_line_orders(sku: str, n: int, seed: int) -> list[list[tuple[str, int]]]:
    rnd = random.Random(seed)
    return [[(sku, rnd.randint(1, 3))] for _ in range(n)]


def test_200_concurrent_orders_for_one_sku_in_two_warehouses_never_oversell_on_postgresql(pg_inv):
    inv = pg_inv
    near, far = inv.warehouse("NEAR", priority=1), inv.warehouse("FAR", priority=2)
    hot = inv.sku("HOT")
    inv.receive(hot, near, 60, "5.00")
    inv.receive(hot, far, 40, "5.00")
    orders = _one_line_orders(hot, 200, seed=20240601)
    assert sum(q for [(_, q)] in orders) > 100  # demand outruns the stock: whole, split and short lines

    placed = _reserve_all(inv, orders, THREADS)

    _check(inv, placed, {(hot, near): 60, (hot, far): 40})
    statuses = Counter(answer[0]["status"] for _, _, answer in placed)
    assert statuses[domain.RESERVED] > 0 and statuses[domain.BACKORDERED] > 0


def test_concurrent_orders_never_oversell_on_sqlite_even_from_two_database_objects(tmp_path):
    """Two Database objects on one file stand for two processes: their threads do not share the
    per-process lock, so BEGIN IMMEDIATE (and SQLite's busy wait) is what serialises them."""
    url = f"sqlite:///{tmp_path / 'inventory.db'}"
    components.migrate("inventory", url)
    first, second = Database(url, metadata), Database(url, metadata)
    try:
        inv = Inventory(first)
        other = Inventory(second)
        other.tag = inv.tag  # same codes, same correlation id: one test's commands
        near, far = inv.warehouse("NEAR", priority=1), inv.warehouse("FAR", priority=2)
        hot = inv.sku("HOT")
        inv.receive(hot, near, 30, "5.00")
        inv.receive(hot, far, 20, "5.00")
        orders = _one_line_orders(hot, 80, seed=7)
        assert sum(q for [(_, q)] in orders) > 50

        placed = _reserve_all(inv, orders, 8, invs=[inv, other])

        assert len({order_id for _, order_id, _ in placed}) == len(orders)
        _check(inv, placed, {(hot, near): 30, (hot, far): 20})
    finally:
        first.dispose()
        second.dispose()


def test_two_line_orders_naming_two_skus_in_opposite_order_do_not_deadlock_on_postgresql(pg_inv):
    inv = pg_inv
    near, far = inv.warehouse("NEAR", priority=1), inv.warehouse("FAR", priority=2)
    a, b = inv.sku("A"), inv.sku("B")
    stocked = {(a, near): 60, (a, far): 40, (b, near): 50, (b, far): 30}
    for (sku, wh), units in stocked.items():
        inv.receive(sku, wh, units, "2.00")
    rnd = random.Random(99)
    orders = []
    for i in range(200):
        lines = [(a, rnd.randint(1, 3)), (b, rnd.randint(1, 3))]
        orders.append(lines if i % 2 else lines[::-1])  # half name A first, half B first

    placed = _reserve_all(inv, orders, THREADS)

    _check(inv, placed, stocked)
    by_first = defaultdict(Counter)
    for lines, _, answer in placed:
        by_first[lines[0][0]].update(l["status"] for l in answer)
    assert set(by_first) == {a, b}


def test_documents_touching_two_skus_do_not_deadlock_with_two_line_orders(pg_inv):
    """Transfers received, shipments, count-style adjustments and kits lock balances in SKU order
    like reservations do: running them against orders naming the SKUs the other way round never
    deadlocks (PostgreSQL would abort one of the pair)."""
    from services.inventory import movements, transfers
    inv = pg_inv
    near, far = inv.warehouse("DLN", priority=1), inv.warehouse("DLF", priority=2)
    a, b = inv.sku("DLA"), inv.sku("DLB")
    kit = inv.sku("DLK", components=[(b, 1), (a, 1)])
    for sku in (a, b):
        inv.receive(sku, near, 400, "1.00")
        inv.receive(sku, far, 400, "1.00")
    shipped = [inv.run(transfers.ship, far, near, [{"sku": b, "quantity": 1}, {"sku": a, "quantity": 1}])
               for _ in range(30)]
    ship_later = [inv.order([(a, 1), (b, 1)])[0] for _ in range(30)]
    work = ([lambda t=t: inv.run(transfers.receive, t["transfer_id"]) for t in shipped] +
            [lambda o=o: inv.ship(o, [2, 1]) for o in ship_later] +
            [lambda: inv.order([(a, 1), (b, 1)]) for _ in range(30)] +
            [lambda: inv.run(movements.assemble, kit, near, 1) for _ in range(15)] +
            [lambda: inv.run(movements.adjust, b, near, -1, "scrap") for _ in range(15)])
    random.Random(7).shuffle(work)
    with ThreadPoolExecutor(12) as pool:
        for future in [pool.submit(job) for job in work]:
            future.result(timeout=300)  # DeadlockDetected would raise here
    assert inv.audit() == []


def _reserve_in_batches(inv: Inventory, orders: list[list[tuple[str, int]]], size: int, threads: int):
    """Place the orders in batches of `size` (each batch one unit of work calling
    reservations.reserve_orders, as the batched worker does), the batches from `threads` threads at once."""
    def batch_of(chunk):
        envelopes = []
        for lines in chunk:
            order_id = f"O{inv.tag}{next(inv._orders):05d}"
            envelopes.append(inv.event("order_placed", {"order_id": order_id, "channel": "web", "lines": [
                {"line_no": i + 1, "sku": sku, "quantity": q} for i, (sku, q) in enumerate(lines)]}))
        answers = inv.run(reservations.reserve_orders, envelopes)
        return [(lines, e.payload["order_id"], answer) for lines, e, answer in zip(chunk, envelopes, answers)]

    chunks = [orders[i:i + size] for i in range(0, len(orders), size)]
    with ThreadPoolExecutor(threads) as pool:
        return [placed for f in [pool.submit(batch_of, c) for c in chunks] for placed in f.result(timeout=300)]


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_batches_of_orders_reserved_at_once_never_oversell_nor_deadlock(backend, request, tmp_path):
    """Batches of two-line orders (two SKUs named in either order, more demand than stock) from
    several threads: the batch's one conditional update per balance row keeps every promise of rule 3."""
    if backend == "postgresql":
        inv = request.getfixturevalue("pg_inv")
    else:
        url = f"sqlite:///{tmp_path / 'inventory.db'}"
        components.migrate("inventory", url)
        inv = Inventory(Database(url, metadata))
    near, far = inv.warehouse("NEAR", priority=1), inv.warehouse("FAR", priority=2)
    a, b = inv.sku("A"), inv.sku("B")
    for sku in (a, b):
        inv.receive(sku, near, 30, "5.00")
        inv.receive(sku, far, 20, "5.00")
    rnd = random.Random(7)
    orders = [[(a, rnd.randint(1, 3)), (b, rnd.randint(1, 3))][::rnd.choice((1, -1))] for _ in range(60)]
    placed = _reserve_in_batches(inv, orders, size=8, threads=4)
    _check(inv, placed, {(a, near): 30, (a, far): 20, (b, near): 30, (b, far): 20})


def test_a_batch_reserves_as_the_same_orders_one_by_one_would(pg_inv):
    inv = pg_inv
    near, far = inv.warehouse("NEAR", priority=1), inv.warehouse("FAR", priority=2)
    one_by_one, batched = inv.sku("SEQ"), inv.sku("BAT")
    for sku in (one_by_one, batched):
        inv.receive(sku, near, 5, "5.00")
        inv.receive(sku, far, 4, "5.00")
    quantities = [3, 2, 3, 1, 2, 4, 1]  # whole, whole, split across both, then short
    expected = [inv.order([(one_by_one, q)])[1] for q in quantities]
    got = [answer for _, _, answer in _reserve_in_batches(inv, [[(batched, q)] for q in quantities], size=7,
                                                         threads=1)]

    def shape(answers):
        return [[(l["status"], l["warehouse"], l["reserved_quantity"], l["allocations"]) for l in a] for a in answers]
    assert shape(got) == shape(expected)


def test_a_batch_announces_each_sku_it_moved_once_with_its_final_quantity(inv):
    """stock_changed is sent at the end of the transaction, once per SKU, however many orders of the
    batch moved it (PostgreSQL and SQLite)."""
    warehouse = inv.warehouse("W")
    a, b = inv.sku("A"), inv.sku("B")
    inv.receive(a, warehouse, 10, "5.00")
    inv.receive(b, warehouse, 10, "5.00")
    before = len(inv.events("stock_changed"))
    placed = _reserve_in_batches(inv, [[(a, 1)], [(a, 2)], [(b, 1)], [(a, 3)]], size=4, threads=1)
    assert [answer[0]["status"] for _, _, answer in placed] == [domain.RESERVED] * 4
    announced = inv.events("stock_changed")[before:]
    assert sorted((e["sku"], e["available"]) for e in announced) == [(a, 4), (b, 9)]
