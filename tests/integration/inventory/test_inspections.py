"""Incoming inspection on PostgreSQL and SQLite: a receipt line the policy names arrives quarantined
with a task; the result releases, scraps or sets aside for the return (split on a partial pass), with
the value where it was (the stock audit finds no difference); a bad or second result changes nothing."""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from hubkit.errors import Conflict, InvalidArgument, NotFound
from services.inventory import handlers, inspections

pytestmark = pytest.mark.integration


def _receive(inv, wh, lines, policy=inspections.Policy(), supplier="FARM", receipt="rc1"):
    inv.run(handlers.receive_purchase_lines, f"{receipt}{inv.tag}", "po1", wh,
            [{"line_no": i + 1, "sku": sku, "quantity": q, "unit_cost": "5.00", "amount": str(Decimal(5 * q))}
             for i, (sku, q) in enumerate(lines)], datetime.now(timezone.utc), None, supplier, policy)


def _held(inv, sku, wh):
    level = inv.level(sku, wh)
    return level["on_hand"], level["held"], level["available"]


def test_pass_scrap_and_partial_return_split_the_quarantined_lots(inv):
    wh = inv.warehouse("WH")
    tea, rice, salt, cup = (inv.sku(n, lot_tracked=n != "CUP") for n in ("TEA", "RICE", "SALT", "CUP"))
    _receive(inv, wh, [(tea, 10), (rice, 10), (salt, 10), (cup, 10)])
    tasks = {t["sku"]: t for t in inspections.list_tasks(inv.db, "open") if t["warehouse"] == wh}
    assert sorted(tasks) == sorted([tea, rice, salt])  # the SKU without lots is not inspected
    assert [_held(inv, s, wh) for s in (tea, rice, salt, cup)] == [(10, 10, 0)] * 3 + [(10, 0, 10)]

    with pytest.raises(InvalidArgument):
        inv.run(inspections.record, tasks[tea]["id"], 11, 0)
    with pytest.raises(NotFound):
        inv.run(inspections.record, "nope", 10, 0)
    assert _held(inv, tea, wh) == (10, 10, 0)

    passed = inv.run(inspections.record, tasks[tea]["id"], 10, 0, actor="qc")
    inv.run(inspections.record, tasks[rice]["id"], 0, 10, "scrap", "mouldy")
    split = inv.run(inspections.record, tasks[salt]["id"], 7, 3, "return")
    with pytest.raises(Conflict):
        inv.run(inspections.record, tasks[tea]["id"], 10, 0)
    assert (passed["status"], passed["inspected_by"], split["status"]) == ("passed", "qc", "partial")
    assert [_held(inv, s, wh) for s in (tea, rice, salt)] == [(10, 0, 10), (0, 0, 0), (10, 3, 7)]
    [recorded] = [e for e in inv.events("inspection_recorded") if e["sku"] == salt]
    assert (recorded["failed"], recorded["return_lot"]) == (3, f"Rrc1{inv.tag}.REJ")
    [scrap] = [e for e in inv.events("stock_adjusted") if e["sku"] == rice]
    assert (scrap["reason"], scrap["quantity"], Decimal(scrap["value"])) == ("scrap", -10, Decimal("-50.00"))

    # procurement's purchase return takes the failed units from the reject lot
    inv.run(handlers.take_return_lines, "ret1", "po1", wh,
            [{"line_no": 3, "sku": salt, "quantity": 3, "lot": recorded["return_lot"]}])
    assert _held(inv, salt, wh) == (7, 0, 7)
    assert inv.value(wh, salt) == Decimal("35.00") and inv.audit() == []


def test_only_the_listed_skus_and_suppliers_when_not_every_lot_is_inspected(inv):
    wh = inv.warehouse("WH")
    tea, rice = inv.sku("TEA", lot_tracked=True), inv.sku("RICE", lot_tracked=True)
    policy = inspections.Policy(lot_tracked=False, skus=frozenset({tea}))
    _receive(inv, wh, [(tea, 2), (rice, 2)], policy)
    assert [_held(inv, s, wh) for s in (tea, rice)] == [(2, 2, 0), (2, 0, 2)]
    _receive(inv, wh, [(rice, 2)], inspections.Policy(lot_tracked=False, suppliers=frozenset({"FARM"})),
             receipt="rc2")
    assert _held(inv, rice, wh) == (4, 2, 2)
