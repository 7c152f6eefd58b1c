"""A file's rows applied by inventory in one transaction (services/inventory/imports.py), on
PostgreSQL and SQLite: a dry run changes nothing, one refused row refuses the whole file with that
row named, the same rows again change nothing, and opening stock is announced to the books."""
from __future__ import annotations

from decimal import Decimal

import pytest

from services.inventory import catalog, imports

pytestmark = pytest.mark.integration


def _rows(inv, taken_barcode: str) -> tuple[list[dict], dict]:
    w, tea, cup, kit = inv.code("W"), inv.code("TEA"), inv.code("CUP"), inv.code("KIT")
    rows = [
        {"row": 2, "warehouse": {"code": w, "name": "Main", "priority": 1, "region": "", "address": ""}},
        {"row": 3, "bins": {"warehouse": w, "codes": ["A-01"]}},
        # the kit before its components in the file: applied after them
        {"row": 4, "sku": {"code": kit, "name": "Set", "components": [(tea, 1), (cup, 2)]}},
        {"row": 5, "sku": {"code": tea, "name": "Tea", "lot_tracked": True, "barcodes": [inv.code("69")]}},
        {"row": 6, "sku": {"code": cup, "name": "Cup", "barcodes": [taken_barcode]}},
        {"row": 7, "limits": {"sku": tea, "warehouse": w, "minimum": 2, "maximum": 9}},
    ]
    return rows, {"w": w, "tea": tea, "cup": cup, "kit": kit}


def test_an_import_is_applied_whole_or_not_at_all_and_a_second_time_changes_nothing(inv):
    other = inv.sku("OTHER", barcode_list=[inv.code("BC")])
    rows, c = _rows(inv, inv.code("BC"))  # the cup's barcode already names another SKU

    refused = inv.run(imports.apply, rows, False)
    assert refused.errors == [(4, "components", f"component {c['cup']} is refused on row 6"),
                              (6, "barcodes", f"{inv.code('BC')} names {other}")]
    assert catalog.known_skus(inv.db, [c["tea"], c["kit"]]) == []  # the good rows were not applied either

    rows[4]["sku"]["barcodes"] = [inv.code("BC2")]
    dry = inv.run(imports.apply, rows, True)
    assert (dry.errors, dry.applied) == ([], 6)
    assert catalog.known_skus(inv.db, [c["tea"]]) == []  # a dry run changes nothing

    done = inv.run(imports.apply, rows, False)
    assert (done.errors, done.applied, done.unchanged) == ([], 6, 0)
    with inv.db.reader() as s:
        assert sorted(catalog.components_of(s, c["kit"])) == [(c["cup"], 2), (c["tea"], 1)]
    again = inv.run(imports.apply, rows, False)
    assert (again.errors, again.applied, again.unchanged) == ([], 0, 6)
    assert [e["minimum"] for e in inv.events("low_stock") if e["sku"] == c["tea"]] == [2]  # set once, at zero


def test_opening_stock_rows_name_their_row_post_their_value_once_and_keep_the_audit_clean(inv):
    w, tea = inv.warehouse("W", bins=("A-01",)), inv.sku("TEA", lot_tracked=True)
    cup = inv.sku("CUP")
    good = [{"row": 2, "receipt": {"sku": tea, "warehouse": w, "quantity": 10, "unit_cost": "3.50", "bin": "A-01",
                                   "lot": "L1", "expires_on": "2099-01-31", "serials": []}},
            {"row": 3, "receipt": {"sku": cup, "warehouse": w, "quantity": 4, "unit_cost": "1.25", "bin": "",
                                   "lot": "", "expires_on": "", "serials": []}}]
    bad = [{"row": 4, "receipt": {"sku": inv.code("NOPE"), "warehouse": w, "quantity": 1, "unit_cost": "1"}},
           {"row": 5, "receipt": {"sku": tea, "warehouse": w, "quantity": 1, "unit_cost": "1", "lot": ""}},
           {"row": 6, "receipt": {"sku": cup, "warehouse": w, "quantity": 1, "unit_cost": "1", "bin": "Z-99"}}]
    refused = inv.run(imports.apply, good + bad, False)
    assert [(r, col) for r, col, _ in refused.errors] == [(4, "sku"), (5, "lot"), (6, "bin")]
    assert inv.level(tea, w)["on_hand"] == 0 and inv.events("stock_received") == []

    done = inv.run(imports.apply, good, False)
    assert (done.errors, done.applied) == ([], 2)
    assert inv.run(imports.apply, good, False).unchanged == 2  # each place's opening stock comes in once
    assert inv.level(tea, w)["on_hand"] == 10 and inv.level(cup, w)["on_hand"] == 4
    posted = [e for e in inv.events("stock_received") if e["warehouse"] == w]
    assert sorted((e["reason"], Decimal(e["value"])) for e in posted) == [("opening", Decimal("5.00")),
                                                                         ("opening", Decimal("35.00"))]
    assert inv.value(w) == Decimal("40.00")
    assert inv.audit() == []
