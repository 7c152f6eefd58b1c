"""Worked costing examples, to the cent, with the arithmetic written out.

Rules (Decimal, ROUND_HALF_UP; unit costs to 6 places, values to the cent):
- FIFO: one layer per arrival, taken oldest first (received_at, then id). A partial take is
  min(cents(unit_cost x taken), remaining_value); the last units of a layer take exactly what
  the layer has left.
- Moving average: one layer per SKU and warehouse; a partial take is
  cents(remaining_value x taken / remaining); a receipt merges in and the unit cost becomes
  remaining_value / remaining (6 places).
- A transfer moves the cost slices it took into transit layers (keeping when they were received)
  and, on arrival, into the destination's layers.
- A customer return comes back at the cost its line left with: cents(line cost x returned /
  issued), the last return of a line takes whatever is left.
- Kits consume their components at cost and are worth the sum; disassembly gives the kit's value
  back to the components in proportion to their latest unit cost x quantity per kit.
- A count gain is worth the latest layer's unit cost."""
from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from hubkit.errors import Conflict
from services.inventory import counts, handlers, movements, transfers
from services.inventory.models import cost_layers

pytestmark = pytest.mark.integration

D = Decimal


def layers(inv, sku: str, warehouse: str) -> list[tuple[int, Decimal, Decimal]]:
    """(remaining, remaining value, unit cost) of the layers on hand, in FIFO order."""
    with inv.db.reader() as s:
        rows = s.execute(select(cost_layers.c.remaining, cost_layers.c.remaining_value, cost_layers.c.unit_cost)
                         .where(cost_layers.c.sku == sku, cost_layers.c.warehouse == warehouse,
                                cost_layers.c.in_transit.is_(False), cost_layers.c.remaining > 0)
                         .order_by(cost_layers.c.received_at, cost_layers.c.id)).all()
    return [(int(q), D(v).quantize(D("0.01")), D(u).quantize(D("0.000001"))) for q, v, u in rows]


def clean(inv) -> list[dict]:
    """The ledger rebuilds this test's balances (other tests share the PostgreSQL database)."""
    return [d for d in inv.audit() if inv.tag in d["key"]]


def without(payload: dict, *keys: str) -> dict:
    return {k: v for k, v in payload.items() if k not in keys}


def test_fifo_sale_return_and_transfer_keep_layers_and_their_order(inv):
    main, east = inv.warehouse("MAIN", priority=1), inv.warehouse("EAST", priority=2)
    tea = inv.sku("TEA", costing="fifo")
    inv.receive(tea, main, 10, "2.50")    # L1: 10 x 2.50 = 25.00
    inv.receive(tea, main, 3, "3.3333")   # L2: 3 x 3.3333 = 9.9999 -> 10.00; unit 10.00 / 3 = 3.333333
    inv.receive(tea, main, 5, "4.00")     # L3: 5 x 4.00 = 20.00
    assert layers(inv, tea, main) == [(10, D("25.00"), D("2.500000")), (3, D("10.00"), D("3.333333")),
                                      (5, D("20.00"), D("4.000000"))]
    assert inv.value(main, tea) == D("55.00")

    # a sale of 12 spans two layers: all of L1 (its whole value 25.00)
    # + 2 of L2: min(cents(3.333333 x 2) = cents(6.666666) = 6.67, 10.00) = 6.67  -> 31.67
    sale, answer = inv.order([(tea, 12)])
    assert answer[0]["allocations"] == [{"warehouse": main, "quantity": 12}]
    assert inv.ship(sale, [1]) == [{"line_no": 1, "sku": tea, "warehouse": main, "quantity": 12, "cost": "31.67"}]
    assert layers(inv, tea, main) == [(1, D("3.33"), D("3.333333")), (5, D("20.00"), D("4.000000"))]
    [issued] = inv.events("goods_issued")
    assert without(issued, "issued_at") == {
        "order_id": sale, "channel": "web", "total_cost": "31.67",
        "lines": [{"line_no": 1, "sku": tea, "warehouse": main, "quantity": 12, "cost": "31.67"}]}

    # 3 of the 12 come back at the cost they left with: cents(31.67 x 3 / 12) = cents(7.9175) = 7.92,
    # a new layer at the back of the queue: 3 units worth 7.92 (unit 2.64)
    assert inv.return_goods(sale, [(1, 3)]) == [{"line_no": 1, "sku": tea, "warehouse": main, "quantity": 3,
                                                 "cost": "7.92"}]
    assert layers(inv, tea, main) == [(1, D("3.33"), D("3.333333")), (5, D("20.00"), D("4.000000")),
                                      (3, D("7.92"), D("2.640000"))]
    assert inv.value(main, tea) == D("31.25")  # 3.33 + 20.00 + 7.92

    # a transfer of 7 takes, oldest first: L2's last unit 3.33 + all of L3 20.00
    # + 1 of the return layer: min(cents(2.64 x 1), 7.92) = 2.64  -> 25.97
    shipped = inv.run(transfers.ship, main, east, [{"sku": tea, "quantity": 7}])
    assert shipped["lines"] == [{"sku": tea, "quantity": 7, "value": D("25.97")}]
    assert layers(inv, tea, main) == [(2, D("5.28"), D("2.640000"))]        # 7.92 - 2.64
    assert (inv.level(tea, east)["in_transit"], inv.level(tea, east)["on_hand"]) == (7, 0)
    assert (inv.value(main, tea), inv.value(east, tea)) == (D("5.28"), D("0.00"))  # on the road: no one's stock
    # goods bought at EAST while the transfer travels arrived later than the goods on the truck
    inv.receive(tea, east, 2, "5.00")     # L5: 2 x 5.00 = 10.00
    received = inv.run(transfers.receive, shipped["transfer_id"])
    assert received["lines"] == [{"sku": tea, "quantity": 7, "value": D("25.97")}]
    # the transferred slices keep their arrival order, ahead of EAST's own later receipt
    assert layers(inv, tea, east) == [(1, D("3.33"), D("3.330000")), (5, D("20.00"), D("4.000000")),
                                      (1, D("2.64"), D("2.640000")), (2, D("10.00"), D("5.000000"))]
    moves = inv.events("stock_transferred")
    assert [without(m, "occurred_at") for m in moves] == [
        {"transfer_id": shipped["transfer_id"], "stage": stage, "from_warehouse": main, "to_warehouse": east,
         "lines": [{"sku": tea, "quantity": 7, "value": "25.97"}], "total_value": "25.97"}
        for stage in ("shipped", "received")]

    # a sale of 4: MAIN (priority 1) has only 2, so the whole line goes to EAST, oldest first:
    # 3.33 (the last unit of L2) + 3 of L3: min(cents(4.00 x 3), 20.00) = 12.00 -> 15.33
    # (by EAST's own arrival order it would have been 10.00 + 2 x 4.00 = 18.00)
    second, answer = inv.order([(tea, 4)])
    assert answer[0]["allocations"] == [{"warehouse": east, "quantity": 4}]
    assert inv.ship(second, [1])[0]["cost"] == "15.33"
    assert layers(inv, tea, east) == [(2, D("8.00"), D("4.000000")), (1, D("2.64"), D("2.640000")),
                                      (2, D("10.00"), D("5.000000"))]

    # the last 9 of the first sale come back: the last return takes what is left, 31.67 - 7.92 = 23.75
    assert inv.return_goods(sale, [(1, 9)])[0]["cost"] == "23.75"
    assert [without(r, "returned_at", "return_id") for r in inv.events("goods_returned")] == [
        {"order_id": sale, "channel": "web",
         "lines": [{"line_no": 1, "sku": tea, "warehouse": main, "quantity": q, "cost": c}]}
        for q, c in ((3, "7.92"), (9, "23.75"))]
    assert [without(i, "issued_at") for i in inv.events("goods_issued")][1] == {
        "order_id": second, "channel": "web", "total_cost": "15.33",
        "lines": [{"line_no": 1, "sku": tea, "warehouse": east, "quantity": 4, "cost": "15.33"}]}

    # value per warehouse: MAIN 5.28 + 23.75 = 29.03; EAST 8.00 + 2.64 + 10.00 = 20.64
    # and in all: bought 25.00 + 10.00 + 20.00 + 10.00 = 65.00, sold 31.67 + 15.33, returned 31.67 -> 49.67
    assert (inv.value(main), inv.value(east), inv.value(sku=tea)) == (D("29.03"), D("20.64"), D("49.67"))
    assert [r for r in handlers.stock_value(inv.db) if r["sku"] == tea] == [
        {"warehouse": east, "sku": tea, "quantity": 5, "value": D("20.64"), "in_transit": False},
        {"warehouse": main, "sku": tea, "quantity": 11, "value": D("29.03"), "in_transit": False}]
    assert clean(inv) == []


def test_moving_average_receipts_sale_return_and_transfer(inv):
    main, east = inv.warehouse("MAIN", priority=1), inv.warehouse("EAST", priority=2)
    oil = inv.sku("OIL", costing="average")
    inv.receive(oil, main, 10, "10.00")   # 10 units, 100.00, unit 10.000000
    inv.receive(oil, main, 5, "11.50")    # + 5 x 11.50 = 57.50 -> 15 units, 157.50, unit 157.50 / 15 = 10.500000
    assert layers(inv, oil, main) == [(15, D("157.50"), D("10.500000"))]

    # a sale of 4: cents(157.50 x 4 / 15) = 42.00 -> 11 units, 115.50
    sale, _ = inv.order([(oil, 4)])
    assert inv.ship(sale, [1])[0]["cost"] == "42.00"
    assert layers(inv, oil, main) == [(11, D("115.50"), D("10.500000"))]

    # a receipt at another cost: 3 x 9.99 = 29.97 -> 14 units, 145.47, unit 145.47 / 14 = 10.3907142... = 10.390714
    inv.receive(oil, main, 3, "9.99")
    assert layers(inv, oil, main) == [(14, D("145.47"), D("10.390714"))]

    # 1 of the 4 comes back at the cost it left with: cents(42.00 x 1 / 4) = 10.50, not at today's average
    # -> 15 units, 155.97, unit 155.97 / 15 = 10.398000
    assert inv.return_goods(sale, [(1, 1)])[0]["cost"] == "10.50"
    assert layers(inv, oil, main) == [(15, D("155.97"), D("10.398000"))]

    # a transfer of 5: cents(155.97 x 5 / 15) = 51.99 -> MAIN keeps 10 units, 103.98
    shipped = inv.run(transfers.ship, main, east, [{"sku": oil, "quantity": 5}])
    assert shipped["lines"] == [{"sku": oil, "quantity": 5, "value": D("51.99")}]
    inv.run(transfers.receive, shipped["transfer_id"])
    assert layers(inv, oil, main) == [(10, D("103.98"), D("10.398000"))]
    assert layers(inv, oil, east) == [(5, D("51.99"), D("10.398000"))]   # 51.99 / 5
    [out, arrived] = inv.events("stock_transferred")
    assert (out["stage"], out["total_value"], arrived["stage"], arrived["total_value"]) == \
        ("shipped", "51.99", "received", "51.99")

    # the last 3 of the sale come back: 42.00 - 10.50 = 31.50 -> 13 units, 135.48, unit 135.48 / 13 = 10.421538
    assert inv.return_goods(sale, [(1, 3)])[0]["cost"] == "31.50"
    assert layers(inv, oil, main) == [(13, D("135.48"), D("10.421538"))]
    assert (inv.value(main), inv.value(east)) == (D("135.48"), D("51.99"))

    # selling all 13 takes exactly what is left, 135.48 (13 x 10.421538 would be 135.48 too, by luck;
    # the rule is the remaining value, not the unit cost)
    last, _ = inv.order([(oil, 13)])
    assert inv.ship(last, [1])[0]["cost"] == "135.48"
    assert (inv.value(main), inv.value(east)) == (D("0.00"), D("51.99"))
    assert [i["total_cost"] for i in inv.events("goods_issued")] == ["42.00", "135.48"]
    assert clean(inv) == []


@pytest.mark.parametrize("costing, costs", [
    # FIFO: cents(3.333333 x 1) = 3.33 twice, the last unit takes the rest: 10.00 - 6.66 = 3.34
    ("fifo", ["3.33", "3.33", "3.34"]),
    # average: cents(10.00 x 1 / 3) = 3.33; then cents(6.67 x 1 / 2) = cents(3.335) = 3.34 (half up); then 3.33
    ("average", ["3.33", "3.34", "3.33"]),
])
def test_three_units_bought_for_ten_are_sold_for_exactly_ten(inv, costing, costs):
    main = inv.warehouse("MAIN", priority=1)
    salt = inv.sku("SALT", costing=costing)
    inv.receive(salt, main, 3, "3.3333")   # 3 x 3.3333 = 9.9999 -> 10.00, unit 10.00 / 3 = 3.333333
    assert layers(inv, salt, main) == [(3, D("10.00"), D("3.333333"))]
    got = []
    for _ in range(3):
        order_id, _ = inv.order([(salt, 1)])
        got.append(inv.ship(order_id, [1])[0]["cost"])
    assert got == costs
    assert sum(map(D, got)) == D("10.00")
    assert inv.value(main, salt) == D("0.00")
    assert clean(inv) == []


def test_a_line_returned_unit_by_unit_gets_back_exactly_what_it_cost(inv):
    main = inv.warehouse("MAIN", priority=1)
    salt = inv.sku("SALT", costing="fifo")
    inv.receive(salt, main, 3, "3.3333")   # 10.00
    order_id, _ = inv.order([(salt, 3)])
    assert inv.ship(order_id, [1])[0]["cost"] == "10.00"
    # 1st: cents(10.00 x 1 / 3) = 3.33; 2nd: min(3.33, 10.00 - 3.33) = 3.33;
    # the last takes what is left, 10.00 - 6.66 = 3.34 (prorating it would leave a cent behind)
    back = [inv.return_goods(order_id, [(1, 1)])[0]["cost"] for _ in range(3)]
    assert back == ["3.33", "3.33", "3.34"]
    assert layers(inv, salt, main) == [(1, D("3.33"), D("3.330000")), (1, D("3.33"), D("3.330000")),
                                       (1, D("3.34"), D("3.340000"))]
    assert inv.value(main, salt) == D("10.00")
    # nothing more came out of that line
    with pytest.raises(Conflict, match="more returned than issued"):
        inv.return_goods(order_id, [(1, 1)])
    assert clean(inv) == []


def test_kit_assembly_and_disassembly_carry_the_components_value(inv):
    main = inv.warehouse("MAIN", priority=1)
    cup = inv.sku("CUP", costing="fifo")
    saucer = inv.sku("SAUCER", costing="average")
    inv.receive(cup, main, 4, "1.25")       # 5.00
    inv.receive(cup, main, 4, "1.40")       # 5.60
    inv.receive(saucer, main, 3, "2.00")    # 6.00
    inv.receive(saucer, main, 3, "2.30")    # 6.90 -> 6 units, 12.90, unit 2.150000
    kit = inv.sku("SET", costing="fifo", components=[(cup, 2), (saucer, 1)])
    assert inv.value(main) == D("23.50")

    # 3 sets: 6 cups = 4 x 1.25 (5.00, the whole first layer) + 2 of the second: min(cents(1.40 x 2), 5.60) = 2.80
    # -> 7.80; 3 saucers = cents(12.90 x 3 / 6) = 6.45; the kits are worth 7.80 + 6.45 = 14.25 (4.75 each)
    done = inv.run(movements.assemble, kit, main, 3)
    assert (done["value"], done["components"]) == (D("14.25"), [
        {"sku": cup, "quantity": 6, "value": D("7.80")}, {"sku": saucer, "quantity": 3, "value": D("6.45")}])
    assert layers(inv, kit, main) == [(3, D("14.25"), D("4.750000"))]
    assert inv.value(main) == D("23.50")    # value only changed form: 2.80 + 6.45 + 14.25

    # 1 set taken apart: min(cents(4.75 x 1), 14.25) = 4.75, shared by latest unit cost x quantity per kit:
    # cup 1.40 x 2 = 2.80, saucer 2.15 x 1 = 2.15, total 4.95;
    # cup cents(4.75 x 2.80 / 4.95) = cents(2.68686...) = 2.69, saucer (the last) 4.75 - 2.69 = 2.06
    apart = inv.run(movements.assemble, kit, main, 1, disassemble=True)
    assert (apart["value"], apart["components"]) == (D("4.75"), [
        {"sku": cup, "quantity": 2, "value": D("2.69")}, {"sku": saucer, "quantity": 1, "value": D("2.06")}])
    # cups: the 2 left of the second layer (5.60 - 2.80 = 2.80) and 2 back from the kit at 2.69 (1.345 each)
    assert layers(inv, cup, main) == [(2, D("2.80"), D("1.400000")), (2, D("2.69"), D("1.345000"))]
    # saucers: 3 left worth 12.90 - 6.45 = 6.45, + 1 at 2.06 -> 4 units, 8.51, unit 8.51 / 4 = 2.127500
    assert layers(inv, saucer, main) == [(4, D("8.51"), D("2.127500"))]
    assert layers(inv, kit, main) == [(2, D("9.50"), D("4.750000"))]
    assert (inv.value(main, cup), inv.value(main, saucer), inv.value(main, kit), inv.value(main)) == \
        (D("5.49"), D("8.51"), D("9.50"), D("23.50"))

    assembled, disassembled = inv.events("kit_changed")
    assert without(assembled, "occurred_at") == {
        "document_id": done["document_id"], "action": "assembled", "kit_sku": kit, "warehouse": main,
        "quantity": 3, "value": "14.25",
        "components": [{"sku": cup, "quantity": 6, "value": "7.80"}, {"sku": saucer, "quantity": 3, "value": "6.45"}]}
    assert without(disassembled, "occurred_at") == {
        "document_id": apart["document_id"], "action": "disassembled", "kit_sku": kit, "warehouse": main,
        "quantity": 1, "value": "4.75",
        "components": [{"sku": cup, "quantity": 2, "value": "2.69"}, {"sku": saucer, "quantity": 1, "value": "2.06"}]}
    assert clean(inv) == []


def test_kit_disassembly_never_gives_a_component_a_negative_value(inv):
    main = inv.warehouse("MAIN", priority=1)
    mug, spoon, sticker = inv.sku("MUG"), inv.sku("SPOON"), inv.sku("STICKER")
    inv.receive(mug, main, 1, "2.51")
    inv.receive(mug, main, 5, "2.50")       # the mug's latest unit cost: 2.50
    inv.receive(spoon, main, 6, "2.50")
    inv.receive(sticker, main, 6, "0.00")   # a free give-away in the box
    kit = inv.sku("GIFT", components=[(mug, 1), (spoon, 1), (sticker, 1)])
    # one gift: 2.51 (the oldest mug) + 2.50 + 0.00 = 5.01
    assert inv.run(movements.assemble, kit, main, 1)["value"] == D("5.01")
    # taken apart, weights 2.50 : 2.50 : 0.00. Each of mug and spoon is worth 5.01 x 2.50 / 5.00 = 2.505;
    # rounding both up gives 5.02, and the sticker would get 5.01 - 5.02 = -0.01.
    # The shares must be whole cents, never negative, and add up to 5.01 (for example 2.51, 2.50, 0.00).
    apart = inv.run(movements.assemble, kit, main, 1, disassemble=True)
    values = [c["value"] for c in apart["components"]]
    assert sum(values) == D("5.01") and min(values) >= 0 and sorted(values) == [D("0.00"), D("2.50"), D("2.51")]
    assert inv.value(main) == D("30.01")   # nothing is lost: 2.51 + 5 x 2.50 + 6 x 2.50 + 6 x 0.00
    assert clean(inv) == []


def test_write_off_and_count_differences_are_valued_and_announced(inv):
    main = inv.warehouse("MAIN", priority=1, bins=("P-01",))
    pen = inv.sku("PEN", costing="fifo")
    inv.receive(pen, main, 5, "0.80", bin_code="P-01")   # 4.00
    inv.receive(pen, main, 5, "0.95", bin_code="P-01")   # 4.75

    # scrap 6: the whole first layer 4.00 + 1 of the second: min(cents(0.95 x 1), 4.75) = 0.95 -> -4.95
    scrapped = inv.run(movements.adjust, pen, main, -6, "scrap", note="dropped")
    assert scrapped["value"] == D("-4.95")
    assert layers(inv, pen, main) == [(4, D("3.80"), D("0.950000"))]

    # a count finds 7 where the books say 4: +3 at the latest layer's unit cost, 3 x 0.95 = 2.85
    count = inv.run(counts.open_count, main, ["P-01"])
    inv.run(counts.record, count["count_id"], "P-01", pen, 7)
    posted = inv.run(counts.submit, count["count_id"], "10")
    assert (posted["status"], posted["posted_value"]) == ("posted", D("2.85"))
    assert layers(inv, pen, main) == [(4, D("3.80"), D("0.950000")), (3, D("2.85"), D("0.950000"))]

    # a second count finds 5 of 7: -2 taken oldest first, min(cents(0.95 x 2), 3.80) = 1.90
    again = inv.run(counts.open_count, main, ["P-01"])
    inv.run(counts.record, again["count_id"], "P-01", pen, 5)
    assert inv.run(counts.submit, again["count_id"], "10")["posted_value"] == D("-1.90")
    # left: 2 x 0.95 (1.90) + 3 x 0.95 (2.85) = 4.75; in and out: 8.75 - 4.95 + 2.85 - 1.90 = 4.75
    assert inv.value(main, pen) == D("4.75")

    adjusted = inv.events("stock_adjusted")
    assert [without(a, "occurred_at", "adjustment_id") for a in adjusted] == [
        {"sku": pen, "warehouse": main, "quantity": -6, "reason": "scrap", "note": "dropped", "value": "-4.95"},
        {"sku": pen, "warehouse": main, "quantity": 3, "reason": "count", "note": f"count {count['count_id']}",
         "value": "2.85"},
        {"sku": pen, "warehouse": main, "quantity": -2, "reason": "count", "note": f"count {again['count_id']}",
         "value": "-1.90"}]
    assert [a["adjustment_id"] for a in adjusted][1:] == [f"{count['count_id']}-1", f"{again['count_id']}-1"]
    assert scrapped["adjustment_id"] == adjusted[0]["adjustment_id"]
    assert clean(inv) == []
