"""Posting rules for stock movements inside the merchant's own books: adjustments (count, loss,
scrap, expired), transfers between warehouses, kit assembly and disassembly. Worked to the cent."""
from decimal import Decimal

import pytest
from sqlalchemy import select

from hubkit.db import Database
from hubkit.envelope import Envelope
from hubkit.errors import InvalidArgument
from hubkit.inbox import handle_once
from services.accounting import chart, domain, handlers
from services.accounting.models import metadata, voucher_lines, vouchers

RULES = domain.Rules(accounts=chart.DEFAULT_ACCOUNTS, vat_rate=Decimal("0.13"), timezone="Asia/Shanghai")
D = Decimal


def _rows(lines):
    return [(l.account, l.debit, l.credit, l.cost_centre) for l in lines]


# -- stock_adjusted ------------------------------------------------------------
def _adjustment(reason, quantity, value):
    return {"adjustment_id": "a" * 32, "sku": "TEA-100", "warehouse": "SH", "quantity": quantity,
            "reason": reason, "note": "", "value": value, "occurred_at": "2026-03-02T02:00:00+00:00"}


def test_count_gain_debits_inventory_and_credits_stock_differences():
    lines = domain.stock_adjustment(_adjustment("count", 3, "37.50"), RULES)
    assert _rows(lines) == [("1405", D("37.50"), D("0.00"), "warehouse:SH"),
                            ("1901", D("0.00"), D("37.50"), "warehouse:SH")]
    assert domain.check_balanced(lines) == D("37.50")
    assert lines[0].summary.startswith("Stock count TEA-100 x3")


@pytest.mark.parametrize("reason", ["count", "loss"])
def test_count_loss_and_loss_pending_approval_go_to_stock_differences(reason):
    lines = domain.stock_adjustment(_adjustment(reason, -2, "-25.00"), RULES)
    assert _rows(lines) == [("1901", D("25.00"), D("0.00"), "warehouse:SH"),
                            ("1405", D("0.00"), D("25.00"), "warehouse:SH")]
    assert domain.check_balanced(lines) == D("25.00")


@pytest.mark.parametrize("reason", ["scrap", "expired"])
def test_scrap_and_expired_lots_are_written_off_to_the_scrap_account(reason):
    lines = domain.stock_adjustment(_adjustment(reason, -4, "-49.96"), RULES)
    assert _rows(lines) == [("6711", D("49.96"), D("0.00"), "warehouse:SH"),
                            ("1405", D("0.00"), D("49.96"), "warehouse:SH")]
    assert domain.check_balanced(lines) == D("49.96")
    assert f"Stock {reason} TEA-100 x-4" in lines[0].summary


def test_the_scrap_account_follows_an_override():
    rules = domain.Rules(accounts=chart.posting_accounts('{"scrap": "6602"}'), vat_rate=D("0.13"),
                         timezone="Asia/Shanghai")
    assert [l.account for l in domain.stock_adjustment(_adjustment("expired", -1, "-3.00"), rules)] == ["6602", "1405"]


def test_a_worthless_adjustment_posts_nothing():
    assert domain.stock_adjustment(_adjustment("count", 5, "0.00"), RULES) == []
    assert domain.stock_adjustment(_adjustment("expired", -5, "0.00"), RULES) == []


@pytest.mark.parametrize("reason", ["theft", "", None, "COUNT"])
def test_an_unknown_reason_is_rejected_with_a_clear_error(reason):
    with pytest.raises(InvalidArgument, match="unknown reason") as raised:
        domain.stock_adjustment(_adjustment(reason, -1, "-1.00"), RULES)
    assert raised.value.fields[0]["field"] == "reason"


@pytest.mark.parametrize("reason,quantity,value", [
    ("scrap", 2, "10.00"),    # scrap only takes stock away
    ("loss", -2, "10.00"),    # a loss with a positive value
    ("count", 2, "-10.00"),   # a gain with a negative value
    ("count", -2, "10.00"),   # a loss with a positive value
])
def test_a_value_whose_sign_does_not_fit_the_movement_is_rejected(reason, quantity, value):
    with pytest.raises(InvalidArgument):
        domain.stock_adjustment(_adjustment(reason, quantity, value), RULES)


# -- stock_transferred ---------------------------------------------------------
def _transfer(stage, total="150.40"):
    return {"transfer_id": "t" * 32, "stage": stage, "from_warehouse": "SH", "to_warehouse": "BJ",
            "occurred_at": "2026-03-02T02:00:00+00:00", "total_value": total,
            "lines": [{"sku": "TEA-100", "quantity": 10, "value": "125.00"},
                      {"sku": "CUP-1", "quantity": 2, "value": "25.40"}]}


def test_a_shipped_transfer_moves_the_goods_into_transit_at_cost():
    lines = domain.stock_transfer(_transfer("shipped"), RULES)
    assert _rows(lines) == [("1405", D("150.40"), D("0.00"), "transit"),
                            ("1405", D("0.00"), D("150.40"), "warehouse:SH")]
    assert domain.check_balanced(lines) == D("150.40")
    assert all("SH" in l.summary and "BJ" in l.summary and "t" * 12 in l.summary for l in lines)


def test_a_received_transfer_moves_the_goods_from_transit_into_the_receiving_warehouse():
    lines = domain.stock_transfer(_transfer("received"), RULES)
    assert _rows(lines) == [("1405", D("150.40"), D("0.00"), "warehouse:BJ"),
                            ("1405", D("0.00"), D("150.40"), "transit")]
    assert domain.check_balanced(lines) == D("150.40")


def test_goods_in_transit_is_its_own_overridable_role():
    assert chart.DEFAULT_ACCOUNTS["goods_in_transit"] == "1405"
    rules = domain.Rules(accounts=chart.posting_accounts('{"goods_in_transit": "1402"}'), vat_rate=D("0.13"),
                         timezone="Asia/Shanghai")
    shipped, received = domain.stock_transfer(_transfer("shipped"), rules), domain.stock_transfer(_transfer("received"), rules)
    assert [(l.account, l.cost_centre) for l in shipped] == [("1402", "transit"), ("1405", "warehouse:SH")]
    assert [(l.account, l.cost_centre) for l in received] == [("1405", "warehouse:BJ"), ("1402", "transit")]


def test_a_transfer_with_an_unknown_stage_or_a_wrong_total_is_rejected():
    with pytest.raises(InvalidArgument, match="unknown stage"):
        domain.stock_transfer(_transfer("lost"), RULES)
    with pytest.raises(InvalidArgument, match="sum of its lines"):
        domain.stock_transfer(_transfer("shipped", total="150.41"), RULES)


def test_a_transfer_of_free_goods_posts_nothing():
    payload = {**_transfer("shipped", total="0.00"), "lines": [{"sku": "GIFT", "quantity": 1, "value": "0.00"}]}
    assert domain.stock_transfer(payload, RULES) == []


# -- kit_changed ---------------------------------------------------------------
def _kit(action, value="58.30", components=None):
    return {"document_id": "k" * 32, "action": action, "kit_sku": "GIFTBOX", "warehouse": "SH", "quantity": 2,
            "value": value, "occurred_at": "2026-03-02T02:00:00+00:00",
            "components": components if components is not None else [
                {"sku": "TEA-100", "quantity": 2, "value": "25.00"},
                {"sku": "CUP-1", "quantity": 4, "value": "33.30"}]}


def test_assembling_a_kit_debits_the_kit_and_credits_each_component():
    lines = domain.kit_change(_kit("assembled"), RULES)
    assert _rows(lines) == [("1405", D("58.30"), D("0.00"), "warehouse:SH"),
                            ("1405", D("0.00"), D("25.00"), "warehouse:SH"),
                            ("1405", D("0.00"), D("33.30"), "warehouse:SH")]
    assert domain.check_balanced(lines) == D("58.30")
    assert lines[0].summary.startswith("Kit GIFTBOX x2 assembled")
    assert "TEA-100" in lines[1].summary and "CUP-1" in lines[2].summary


def test_disassembling_a_kit_is_the_reverse():
    lines = domain.kit_change(_kit("disassembled"), RULES)
    assert _rows(lines) == [("1405", D("25.00"), D("0.00"), "warehouse:SH"),
                            ("1405", D("33.30"), D("0.00"), "warehouse:SH"),
                            ("1405", D("0.00"), D("58.30"), "warehouse:SH")]
    assert domain.check_balanced(lines) == D("58.30")
    assert lines[-1].summary.startswith("Kit GIFTBOX x2 disassembled")


def test_a_free_component_has_no_line_and_free_kits_post_nothing():
    lines = domain.kit_change(_kit("assembled", "25.00", [{"sku": "TEA-100", "quantity": 2, "value": "25.00"},
                                                          {"sku": "RIBBON", "quantity": 1, "value": "0.00"}]), RULES)
    assert [l.summary for l in lines if "RIBBON" in l.summary] == []
    domain.check_balanced(lines)
    free = _kit("assembled", "0.00", [{"sku": "RIBBON", "quantity": 1, "value": "0.00"}])
    assert domain.kit_change(free, RULES) == []


def test_a_kit_whose_value_is_not_its_components_sum_does_not_balance():
    lines = domain.kit_change(_kit("assembled", value="58.31"), RULES)
    with pytest.raises(domain.UnbalancedVoucher):
        domain.check_balanced(lines)


def test_a_kit_with_an_unknown_action_is_rejected():
    with pytest.raises(InvalidArgument, match="unknown action"):
        domain.kit_change(_kit("repacked"), RULES)


# -- stock_received: a receipt outside a purchase, booked by its reason -------------------------
def _receipt(reason, value="123.45", quantity=7):
    return {"document_id": "r" * 32, "reason": reason, "sku": "TEA-100", "warehouse": "SH", "quantity": quantity,
            "value": value, "reference": "go-live", "occurred_at": "2026-03-02T02:00:00+00:00"}


@pytest.mark.parametrize(("reason", "account"), [("opening", "4001"), ("other", "1901"), ("found", "1901"),
                                                 ("production", "5001")])
def test_a_receipt_debits_inventory_and_credits_the_account_of_its_reason(reason, account):
    lines = domain.stock_receipt(_receipt(reason), RULES)
    assert _rows(lines) == [("1405", D("123.45"), D("0.00"), "warehouse:SH"),
                            (account, D("0.00"), D("123.45"), "warehouse:SH")]
    assert domain.check_balanced(lines) == D("123.45")
    assert lines[0].summary.startswith(f"Stock received ({reason}) TEA-100 x7")


def test_the_receipt_accounts_are_in_the_default_chart():
    codes = {a.code for a in chart.DEFAULT_CHART}
    for role in domain.RECEIPT_ROLES.values():
        assert chart.DEFAULT_ACCOUNTS[role] in codes, role


def test_each_receipt_reason_has_its_own_overridable_role():
    overrides = '{"opening_equity": "4002", "other_receipts": "6051", "production_cost": "5101"}'
    rules = domain.Rules(accounts=chart.posting_accounts(overrides), vat_rate=D("0.13"), timezone="Asia/Shanghai")
    credited = {r: domain.stock_receipt(_receipt(r), rules)[1].account for r in domain.RECEIPT_ROLES}
    assert credited == {"opening": "4002", "other": "6051", "found": "1901", "production": "5101"}


def test_a_receipt_rounds_its_value_to_the_cent_and_a_free_one_posts_nothing():
    lines = domain.stock_receipt(_receipt("other", value="10.005"), RULES)
    assert [(l.debit, l.credit) for l in lines] == [(D("10.01"), D("0.00")), (D("0.00"), D("10.01"))]
    assert domain.stock_receipt(_receipt("opening", value="0.00"), RULES) == []


def test_a_receipt_with_an_unknown_reason_or_a_negative_value_is_rejected():
    with pytest.raises(InvalidArgument, match="unknown reason"):
        domain.stock_receipt(_receipt("purchase"), RULES)
    with pytest.raises(InvalidArgument, match="positive quantity"):
        domain.stock_receipt(_receipt("found", value="-1.00"), RULES)


# -- through the handlers: one voucher per stage, empty vouchers skipped ------------------------
@pytest.fixture
def db(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'accounting.db'}", metadata, pool_size=1)
    metadata.create_all(database.engine)
    handlers.ensure_chart(database, chart.DEFAULT_CHART)
    yield database
    database.dispose()


def _envelope(event_type, aggregate_id, sequence, payload):
    return Envelope(type=event_type, source="inventory", aggregate_id=aggregate_id, sequence=sequence,
                    payload=payload, correlation_id="c" * 32, actor="test")


def _apply(db, consumer, envelope, posting):
    return handle_once(db, "accounting", consumer, envelope, lambda uow, env: posting(uow, env, RULES))


def _vouchers(db):
    with db.reader() as s:
        return [dict(r._mapping) for r in s.execute(select(vouchers).order_by(vouchers.c.number)).all()]


def test_each_transfer_stage_is_posted_once(db):
    shipped = _envelope("stock_transferred", "t" * 32, 1, _transfer("shipped"))
    received = _envelope("stock_transferred", "t" * 32, 2, _transfer("received"))
    for envelope in (shipped, received, shipped):  # the redelivered shipment is a duplicate
        _apply(db, "accounting.stock_transferred", envelope, handlers.post_stock_transfer)
    # the same stage again under a new event id still posts nothing new (kind + source id)
    again = _envelope("stock_transferred", "t" * 32, 3, _transfer("received"))
    assert _apply(db, "accounting.stock_transferred", again, handlers.post_stock_transfer)
    posted = _vouchers(db)
    assert [(v["kind"], v["source_id"], v["total"], v["period"]) for v in posted] == [
        ("stock_transfer", f"{'t' * 32}:shipped", D("150.40"), "2026-03"),
        ("stock_transfer", f"{'t' * 32}:received", D("150.40"), "2026-03")]
    with db.reader() as s:
        rows = s.execute(select(voucher_lines.c.account, voucher_lines.c.debit, voucher_lines.c.credit,
                                voucher_lines.c.cost_centre)
                         .where(voucher_lines.c.voucher_id == posted[1]["id"]).order_by(voucher_lines.c.line_no)).all()
    assert [tuple(r) for r in rows] == [("1405", D("150.40"), D("0.00"), "warehouse:BJ"),
                                        ("1405", D("0.00"), D("150.40"), "transit")]


def test_a_free_kit_is_recorded_as_applied_without_a_voucher(db):
    free = _envelope("kit_changed", "k" * 32, 1, _kit("assembled", "0.00", [{"sku": "RIBBON", "quantity": 1,
                                                                            "value": "0.00"}]))
    assert _apply(db, "accounting.kit_changed", free, handlers.post_kit_change) is True
    assert _vouchers(db) == []
    assert _apply(db, "accounting.kit_changed", free, handlers.post_kit_change) is False  # applied already


def test_a_kit_change_posts_one_voucher_dated_in_the_merchants_time_zone(db):
    # 16:30 UTC on 31 March is 00:30 on 1 April in Shanghai
    kit = _envelope("kit_changed", "k" * 32, 1, {**_kit("assembled"), "occurred_at": "2026-03-31T16:30:00+00:00"})
    _apply(db, "accounting.kit_changed", kit, handlers.post_kit_change)
    [voucher] = _vouchers(db)
    assert (voucher["kind"], voucher["total"], voucher["period"], str(voucher["business_date"])) == \
        ("kit_change", D("58.30"), "2026-04", "2026-04-01")


def test_an_adjustment_with_an_unknown_reason_changes_nothing(db):
    bad = _envelope("stock_adjusted", "a" * 32, 1, _adjustment("theft", -1, "-1.00"))
    with pytest.raises(InvalidArgument):
        _apply(db, "accounting.stock_adjusted", bad, handlers.post_stock_adjustment)
    assert _vouchers(db) == []
    # nothing recorded as applied either: a replay from the dead-letter queue is applied then
    with db.reader() as s:
        assert s.execute(select(metadata.tables["inbox"])).all() == []


def test_a_receipt_posts_one_voucher_against_its_reasons_account(db):
    receipt = _envelope("stock_received", "receipt:" + "r" * 32, 1, _receipt("production"))
    for _ in range(2):  # the redelivery is a duplicate
        _apply(db, "accounting.stock_received", receipt, handlers.post_stock_receipt)
    [voucher] = _vouchers(db)
    assert (voucher["kind"], voucher["source_id"], voucher["total"]) == ("stock_receipt", "r" * 32, D("123.45"))
    with db.reader() as s:
        rows = s.execute(select(voucher_lines.c.account, voucher_lines.c.debit, voucher_lines.c.credit)
                         .where(voucher_lines.c.voucher_id == voucher["id"]).order_by(voucher_lines.c.line_no)).all()
    assert [tuple(r) for r in rows] == [("1405", D("123.45"), D("0.00")), ("5001", D("0.00"), D("123.45"))]
