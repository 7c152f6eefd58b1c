"""Pick waves on a real database: a wave takes the released orders wholly reserved in its warehouse,
most urgent first, within its limits; its pick list names the bin, lot and serial to take in walk
order; packing by scan refuses a wrong SKU, serial or lot (changing nothing) and the shipment issues
exactly what was packed."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from hubkit.errors import Conflict, InvalidArgument
from services.inventory import reservations, waves
from services.inventory.models import stock_movements, wave_lines, wave_orders
from tests.integration.inventory.test_bad_input import snapshot

pytestmark = pytest.mark.integration


def _snapshot(inv) -> dict:
    """What a refused scan must not change: the stock and picks, and the waves' rows of this test."""
    shot = snapshot(inv)
    with inv.db.reader() as s:
        shot["wave_lines"] = sorted(tuple(r) for r in s.execute(
            select(wave_lines.c.id, wave_lines.c.packed).where(wave_lines.c.order_id.like(f"O{inv.tag}%"))))
        shot["wave_orders"] = sorted(tuple(r) for r in s.execute(
            select(wave_orders.c.order_id, wave_orders.c.status).where(wave_orders.c.order_id.like(f"O{inv.tag}%"))))
    return shot


def _refused(inv, message: str, command) -> None:
    before = _snapshot(inv)
    with pytest.raises(Conflict) as caught:
        command()
    assert message in caught.value.message, caught.value.message
    assert _snapshot(inv) == before, "a refused scan changed something"


@pytest.fixture
def floor(inv):
    """A warehouse whose bins are coded zone-aisle-bay-level, created out of walk order."""
    return inv.warehouse("WAVE", bins=("B-01-01-1", "A-10-02-1", "A-02-05-2", "A-02-05-1", "A-02-11-1"))


def _wave(inv, warehouse, order_ids, **limits):
    return inv.run(waves.create, warehouse, order_ids, 50, 200, **limits)


def test_a_wave_takes_released_orders_of_its_warehouse_and_lists_picks_in_walk_order(inv, floor):
    mug, cap, tee = inv.sku("MUG"), inv.sku("CAP"), inv.sku("TEE")
    inv.receive(mug, floor, 3, "2.00", bin_code="B-01-01-1")
    inv.receive(cap, floor, 3, "1.00", bin_code="A-10-02-1")
    inv.receive(tee, floor, 2, "5.00", bin_code="A-02-05-2")
    inv.receive(tee, floor, 2, "5.00", bin_code="A-02-11-1")
    first, _ = inv.order([(mug, 1), (tee, 3)])
    second, _ = inv.order([(cap, 2)])
    held, _ = inv.order([(cap, 1)])  # the order service holds it: not named as released
    elsewhere = inv.warehouse("OTHER")
    inv.receive(mug, elsewhere, 5, "2.00")
    other_wh, _ = inv.order([(mug, 1)])
    inv.run(reservations.move_order, other_wh, elsewhere)

    wave = _wave(inv, floor, [first, second, other_wh, "O-unknown"])
    assert [o["order_id"] for o in wave["orders"]] == sorted([first, second])  # same urgency: by arrival
    assert {o["status"] for o in wave["orders"]} == {"open"} and held not in str(wave)
    walked = [(p["bin"], p["sku"], p["quantity"], p["order_id"]) for p in wave["pick_list"]]
    assert walked == [("A-02-05-2", tee, 2, first), ("A-02-11-1", tee, 1, first), ("A-10-02-1", cap, 2, second),
                      ("B-01-01-1", mug, 1, first)]
    assert wave["pick_list"][0]["walk"] == {"zone": "A", "aisle": 2, "bay": 5, "level": 2}

    # an order in a working wave goes into no other, and cannot move warehouse
    _refused(inv, "can go into a wave", lambda: _wave(inv, floor, [first, second]))
    _refused(inv, f"is in pick wave {wave['wave_id']}", lambda: inv.run(reservations.move_order, first, elsewhere))


def test_limits_of_orders_and_lines_and_urgency(inv, floor):
    cap = inv.sku("CAP")
    inv.receive(cap, floor, 20, "1.00", bin_code="A-02-05-1")
    a, _ = inv.order([(cap, 1)])
    b, _ = inv.order([(cap, 1), (cap, 1), (cap, 1)])
    c, _ = inv.order([(cap, 1)])
    inv.run(reservations.prioritise_orders, [(c, 5)])
    wave = _wave(inv, floor, [a, b, c], limit_orders=2)
    assert [o["order_id"] for o in wave["orders"]] == [c, a]  # the prioritised first
    # b's three lines do not fit beside a more urgent order in a wave of two lines; alone it has a wave
    d, _ = inv.order([(cap, 1)])
    inv.run(reservations.prioritise_orders, [(d, 3)])
    assert [o["order_id"] for o in _wave(inv, floor, [b, d], limit_lines=2)["orders"]] == [d]
    assert [o["order_id"] for o in _wave(inv, floor, [b], limit_lines=2)["orders"]] == [b]
    with pytest.raises(InvalidArgument) as caught:
        inv.run(waves.create, floor, [a], 50, 200, limit_orders=51)
    assert caught.value.fields[0]["field"] == "max_orders"


def test_packing_by_scan_refuses_a_wrong_sku_or_serial_and_ships_what_was_packed(inv, floor):
    phone = inv.sku("PHONE", serial_tracked=True)
    cup = inv.sku("CUP", barcode_list=[inv.code("6901234")])
    plate = inv.sku("PLATE")
    s1, s2, s3 = inv.code("SN1"), inv.code("SN2"), inv.code("SN3")
    inv.receive(phone, floor, 2, "300.00", bin_code="A-02-11-1", serial_list=[s1, s2])
    inv.receive(phone, floor, 1, "300.00", bin_code="B-01-01-1", serial_list=[s3])
    inv.receive(cup, floor, 4, "1.50", bin_code="A-10-02-1")
    inv.receive(plate, floor, 1, "3.00", bin_code="A-02-05-1")
    first, _ = inv.order([(phone, 1), (cup, 2)])
    second, _ = inv.order([(phone, 1)])
    wave = _wave(inv, floor, [first, second])
    listed = {p["order_id"]: p["serial"] for p in wave["pick_list"] if p["sku"] == phone}
    assert listed == {first: s1, second: s2}  # the serials of the first place, in serial order
    wave_id = wave["wave_id"]

    _refused(inv, f"wrong item: {plate!r} is {plate}", lambda: inv.run(waves.pack, wave_id, first, plate))
    _refused(inv, f"wrong serial: {s2} of {phone} is not on order {first}'s pick list, which awaits {s1}",
             lambda: inv.run(waves.pack, wave_id, first, f"SN:{s2}"))
    _refused(inv, "scan the unit's serial", lambda: inv.run(waves.pack, wave_id, first, phone))
    _refused(inv, "awaits 2 more units", lambda: inv.run(waves.pack, wave_id, first, inv.code("6901234"), 3))
    with pytest.raises(InvalidArgument):
        inv.run(waves.pack, wave_id, "O-not-in-wave", cup)

    assert inv.run(waves.pack, wave_id, first, f"SN:{s1}", actor="packer")["order_status"] == "open"
    done = inv.run(waves.pack, wave_id, first, inv.code("6901234"), 2, actor="packer")
    assert (done["order_status"], done["remaining"], done["bin"]) == ("packed", 0, "A-10-02-1")
    _refused(inv, "is packed", lambda: inv.run(waves.pack, wave_id, first, cup))

    inv.ship(first, [1, 2])
    with inv.db.reader() as s:
        out = s.execute(select(stock_movements.c.sku, stock_movements.c.bin, stock_movements.c.serial)
                        .where(stock_movements.c.document == f"order:{first}")).all()
    assert sorted(tuple(r) for r in out) == sorted([(phone, "A-02-11-1", s1), (cup, "A-10-02-1", "")])
    shown = waves.read(inv.db, wave_id)
    assert [(o["order_id"], o["status"], o["packed_by"]) for o in shown["orders"]] == [
        (first, "shipped", "packer"), (second, "open", "")]
    inv.cancel(second)
    assert waves.read(inv.db, wave_id)["status"] == "done"
    assert [d for d in inv.audit() if inv.tag in d["key"]] == []


def test_a_second_wave_takes_other_units_than_the_first_lists_or_a_picker_holds(inv, floor):
    cap = inv.sku("CAP")
    inv.receive(cap, floor, 2, "1.00", bin_code="A-02-05-1")  # FIFO: the first place
    inv.receive(cap, floor, 2, "1.00", bin_code="A-10-02-1")
    inv.receive(cap, floor, 2, "1.00", bin_code="B-01-01-1")
    a, _ = inv.order([(cap, 2)])
    b, _ = inv.order([(cap, 1)])
    c, _ = inv.order([(cap, 2)])
    assert [p["bin"] for p in _wave(inv, floor, [a])["pick_list"]] == ["A-02-05-1"]
    inv.run(reservations.pick, b, 1, floor, "A-10-02-1", cap, 1)  # picked by hand, not yet shipped
    listed = _wave(inv, floor, [c])["pick_list"]
    assert [(p["bin"], p["quantity"]) for p in listed] == [("A-10-02-1", 1), ("B-01-01-1", 1)]


def test_a_lot_tracked_line_takes_the_first_expiring_lot_and_refuses_another(inv, floor):
    tea = inv.sku("TEA", lot_tracked=True)
    inv.receive(tea, floor, 3, "4.00", bin_code="A-02-05-1", lot=inv.code("L1"), expires_on="2099-12-31")
    inv.receive(tea, floor, 3, "4.00", bin_code="B-01-01-1", lot=inv.code("L2"), expires_on="2099-06-30")
    order_id, _ = inv.order([(tea, 2)])
    wave = _wave(inv, floor, [order_id])
    assert [(p["bin"], p["lot"], p["quantity"]) for p in wave["pick_list"]] == [("B-01-01-1", inv.code("L2"), 2)]
    _refused(inv, f"wrong lot: {inv.code('L1')} of {tea} is not on order {order_id}'s pick list",
             lambda: inv.run(waves.pack, wave["wave_id"], order_id, f"LOT:{inv.code('L1')}", 2))
    _refused(inv, "scan the lot label", lambda: inv.run(waves.pack, wave["wave_id"], order_id, tea, 2))
    assert inv.run(waves.pack, wave["wave_id"], order_id, f"LOT:{inv.code('L2')}", 2)["order_status"] == "packed"


def test_concurrent_waves_never_share_an_order(inv, floor):
    import threading

    cap = inv.sku("CAP")
    inv.receive(cap, floor, 10, "1.00", bin_code="A-02-05-1")
    ids = [inv.order([(cap, 1)])[0] for _ in range(4)]
    barrier, made, refused = threading.Barrier(2), [], []

    def make():
        barrier.wait()
        try:
            made.append(_wave(inv, floor, ids))
        except Conflict as exc:
            refused.append(exc)
    threads = [threading.Thread(target=make) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert (len(made), len(refused)) == (1, 1)
    with inv.db.reader() as s:
        rows = s.execute(select(wave_orders.c.order_id).where(wave_orders.c.order_id.in_(ids))).scalars().all()
    assert sorted(rows) == sorted(ids)
