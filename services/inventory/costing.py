"""Cost layers: what the units in a warehouse are worth, by FIFO (one layer per arrival) or
moving weighted average (one layer per SKU and warehouse).

Either way the stock value is the sum of the layers' remaining value, and a layer's last
units take exactly the value it has left, so no rounding residue ever stays behind."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import bindparam, case, select, update

from hubkit.errors import Conflict
from hubkit.money import allocate, cents, unit_cost
from services.inventory.models import cost_layers, stock_movements

FIFO, AVERAGE = "fifo", "average"
ZERO = Decimal("0.00")


def add(s, sku: str, warehouse: str, quantity: int, value: Decimal, costing: str, movement_id: int,
        received_at: datetime, in_transit: bool = False, document: str = "") -> None:
    """Units arrive worth `value`: a new FIFO layer, or merged into the warehouse's average layer."""
    if costing == AVERAGE and not in_transit:
        layer = s.execute(select(cost_layers).where(cost_layers.c.sku == sku, cost_layers.c.warehouse == warehouse,
                                                    cost_layers.c.in_transit.is_(False))
                          .with_for_update()).first()
        if layer is not None:
            remaining, worth = layer.remaining + quantity, layer.remaining_value + value
            s.execute(update(cost_layers).where(cost_layers.c.id == layer.id).values(
                quantity=layer.quantity + quantity, remaining=remaining, remaining_value=worth,
                unit_cost=unit_cost(worth / remaining) if remaining else layer.unit_cost))
            return
    s.execute(cost_layers.insert().values(
        movement_id=movement_id, sku=sku, warehouse=warehouse, quantity=quantity, remaining=quantity,
        unit_cost=unit_cost(value / quantity), remaining_value=value, received_at=received_at,
        in_transit=in_transit, document=document))


def _layers(order, transit: bool, many: bool = False):
    """The layers on hand to take from, locked, in `order`; `many`: of several (sku, warehouse) pairs
    (p_skus, p_warehouses), each pair's rows together in that order."""
    where = ([cost_layers.c.sku.in_(bindparam("p_skus", expanding=True)),
              cost_layers.c.warehouse.in_(bindparam("p_warehouses", expanding=True))] if many else
             [cost_layers.c.sku == bindparam("p_sku"), cost_layers.c.warehouse == bindparam("p_warehouse")])
    return (select(cost_layers).join(stock_movements, stock_movements.c.id == cost_layers.c.movement_id)
            .where(*where, cost_layers.c.remaining > 0, cost_layers.c.in_transit.is_(transit))
            .order_by(*([cost_layers.c.sku, cost_layers.c.warehouse] if many else []), *order)
            .with_for_update(of=cost_layers))


# a sale's take, built once (its values given at execute): building it was a good part of a shipment's CPU
_OLDEST_FIRST = _layers([cost_layers.c.received_at, cost_layers.c.id], False)
# a batch's sales: the layers of every (sku, warehouse) it takes from, oldest first, in one statement
_OLDEST_FIRST_OF = _layers([cost_layers.c.received_at, cost_layers.c.id], False, many=True)
_LAYER_TAKEN = update(cost_layers).where(cost_layers.c.id == bindparam("p_id"))


def take(s, sku: str, warehouse: str, quantity: int, costing: str = FIFO, prefer_reference: str = "",
         transit_document: str = "") -> list[tuple]:
    """Take `quantity` from the layers, oldest first (those received under `prefer_reference`
    first, when given); the average layer gives remaining value x share, to the cent.
    Returns the slices taken: (received_at, quantity, value), so a transfer can rebuild them."""
    query = _OLDEST_FIRST
    if prefer_reference or transit_document:
        order = [cost_layers.c.received_at, cost_layers.c.id]
        if prefer_reference:
            order.insert(0, case((stock_movements.c.reference.like(f"{prefer_reference}%"), 0), else_=1))
        query = _layers(order, bool(transit_document))
        if transit_document:
            query = query.where(cost_layers.c.document == transit_document)
    layers = [dict(r._mapping) for r in s.execute(query, {"p_sku": sku, "p_warehouse": warehouse}).all()]
    slices = take_from(layers, sku, warehouse, quantity, costing)
    write_taken(s, layers)
    return slices


class Layers:
    """The cost layers on hand of a batch's (sku, warehouse) pairs, read once (locked) and taken from in
    memory as costing.take would, one take after another; `write` saves what was taken."""

    def __init__(self, s, places) -> None:
        places = set(places)
        self.of: dict[tuple[str, str], list[dict]] = {place: [] for place in places}
        if places:
            for r in s.execute(_OLDEST_FIRST_OF, {"p_skus": sorted({sku for sku, _ in places}),
                                                  "p_warehouses": sorted({w for _, w in places})}):
                if (r.sku, r.warehouse) in self.of:
                    self.of[(r.sku, r.warehouse)].append(dict(r._mapping))

    def take(self, sku: str, warehouse: str, quantity: int, costing: str = FIFO) -> list[tuple]:
        return take_from(self.of[(sku, warehouse)], sku, warehouse, quantity, costing)

    def write(self, s) -> None:
        write_taken(s, [layer for layers in self.of.values() for layer in layers])


def take_from(layers: list[dict], sku: str, warehouse: str, quantity: int, costing: str) -> list[tuple]:
    """The arithmetic of a take over `layers` (dicts, oldest first), which it updates (marking each
    one taken from)."""
    need, slices = quantity, []
    for layer in layers:
        if need == 0:
            break
        if layer["remaining"] <= 0:
            continue
        taken = min(need, layer["remaining"])
        if taken == layer["remaining"]:
            value = layer["remaining_value"]
        elif costing == AVERAGE:
            value = cents(layer["remaining_value"] * taken / layer["remaining"])
        else:
            value = min(cents(layer["unit_cost"] * taken), layer["remaining_value"])
        layer["remaining"] -= taken
        layer["remaining_value"] -= value
        layer["taken"] = True
        need -= taken
        slices.append((layer["received_at"], taken, value))
    if need:
        raise Conflict(f"cost layers of {sku} in {warehouse} are short by {need} units")
    return slices


def write_taken(s, layers: list[dict]) -> None:
    """Save the layers taken from (one executemany)."""
    taken = [{"p_id": layer["id"], "remaining": layer["remaining"], "remaining_value": layer["remaining_value"]}
             for layer in layers if layer.get("taken")]
    if taken:
        s.execute(_LAYER_TAKEN, taken)


def total(slices: list[tuple]) -> Decimal:
    return sum((value for _, _, value in slices), start=ZERO)


def latest_unit_cost(s, sku: str, warehouse: str) -> Decimal:
    """What the most recently received unit of a SKU cost in this warehouse (its average, for an
    average-costed SKU), else anywhere: a found unit is worth that."""
    latest = (select(cost_layers.c.unit_cost).where(cost_layers.c.sku == sku)
              .order_by(cost_layers.c.received_at.desc(), cost_layers.c.id.desc()).limit(1))
    here = latest.where(cost_layers.c.warehouse == warehouse, cost_layers.c.in_transit.is_(False))
    for query in (here, latest):  # a cost of 0.00 is a cost: only a missing layer falls through
        cost = s.execute(query).scalar()
        if cost is not None:
            return cost
    return Decimal("0")


def revalue(s, sku: str, warehouse: str, costing: str, reference: str, quantity: int,
            change: Decimal) -> tuple[Decimal, Decimal]:
    """A bill changes the cost of `quantity` units received under `reference` (an invoice's price
    difference, a landed cost's share) by `change`: the units still held take their part into their
    cost layers, the part of units already gone is returned for cost of goods. Returns (to_stock,
    to_cost_of_goods), adding up to exactly `change`.

    FIFO: the receipt's own layers (its units still in them are held, the rest gone, in proportion).
    Moving average: the SKU's average layer in the warehouse, held for as many of the units as it still
    has. A layer never drops below 0.00: what it cannot absorb goes to cost of goods."""
    if costing == AVERAGE:
        query = select(cost_layers).where(cost_layers.c.sku == sku, cost_layers.c.warehouse == warehouse,
                                          cost_layers.c.in_transit.is_(False))
    else:
        query = (select(cost_layers).join(stock_movements, stock_movements.c.id == cost_layers.c.movement_id)
                 .where(stock_movements.c.reference == reference, cost_layers.c.sku == sku,
                        cost_layers.c.warehouse == warehouse, cost_layers.c.in_transit.is_(False))
                 .order_by(cost_layers.c.id))
    layers = s.execute(query.with_for_update(of=cost_layers)).all()
    if costing == AVERAGE:
        held = min(quantity, sum(layer.remaining for layer in layers))
        weights = [held, quantity - held]
    else:
        held = sum(layer.remaining for layer in layers)
        weights = [held, sum(layer.quantity for layer in layers) - held]
    if sum(weights) == 0:
        return ZERO, cents(change)
    to_stock, to_cost = allocate(change, weights)
    rest = to_stock
    holding = [layer for layer in layers if layer.remaining]
    parts = allocate(to_stock, [layer.remaining for layer in holding]) if holding and to_stock else []
    for layer, part in zip(holding, parts):
        part = max(part, -layer.remaining_value)  # never below 0.00; the rest goes to cost of goods
        worth = layer.remaining_value + part
        s.execute(update(cost_layers).where(cost_layers.c.id == layer.id).values(
            remaining_value=worth, unit_cost=unit_cost(worth / layer.remaining)))
        rest -= part
    return to_stock - rest, to_cost + rest
