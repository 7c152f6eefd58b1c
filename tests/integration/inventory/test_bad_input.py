"""Bad input gets a clear error (InvalidArgument, NotFound or Conflict with a message that names
the problem) and changes nothing: every balance and row count this test owns is the same before
and after the refused command."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from hubkit.errors import Conflict, HubError, InvalidArgument, NotFound
from services.inventory import catalog, counts, holds, movements, reservations, transfers
from services.inventory.models import (
    allocations,
    bins,
    cost_layers,
    document_lines,
    documents,
    kit_components,
    lots,
    metadata,
    picks,
    place_stock,
    serials,
    skus,
    stock_levels,
    stock_movements,
)
from services.inventory.models import reservations as reservation_rows

pytestmark = pytest.mark.integration
outbox = metadata.tables["outbox"]


def snapshot(inv) -> dict:
    """Everything this test's codes own (other tests share the PostgreSQL database)."""
    mine, orders = f"%-{inv.tag}", f"O{inv.tag}%"

    def rows(query):
        return sorted(tuple(r) for r in s.execute(query))

    with inv.db.reader() as s:
        return {
            "movements": s.execute(select(func.count()).select_from(stock_movements)
                                   .where(stock_movements.c.sku.like(mine))).scalar(),
            "places": rows(select(place_stock.c.sku, place_stock.c.warehouse, place_stock.c.bin, place_stock.c.lot,
                                  place_stock.c.quantity).where(place_stock.c.sku.like(mine))),
            "layers": rows(select(cost_layers.c.id, cost_layers.c.remaining, cost_layers.c.remaining_value,
                                  cost_layers.c.in_transit).where(cost_layers.c.sku.like(mine))),
            "levels": rows(select(stock_levels.c.sku, stock_levels.c.warehouse, stock_levels.c.on_hand,
                                  stock_levels.c.reserved, stock_levels.c.held, stock_levels.c.in_transit)
                           .where(stock_levels.c.sku.like(mine))),
            "serials": rows(select(serials.c.sku, serials.c.serial, serials.c.status, serials.c.warehouse)
                            .where(serials.c.sku.like(mine))),
            "lots": rows(select(lots.c.sku, lots.c.lot, lots.c.status).where(lots.c.sku.like(mine))),
            "skus": rows(select(skus.c.code).where(skus.c.code.like(mine))),
            "kits": rows(select(kit_components.c.kit_sku, kit_components.c.component_sku)
                         .where(kit_components.c.kit_sku.like(mine))),
            "bins": rows(select(bins.c.warehouse, bins.c.code, bins.c.frozen_by).where(bins.c.warehouse.like(mine))),
            "documents": rows(select(documents.c.id, documents.c.status).where(documents.c.warehouse.like(mine))),
            "document_lines": rows(select(document_lines.c.document_id, document_lines.c.line_no,
                                          document_lines.c.quantity, document_lines.c.counted)
                                   .join(documents, documents.c.id == document_lines.c.document_id)
                                   .where(documents.c.warehouse.like(mine))),
            "reservations": rows(select(reservation_rows.c.order_id, reservation_rows.c.line_no,
                                        reservation_rows.c.status).where(reservation_rows.c.order_id.like(orders))),
            "allocations": rows(select(allocations.c.order_id, allocations.c.warehouse, allocations.c.quantity)
                                .where(allocations.c.order_id.like(orders))),
            "picks": rows(select(picks.c.order_id, picks.c.serial, picks.c.quantity)
                          .where(picks.c.order_id.like(orders))),
            "outbox": s.execute(select(func.count()).select_from(outbox)).scalar(),
        }


def refuses(inv, error: type[HubError], message: str, command, field: str | None = None) -> HubError:
    """`command()` raises `error` whose message contains `message` (and names `field`), and
    nothing this test owns has changed."""
    before = snapshot(inv)
    with pytest.raises(error) as caught:
        command()
    assert type(caught.value) is error
    assert message in caught.value.message, caught.value.message
    if field:
        assert field in [f["field"] for f in caught.value.fields], caught.value.fields
    assert snapshot(inv) == before, "a refused command changed something"
    return caught.value


def mine(inv) -> list[dict]:
    return [d for d in inv.audit() if inv.tag in d["key"]]


@pytest.fixture
def main(inv):
    return inv.warehouse("MAIN", priority=1, bins=("A-01", "B-01"))


def test_unknown_barcode_is_named_wherever_it_is_scanned(inv, main):
    cup = inv.sku("CUP", barcode_list=[inv.code("6901234")])
    inv.receive(cup, main, 5, "1.00", bin_code="A-01")
    unknown = inv.code("0000000")
    refuses(inv, NotFound, f"code {unknown!r} is not a barcode, SKU, bin of {main}, serial or lot we know",
            lambda: inv.run(lambda uow: catalog.resolve(uow.session, unknown, main)), "code")
    # the known barcode resolves to its SKU
    assert inv.run(lambda uow: catalog.resolve(uow.session, inv.code("6901234"), main))["sku"] == cup

    count = inv.run(counts.open_count, main, ["A-01"])
    refuses(inv, NotFound, f"code {unknown!r} is not a barcode",
            lambda: inv.run(counts.record, count["count_id"], "A-01", unknown, 3), "code")
    refuses(inv, NotFound, f"code 'LOT:{unknown}' is not a barcode",
            lambda: inv.run(counts.record, count["count_id"], "A-01", f"LOT:{unknown}", 3), "code")
    inv.run(counts.cancel, count["count_id"])

    order_id, _ = inv.order([(cup, 2)])
    refuses(inv, NotFound, f"code {unknown!r} is not a barcode",
            lambda: inv.run(reservations.pick, order_id, 1, main, "A-01", unknown, 2), "code")
    # a known code of another item is refused too, naming both
    other = inv.sku("PLATE")
    refuses(inv, Conflict, f"wrong item: {other!r} is {other}, the line wants {cup}",
            lambda: inv.run(reservations.pick, order_id, 1, main, "A-01", other, 2), "code")
    assert inv.run(reservations.pick, order_id, 1, main, "A-01", inv.code("6901234"), 2)["picked"] == 2
    assert mine(inv) == []


@pytest.fixture
def phones(inv, main):
    """A serial-tracked SKU with three serials in stock, one of them sold (picked by its serial)."""
    phone = inv.sku("PHONE", serial_tracked=True)
    s1, s2, s3 = inv.code("SN1"), inv.code("SN2"), inv.code("SN3")
    inv.receive(phone, main, 3, "100.00", serial_list=[s1, s2, s3])
    order_id, _ = inv.order([(phone, 1)])
    assert inv.run(reservations.pick, order_id, 1, main, "", f"SN:{s1}", 1)["serial"] == s1
    assert inv.ship(order_id, [1])[0]["cost"] == "100.00"
    return phone, order_id, (s1, s2, s3)


def test_a_serial_already_issued_cannot_leave_again(inv, main, phones):
    phone, sold, (s1, s2, _) = phones
    east = inv.warehouse("EAST", priority=2)
    issued = f"serial {s1} of {phone} is issued in {main}, not in stock in {main}"
    refuses(inv, Conflict, issued, lambda: inv.run(movements.adjust, phone, main, -1, "scrap", serial_list=[s1]),
            "serials")
    refuses(inv, Conflict, issued, lambda: inv.run(transfers.ship, main, east,
                                                   [{"sku": phone, "quantity": 1, "serials": [s1]}]), "serials")
    refuses(inv, Conflict, f"order {sold} line 1 is issued, not reserved", lambda: inv.ship(sold, [1]))
    again, _ = inv.order([(phone, 1)])
    refuses(inv, Conflict, issued, lambda: inv.run(reservations.pick, again, 1, main, "", f"SN:{s1}", 1), "serials")
    # a serial-tracked unit only leaves by its serial: a shipment nobody scanned is refused
    refuses(inv, Conflict, f"{phone} is serial-tracked: name exactly one distinct serial per unit (1 units, "
                           "0 serials given)", lambda: inv.ship(again, [1]), "serials")
    inv.run(reservations.pick, again, 1, main, "", f"SN:{s2}", 1)
    assert inv.ship(again, [1])[0]["cost"] == "100.00"
    assert mine(inv) == []


def test_a_serial_in_stock_cannot_be_received_again(inv, main, phones):
    phone, _, (s1, s2, s3) = phones
    refuses(inv, Conflict, f"serial(s) [{s2!r}] of {phone} are already in stock",
            lambda: inv.receive(phone, main, 1, "100.00", serial_list=[s2]), "serials")
    refuses(inv, Conflict, f"serial(s) [{s2!r}, {s3!r}] of {phone} are already in stock",
            lambda: inv.receive(phone, main, 3, "100.00", serial_list=[inv.code("SN9"), s3, s2]), "serials")
    # still the two units that were there, each serial once, and a serial that has left may come back
    assert inv.level(phone, main)["on_hand"] == 2
    inv.receive(phone, main, 1, "100.00", serial_list=[s1])
    assert inv.level(phone, main)["on_hand"] == 3
    with inv.db.reader() as s:
        assert catalog.resolve(s, f"SN:{s1}", main)["serial"] == s1
    assert mine(inv) == []


def test_the_number_of_serials_must_match_the_quantity(inv, main, phones):
    phone, _, (s1, s2, s3) = phones
    new = inv.code("SN7")
    refuses(inv, InvalidArgument, "the receipt is invalid",
            lambda: inv.receive(phone, main, 2, "100.00", serial_list=[new]), "serials")
    error = refuses(inv, InvalidArgument, "the receipt is invalid",
                    lambda: inv.receive(phone, main, 2, "100.00", serial_list=[new, new]), "serials")
    assert error.fields == [{"field": "serials", "message": "exactly one distinct serial per unit: 2 needed, "
                                                            "2 given"}]
    refuses(inv, InvalidArgument, "the receipt is invalid",
            lambda: inv.receive(phone, main, 1, "100.00"), "serials")
    cup = inv.sku("CUP")
    error = refuses(inv, InvalidArgument, "the receipt is invalid",
                    lambda: inv.receive(cup, main, 1, "1.00", serial_list=[new]), "serials")
    assert error.fields == [{"field": "serials", "message": "this SKU is not serial-tracked"}]
    refuses(inv, Conflict, f"{phone} is serial-tracked: name exactly one distinct serial per unit (2 units, "
                           "1 serials given)",
            lambda: inv.run(movements.adjust, phone, main, -2, "scrap", serial_list=[s2]), "serials")


def test_a_transfer_goes_to_another_warehouse(inv, main):
    cup = inv.sku("CUP")
    inv.receive(cup, main, 5, "1.00")
    error = refuses(inv, InvalidArgument, "the transfer is invalid",
                    lambda: inv.run(transfers.ship, main, main, [{"sku": cup, "quantity": 1}]), "to_warehouse")
    assert error.fields == [{"field": "to_warehouse", "message": "a transfer goes to another warehouse"}]
    east = inv.warehouse("EAST", priority=2)
    refuses(inv, NotFound, f"unknown SKU {inv.code('NOPE')!r}",
            lambda: inv.run(transfers.ship, main, east, [{"sku": cup, "quantity": 1},
                                                         {"sku": inv.code("NOPE"), "quantity": 1}]), "lines[1].sku")
    refuses(inv, InvalidArgument, "the transfer is invalid",
            lambda: inv.run(transfers.ship, main, east, [{"sku": cup, "quantity": 0}]), "lines[0].quantity")
    done = inv.run(transfers.ship, main, east, [{"sku": cup, "quantity": 2}])
    inv.run(transfers.receive, done["transfer_id"])
    refuses(inv, Conflict, f"transfer {done['transfer_id']} is already received",
            lambda: inv.run(transfers.receive, done["transfer_id"]))
    refuses(inv, NotFound, "transfer nope not found", lambda: inv.run(transfers.receive, "nope"), "transfer_id")
    assert mine(inv) == []


def test_a_count_is_never_negative(inv, main):
    cup = inv.sku("CUP")
    inv.receive(cup, main, 5, "1.00", bin_code="A-01")
    count = inv.run(counts.open_count, main, ["A-01"])
    error = refuses(inv, InvalidArgument, "the count entry is invalid",
                    lambda: inv.run(counts.record, count["count_id"], "A-01", cup, -1), "quantity")
    assert error.fields == [{"field": "quantity", "message": "a count is a whole number of units, 0 or more"}]
    assert inv.run(counts.record, count["count_id"], "A-01", cup, 0)["counted"] == 0


def test_an_expired_lot_is_never_sold_but_can_be_written_off(inv, main):
    milk = inv.sku("MILK", lot_tracked=True)
    old, new = inv.code("OLD"), inv.code("NEW")   # lot labels are looked up across SKUs: keep them unique
    inv.receive(milk, main, 5, "2.00", lot=old, expires_on="2000-01-01")    # received already expired
    inv.receive(milk, main, 5, "3.00", lot=new, expires_on="2099-01-01")

    # a sale takes the good lot, even though FEFO would start with the one that expires first
    order_id, _ = inv.order([(milk, 3)])
    inv.ship(order_id, [1])
    with inv.db.reader() as s:
        out = s.execute(select(stock_movements.c.lot, stock_movements.c.quantity)
                        .where(stock_movements.c.document == f"order:{order_id}")).all()
    assert [tuple(r) for r in out] == [(new, -3)]

    # a lot received past its expiry is held from the start: an order for more than the good stock
    # is backordered, and the timer has nothing left to do for it
    inv.run(holds.expire_lots, date.today())   # (the timer sweeps every lot in the database)
    with inv.db.reader() as s:
        assert s.execute(select(lots.c.status).where(lots.c.sku == milk, lots.c.lot == old)).scalar() == "expired"
    assert (inv.level(milk, main)["held"], inv.level(milk, main)["available"]) == (5, 2)
    order_id, answer = inv.order([(milk, 4)])
    assert (answer[0]["status"], answer[0]["reserved_quantity"]) == ("backordered", 2)
    inv.cancel(order_id)
    refuses(inv, Conflict, f"lot {old} of {milk} is expired: only a quarantined lot can be released",
            lambda: inv.run(holds.release, milk, old), "lot")

    # a write-off (reason expired) naming the lot takes exactly that lot
    value = inv.value(main, milk)
    done = inv.run(movements.adjust, milk, main, -5, "expired", lot=old, note="past its date")
    assert done["level"]["on_hand"] == 2 and done["level"]["held"] == 0
    # its value is what left the layers (layers are per SKU and warehouse, not per lot: FIFO took the
    # oldest cost layer, 2.00, for the sale of NEW units above, so this write-off is 2 x 2.00 + 3 x 3.00)
    assert -done["value"] == value - inv.value(main, milk) == Decimal("13.00")
    [event] = [e for e in inv.events("stock_adjusted") if e["reason"] == "expired"]
    assert (event["quantity"], event["value"], event["note"]) == (-5, "-13.00", "past its date")
    with inv.db.reader() as s:
        assert s.execute(select(place_stock.c.quantity).where(place_stock.c.sku == milk,
                                                               place_stock.c.lot == old)).scalar() == 0
    assert mine(inv) == []


def test_a_bin_frozen_by_one_count_cannot_be_counted_by_another(inv, main):
    cup = inv.sku("CUP")
    inv.receive(cup, main, 5, "1.00", bin_code="A-01")
    first = inv.run(counts.open_count, main, ["A-01"])
    error = refuses(inv, Conflict, f"bin(s) already frozen by another count: A-01 by {first['count_id']}",
                    lambda: inv.run(counts.open_count, main, ["B-01", "A-01"]), "bins")
    assert error.fields == [{"field": "bins", "message": f"A-01 frozen by count {first['count_id']}"}]
    refuses(inv, NotFound, "unknown bin(s) ['Z-99']", lambda: inv.run(counts.open_count, main, ["Z-99"]), "bins")
    # B-01 was not frozen by the refused count: another count can take it
    second = inv.run(counts.open_count, main, ["B-01"])
    refuses(inv, Conflict, f"bin A-01 is frozen by another count {first['count_id']}",
            lambda: inv.run(counts.record, second["count_id"], "A-01", cup, 5), "bin")


def test_lot_tracking_is_checked_on_receipt(inv, main):
    milk, cup = inv.sku("MILK", lot_tracked=True), inv.sku("CUP")
    lot = inv.code("L1")
    error = refuses(inv, InvalidArgument, "the receipt is invalid", lambda: inv.receive(milk, main, 5, "1.00"), "lot")
    assert error.fields == [{"field": "lot", "message": "this SKU is lot-tracked: name the lot"}]
    error = refuses(inv, InvalidArgument, "the receipt is invalid",
                    lambda: inv.receive(cup, main, 5, "1.00", lot=lot), "lot")
    assert error.fields == [{"field": "lot", "message": "this SKU is not lot-tracked"}]
    refuses(inv, InvalidArgument, "the receipt is invalid",
            lambda: inv.receive(cup, main, 5, "1.00", expires_on="2099-01-01"), "expires_on")
    inv.receive(milk, main, 5, "1.00", lot=lot, expires_on="2099-01-01")
    refuses(inv, Conflict, f"lot {lot} of {milk} expires on 2099-01-01, not 2099-02-01",
            lambda: inv.receive(milk, main, 5, "1.00", lot=lot, expires_on="2099-02-01"), "expires_on")
    # a count gain of a lot-tracked SKU names its lot too
    refuses(inv, InvalidArgument, "the receipt is invalid",
            lambda: inv.run(movements.adjust, milk, main, 2, "count"), "lot")


def test_unknown_bins_and_frozen_bins_are_refused(inv, main):
    cup = inv.sku("CUP")
    error = refuses(inv, NotFound, f"bin 'Z-99' does not exist in {main}",
                    lambda: inv.receive(cup, main, 5, "1.00", bin_code="Z-99"), "bin")
    inv.receive(cup, main, 5, "1.00", bin_code="B-01")
    refuses(inv, NotFound, f"bin 'Z-99' does not exist in {main}",
            lambda: inv.run(movements.move_bin, cup, main, "B-01", "Z-99", 1), "bin")
    count = inv.run(counts.open_count, main, ["A-01"])
    error = refuses(inv, Conflict, f"bin A-01 in {main} is frozen by count {count['count_id']}",
                    lambda: inv.run(movements.move_bin, cup, main, "B-01", "A-01", 2), "bin")
    assert error.fields == [{"field": "bin", "message": f"frozen by count {count['count_id']}"}]
    refuses(inv, InvalidArgument, "the bin move is invalid",
            lambda: inv.run(movements.move_bin, cup, main, "B-01", "B-01", 2), "to_bin")
    # a receipt by hand into the frozen bin is refused too; the move works once the count is done
    refuses(inv, Conflict, f"bin A-01 in {main} is frozen by count {count['count_id']}",
            lambda: inv.receive(cup, main, 1, "1.00", bin_code="A-01"), "bin")
    inv.run(counts.cancel, count["count_id"])
    inv.run(movements.move_bin, cup, main, "B-01", "A-01", 2)
    assert mine(inv) == []


def test_stock_promised_to_orders_cannot_be_quarantined(inv, main):
    milk = inv.sku("MILK", lot_tracked=True)
    l1, l2, l9 = inv.code("L1"), inv.code("L2"), inv.code("L9")
    inv.receive(milk, main, 5, "1.00", lot=l1, expires_on="2099-01-01")
    inv.receive(milk, main, 5, "1.00", lot=l2, expires_on="2099-02-01")
    order_id, _ = inv.order([(milk, 6)])
    error = refuses(inv, Conflict, f"{main} cannot hold 5 units of lot {l1}: they are promised to orders",
                    lambda: inv.run(holds.hold, milk, l1), "lot")
    assert error.fields == [{"field": "lot", "message": f"reserved stock in {main}"}]
    refuses(inv, NotFound, f"lot {l9} of {milk} is unknown", lambda: inv.run(holds.hold, milk, l9), "lot")
    inv.cancel(order_id)
    assert inv.run(holds.hold, milk, l1)["quantities"] == {main: 5}
    assert inv.level(milk, main)["available"] == 5
    assert mine(inv) == []


def test_the_person_who_submits_a_count_cannot_approve_it(inv, main):
    cup = inv.sku("CUP")
    inv.receive(cup, main, 100, "1.00", bin_code="A-01")
    count = inv.run(counts.open_count, main, ["A-01"])
    inv.run(counts.record, count["count_id"], "A-01", cup, 90)
    submitted = inv.run(counts.submit, count["count_id"], "5.00")   # 10 x 1.00 is above the approval limit
    assert (submitted["status"], submitted["difference_value"]) == ("awaiting_approval", Decimal("10.00"))
    error = refuses(inv, Conflict, "the person who submitted a count cannot approve it",
                    lambda: inv.run(counts.approve, count["count_id"]), "actor")
    assert error.fields == [{"field": "actor", "message": "four eyes"}]
    assert inv.run(counts.approve, count["count_id"], actor="bob")["posted_value"] == Decimal("-10.00")
    refuses(inv, Conflict, f"count {count['count_id']} is posted, not awaiting approval",
            lambda: inv.run(counts.approve, count["count_id"], actor="carol"))
    assert inv.level(cup, main)["on_hand"] == 90
    assert mine(inv) == []


def test_a_kit_names_known_components(inv, main):
    cup = inv.sku("CUP")
    nope = inv.code("NOPE")
    error = refuses(inv, NotFound, f"unknown component SKU(s) [{nope!r}]",
                    lambda: inv.sku("SET", components=[(cup, 2), (nope, 1)]), "sku.components")
    assert error.fields == [{"field": "sku.components", "message": f"unknown {nope}"}]
    with pytest.raises(NotFound):   # the kit itself was not created either
        catalog.get_stock(inv.db, inv.code("SET"))
    refuses(inv, InvalidArgument, "the SKU is invalid",
            lambda: inv.run(catalog.upsert_sku, inv.code("SELF"), "Self", components=[(inv.code("SELF"), 1)]),
            "sku.components[0].sku")
    inv.receive(cup, main, 4, "1.00")
    refuses(inv, Conflict, f"{cup} is not a kit: it has no components",
            lambda: inv.run(movements.assemble, cup, main, 1), "kit_sku")
    kit = inv.sku("SET", components=[(cup, 2)])
    refuses(inv, Conflict, f"{main} holds 4 usable units of {cup}, 6 needed",
            lambda: inv.run(movements.assemble, kit, main, 3), "quantity")
    assert inv.run(movements.assemble, kit, main, 2)["value"] == Decimal("4.00")


def test_receipts_and_adjustments_check_their_numbers(inv, main):
    cup = inv.sku("CUP")
    for quantity, cost, field in [(0, "1.00", "quantity"), (-1, "1.00", "quantity"), (5, "-1.00", "unit_cost"),
                                  (5, "1.0000001", "unit_cost"), (5, "abc", "unit_cost")]:
        refuses(inv, InvalidArgument, "the receipt is invalid", lambda q=quantity, c=cost: inv.receive(cup, main, q, c), field)
    refuses(inv, NotFound, f"unknown warehouse {inv.code('NOWHERE')!r}",
            lambda: inv.receive(cup, inv.code("NOWHERE"), 1, "1.00"), "warehouse")
    refuses(inv, NotFound, f"unknown SKU {inv.code('NOPE')!r}",
            lambda: inv.receive(inv.code("NOPE"), main, 1, "1.00"), "sku")
    inv.receive(cup, main, 5, "1.00")
    refuses(inv, InvalidArgument, "the adjustment is invalid",
            lambda: inv.run(movements.adjust, cup, main, 2, "scrap"), "quantity")
    refuses(inv, InvalidArgument, "the adjustment is invalid",
            lambda: inv.run(movements.adjust, cup, main, -2, "stolen"), "reason")
    refuses(inv, Conflict, f"{main} holds 5 usable units of {cup}, 6 needed",
            lambda: inv.run(movements.adjust, cup, main, -6, "scrap"), "quantity")
    # stock promised to an order is not written off
    order_id, _ = inv.order([(cup, 4)])
    refuses(inv, Conflict, f"{cup} in {main}: 2 units are not free to take (reserved for orders or held)",
            lambda: inv.run(movements.adjust, cup, main, -2, "scrap"), "quantity")
    assert inv.ship(order_id, [1])[0]["cost"] == "4.00"
    assert mine(inv) == []


def test_a_partly_picked_line_ships_the_rest_from_other_places(inv, main):
    cup = inv.sku("CUP")
    inv.receive(cup, main, 2, "1.00", bin_code="A-01")    # first in
    inv.receive(cup, main, 5, "2.00", bin_code="B-01")
    order_id, _ = inv.order([(cup, 3)])
    inv.run(reservations.pick, order_id, 1, main, "A-01", cup, 2)   # the picker empties A-01
    issued = inv.ship(order_id, [1])                                # the third unit can only come from B-01
    assert issued[0]["cost"] == "4.00"                              # FIFO: 2 x 1.00 + 1 x 2.00
    with inv.db.reader() as s:
        left = dict(s.execute(select(place_stock.c.bin, place_stock.c.quantity)
                              .where(place_stock.c.sku == cup)).all())
    assert left == {"A-01": 0, "B-01": 4}
    assert mine(inv) == []
