"""An RMA's inspected goods (order_returned with damaged units, handlers.restock_rma) on PostgreSQL and
SQLite: every unit restocked at the cost it left with, the damaged ones into the RMA's quarantined lot
(on hand, held, not available) or written off from it (stock_adjusted, scrap, at their value)."""
from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from sqlalchemy import select

from services.inventory import handlers, holds, reservations
from services.inventory.models import serials

pytestmark = pytest.mark.integration
D = Decimal


def _inspected(inv, order_id: str, lines: list[dict]) -> str:
    return_id = uuid.uuid4().hex
    inv.run(handlers.restock_rma, inv.event("order_returned", {
        "order_id": order_id, "return_id": return_id, "channel": "web", "refund_deferred": True, "lines": lines}))
    return return_id


def test_damaged_units_are_quarantined_or_scrapped_at_the_cost_they_left_with(inv):
    main, tea = inv.warehouse("MAIN"), inv.sku("TEA")
    inv.receive(tea, main, 6, "4.00")
    sale, _ = inv.order([(tea, 5)])
    inv.ship(sale, [1])
    quarantined = _inspected(inv, sale, [{"line_no": 1, "quantity": 2, "damaged": 1, "disposition": "quarantine"}])
    level = inv.level(tea, main)
    assert (level["on_hand"], level["held"], level["available"]) == (3, 1, 2)
    assert inv.value(main, tea) == D("12.00")

    scrapped = _inspected(inv, sale, [{"line_no": 1, "quantity": 3, "damaged": 2, "disposition": "scrap"}])
    level = inv.level(tea, main)
    assert (level["on_hand"], level["held"], level["available"]) == (4, 1, 3)
    assert inv.value(main, tea) == D("16.00")
    [adjusted] = inv.events("stock_adjusted")
    assert (adjusted["quantity"], adjusted["reason"], adjusted["value"]) == (-2, "scrap", "-8.00")
    assert [r["return_id"] for r in inv.events("goods_returned")] == [quarantined, scrapped]
    assert reservations.return_lot(scrapped) != reservations.return_lot(quarantined)
    inv.run(holds.release, tea, reservations.return_lot(quarantined), "repaired")  # as any quarantined lot
    assert (inv.level(tea, main)["held"], inv.level(tea, main)["available"]) == (0, 4)
    assert inv.audit() == []


def test_returned_serials_are_quarantined_or_scrapped_by_serial(inv):
    main, phone = inv.warehouse("SERM", bins=("S-1",)), inv.sku("PHONE", serial_tracked=True)
    s1, s2, s3 = inv.code("SN1"), inv.code("SN2"), inv.code("SN3")  # serials are known by code across SKUs
    inv.receive(phone, main, 3, "100.00", bin_code="S-1", serial_list=[s1, s2, s3])
    sale, _ = inv.order([(phone, 2)])
    inv.run(reservations.pick, sale, 1, main, "S-1", f"SN:{s1}", 1)
    inv.run(reservations.pick, sale, 1, main, "S-1", f"SN:{s2}", 1)
    inv.ship(sale, [1])
    first = _inspected(inv, sale, [{"line_no": 1, "quantity": 1, "damaged": 1, "disposition": "quarantine"}])
    _inspected(inv, sale, [{"line_no": 1, "quantity": 1, "damaged": 1, "disposition": "scrap"}])
    level = inv.level(phone, main)
    assert (level["on_hand"], level["held"], level["available"]) == (2, 1, 1)
    [adjusted] = inv.events("stock_adjusted")
    assert adjusted["value"] == "-100.00"
    with inv.db.reader() as s:
        rows = {r.serial: (r.status, r.lot) for r in s.execute(
            select(serials.c.serial, serials.c.status, serials.c.lot).where(serials.c.sku == phone))}
    assert rows[s3][0] == "in_stock" and rows[s1] == ("in_stock", reservations.return_lot(first))
    assert rows[s2][0] == "scrapped"
    assert inv.audit() == []
