"""Reservations split, partial, filled and lapsing; picking by scan; holds and expiry; and the
signals inventory sends (low_stock, lot_expiring, lot_hold_changed) and cycle-count scheduling."""
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from hubkit import inbox
from hubkit.envelope import Envelope
from hubkit.errors import Conflict
from services.inventory import catalog, counts, holds, reservations, signals
from services.inventory.models import metadata

pytestmark = pytest.mark.integration


def test_a_line_is_split_over_warehouses_then_partly_reserved_and_filled_when_stock_arrives(inv):
    near, far = inv.warehouse("NEAR", priority=1), inv.warehouse("FAR", priority=2)
    sku = inv.sku("BOWL")
    inv.receive(sku, near, 4, "1.00")
    inv.receive(sku, far, 3, "1.00")
    split_id, [split] = inv.order([(sku, 6)])
    short_id, [short] = inv.order([(sku, 5)])
    assert (split["status"], split["allocations"]) == ("reserved", [{"warehouse": far, "quantity": 2},
                                                                    {"warehouse": near, "quantity": 4}])
    assert (short["status"], short["reserved_quantity"], short["allocations"]) == \
        ("backordered", 1, [{"warehouse": far, "quantity": 1}])
    inv.receive(sku, near, 10, "1.00")  # fills the backorder: 4 more from NEAR
    answers = [e for e in inv.events("stock_reserved") if e["order_id"] == short_id]
    assert [l["reserved_quantity"] for l in answers[-1]["lines"]] == [5]
    assert inv.level(sku, near)["reserved"] == 8 and inv.level(sku, near)["available"] == 6
    issued = inv.ship(split_id, [1])
    assert sorted((l["warehouse"], l["quantity"]) for l in issued) == [(far, 2), (near, 4)]
    assert inv.audit() == []


def test_an_abandoned_order_lapses_and_its_stock_returns(inv):
    wh, sku = inv.warehouse("TTL"), inv.sku("LAMP")
    inv.receive(sku, wh, 5, "9.00")
    order_id, _ = inv.order([(sku, 3)], ttl_minutes=30)
    assert inv.run(reservations.expire_reservations, datetime.now(timezone.utc)) == []
    later = datetime.now(timezone.utc) + timedelta(minutes=31)
    assert order_id in inv.run(reservations.expire_reservations, later)
    assert inv.level(sku, wh)["available"] == 5
    [expired] = [e for e in inv.events("reservation_expired") if e["order_id"] == order_id]
    assert expired["lines"] == [{"line_no": 1, "sku": sku, "quantity": 3}]
    with pytest.raises(Conflict, match="expired, not reserved"):
        inv.ship(order_id, [1])
    inv.cancel(order_id)  # the order service cancels it: nothing left to release
    assert inv.level(sku, wh)["available"] == 5 and inv.audit() == []


def test_a_picked_serial_leaves_and_an_unpicked_serial_sku_cannot_ship(inv):
    wh, sku = inv.warehouse("SER", bins=("S-1",)), inv.sku("PHONE", serial_tracked=True)
    inv.receive(sku, wh, 2, "500.00", bin_code="S-1", serial_list=["SN1", "SN2"])
    picked_id, _ = inv.order([(sku, 1)])
    unpicked_id, _ = inv.order([(sku, 1)])
    inv.run(reservations.pick, picked_id, 1, wh, "S-1", "SN:SN2", 1)
    with pytest.raises(Conflict, match="already picked"):
        inv.run(reservations.pick, unpicked_id, 1, wh, "S-1", "SN2", 1)
    [line] = inv.ship(picked_id, [1])
    assert line["cost"] == "500.00"
    with pytest.raises(Conflict, match="serial-tracked"):
        inv.ship(unpicked_id, [1])
    with inv.db.reader() as s:
        assert catalog.resolve(s, "SN2", wh)["serial"] == "SN2"
    assert inv.audit() == []


def test_held_and_expired_lots_are_not_available_and_signal_purchasing(inv):
    wh, sku = inv.warehouse("LOTS"), inv.sku("YOGURT", lot_tracked=True)
    today = date.today()
    inv.receive(sku, wh, 4, "2.00", lot="OLD", expires_on=(today - timedelta(days=1)).isoformat())
    inv.receive(sku, wh, 6, "2.00", lot="SOON", expires_on=(today + timedelta(days=10)).isoformat())
    inv.receive(sku, wh, 5, "2.00", lot="LATER", expires_on=(today + timedelta(days=90)).isoformat())
    inv.run(holds.expire_lots, today)  # the worker's timers (they look at every lot in the database)
    inv.run(signals.lots_expiring, today, 30)
    inv.run(signals.lots_expiring, today, 30)  # once per lot and expiry date
    inv.run(holds.hold, sku, "LATER", "taste complaint")
    level = inv.level(sku, wh)
    assert (level["on_hand"], level["held"], level["available"]) == (15, 9, 6)
    order_id, [line] = inv.order([(sku, 7)])
    assert (line["status"], line["reserved_quantity"]) == ("backordered", 6)
    inv.run(holds.release, sku, "LATER")  # 5 free again: the backorder takes 1 of them
    assert inv.level(sku, wh)["reserved"] == 7
    with pytest.raises(Conflict, match="promised to orders"):
        inv.run(holds.hold, sku, "SOON")  # 6 units, but only 4 are not promised
    kinds = [(e["lot"], e["reason"]) for e in inv.events("lot_hold_changed") if e["sku"] == sku]
    assert kinds == [("OLD", "expired"), ("LATER", "quarantine"), ("LATER", "released")]
    [expiring] = [e for e in inv.events("lot_expiring") if e["sku"] == sku]
    assert (expiring["lot"], expiring["days_left"]) == ("SOON", 10)
    assert inv.audit() == []


def test_a_hold_over_two_warehouses_signals_each_as_its_own_aggregate(inv):
    """Each warehouse's signal is applied by a consumer whatever order they arrive in: the second one
    first must not make the first stale (procurement lost an alert that way)."""
    main, east, sku = inv.warehouse("HOLDA"), inv.warehouse("HOLDB"), inv.sku("HONEY", lot_tracked=True)
    inv.receive(sku, main, 4, "3.00", lot="H1")
    inv.receive(sku, east, 2, "3.00", lot="H1")
    inv.run(holds.hold, sku, "H1", "recall")
    table = metadata.tables["outbox"]
    with inv.db.reader() as s:
        bodies = s.execute(select(table.c.body).where(table.c.event_type == "lot_hold_changed")
                           .order_by(table.c.id)).scalars().all()
    signals_sent = [e for e in map(Envelope.from_json, bodies) if e.payload["sku"] == sku]
    assert sorted(e.payload["warehouse"] for e in signals_sent) == sorted([main, east])
    with inv.db.session() as s:
        applied = [inbox.accept_many(s, metadata.tables, "a-consumer", [e]) for e in reversed(signals_sent)]
    assert [len(a) for a in applied] == [1, 1]


def test_low_stock_fires_once_when_available_reaches_the_minimum_and_rearms(inv):
    wh, sku = inv.warehouse("MIN"), inv.sku("SOAP")
    inv.run(catalog.set_limits, sku, wh, 3, 20)  # at zero stock: signalled at once, no movement needed
    assert [(e["available"], e["shortfall"]) for e in inv.events("low_stock")] == [(0, 20)]
    inv.receive(sku, wh, 5, "1.00")  # above the minimum: re-armed
    inv.order([(sku, 2)])
    inv.order([(sku, 1)])
    assert [(e["available"], e["shortfall"]) for e in inv.events("low_stock")] == [(0, 20), (3, 17)]
    inv.receive(sku, wh, 10, "1.00")  # above the minimum again: re-armed
    inv.order([(sku, 11)])
    assert [(e["available"], e["shortfall"]) for e in inv.events("low_stock")] == [(0, 20), (3, 17), (1, 19)]


def test_setting_or_changing_the_limits_evaluates_the_stock_at_once(inv):
    wh, sku = inv.warehouse("MIN2"), inv.sku("LAMP")
    inv.receive(sku, wh, 8, "1.00")
    inv.run(catalog.set_limits, sku, wh, 5, 30)  # 8 > 5: nothing
    assert inv.events("low_stock") == []
    inv.run(catalog.set_limits, sku, wh, 10, 30)  # raised above what is available: at once
    assert [(e["available"], e["minimum"], e["shortfall"]) for e in inv.events("low_stock")] == [(8, 10, 22)]


def test_the_worker_opens_one_cycle_count_a_month_of_the_fastest_movers(inv):
    wh = inv.warehouse("CYC", bins=("B-1",))
    fast, slow = inv.sku("FAST"), inv.sku("SLOW")
    for sku in (fast, slow):
        inv.receive(sku, wh, 20, "1.00", bin_code="B-1")
    order_id, _ = inv.order([(fast, 5), (slow, 1)])
    inv.ship(order_id, [1, 2])
    today = date.today()
    opened = inv.run(counts.schedule_cycle_counts, today, 1)
    mine = [c for c in opened if counts.get(inv.db, c)["warehouse"] == wh]
    assert len(mine) == 1 and counts.get(inv.db, mine[0])["skus"] == [fast]
    again = inv.run(counts.schedule_cycle_counts, today, 1)
    assert not [c for c in again if counts.get(inv.db, c)["warehouse"] == wh]
    for count_id in opened + again:  # other tests' warehouses may have been scheduled too
        inv.run(counts.cancel, count_id)
