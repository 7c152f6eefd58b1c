"""Stock reports on SQLite, worked examples to the cent (the merchant is in Asia/Shanghai, UTC+8).

The ledger (times UTC; "local" is Shanghai):
  TEA (drinks)   SH  2024-01-05 02:00  receipt      +100 @2.00   200.00
                 SH  2024-01-20 02:00  issue         -30         -60.00
                 SH  2024-02-01 02:00  receipt       +50 @2.50   125.00
                 SH  2024-02-10 02:00  issue         -40         -80.00
                 SH  2024-02-15 02:00  transfer_out  -20         -40.00
                 BJ  2024-02-17 02:00  transfer_in   +20          40.00  (recorded last: highest id)
                 SH  2024-02-20 02:00  bin_move     -5 / +5        0.00
                 BJ  2024-02-29 17:00  issue          -5         -10.00  (local 1 March 01:00)
                 SH  2024-03-10 02:00  adjustment     -2          -4.00
  MUG (kitchen)  SH  2024-01-10 02:00  receipt       +10 @3.333333  33.33
                 SH  2024-03-05 02:00  issue          -4         -13.33
  PEN (office)   BJ  2023-12-01 02:00  receipt       +40 @1.00    40.00
                 BJ  2024-02-05 02:00  write_off      -5 scrap    -5.00
                 SH  2024-02-29 17:00  receipt        +3 @1.00     3.00  (local 1 March)
  GIFT (drinks)  SH  2024-02-03 02:00  receipt        +1 @5.00     5.00
                 SH  2024-02-04 02:00  issue          -1          -5.00
"""
from __future__ import annotations

from concurrent import futures
from datetime import date, datetime, timezone
from decimal import Decimal

import grpc
import pytest
from fastapi.testclient import TestClient

from hubkit.db import Database
from hubkit.errors import InvalidArgument, NotFound
from services.inventory import reports
from services.inventory.models import cost_layers, lots, metadata, place_stock, skus, stock_movements, warehouses

D = Decimal
CREATED = datetime(2023, 1, 1, tzinfo=timezone.utc)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


LEDGER = [  # (kind, sku, warehouse, quantity, unit_cost, value, occurred_at UTC, extra)
    ("receipt", "TEA", "SH", 100, "2.00", "200.00", "2024-01-05 02:00", {}),
    ("issue", "TEA", "SH", -30, "2.00", "-60.00", "2024-01-20 02:00", {}),
    ("receipt", "TEA", "SH", 50, "2.50", "125.00", "2024-02-01 02:00", {}),
    ("issue", "TEA", "SH", -40, "2.00", "-80.00", "2024-02-10 02:00", {}),
    ("transfer_out", "TEA", "SH", -20, "2.00", "-40.00", "2024-02-15 02:00", {"document": "transfer:T1"}),
    ("bin_move", "TEA", "SH", -5, "0", "0", "2024-02-20 02:00", {"bin": "A-01"}),
    ("bin_move", "TEA", "SH", 5, "0", "0", "2024-02-20 02:00", {"bin": "A-02"}),
    ("issue", "TEA", "BJ", -5, "2.00", "-10.00", "2024-02-29 17:00", {}),
    ("adjustment", "TEA", "SH", -2, "2.00", "-4.00", "2024-03-10 02:00", {"reason": "count"}),
    ("receipt", "MUG", "SH", 10, "3.333333", "33.33", "2024-01-10 02:00", {}),
    ("issue", "MUG", "SH", -4, "3.333333", "-13.33", "2024-03-05 02:00", {}),
    ("receipt", "PEN", "BJ", 40, "1.00", "40.00", "2023-12-01 02:00", {}),
    ("write_off", "PEN", "BJ", -5, "1.00", "-5.00", "2024-02-05 02:00", {"reason": "scrap"}),
    ("receipt", "PEN", "SH", 3, "1.00", "3.00", "2024-02-29 17:00", {}),
    ("receipt", "GIFT", "SH", 1, "5.00", "5.00", "2024-02-03 02:00", {}),
    ("issue", "GIFT", "SH", -1, "5.00", "-5.00", "2024-02-04 02:00", {}),
    ("transfer_in", "TEA", "BJ", 20, "2.00", "40.00", "2024-02-17 02:00", {"document": "transfer:T1"}),
]


@pytest.fixture
def db(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'inventory.db'}", metadata)
    metadata.create_all(database.engine)
    with database.session() as s:
        s.execute(warehouses.insert(), [{"code": w, "name": w, "created_by": "t", "created_at": CREATED}
                                        for w in ("SH", "BJ")])
        s.execute(skus.insert(), [{"code": c, "name": c, "category": cat, "created_by": "t", "created_at": CREATED}
                                  for c, cat in (("TEA", "drinks"), ("MUG", "kitchen"), ("PEN", "office"),
                                                 ("GIFT", "drinks"))])
        ids = {}
        for n, (kind, sku, wh, qty, cost, value, at, extra) in enumerate(LEDGER, start=1):
            s.execute(stock_movements.insert().values(
                id=n, kind=kind, sku=sku, warehouse=wh, quantity=qty, unit_cost=D(cost), value=D(value),
                reference=f"ref {n}", actor="tester", occurred_at=utc(at), **extra))
            ids.setdefault((kind, sku, wh), n)
        layer = dict(unit_cost=D("2.00"), in_transit=False, document="")
        s.execute(cost_layers.insert(), [
            {**layer, "movement_id": ids["receipt", "TEA", "SH"], "sku": "TEA", "warehouse": "SH", "quantity": 100,
             "remaining": 8, "remaining_value": D("16.00"), "received_at": utc("2024-01-05 02:00")},
            {**layer, "movement_id": 3, "sku": "TEA", "warehouse": "SH", "quantity": 50, "remaining": 50,
             "unit_cost": D("2.50"), "remaining_value": D("125.00"), "received_at": utc("2024-02-01 02:00")},
            {**layer, "movement_id": ids["transfer_in", "TEA", "BJ"], "sku": "TEA", "warehouse": "BJ",
             "quantity": 20, "remaining": 15, "remaining_value": D("30.00"), "received_at": utc("2024-02-17 02:00")},
            # on its way to BJ: in transit, left out of the ageing
            {**layer, "movement_id": ids["transfer_out", "TEA", "SH"], "sku": "TEA", "warehouse": "BJ",
             "quantity": 7, "remaining": 7, "remaining_value": D("14.00"), "received_at": utc("2024-01-05 02:00"),
             "in_transit": True, "document": "transfer:T2"},
            {**layer, "movement_id": ids["receipt", "MUG", "SH"], "sku": "MUG", "warehouse": "SH", "quantity": 10,
             "remaining": 6, "unit_cost": D("3.333333"), "remaining_value": D("20.00"),
             "received_at": utc("2024-01-10 02:00")},
            {**layer, "movement_id": ids["receipt", "PEN", "BJ"], "sku": "PEN", "warehouse": "BJ", "quantity": 40,
             "remaining": 35, "unit_cost": D("1.00"), "remaining_value": D("35.00"),
             "received_at": utc("2023-12-01 02:00")},
            {**layer, "movement_id": ids["receipt", "PEN", "SH"], "sku": "PEN", "warehouse": "SH", "quantity": 3,
             "remaining": 3, "unit_cost": D("1.00"), "remaining_value": D("3.00"),
             "received_at": utc("2024-02-29 17:00")},
            {**layer, "movement_id": ids["receipt", "GIFT", "SH"], "sku": "GIFT", "warehouse": "SH", "quantity": 1,
             "remaining": 0, "unit_cost": D("5.00"), "remaining_value": D("0.00"),
             "received_at": utc("2024-02-03 02:00")},
        ])
        s.execute(lots.insert(), [{"sku": "TEA", "lot": "L1", "expires_on": date(2025, 1, 31), "status": "ok"},
                                  {"sku": "TEA", "lot": "L2", "expires_on": date(2024, 12, 31),
                                   "status": "quarantined"}])
        s.execute(place_stock.insert(), [
            {"sku": sku, "warehouse": wh, "bin": b, "lot": lot, "quantity": q, "received_at": utc(at)}
            for sku, wh, b, lot, q, at in (
                ("TEA", "SH", "A-01", "L1", 40, "2024-01-05 02:00"),
                ("TEA", "SH", "A-02", "L1", 10, "2024-02-20 02:00"),
                ("TEA", "SH", "A-01", "L2", 8, "2024-02-01 02:00"),
                ("TEA", "BJ", "", "L2", 15, "2024-02-17 02:00"),
                ("MUG", "SH", "B-01", "", 6, "2024-01-10 02:00"),
                ("MUG", "SH", "B-02", "", 0, "2024-01-10 02:00"),  # emptied: not listed
                ("PEN", "BJ", "", "", 35, "2023-12-01 02:00"),
                ("PEN", "SH", "", "", 3, "2024-02-29 17:00"))])
    yield database
    database.dispose()


def fields_of(exc) -> set[str]:
    return {f["field"] for f in exc.value.fields}


# -- on hand ----------------------------------------------------------------------------------
def test_on_hand_per_bin_and_lot_with_expiry_and_status(db):
    rows = reports.on_hand(db, warehouse="SH")
    assert [(r["sku"], r["bin"], r["lot"], r["quantity"], r["expires_on"], r["status"]) for r in rows] == [
        ("MUG", "B-01", "", 6, None, ""),
        ("PEN", "", "", 3, None, ""),
        ("TEA", "A-01", "L1", 40, date(2025, 1, 31), "ok"),
        ("TEA", "A-01", "L2", 8, date(2024, 12, 31), "quarantined"),
        ("TEA", "A-02", "L1", 10, date(2025, 1, 31), "ok"),
    ]
    assert rows[2]["received_at"] == utc("2024-01-05 02:00")


def test_on_hand_per_lot_and_per_warehouse(db):
    by_lot = reports.on_hand(db, sku="TEA", by="lot")
    assert [(r["warehouse"], r["bin"], r["lot"], r["quantity"], r["status"], r["received_at"]) for r in by_lot] == [
        ("BJ", "", "L2", 15, "quarantined", utc("2024-02-17 02:00")),
        ("SH", "", "L1", 50, "ok", utc("2024-01-05 02:00")),  # earliest arrival of the lot's bins
        ("SH", "", "L2", 8, "quarantined", utc("2024-02-01 02:00")),
    ]
    by_warehouse = reports.on_hand(db, by="warehouse")
    assert [(r["warehouse"], r["sku"], r["quantity"]) for r in by_warehouse] == [
        ("BJ", "PEN", 35), ("BJ", "TEA", 15), ("SH", "MUG", 6), ("SH", "PEN", 3), ("SH", "TEA", 58)]
    with pytest.raises(InvalidArgument) as exc:
        reports.on_hand(db, by="shelf")
    assert fields_of(exc) == {"by"}


# -- movement history -------------------------------------------------------------------------
def test_movement_history_across_warehouses_runs_balance_in_time_order(db):
    h = reports.movement_history(db, "TEA")
    # the transfer_in was recorded last (id 17) but happened on 17 Feb: it sits in time order
    assert [(l["id"], l["kind"], l["warehouse"], l["quantity"], l["value"], l["balance_quantity"],
             l["balance_value"]) for l in h["lines"]] == [
        (1, "receipt", "SH", 100, D("200.00"), 100, D("200.00")),
        (2, "issue", "SH", -30, D("-60.00"), 70, D("140.00")),
        (3, "receipt", "SH", 50, D("125.00"), 120, D("265.00")),
        (4, "issue", "SH", -40, D("-80.00"), 80, D("185.00")),
        (5, "transfer_out", "SH", -20, D("-40.00"), 60, D("145.00")),
        (17, "transfer_in", "BJ", 20, D("40.00"), 80, D("185.00")),
        (6, "bin_move", "SH", -5, D("0.00"), 75, D("185.00")),
        (7, "bin_move", "SH", 5, D("0.00"), 80, D("185.00")),
        (8, "issue", "BJ", -5, D("-10.00"), 75, D("175.00")),
        (9, "adjustment", "SH", -2, D("-4.00"), 73, D("171.00")),
    ]
    assert (h["opening_quantity"], h["opening_value"], h["omitted"]) == (0, D("0.00"), 0)
    assert (h["closing_quantity"], h["closing_value"]) == (73, D("171.00"))
    assert h["lines"][0]["occurred_at"] == utc("2024-01-05 02:00")
    assert h["lines"][0]["unit_cost"] == D("2.000000")


def test_movement_history_per_warehouse_and_limited(db):
    sh = reports.movement_history(db, "TEA", warehouse="SH")
    assert [(l["balance_quantity"], l["balance_value"]) for l in sh["lines"]] == [
        (100, D("200.00")), (70, D("140.00")), (120, D("265.00")), (80, D("185.00")), (60, D("145.00")),
        (55, D("145.00")), (60, D("145.00")), (58, D("141.00"))]
    # the latest three lines; the seven before them make the opening balance (75 units, 185.00)
    last3 = reports.movement_history(db, "TEA", limit=3)
    assert (last3["opening_quantity"], last3["opening_value"], last3["omitted"]) == (75, D("185.00"), 7)
    assert [(l["id"], l["balance_quantity"], l["balance_value"]) for l in last3["lines"]] == [
        (7, 80, D("185.00")), (8, 75, D("175.00")), (9, 73, D("171.00"))]
    assert (last3["closing_quantity"], last3["closing_value"]) == (73, D("171.00"))


def test_movement_history_refuses_unknown_sku_and_bad_limit(db):
    with pytest.raises(NotFound):
        reports.movement_history(db, "NOPE")
    with pytest.raises(InvalidArgument) as exc:
        reports.movement_history(db, "", limit=0)
    assert fields_of(exc) == {"sku", "limit"}


# -- ageing -----------------------------------------------------------------------------------
def _buckets(row) -> list[tuple]:
    return [(b["label"], b["quantity"], b["value"]) for b in row["buckets"]]


def test_stock_ageing_buckets_by_local_received_date(db):
    rows = reports.stock_ageing(db, as_of=date(2024, 3, 31))
    by_key = {(r["sku"], r["warehouse"]): r for r in rows}
    # the in-transit TEA layer towards BJ (7 units) is left out: BJ shows only its received layer
    assert list(by_key) == [("MUG", "SH"), ("PEN", "BJ"), ("PEN", "SH"), ("TEA", "BJ"), ("TEA", "SH")]
    tea = by_key["TEA", "SH"]  # 8 left of 5 Jan (86 days old), 50 of 1 Feb (59 days)
    assert (tea["quantity"], tea["value"], tea["oldest_received_on"]) == (58, D("141.00"), date(2024, 1, 5))
    assert _buckets(tea) == [("0-30", 0, D("0.00")), ("31-60", 50, D("125.00")), ("61-90", 8, D("16.00")),
                             ("over-90", 0, D("0.00"))]
    assert _buckets(by_key["TEA", "BJ"])[1] == ("31-60", 15, D("30.00"))  # 17 Feb: 43 days
    assert _buckets(by_key["MUG", "SH"])[2] == ("61-90", 6, D("20.00"))  # 10 Jan: 81 days
    assert _buckets(by_key["PEN", "BJ"])[3] == ("over-90", 35, D("35.00"))  # 1 Dec: 121 days
    # received 29 Feb 17:00 UTC = 1 March in Shanghai: 30 days old, not 31
    assert _buckets(by_key["PEN", "SH"])[0] == ("0-30", 3, D("3.00"))
    assert by_key["PEN", "SH"]["oldest_received_on"] == date(2024, 3, 1)


def test_stock_ageing_filters_and_custom_buckets(db):
    rows = reports.stock_ageing(db, warehouse="BJ", as_of="2024-03-31", buckets=(45, 100))
    assert [(r["sku"], _buckets(r)) for r in rows] == [
        ("PEN", [("0-45", 0, D("0.00")), ("46-100", 0, D("0.00")), ("over-100", 35, D("35.00"))]),
        ("TEA", [("0-45", 15, D("30.00")), ("46-100", 0, D("0.00")), ("over-100", 0, D("0.00"))]),
    ]
    with pytest.raises(InvalidArgument) as exc:
        reports.stock_ageing(db, as_of="31/03/2024", buckets=(60, 30), tz="Mars/Base")
    assert fields_of(exc) == {"as_of", "buckets", "tz"}


# -- slow movers ------------------------------------------------------------------------------
def test_slow_movers_no_sale_in_the_last_days(db):
    # 30 days up to 31 March: 2..31 March local. TEA last sold 29 Feb 17:00 UTC = 1 March local.
    rows = reports.slow_movers(db, 30, as_of=date(2024, 3, 31))
    # days in stock: the oldest layer on hand, TEA 5 Jan (86 days to 31 March), PEN 1 Dec 2023 (121 days)
    assert rows == [
        {"sku": "TEA", "category": "drinks", "warehouse": "", "quantity": 73, "value": D("171.00"),
         "last_issue_on": date(2024, 3, 1), "days_since_issue": 30, "oldest_received_on": date(2024, 1, 5),
         "days_in_stock": 86},
        {"sku": "PEN", "category": "office", "warehouse": "", "quantity": 38, "value": D("38.00"),
         "last_issue_on": None, "days_since_issue": None, "oldest_received_on": date(2023, 12, 1),
         "days_in_stock": 121},
    ]  # MUG sold 5 March; GIFT has nothing on hand
    # 31 days reach back to 1 March, when TEA sold
    assert [r["sku"] for r in reports.slow_movers(db, 31, as_of=date(2024, 3, 31))] == ["PEN"]


def test_slow_movers_per_warehouse_and_as_of_a_past_date(db):
    sh = reports.slow_movers(db, 30, warehouse="SH", as_of="2024-03-31")
    assert [(r["sku"], r["warehouse"], r["quantity"], r["value"], r["last_issue_on"], r["days_since_issue"])
            for r in sh] == [("TEA", "SH", 58, D("141.00"), date(2024, 2, 10), 50),
                             ("PEN", "SH", 3, D("3.00"), None, None)]
    # on 15 Feb: TEA sold on the 10th; MUG (not yet sold) and PEN are slow; stock as the ledger had it then
    past = reports.slow_movers(db, 30, as_of=date(2024, 2, 15))
    assert [(r["sku"], r["quantity"], r["value"]) for r in past] == [("PEN", 35, D("35.00")),
                                                                     ("MUG", 10, D("33.33"))]
    with pytest.raises(InvalidArgument) as exc:
        reports.slow_movers(db, 0, as_of="2024-02-30")
    assert fields_of(exc) == {"days", "as_of"}


# -- turnover ---------------------------------------------------------------------------------
def test_turnover_per_sku_for_february(db):
    # February local = [31 Jan 16:00 UTC, 29 Feb 16:00 UTC): 29 days.
    # TEA: opening 200 - 60 = 140.00; closing 140 + 125 - 80 - 40 + 40 = 185.00 (the BJ sale at
    #      29 Feb 17:00 UTC is 1 March local); cogs = the 10 Feb issue 80.00.
    #      average (140 + 185) / 2 = 162.50; turnover 80 / 162.50 = 0.4923 -> 0.49;
    #      days of supply 185 * 29 / 80 = 67.0625 -> 67.06.
    # GIFT: bought and sold in February: average 0 -> no ratio; 0 * 29 / 5 = 0.00 days of supply.
    # MUG: 33.33 throughout, no sale -> turnover 0.00, no days of supply. PEN: the write-off is no sale.
    t = reports.turnover(db, date(2024, 2, 1), date(2024, 2, 29))
    assert (t["days"], t["by"], t["date_from"], t["date_to"]) == (29, "sku", date(2024, 2, 1), date(2024, 2, 29))
    rows = {r["key"]: r for r in t["rows"]}
    assert rows["TEA"] == {"key": "TEA", "cogs": D("80.00"), "opening_value": D("140.00"),
                           "closing_value": D("185.00"), "average_value": D("162.50"), "turnover": D("0.49"),
                           "days_of_supply": D("67.06")}
    assert (rows["GIFT"]["cogs"], rows["GIFT"]["average_value"], rows["GIFT"]["turnover"],
            rows["GIFT"]["days_of_supply"]) == (D("5.00"), D("0.00"), None, D("0.00"))
    assert (rows["MUG"]["turnover"], rows["MUG"]["days_of_supply"]) == (D("0.00"), None)
    assert (rows["PEN"]["opening_value"], rows["PEN"]["closing_value"], rows["PEN"]["average_value"],
            rows["PEN"]["cogs"]) == (D("40.00"), D("35.00"), D("37.50"), D("0.00"))
    # total: cogs 85.00, opening 140 + 33.33 + 40 = 213.33, closing 185 + 33.33 + 35 = 253.33,
    # average 233.33; 85 / 233.33 = 0.3643 -> 0.36; 253.33 * 29 / 85 = 86.4302 -> 86.43
    assert t["total"] == {"key": "", "cogs": D("85.00"), "opening_value": D("213.33"),
                          "closing_value": D("253.33"), "average_value": D("233.33"), "turnover": D("0.36"),
                          "days_of_supply": D("86.43")}


def test_turnover_per_category_and_validation(db):
    t = reports.turnover(db, "2024-02-01", "2024-02-29", by="category")
    drinks = next(r for r in t["rows"] if r["key"] == "drinks")
    # TEA + GIFT: cogs 85.00, average (140 + 185) / 2 = 162.50; 85 / 162.5 = 0.523 -> 0.52;
    # 185 * 29 / 85 = 63.1176 -> 63.12
    assert (drinks["cogs"], drinks["average_value"], drinks["turnover"], drinks["days_of_supply"]) == (
        D("85.00"), D("162.50"), D("0.52"), D("63.12"))
    assert [r["key"] for r in t["rows"]] == ["drinks", "kitchen", "office"]
    with pytest.raises(InvalidArgument) as exc:
        reports.turnover(db, "2024-02-30", "2024-02-01", by="brand")
    assert fields_of(exc) == {"date_from", "by"}
    with pytest.raises(InvalidArgument) as exc:
        reports.turnover(db, "2024-03-01", "2024-02-01")
    assert fields_of(exc) == {"date_to"}


def test_slow_movers_per_warehouse_with_thresholds_on_value_and_days_in_stock(db):
    # 2..31 March local. TEA in SH last sold 10 Feb; in BJ on 1 March (29 Feb 17:00 UTC): a sale counts in
    # its own warehouse only. The oldest layers: TEA SH 5 Jan, TEA BJ 17 Feb (the in-transit one left out),
    # PEN BJ 1 Dec 2023, PEN SH 1 March local.
    rows = reports.slow_movers(db, 30, as_of="2024-03-31", per_warehouse=True)
    assert [(r["sku"], r["warehouse"], r["quantity"], r["value"], r["last_issue_on"], r["days_since_issue"],
             r["oldest_received_on"], r["days_in_stock"]) for r in rows] == [
        ("TEA", "SH", 58, D("141.00"), date(2024, 2, 10), 50, date(2024, 1, 5), 86),
        ("PEN", "BJ", 35, D("35.00"), None, None, date(2023, 12, 1), 121),
        ("TEA", "BJ", 15, D("30.00"), date(2024, 3, 1), 30, date(2024, 2, 17), 43),
        ("PEN", "SH", 3, D("3.00"), None, None, date(2024, 3, 1), 30)]
    assert [(r["sku"], r["warehouse"]) for r in reports.slow_movers(
        db, 30, as_of="2024-03-31", per_warehouse=True, min_value="30.00")] == [("TEA", "SH"), ("PEN", "BJ"),
                                                                                ("TEA", "BJ")]
    assert [(r["sku"], r["warehouse"]) for r in reports.slow_movers(
        db, 30, as_of="2024-03-31", per_warehouse=True, min_days_in_stock=60)] == [("TEA", "SH"), ("PEN", "BJ")]
    assert [(r["sku"], r["warehouse"]) for r in reports.slow_movers(
        db, 30, as_of="2024-03-31", per_warehouse=True, category="office")] == [("PEN", "BJ"), ("PEN", "SH")]
    with pytest.raises(InvalidArgument) as exc:
        reports.slow_movers(db, 30, min_value="-1", min_days_in_stock=-1)
    assert fields_of(exc) == {"min_value", "min_days_in_stock"}
    with pytest.raises(InvalidArgument) as exc:
        reports.slow_movers(db, 30, min_value="1.005")
    assert fields_of(exc) == {"min_value"}


def test_turnover_per_warehouse_and_filtered_by_warehouse_and_category(db):
    # February local. SH: opening TEA 140.00 + MUG 33.33 = 173.33; + TEA receipt 125 - issue 80 - transfer
    # out 40 + GIFT 5 - 5 = closing 178.33 (PEN's SH receipt is 1 March local); cogs 80 + 5 = 85.00;
    # average (173.33 + 178.33) / 2 = 175.83; 85 / 175.83 = 0.4834 -> 0.48; 178.33 x 29 / 85 = 60.842 -> 60.84.
    # BJ: PEN 40.00 - write-off 5 + TEA transfer in 40 = 75.00, no sale in February (1 March local).
    t = reports.turnover(db, "2024-02-01", "2024-02-29", by="warehouse")
    assert t["rows"] == [
        {"key": "BJ", "cogs": D("0.00"), "opening_value": D("40.00"), "closing_value": D("75.00"),
         "average_value": D("57.50"), "turnover": D("0.00"), "days_of_supply": None},
        {"key": "SH", "cogs": D("85.00"), "opening_value": D("173.33"), "closing_value": D("178.33"),
         "average_value": D("175.83"), "turnover": D("0.48"), "days_of_supply": D("60.84")}]
    assert "turnover = cogs / average_value" in t["explanation"]
    # drinks in SH per SKU: TEA 140 -> 145 (cogs 80; 0.56, 52.56), GIFT bought and sold (cogs 5);
    # total: 85 / 142.50 = 0.5965 -> 0.60; 145 x 29 / 85 = 49.4706 -> 49.47
    f = reports.turnover(db, "2024-02-01", "2024-02-29", warehouse="SH", category="drinks")
    assert (f["warehouse"], f["category"], [r["key"] for r in f["rows"]]) == ("SH", "drinks", ["GIFT", "TEA"])
    assert f["rows"][1] == {"key": "TEA", "cogs": D("80.00"), "opening_value": D("140.00"),
                            "closing_value": D("145.00"), "average_value": D("142.50"), "turnover": D("0.56"),
                            "days_of_supply": D("52.56")}
    assert f["total"] == {"key": "", "cogs": D("85.00"), "opening_value": D("140.00"), "closing_value": D("145.00"),
                          "average_value": D("142.50"), "turnover": D("0.60"), "days_of_supply": D("49.47")}
    with pytest.raises(InvalidArgument) as exc:
        reports.turnover(db, "2000-01-01", "2024-01-01")  # an unbounded period
    assert exc.value.fields == [{"field": "date_to", "message": "a period of at most 3660 days"}]


# -- sales forecast ---------------------------------------------------------------------------
def test_sales_forecast_per_sku_from_the_ledger_sales_names_method_parameters_and_history(db):
    # 10 days up to 5 March local: 25 Feb .. 5 March. TEA sold 5 on 1 March local (BJ), MUG 4 on 5 March.
    f = reports.sales_forecast(db, 3, history_days=10, as_of="2024-03-05")
    assert (f["method"], f["params"], f["history_from"], f["history_to"]) == (
        "moving_average", {"window": 10}, date(2024, 2, 25), date(2024, 3, 5))
    assert f["rows"] == [
        {"sku": "MUG", "category": "kitchen", "history": [0] * 9 + [4], "history_units": 4,
         "forecast": [D("0.40")] * 3, "total": D("1.20")},
        {"sku": "TEA", "category": "drinks", "history": [0] * 5 + [5, 0, 0, 0, 0], "history_units": 5,
         "forecast": [D("0.50")] * 3, "total": D("1.50")}]
    # SH only: TEA's sale was in BJ. Exponential smoothing: level 0 ... then 0.5 x 4 + 0.5 x 0 = 2
    sh = reports.sales_forecast(db, 2, "exponential_smoothing", 10, warehouse="SH", as_of="2024-03-05",
                                params={"alpha": 0.5})
    assert (sh["params"], [(r["sku"], r["forecast"]) for r in sh["rows"]]) == (
        {"alpha": 0.5}, [("MUG", [D("2.00"), D("2.00")])])
    # a SKU named that did not sell: a row of zeros; the defaults named
    gift = reports.sales_forecast(db, 1, "holt", 10, sku="GIFT", as_of="2024-03-05")
    assert (gift["params"], gift["rows"]) == ({"alpha": 0.3, "beta": 0.1}, [
        {"sku": "GIFT", "category": "drinks", "history": [0] * 10, "history_units": 0, "forecast": [D("0.00")],
         "total": D("0.00")}])
    with pytest.raises(NotFound):
        reports.sales_forecast(db, 1, sku="NOPE")


def test_sales_forecast_refuses_bad_horizon_history_method_and_parameters(db):
    with pytest.raises(InvalidArgument) as exc:
        reports.sales_forecast(db, 0, "arima", 1000)
    assert fields_of(exc) == {"horizon", "history_days", "method"}
    with pytest.raises(InvalidArgument) as exc:
        reports.sales_forecast(db, 367, "holt", params={"gamma": 0.1})
    assert fields_of(exc) == {"horizon", "gamma"}
    with pytest.raises(InvalidArgument) as exc:
        reports.sales_forecast(db, 7, "holt_winters", params={"alpha": 2})
    assert exc.value.fields == [{"field": "alpha", "message": "alpha must be from 0 to 1"}]
    with pytest.raises(InvalidArgument) as exc:
        reports.sales_forecast(db, 7, "moving_average", params={"window": "7"})
    assert fields_of(exc) == {"window"}


# -- value at a moment ------------------------------------------------------------------------
def test_stock_value_at_end_of_a_local_day_and_at_a_moment(db):
    end_feb = reports.stock_value_at(db, date(2024, 2, 29))
    assert [(r["warehouse"], r["sku"], r["quantity"], r["value"]) for r in end_feb] == [
        ("BJ", "PEN", 35, D("35.00")), ("BJ", "TEA", 20, D("40.00")),
        ("SH", "MUG", 10, D("33.33")), ("SH", "TEA", 60, D("145.00"))]  # GIFT is 0: left out
    # an instant, inclusive: the BJ sale and the SH pen receipt of 29 Feb 17:00 UTC count
    moment = reports.stock_value_at(db, "2024-02-29T17:00:00+00:00")
    assert [(r["warehouse"], r["sku"], r["quantity"], r["value"]) for r in moment] == [
        ("BJ", "PEN", 35, D("35.00")), ("BJ", "TEA", 15, D("30.00")),
        ("SH", "MUG", 10, D("33.33")), ("SH", "PEN", 3, D("3.00")), ("SH", "TEA", 60, D("145.00"))]
    assert reports.stock_value_at(db, "2024-03-01T01:00:00") == moment  # naive = Shanghai time
    assert reports.stock_value_at(db, "2024-02-29T16:59:59+00:00", warehouse="SH") == [
        {"warehouse": "SH", "sku": "MUG", "quantity": 10, "value": D("33.33"), "in_transit": False},
        {"warehouse": "SH", "sku": "TEA", "quantity": 60, "value": D("145.00"), "in_transit": False}]
    with pytest.raises(InvalidArgument) as exc:
        reports.stock_value_at(db, "yesterday")
    assert fields_of(exc) == {"as_of"}


# -- through gRPC and the gateway -------------------------------------------------------------
@pytest.fixture
def gateway(db, tmp_path):
    from gateway import auth
    from gateway import config as gateway_config
    from gateway.app import create_app
    from gateway.clients import Clients
    from gateway.models import metadata as gateway_metadata
    from hubapi.inventory.v1 import inventory_reports_pb2_grpc
    from hubkit import settings as hub_settings
    from services.inventory import reports_grpc

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    reports_grpc.register(server, db, "Asia/Shanghai")
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    settings = hub_settings.load(gateway_config.Settings, {"HUB_VAR_DIR": str(tmp_path)})
    gateway_db = Database(settings.gateway_db_url, gateway_metadata)
    gateway_metadata.create_all(gateway_db.engine)
    keys = {role: auth.add_user(gateway_db, role, role) for role in ("sales", "finance")}
    clients = Clients(order=None, inventory=None, procurement=None, customer=None, accounting=None, ledger=None,
                      shops={}, channels=[channel],
                      inventory_reports=inventory_reports_pb2_grpc.InventoryReportsStub(channel))
    with TestClient(create_app(settings, clients)) as http:
        yield http, keys
    channel.close()
    server.stop(None)
    gateway_db.dispose()


def test_gateway_routes(gateway):
    http, keys = gateway
    finance, sales = {"X-API-Key": keys["finance"]}, {"X-API-Key": keys["sales"]}

    r = http.get("/stock/reports/on-hand", params={"sku": "TEA", "by": "lot"}, headers=sales)
    assert r.status_code == 200
    assert r.json()["rows"][0] == {"warehouse": "BJ", "sku": "TEA", "bin": "", "lot": "L2", "quantity": 15,
                                   "received_at": "2024-02-17T02:00:00+00:00", "expires_on": "2024-12-31",
                                   "status": "quarantined"}

    assert http.get("/stock/reports/movements/TEA", headers=sales).status_code == 403  # carries value
    r = http.get("/stock/reports/movements/TEA", params={"limit": 3}, headers=finance)
    assert r.status_code == 200
    body = r.json()
    assert (body["opening_quantity"], body["opening_value"], body["omitted"]) == (75, "185.00", 7)
    assert [(l["id"], l["balance_quantity"], l["balance_value"]) for l in body["lines"]] == [
        (7, 80, "185.00"), (8, 75, "175.00"), (9, 73, "171.00")]
    assert http.get("/stock/reports/movements/NOPE", headers=finance).status_code == 404

    r = http.get("/stock/reports/ageing", params={"as_of": "2024-03-31", "warehouse": "SH"}, headers=finance)
    tea = next(row for row in r.json()["rows"] if row["sku"] == "TEA")
    assert [(b["label"], b["quantity"], b["value"]) for b in tea["buckets"]] == [
        ("0-30", 0, "0.00"), ("31-60", 50, "125.00"), ("61-90", 8, "16.00"), ("over-90", 0, "0.00")]
    assert http.get("/stock/reports/ageing", params={"buckets": "60,30"}, headers=finance).status_code == 422

    r = http.get("/stock/reports/slow-movers", params={"days": 30, "as_of": "2024-03-31"}, headers=finance)
    assert r.json() == {"as_of": "2024-03-31", "rows": [
        {"sku": "TEA", "category": "drinks", "warehouse": "", "quantity": 73, "value": "171.00",
         "last_issue_on": "2024-03-01", "days_since_issue": 30, "oldest_received_on": "2024-01-05",
         "days_in_stock": 86},
        {"sku": "PEN", "category": "office", "warehouse": "", "quantity": 38, "value": "38.00", "last_issue_on": None,
         "days_since_issue": None, "oldest_received_on": "2023-12-01", "days_in_stock": 121}]}

    r = http.get("/stock/reports/turnover", params={"date_from": "2024-02-01", "date_to": "2024-02-29"},
                 headers=finance)
    body = r.json()
    assert body["total"] == {"cogs": "85.00", "opening_value": "213.33", "closing_value": "253.33",
                             "average_value": "233.33", "turnover": "0.36", "days_of_supply": "86.43"}
    assert next(row for row in body["rows"] if row["key"] == "GIFT")["turnover"] is None
    bad = http.get("/stock/reports/turnover", params={"date_from": "2024-02-01", "date_to": "2024-02-01",
                                                      "by": "brand"}, headers=finance)
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
    assert bad.json()["errors"] == [{"field": "by", "message": "expected one of sku, category, warehouse"}]

    r = http.get("/stock/reports/value-at", params={"as_of": "2024-02-29", "warehouse": "SH"}, headers=finance)
    assert r.json() == {"as_of": "2024-02-29", "total_quantity": 70, "total_value": "178.33", "in_transit": [],
                        "warehouses": [
        {"warehouse": "SH", "quantity": 70, "value": "178.33",
         "skus": [{"sku": "MUG", "quantity": 10, "value": "33.33"},
                  {"sku": "TEA", "quantity": 60, "value": "145.00"}]}]}


def _sheet(body: bytes, name: str | None = None) -> list[tuple]:
    from io import BytesIO

    from openpyxl import load_workbook
    book = load_workbook(BytesIO(body))
    return list((book[name] if name else book.active).iter_rows(values_only=True))


def test_gateway_kpi_routes_and_their_workbooks(gateway):
    http, keys = gateway
    finance = {"X-API-Key": keys["finance"]}
    period = {"date_from": "2024-02-01", "date_to": "2024-02-29"}

    r = http.get("/stock/reports/turnover", params={**period, "by": "warehouse"}, headers=finance)
    body = r.json()
    assert (body["by"], body["warehouse"], body["category"]) == ("warehouse", "", "")
    assert body["rows"][1] == {"key": "SH", "cogs": "85.00", "opening_value": "173.33", "closing_value": "178.33",
                               "average_value": "175.83", "turnover": "0.48", "days_of_supply": "60.84"}
    r = http.get("/stock/reports/turnover.xlsx", params={**period, "by": "warehouse"}, headers=finance)
    assert r.headers["content-disposition"] == 'attachment; filename="turnover-2024-02-01-2024-02-29.xlsx"'
    rows = _sheet(r.content)
    assert rows[2] == ("SH", 85, 173.33, 178.33, 175.83, 0.48, 60.84)  # stored as the decimals' exact text
    assert rows[1][-2:] == (0, None) and rows[-1][:2] == ("合计 Total", 85)
    assert ("explanation", body["explanation"]) in _sheet(r.content, "说明 About")

    r = http.get("/stock/reports/slow-movers", params={"days": 30, "as_of": "2024-03-31", "per_warehouse": True,
                                                       "min_value": "30", "min_days_in_stock": 60}, headers=finance)
    assert [(x["sku"], x["warehouse"], x["days_in_stock"]) for x in r.json()["rows"]] == [("TEA", "SH", 86),
                                                                                           ("PEN", "BJ", 121)]
    r = http.get("/stock/reports/slow-movers.xlsx", params={"days": 30, "as_of": "2024-03-31", "per_warehouse": True},
                 headers=finance)
    assert _sheet(r.content)[1] == ("TEA", "drinks", "SH", 58, 141, "2024-02-10", 50, "2024-01-05", 86)

    r = http.get("/stock/reports/forecast", params={"horizon": 3, "history_days": 10, "as_of": "2024-03-05",
                                                    "method": "exponential_smoothing", "alpha": 0.5}, headers=finance)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["method"], body["params"], body["history_from"], body["history_to"]) == (
        "exponential_smoothing", {"alpha": 0.5}, "2024-02-25", "2024-03-05")
    assert body["rows"][0] == {"sku": "MUG", "category": "kitchen", "history": [0] * 9 + [4], "history_units": 4,
                               "forecast": ["2.00", "2.00", "2.00"], "total": "6.00"}
    r = http.get("/stock/reports/forecast.xlsx", params={"horizon": 3, "history_days": 10, "as_of": "2024-03-05"},
                 headers=finance)
    assert _sheet(r.content)[1] == ("MUG", "kitchen", 4, 1.2, 0.4, 0.4, 0.4)
    assert _sheet(r.content, "历史 History")[1] == ("MUG", *[0] * 9, 4)
    assert ("param window", "10") in _sheet(r.content, "说明 About")

    def problem(path: str, params: dict) -> list[str]:
        reply = http.get(path, params=params, headers=finance)
        assert reply.status_code == 422 and reply.headers["content-type"] == "application/problem+json", reply.text
        return [e["field"] for e in reply.json()["errors"]]

    assert problem("/stock/reports/turnover", {"date_from": "2024-03-01", "date_to": "2024-02-01"}) == ["date_to"]
    assert problem("/stock/reports/turnover.xlsx", {"date_from": "1990-01-01", "date_to": "2024-02-01"}) == ["date_to"]
    assert problem("/stock/reports/turnover", {**period, "warehouse": "S H!"}) == ["query.warehouse"]
    assert problem("/stock/reports/slow-movers", {"days": 30, "category": "a\tb"}) == ["query.category"]
    assert problem("/stock/reports/slow-movers.xlsx", {"days": 30, "min_value": "-5"}) == ["query.min_value"]
    assert problem("/stock/reports/forecast", {"horizon": 0}) == ["query.horizon"]
    assert problem("/stock/reports/forecast.xlsx", {"horizon": 367}) == ["query.horizon"]
    assert problem("/stock/reports/forecast", {"horizon": 7, "method": "arima"}) == ["method"]
    assert problem("/stock/reports/forecast", {"horizon": 7, "method": "holt", "gamma": 0.2}) == ["gamma"]
    assert http.get("/stock/reports/forecast", params={"horizon": 7, "sku": "NOPE"}, headers=finance).status_code == 404
