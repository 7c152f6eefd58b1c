"""Random sequences of stock documents against an independent reference model.

Each hypothesis example is a fresh `Inventory` (a new tag, so its own warehouses and SKUs) on the
shared test database. It runs a random list of receipts, sales (order + shipment), transfers
(shipped, received later), kit assembly and disassembly, count differences, write-offs and
customer returns over two warehouses and two or three SKUs plus a kit, and after every step checks:

- the value of every document (sale cost, transfer value, kit value, adjustment value, return
  cost) equals what a plain-Python model computes: a FIFO queue of layers ordered by arrival, or
  one moving-average layer, per SKU and warehouse, with the rounding rules of the engine
  (Decimal, ROUND_HALF_UP: partial FIFO take = min(cents(unit_cost x taken), remaining value);
  partial average take = cents(remaining value x taken / remaining); the last units of a layer
  take exactly what it has left);
- on hand, reserved, held and in transit per SKU and warehouse equal the model; no place and no
  balance is negative; the places add up to the balance;
- stock value (handlers.stock_value) == the model's remaining layer value == the ledger's value;
- a document the model says must be refused raises Conflict and changes nothing (snapshot);
- audit.differences finds nothing for this example's codes.
At the end every transfer still on the road arrives, and the layers themselves (remaining units
and value, in FIFO order) are compared with the model's."""
from __future__ import annotations

import itertools
import os
from collections import Counter, defaultdict
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from hubkit.db import is_sqlite
from hubkit.errors import Conflict
from services.inventory import audit, handlers, movements, transfers
from services.inventory.models import cost_layers, documents, metadata, place_stock, reservations, stock_levels, stock_movements
from tests.integration.inventory.conftest import Inventory

pytestmark = pytest.mark.integration
outbox = metadata.tables["outbox"]

CENT, SIX = Decimal("0.01"), Decimal("0.000001")
ZERO = Decimal("0.00")
FIFO, AVERAGE = "fifo", "average"
LOTS = [("L1", "2099-01-31"), ("L2", "2099-06-30"), ("L3", "")]  # (lot, expiry) of the lot-tracked SKU


def c2(x: Decimal) -> Decimal:
    return x.quantize(CENT, rounding=ROUND_HALF_UP)


def c6(x: Decimal) -> Decimal:
    return x.quantize(SIX, rounding=ROUND_HALF_UP)


# -- the reference model -----------------------------------------------------------------------
@dataclass
class Layer:
    at: int          # logical arrival time (FIFO order, with id as tie-break)
    id: int
    remaining: int
    value: Decimal   # remaining value
    unit: Decimal    # unit cost to 6 places (recomputed on every average merge)
    wh: str = ""     # where it lies (the destination, for a layer in transit)
    transit: bool = False


class Model:
    """Cost layers and balances in plain Python."""

    def __init__(self, costing: dict[str, str], warehouses: list[str]):
        self.costing, self.warehouses = costing, warehouses
        self.clock, self.ids = itertools.count(1), itertools.count(1)
        self.layers: dict[tuple, list[Layer]] = defaultdict(list)   # (sku, wh) -> layers on hand
        self.history: dict[str, list[Layer]] = defaultdict(list)    # sku -> every layer ever made
        self.on_hand: Counter = Counter()
        self.in_transit: Counter = Counter()
        self.pending: list[dict] = []   # shipped transfers: {id, sku, to, quantity, layers}
        self.sold: list[dict] = []      # issued order lines: {order_id, sku, wh, quantity, cost, returned, back}

    def tick(self) -> int:
        return next(self.clock)

    def _layer(self, sku: str, at: int, quantity: int, value: Decimal, wh: str = "", transit: bool = False) -> Layer:
        layer = Layer(at, next(self.ids), quantity, value, c6(value / quantity), wh, transit)
        self.history[sku].append(layer)
        return layer

    def add(self, sku: str, wh: str, quantity: int, value: Decimal, at: int) -> None:
        layers = self.layers[(sku, wh)]
        if self.costing[sku] == AVERAGE and layers:
            avg = layers[0]
            avg.remaining += quantity
            avg.value += value
            avg.unit = c6(avg.value / avg.remaining)
        else:
            layers.append(self._layer(sku, at, quantity, value, wh))
        self.on_hand[(sku, wh)] += quantity

    def _take(self, sku: str, layers: list[Layer], quantity: int) -> list[tuple[int, int, Decimal]]:
        average, need, slices = self.costing[sku] == AVERAGE, quantity, []
        for layer in sorted((l for l in layers if l.remaining > 0), key=lambda l: (l.at, l.id)):
            if need == 0:
                break
            taken = min(need, layer.remaining)
            if taken == layer.remaining:
                value = layer.value
            elif average:
                value = c2(layer.value * taken / layer.remaining)
            else:
                value = min(c2(layer.unit * taken), layer.value)
            layer.remaining -= taken
            layer.value -= value
            need -= taken
            slices.append((layer.at, taken, value))
        assert need == 0, "model: layers short"
        return slices

    def take(self, sku: str, wh: str, quantity: int) -> Decimal:
        value = sum((v for _, _, v in self._take(sku, self.layers[(sku, wh)], quantity)), ZERO)
        self.on_hand[(sku, wh)] -= quantity
        return value

    def latest_unit(self, sku: str, wh: str) -> Decimal:
        """A found unit is worth the unit cost of the most recently received layer of the SKU in that
        warehouse (not in transit), else anywhere."""
        layers = [l for l in self.history[sku] if l.wh == wh and not l.transit] or self.history[sku]
        return max(layers, key=lambda l: (l.at, l.id)).unit if layers else Decimal("0")

    def value(self, sku: str, wh: str) -> Decimal:
        return sum((l.value for l in self.layers[(sku, wh)]), ZERO)

    # documents
    def allocate(self, sku: str, quantity: int) -> list[tuple[str, int]] | None:
        """Whole line in the first warehouse (by priority) that has it, else split; None = short."""
        free = [(wh, self.on_hand[(sku, wh)]) for wh in self.warehouses]
        whole = next((wh for wh, f in free if f >= quantity), None)
        if whole:
            return [(whole, quantity)]
        if sum(f for _, f in free) < quantity:
            return None
        plan, left = [], quantity
        for wh, f in free:
            if f > 0 and left > 0:
                plan.append((wh, min(f, left)))
                left -= min(f, left)
        return plan

    def ship_transfer(self, transfer_id: str, sku: str, source: str, to: str, quantity: int) -> Decimal:
        slices = self._take(sku, self.layers[(sku, source)], quantity)
        self.on_hand[(sku, source)] -= quantity
        self.in_transit[(sku, to)] += quantity
        travelling = [self._layer(sku, at, q, v, to, transit=True) for at, q, v in slices]
        self.pending.append({"id": transfer_id, "sku": sku, "to": to, "quantity": quantity, "layers": travelling})
        return sum((v for _, _, v in slices), ZERO)

    def receive_transfer(self, transfer: dict) -> Decimal:
        self.pending.remove(transfer)
        sku, to, quantity = transfer["sku"], transfer["to"], transfer["quantity"]
        slices = self._take(sku, transfer["layers"], quantity)
        self.in_transit[(sku, to)] -= quantity
        for at, q, v in slices:  # arrival order kept: the layers keep when they were received
            self.add(sku, to, q, v, at)
        return sum((v for _, _, v in slices), ZERO)


def shares(value: Decimal, weights: list[Decimal]) -> list[Decimal]:
    total, out, left = sum(weights), [], value
    for i, w in enumerate(weights):
        share = left if i == len(weights) - 1 else c2(value * w / total)
        out.append(share)
        left -= share
    return out


# -- reading the database ----------------------------------------------------------------------
def _like(inv: Inventory) -> str:
    return f"%-{inv.tag}"


def snapshot(inv: Inventory) -> dict:
    """Every balance and row count this example owns, to prove a refused document changed nothing."""
    mine = _like(inv)
    with inv.db.reader() as s:
        return {
            "movements": s.execute(select(func.count()).select_from(stock_movements)
                                   .where(stock_movements.c.sku.like(mine))).scalar(),
            "places": sorted(tuple(r) for r in s.execute(
                select(place_stock.c.sku, place_stock.c.warehouse, place_stock.c.bin, place_stock.c.lot,
                       place_stock.c.quantity).where(place_stock.c.sku.like(mine)))),
            "layers": sorted(tuple(r) for r in s.execute(
                select(cost_layers.c.id, cost_layers.c.remaining, cost_layers.c.remaining_value)
                .where(cost_layers.c.sku.like(mine)))),
            "levels": sorted(tuple(r) for r in s.execute(
                select(stock_levels.c.sku, stock_levels.c.warehouse, stock_levels.c.on_hand,
                       stock_levels.c.reserved, stock_levels.c.held, stock_levels.c.in_transit)
                .where(stock_levels.c.sku.like(mine)))),
            "reservations": sorted(tuple(r) for r in s.execute(
                select(reservations.c.order_id, reservations.c.line_no, reservations.c.status)
                .where(reservations.c.sku.like(mine)))),
            "documents": s.execute(select(func.count()).select_from(documents)
                                   .where(documents.c.warehouse.like(mine))).scalar(),
            "outbox": s.execute(select(func.count()).select_from(outbox)).scalar(),
        }


def check_balances(inv: Inventory, model: Model, skus: list[str], warehouses: list[str]) -> None:
    mine = _like(inv)
    with inv.db.reader() as s:
        levels = {(r.sku, r.warehouse): r for r in s.execute(select(stock_levels)
                                                             .where(stock_levels.c.sku.like(mine)))}
        places = defaultdict(int)
        for r in s.execute(select(place_stock).where(place_stock.c.sku.like(mine))):
            assert r.quantity >= 0, f"negative place {r}"
            places[(r.sku, r.warehouse)] += r.quantity
        travelling = {(sku, wh): Decimal(v) for sku, wh, v in s.execute(
            select(cost_layers.c.sku, cost_layers.c.warehouse, func.sum(cost_layers.c.remaining_value))
            .where(cost_layers.c.sku.like(mine), cost_layers.c.in_transit.is_(True))
            .group_by(cost_layers.c.sku, cost_layers.c.warehouse))}
        ledger = {(sku, wh): Decimal(v) for sku, wh, v in s.execute(
            select(stock_movements.c.sku, stock_movements.c.warehouse, func.sum(stock_movements.c.value))
            .where(stock_movements.c.sku.like(mine)).group_by(stock_movements.c.sku, stock_movements.c.warehouse))}
    valued = {(r["sku"], r["warehouse"]): r for r in handlers.stock_value(inv.db)
              if r["sku"].endswith(inv.tag) and not r["in_transit"]}
    reported_in_transit = {(r["sku"], r["warehouse"]): r["value"] for r in handlers.stock_value(inv.db)
                           if r["sku"].endswith(inv.tag) and r["in_transit"]}
    for sku in skus:
        for wh in warehouses:
            key = (sku, wh)
            row = levels.get(key)
            got = (row.on_hand, row.reserved, row.held, row.in_transit) if row else (0, 0, 0, 0)
            assert got == (model.on_hand[key], 0, 0, model.in_transit[key]), key
            assert min(got) >= 0
            assert places[key] == model.on_hand[key], key
            expected = model.value(sku, wh)
            stock_value = valued[key]["value"] if key in valued else ZERO
            assert (stock_value, c2(ledger.get(key, ZERO))) == (expected, expected), key
            if key in valued:
                assert valued[key]["quantity"] == model.on_hand[key]
            # what is on the road is worth what its transit layers still hold
            on_the_road = sum((l.value for t in model.pending if (t["sku"], t["to"]) == key for l in t["layers"]),
                              ZERO)
            assert c2(travelling.get(key, ZERO)) == on_the_road, key
            assert reported_in_transit.get(key, ZERO) == on_the_road, key  # the stock value reports it


def check_layers(inv: Inventory, model: Model, skus: list[str], warehouses: list[str]) -> None:
    """The layers on hand, in FIFO order, hold what the model's do."""
    with inv.db.reader() as s:
        for sku in skus:
            for wh in warehouses:
                rows = s.execute(select(cost_layers.c.remaining, cost_layers.c.remaining_value)
                                 .where(cost_layers.c.sku == sku, cost_layers.c.warehouse == wh,
                                        cost_layers.c.in_transit.is_(False), cost_layers.c.remaining > 0)
                                 .order_by(cost_layers.c.received_at, cost_layers.c.id)).all()
                got = [(int(q), c2(Decimal(v))) for q, v in rows]
                want = [(l.remaining, l.value) for l in sorted(model.layers[(sku, wh)], key=lambda l: (l.at, l.id))
                        if l.remaining > 0]
                assert got == want, (sku, wh)


def mine(differences: list[dict], inv: Inventory) -> list[dict]:
    return [d for d in differences if inv.tag in d["key"]]


# -- the operations ----------------------------------------------------------------------------
costs = st.builds(lambda n, places: str(Decimal(n).scaleb(-places)),
                  st.integers(1, 999_999), st.sampled_from([2, 3, 4]))
# mostly the FIFO and the average SKU, so their layers meet often; then the lot-tracked SKU and the kit
sku_index, wh_index = st.sampled_from([0, 0, 0, 1, 1, 1, 2, 3]), st.integers(0, 1)
few = st.integers(1, 4) | st.integers(1, 25)  # mostly what there is, sometimes more
receipts = st.tuples(st.just("receive"), sku_index, wh_index, st.integers(1, 20), costs, st.integers(0, 2))
operations = st.one_of(
    receipts,
    st.tuples(st.just("sell"), sku_index, few),
    st.tuples(st.just("transfer"), sku_index, wh_index, few, st.booleans()),
    st.tuples(st.just("arrive"), st.integers(0, 5)),
    st.tuples(st.just("assemble"), wh_index, st.integers(1, 3)),
    st.tuples(st.just("disassemble"), wh_index, st.integers(1, 2)),
    st.tuples(st.just("count"), sku_index, wh_index, st.integers(-4, 6).filter(bool), st.none() | costs,
              st.integers(0, 2)),
    st.tuples(st.just("scrap"), sku_index, wh_index, few),
    st.tuples(st.just("return"), st.integers(0, 20), st.integers(0, 4)),   # 0: whatever is left
)
scenarios = st.tuples(
    st.booleans(),                                # with a lot-tracked SKU
    st.sampled_from([FIFO, AVERAGE]),             # costing of the lot-tracked SKU
    st.sampled_from([FIFO, AVERAGE]),             # costing of the kit
    st.lists(receipts, min_size=3, max_size=6),   # receipts first, so there is stock to move
    st.lists(operations, min_size=4, max_size=14),
)


class Run:
    """One example: the codes, the model, and each operation applied to both."""

    def __init__(self, db, with_lots: bool, lot_costing: str, kit_costing: str):
        self.inv = inv = Inventory(db)
        self.warehouses = [inv.warehouse("W1", priority=1), inv.warehouse("W2", priority=2)]
        fifo, avg = inv.sku("A", costing=FIFO), inv.sku("B", costing=AVERAGE)
        self.base = [fifo, avg]
        costing = {fifo: FIFO, avg: AVERAGE}
        self.lot_sku = None
        if with_lots:
            self.lot_sku = inv.sku("L", lot_tracked=True, costing=lot_costing)
            self.base.append(self.lot_sku)
            costing[self.lot_sku] = lot_costing
        # a kit of two A and one B (components in code order, as the engine keeps them)
        self.parts = [(fifo, 2), (avg, 1)]
        self.kit = inv.sku("K", costing=kit_costing, components=self.parts)
        costing[self.kit] = kit_costing
        self.skus = self.base + [self.kit]
        self.model = Model(costing, self.warehouses)

    def sku(self, i: int) -> str:
        return self.skus[i] if i < len(self.skus) - 1 else self.kit

    def lot(self, sku: str, i: int) -> dict:
        if sku != self.lot_sku:
            return {}
        lot, expires = LOTS[i % len(LOTS)]
        return {"lot": self.inv.code(lot), "expires_on": expires}  # lot labels are looked up across SKUs

    def refused(self, call, *args, **kwargs) -> Conflict:
        before = snapshot(self.inv)
        with pytest.raises(Conflict) as refused:
            self.inv.run(call, *args, **kwargs)
        assert snapshot(self.inv) == before, f"refused {call.__name__} changed something"
        return refused.value

    def apply(self, op: tuple) -> None:
        getattr(self, "op_" + op[0])(*op[1:])

    def op_receive(self, i, w, quantity, cost, lot_i):
        sku, wh, m = self.sku(i), self.warehouses[w], self.model
        self.inv.receive(sku, wh, quantity, cost, **self.lot(sku, lot_i))
        m.add(sku, wh, quantity, c2(Decimal(cost) * quantity), m.tick())

    def op_sell(self, i, quantity):
        sku, m, inv = self.sku(i), self.model, self.inv
        plan = m.allocate(sku, quantity)
        order_id, answer = inv.order([(sku, quantity)])
        if plan is None:  # short: backordered, the shipment is refused, the order is cancelled
            assert answer[0]["status"] == "backordered"
            before = snapshot(inv)
            with pytest.raises(Conflict, match="backordered, not reserved"):
                inv.ship(order_id, [1])
            assert snapshot(inv) == before
            inv.cancel(order_id)
            return
        assert (answer[0]["status"], answer[0]["warehouse"]) == ("reserved", plan[0][0])
        assert [(a["warehouse"], a["quantity"]) for a in answer[0]["allocations"]] == sorted(plan)
        issued = inv.ship(order_id, [1])
        m.tick()
        expected = {wh: m.take(sku, wh, q) for wh, q in plan}
        assert {l["warehouse"]: Decimal(l["cost"]) for l in issued} == expected
        m.sold.append({"order_id": order_id, "sku": sku, "wh": plan[0][0], "quantity": quantity,
                       "cost": sum(expected.values(), ZERO), "returned": 0, "back": ZERO})

    def op_transfer(self, i, w, quantity, arrives_now):
        sku, m = self.sku(i), self.model
        source, to = self.warehouses[w], self.warehouses[1 - w]
        if m.on_hand[(sku, source)] < quantity:
            exc = self.refused(transfers.ship, source, to, [{"sku": sku, "quantity": quantity}])
            assert f"holds {m.on_hand[(sku, source)]} usable units of {sku}" in exc.message
            return
        shipped = self.inv.run(transfers.ship, source, to, [{"sku": sku, "quantity": quantity}])
        value = m.ship_transfer(shipped["transfer_id"], sku, source, to, quantity)
        assert shipped["lines"] == [{"sku": sku, "quantity": quantity, "value": value}]
        if arrives_now:
            self.check()  # on the road: in transit at the destination, not on hand anywhere
            self.op_arrive(len(m.pending) - 1)

    def op_arrive(self, i):
        m = self.model
        if not m.pending:
            return
        transfer = m.pending[i % len(m.pending)]
        got = self.inv.run(transfers.receive, transfer["id"])
        value = m.receive_transfer(transfer)
        assert got["lines"] == [{"sku": transfer["sku"], "quantity": transfer["quantity"], "value": value}]

    def op_assemble(self, w, quantity):
        wh, m = self.warehouses[w], self.model
        if any(m.on_hand[(c, wh)] < q * quantity for c, q in self.parts):
            exc = self.refused(movements.assemble, self.kit, wh, quantity)
            assert "usable units" in exc.message
            return
        done = self.inv.run(movements.assemble, self.kit, wh, quantity)
        at = m.tick()
        moved = [{"sku": c, "quantity": q * quantity, "value": m.take(c, wh, q * quantity)} for c, q in self.parts]
        value = sum((c["value"] for c in moved), ZERO)
        m.add(self.kit, wh, quantity, value, at)
        assert (done["value"], done["components"]) == (value, moved)

    def op_disassemble(self, w, quantity):
        wh, m = self.warehouses[w], self.model
        if m.on_hand[(self.kit, wh)] < quantity:
            exc = self.refused(movements.assemble, self.kit, wh, quantity, disassemble=True)
            assert "usable units" in exc.message
            return
        done = self.inv.run(movements.assemble, self.kit, wh, quantity, disassemble=True)
        at = m.tick()
        value = m.take(self.kit, wh, quantity)
        # the kit's value goes back to the components in proportion to their latest unit cost
        weights = [m.latest_unit(c, wh) * q for c, q in self.parts]
        if not any(weights):
            weights = [Decimal(q) for _, q in self.parts]
        moved = []
        for (c, q), share in zip(self.parts, shares(value, weights)):
            m.add(c, wh, q * quantity, share, at)
            moved.append({"sku": c, "quantity": q * quantity, "value": share})
        assert (done["value"], done["components"]) == (value, moved)

    def op_count(self, i, w, difference, cost, lot_i):
        sku, wh, m = self.sku(i), self.warehouses[w], self.model
        lot = self.lot(sku, lot_i).get("lot", "")
        if difference > 0:
            done = self.inv.run(movements.adjust, sku, wh, difference, "count", cost=cost or "", lot=lot)
            unit = c6(Decimal(cost)) if cost else m.latest_unit(sku, wh)
            value = c2(unit * difference)
            m.add(sku, wh, difference, value, m.tick())
        else:
            lot = ""  # a loss takes whatever lot comes first
            if m.on_hand[(sku, wh)] < -difference:
                exc = self.refused(movements.adjust, sku, wh, difference, "count")
                assert f"holds {m.on_hand[(sku, wh)]} usable units of {sku}, {-difference} needed" in exc.message
                return
            done = self.inv.run(movements.adjust, sku, wh, difference, "count")
            m.tick()
            value = -m.take(sku, wh, -difference)
        assert done["value"] == value

    def op_scrap(self, i, w, quantity):
        sku, wh, m = self.sku(i), self.warehouses[w], self.model
        if m.on_hand[(sku, wh)] < quantity:
            exc = self.refused(movements.adjust, sku, wh, -quantity, "scrap")
            assert f"holds {m.on_hand[(sku, wh)]} usable units of {sku}, {quantity} needed" in exc.message
            return
        done = self.inv.run(movements.adjust, sku, wh, -quantity, "scrap")
        m.tick()
        assert done["value"] == -m.take(sku, wh, quantity)

    def op_return(self, i, quantity):
        m = self.model
        if not m.sold:
            return
        line = m.sold[i % len(m.sold)]
        quantity = quantity or max(1, line["quantity"] - line["returned"])
        if line["returned"] + quantity > line["quantity"]:
            before = snapshot(self.inv)
            with pytest.raises(Conflict, match="more returned than issued"):
                self.inv.return_goods(line["order_id"], [(1, quantity)])
            assert snapshot(self.inv) == before
            return
        back = self.inv.return_goods(line["order_id"], [(1, quantity)])
        if line["returned"] + quantity == line["quantity"]:   # the last return takes the rest
            cost = line["cost"] - line["back"]
        else:
            cost = min(c2(line["cost"] * quantity / line["quantity"]), line["cost"] - line["back"])
        line["returned"] += quantity
        line["back"] += cost
        m.add(line["sku"], line["wh"], quantity, cost, m.tick())
        assert [(l["warehouse"], Decimal(l["cost"])) for l in back] == [(line["wh"], cost)]

    def check(self) -> None:
        check_balances(self.inv, self.model, self.skus, self.warehouses)
        assert mine(audit.differences(self.inv.db), self.inv) == []

    def finish(self) -> None:
        while self.model.pending:
            self.op_arrive(0)
        self.check()
        check_layers(self.inv, self.model, self.skus, self.warehouses)


# Paths worth running every time, whatever the random draw:
EXAMPLES = [
    # a transfer's layers arrive older than the destination's own receipt and are taken first; an
    # average SKU travels (not yet arrived when found goods are valued) and is sold and returned
    (False, FIFO, FIFO,
     [("receive", 0, 0, 5, "1.00", 0), ("receive", 0, 1, 5, "3.00", 0), ("receive", 1, 0, 4, "2.5", 0),
      ("receive", 1, 1, 3, "7.3333", 0)],
     [("transfer", 0, 0, 2, True), ("scrap", 0, 1, 3), ("transfer", 1, 0, 3, False), ("count", 1, 1, 2, None, 0),
      ("arrive", 0), ("sell", 1, 6), ("return", 0, 2), ("return", 0, 0)]),
    # 3 units sold for 10.00 come back one by one: 3.33, 3.33 and the rest, 3.34
    (False, FIFO, FIFO,
     [("receive", 0, 0, 3, "3.3333", 0), ("receive", 1, 1, 2, "1.005", 0)],
     [("sell", 0, 3), ("return", 0, 1), ("return", 0, 1), ("return", 0, 0), ("return", 0, 1)]),
    # kits built and taken apart, a lot-tracked average SKU counted, moved and scrapped
    (True, AVERAGE, AVERAGE,
     [("receive", 0, 0, 6, "1.25", 0), ("receive", 1, 0, 3, "2.10", 0), ("receive", 2, 0, 4, "0.3333", 1),
      ("receive", 2, 1, 2, "0.5", 2)],
     [("assemble", 0, 2), ("disassemble", 0, 1), ("count", 2, 1, 3, None, 0), ("count", 0, 0, -1, None, 0),
      ("sell", 3, 1), ("transfer", 2, 1, 2, True), ("scrap", 2, 0, 3), ("assemble", 1, 1)]),
    # found by hypothesis: a component whose latest cost in the warehouse is 0.00 is weighed at 0.00,
    # not at its cost in another warehouse
    (False, FIFO, FIFO,
     [("receive", 1, 0, 1, "0.01", 0), ("receive", 1, 0, 1, "0.01", 0), ("receive", 2, 0, 17, "0.01", 0)],
     [("disassemble", 0, 1), ("count", 0, 0, 2, None, 0), ("receive", 0, 1, 1, "0.01", 0),
      ("disassemble", 0, 1)]),
]


def test_random_documents_agree_with_the_reference_model(db):
    # ~10 s each on an idle machine (3-4x that under load); HUB_PROPERTY_EXAMPLES=500 for a longer hunt
    examples = int(os.environ.get("HUB_PROPERTY_EXAMPLES") or (25 if is_sqlite(db.url) else 12))
    hunting = bool(os.environ.get("HUB_PROPERTY_EXAMPLES"))

    # the suite replays the same examples every run (a red CI is then a regression, not a lucky draw);
    # a hunt draws new ones
    @settings(max_examples=examples, deadline=None, database=None, print_blob=True, derandomize=not hunting,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(scenarios)
    @example(EXAMPLES[0])
    @example(EXAMPLES[1])
    @example(EXAMPLES[2])
    @example(EXAMPLES[3])
    def run(scenario):
        with_lots, lot_costing, kit_costing, opening, ops = scenario
        example = Run(db, with_lots, lot_costing, kit_costing)
        for op in [*opening, *ops]:
            example.apply(op)
            example.check()
        example.finish()

    run()
