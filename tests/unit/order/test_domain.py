from decimal import Decimal

import pytest

from hubkit.errors import InvalidArgument
from services.order import domain


def _cmd(**kw):
    base = dict(channel="taobao", shop="s1", external_order_id="E1",
                lines=[domain.LineInput("SKU-1", 2, Decimal("9.95"))])
    return domain.PlaceOrder(**{**base, **kw})


def test_valid_order_passes_and_amount_is_exact():
    domain.validate(_cmd())
    assert domain.line_amount(domain.LineInput("SKU-1", 3, Decimal("0.10"))) == Decimal("0.30")


def test_every_problem_is_reported_with_its_field():
    cmd = _cmd(channel="", lines=[domain.LineInput("", 0, Decimal("-1")),
                                  domain.LineInput("OK", 1, Decimal("1.001"))])
    with pytest.raises(InvalidArgument) as caught:
        domain.validate(cmd)
    fields = {f["field"] for f in caught.value.fields}
    assert fields == {"channel", "lines[0].sku", "lines[0].quantity", "lines[0].unit_price", "lines[1].unit_price"}


def test_an_order_needs_lines():
    with pytest.raises(InvalidArgument):
        domain.validate(_cmd(lines=[]))


@pytest.mark.parametrize("lines, status", [
    (["pending", "reserved"], "pending"),
    (["reserved", "backordered"], "backordered"),
    (["reserved", "reserved"], "reserved"),
])
def test_order_status_follows_its_lines(lines, status):
    assert domain.order_status(lines) == status


class _Sold:
    def __init__(self, quantity, amount, returned_quantity=0):
        self.quantity, self.amount, self.returned_quantity = quantity, Decimal(amount), returned_quantity


@pytest.mark.parametrize("unit_price, paid", [("30.00", "55.00"), ("19.90", "64.00")],
                         ids=["discounted", "up-adjusted by a spread shipping fee"])
def test_returns_of_a_line_reverse_what_the_buyer_paid_and_add_up_to_it(unit_price, paid):
    line, reversed_ = _Sold(3, paid), []
    for quantity in (1, 1, 1):
        amounts = domain.returned_amounts(line, quantity)
        assert amounts["amount_returned_before"] == sum(reversed_, Decimal("0.00"))
        reversed_.append(amounts["amount"])
        line.returned_quantity += quantity
    assert sum(reversed_) == Decimal(paid)  # not 3 x the unit price
    assert domain.returned_amounts(_Sold(3, paid), 3)["amount"] == Decimal(paid)


def test_a_partial_return_takes_the_units_share_of_the_paid_amount():
    # 2 units paid 55.00 (listed at 30.00 each): one back reverses 27.50, not 30.00
    assert domain.returned_amounts(_Sold(2, "55.00"), 1) == {"amount": Decimal("27.50"),
                                                             "amount_returned_before": Decimal("0.00")}


def test_priority_and_ship_by_are_checked():
    from datetime import datetime, timezone
    domain.validate(_cmd(priority=1000, ship_by=datetime(2026, 12, 6, 18, tzinfo=timezone.utc)))
    with pytest.raises(InvalidArgument) as caught:
        domain.validate(_cmd(priority=1001, ship_by=datetime(2026, 12, 6, 18)))
    assert {f["field"] for f in caught.value.fields} == {"priority", "ship_by"}


@pytest.mark.parametrize("lines", [[domain.PENDING], [domain.RESERVED], [domain.RESERVED, domain.BACKORDERED]])
def test_an_open_hold_makes_any_open_order_held_whatever_its_lines(lines):
    assert domain.order_status(lines, held=True) == domain.HELD
    assert domain.order_status(lines) != domain.HELD
    assert domain.HELD in domain.OPEN  # a held order can still be cancelled (rejected)


@pytest.mark.parametrize("reason,note,field", [("because", "", "reason"), ("manual", "x" * 501, "note")])
def test_a_hold_needs_a_known_reason_and_a_short_note(reason, note, field):
    with pytest.raises(InvalidArgument) as refused:
        domain.validate_hold(reason, note)
    assert [f["field"] for f in refused.value.fields] == [field]
    domain.validate_hold("finance_approval", "x" * 500)  # the longest note is fine


# -- merge key (services.order.merge) ----------------------------------------------------------------
_ADDRESS = {"recipient": "王 芳", "phone": "13800000000", "country": "CN", "province": "浙江省", "city": "杭州市",
            "district": "西湖区", "street": "文三路 100 号", "postal_code": "310000"}


def test_the_merge_key_ignores_spacing_and_case_of_the_address():
    key = domain.merge_key("web", "s1", "web:B1", _ADDRESS)
    spaced = {**_ADDRESS, "recipient": "  王   芳 ", "street": "文三路\u3000 100\t号 ", "country": "cn"}
    assert key is not None and domain.merge_key("web", "s1", "web:B1", spaced) == key


@pytest.mark.parametrize("change", [
    {"shop": "s2"}, {"channel": "jd"}, {"customer_key": "web:B2"},
    *({"address": {**_ADDRESS, name: _ADDRESS[name] + "x"}} for name in domain.MERGE_ADDRESS_FIELDS)])
def test_another_shop_buyer_or_address_field_is_another_merge_key(change):
    base = {"channel": "web", "shop": "s1", "customer_key": "web:B1", "address": _ADDRESS}
    assert domain.merge_key(**{**base, **change}) != domain.merge_key(**base)


def test_an_order_without_a_buyer_id_is_never_merged():
    assert domain.merge_key("web", "s1", None, _ADDRESS) is None
    assert domain.merge_key("web", "s1", "web:B1", {}) is not None  # no address fields: all empty, still a key


def test_a_buyer_message_of_at_most_500_characters_is_taken_and_a_channels_message_is_carried():
    from contracts import ChannelOrderChanged

    domain.validate(_cmd(buyer_message="x" * 500))
    with pytest.raises(InvalidArgument) as caught:
        domain.validate(_cmd(buyer_message="x" * 501))
    assert [f["field"] for f in caught.value.fields] == ["buyer_message"]
    event = ChannelOrderChanged(channel="taobao", shop="s1", external_order_id="E1", version=1, status="paid",
                                lines=[{"sku": "SKU-1", "quantity": 1, "unit_price": "1.00"}])
    assert domain.channel_order(event).order.buyer_message == ""
    noted = event.model_copy(update={"buyer_message": "请尽快发货"})
    assert domain.channel_order(noted).order.buyer_message == "请尽快发货"
