"""The proof that the running balances tell the truth: everything rebuilt from the immutable
stock ledger (and the documents) and compared with what the service keeps up to date."""
from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from sqlalchemy import func, select

from hubkit.db import Database
from services.inventory import domain, stock
from services.inventory.models import (
    allocations,
    cost_layers,
    document_lines,
    documents,
    lots,
    place_stock,
    reservations,
    serials,
    skus,
    stock_levels,
    stock_movements,
)


def differences(db: Database) -> list[dict]:
    """Every place where a running balance differs from the one rebuilt; empty when all agree."""
    with db.reader() as s:
        return _differences(s)


def _differences(s) -> list[dict]:
    out: list[dict] = []

    def compare(what, key, kept, rebuilt):
        if kept != rebuilt:
            out.append({"check": what, "key": "/".join(str(k) for k in key), "kept": str(kept),
                        "rebuilt": str(rebuilt)})

    # units per place, from the ledger
    ledger = defaultdict(int)
    for sku, wh, b, lot, q in s.execute(select(stock_movements.c.sku, stock_movements.c.warehouse, stock_movements.c.bin,
                                               stock_movements.c.lot, func.sum(stock_movements.c.quantity))
                                        .group_by(stock_movements.c.sku, stock_movements.c.warehouse,
                                                  stock_movements.c.bin, stock_movements.c.lot)):
        ledger[(sku, wh, b, lot)] = int(q)
    places = {(r.sku, r.warehouse, r.bin, r.lot): int(r.quantity) for r in s.execute(select(place_stock))}
    for key in sorted(set(ledger) | set(places)):
        compare("place", key, places.get(key, 0), ledger.get(key, 0))
        if places.get(key, 0) < 0:
            out.append({"check": "negative", "key": "/".join(key), "kept": str(places[key]), "rebuilt": ">= 0"})

    held_lots = {(r.sku, r.lot) for r in s.execute(select(lots.c.sku, lots.c.lot)
                                                   .where(lots.c.status != stock.OK))}
    on_hand, held = defaultdict(int), defaultdict(int)
    for (sku, wh, _, lot), q in ledger.items():
        on_hand[(sku, wh)] += q
        if (sku, lot) in held_lots:
            held[(sku, wh)] += q
    reserved = defaultdict(int)
    for sku, wh, q in s.execute(select(reservations.c.sku, allocations.c.warehouse, func.sum(allocations.c.quantity))
                                .join(allocations, (allocations.c.order_id == reservations.c.order_id) &
                                      (allocations.c.line_no == reservations.c.line_no))
                                .where(reservations.c.status.in_((domain.RESERVED, domain.BACKORDERED)))
                                .group_by(reservations.c.sku, allocations.c.warehouse)):
        reserved[(sku, wh)] = int(q)
    in_transit = defaultdict(int)
    for sku, wh, q in s.execute(select(document_lines.c.sku, documents.c.to_warehouse, func.sum(document_lines.c.quantity))
                                .join(documents, documents.c.id == document_lines.c.document_id)
                                .where(documents.c.kind == "transfer", documents.c.status == "shipped")
                                .group_by(document_lines.c.sku, documents.c.to_warehouse)):
        in_transit[(sku, wh)] = int(q)
    levels = {(r.sku, r.warehouse): r for r in s.execute(select(stock_levels))}
    for key in sorted(set(levels) | set(on_hand) | set(reserved) | set(in_transit)):
        row = levels.get(key)
        compare("on_hand", key, row.on_hand if row else 0, on_hand.get(key, 0))
        compare("held", key, row.held if row else 0, held.get(key, 0))
        compare("reserved", key, row.reserved if row else 0, reserved.get(key, 0))
        compare("in_transit", key, row.in_transit if row else 0, in_transit.get(key, 0))

    # value on hand: the ledger's values against the remaining cost layers
    ledger_value = {(sku, wh): Decimal(v) for sku, wh, v in s.execute(
        select(stock_movements.c.sku, stock_movements.c.warehouse, func.sum(stock_movements.c.value))
        .group_by(stock_movements.c.sku, stock_movements.c.warehouse))}
    layer_value, layer_units = {}, {}
    for sku, wh, q, v in s.execute(select(cost_layers.c.sku, cost_layers.c.warehouse, func.sum(cost_layers.c.remaining),
                                          func.sum(cost_layers.c.remaining_value))
                                   .where(cost_layers.c.in_transit.is_(False))
                                   .group_by(cost_layers.c.sku, cost_layers.c.warehouse)):
        layer_value[(sku, wh)], layer_units[(sku, wh)] = Decimal(v), int(q)
    for key in sorted(set(ledger_value) | set(layer_value)):
        compare("value", key, layer_value.get(key, Decimal("0.00")), ledger_value.get(key, Decimal("0.00")))
        compare("layer_units", key, layer_units.get(key, 0), on_hand.get(key, 0))

    # serial-tracked SKUs: one in-stock serial per unit in each place
    tracked = set(s.execute(select(skus.c.code).where(skus.c.serial_tracked.is_(True))).scalars())
    if tracked:
        in_stock = defaultdict(int)
        for r in s.execute(select(serials).where(serials.c.status == stock.IN_STOCK, serials.c.sku.in_(tracked))):
            in_stock[(r.sku, r.warehouse, r.bin, r.lot)] += 1
        for key in sorted(set(in_stock) | {k for k in places if k[0] in tracked}):
            compare("serials", key, in_stock.get(key, 0), places.get(key, 0))
    return out
