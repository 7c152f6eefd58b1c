"""Where an order's time to reserved goes, leg by leg, from the times the hub stamps on its own rows
(the bench's clock is in none of them):

* `to_inventory`: the order row written (PlaceOrder committed) → the reservation row written: the
  order relay woken by the commit, its publish and confirm, the broker's delivery, the inventory
  worker's batch gathering, waiting for its turn and for the stock rows' locks, up to its statement;
* `back_to_order`: → the order row marked reserved: the rest of the reservation's transaction and its
  commit, the inventory relay, the delivery of `stock_reserved`, the order worker's batch and review.

(The outbox's `published_at` would split each leg at the relay, but it is the time of the relay's
mark, which follows the broker's confirm by up to `hubkit.relay.MARK_SECONDS`, 0.2 s.)"""
from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select

from bench.harness import percentiles_ms
from hubkit.db import Database, as_utc
from services.inventory.models import metadata as inventory_metadata
from services.inventory.models import reservations

HOPS = ("to_inventory", "back_to_order")


def _reserved_rows(db: Database, ids: list[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    with db.reader() as s:
        for chunk in range(0, len(ids), 500):
            for order_id, created in s.execute(select(reservations.c.order_id, reservations.c.created_at)
                                               .where(reservations.c.order_id.in_(ids[chunk:chunk + 500]))):
                moment = as_utc(created).timestamp()
                out[order_id] = min(out.get(order_id, moment), moment)
    return out


def hops(inventory_url: str, orders: Iterable) -> dict[str, dict[str, float] | None]:
    """p50/p95/p99 of each leg (HOPS) over `orders` (each with `id`, `placed` and `reserved` times)."""
    known = [o for o in orders if o.id and o.placed and o.reserved]
    inventory_db = Database(inventory_url, inventory_metadata, pool_size=1)
    try:
        reserved_row = _reserved_rows(inventory_db, sorted(o.id for o in known))
    finally:
        inventory_db.dispose()
    spans: dict[str, list[float]] = {hop: [] for hop in HOPS}
    for o in known:
        if o.id in reserved_row:
            spans["to_inventory"].append(max(0.0, reserved_row[o.id] - o.placed))
            spans["back_to_order"].append(max(0.0, o.reserved - reserved_row[o.id]))
    return {hop: percentiles_ms(values) for hop, values in spans.items()}
