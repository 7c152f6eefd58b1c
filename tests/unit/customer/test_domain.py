from datetime import datetime, timezone
from decimal import Decimal

import pytest

from hubkit.errors import InvalidArgument
from services.customer import domain


def _payload(**kw):
    base = {"order_id": "o1", "channel": "taobao", "shop": "s1", "external_order_id": "E1", "currency": "CNY",
            "total": "19.90", "placed_at": "2024-02-01T00:30:00+08:00",
            "buyer": {"external_id": "b1", "name": "Zhang San", "phone": "138 0013-8000", "email": "z@example.com"},
            "shipping_address": {}, "lines": []}
    return {**base, **kw}


@pytest.mark.parametrize("buyer, key, external_id", [
    (domain.Buyer(external_id="b1", phone="13800138000"), "b1", "b1"),
    (domain.Buyer(phone="13800138000"), "phone:13800138000", ""),
    (domain.Buyer(name="only a name"), "order:o1", ""),
    (domain.Buyer(), "order:o1", ""),
])
def test_identity_is_buyer_id_then_phone_then_the_order(buyer, key, external_id):
    ident = domain.identity("jd", "o1", buyer)
    assert (ident.channel, ident.key, ident.external_id) == ("jd", key, external_id)
    assert ident.anonymous == key.startswith("order:")


def test_empty_buyer_fields_count_as_missing():
    event = domain.parse_order_placed(_payload(buyer={"external_id": "  ", "phone": "", "name": None}))
    assert domain.identity(event.channel, event.order_id, event.buyer).key == "order:o1"
    event = domain.parse_order_placed(_payload(buyer={"external_id": "", "phone": "+86 138-0013-8000"}))
    assert domain.identity(event.channel, event.order_id, event.buyer).key == "phone:+8613800138000"
    event = domain.parse_order_placed(_payload(buyer=None))
    assert event.buyer == domain.Buyer()


def test_a_valid_order_placed_is_parsed_exactly():
    event = domain.parse_order_placed(_payload())
    assert event.total == Decimal("19.90") and isinstance(event.total, Decimal)
    assert event.placed_at == datetime(2024, 1, 31, 16, 30, tzinfo=timezone.utc)
    assert event.buyer.phone == "13800138000"
    assert domain.parse_order_placed(_payload(placed_at="2024-01-31T16:30:00Z")).placed_at == event.placed_at
    assert domain.parse_order_placed(_payload(placed_at="2024-01-31T16:30:00")).placed_at == event.placed_at


def test_every_problem_of_an_order_placed_is_reported_with_its_field():
    with pytest.raises(InvalidArgument) as caught:
        domain.parse_order_placed(_payload(order_id="", channel=None, total=19.9, placed_at="yesterday",
                                           currency="yuan", buyer={"external_id": "x" * 200}))
    fields = {f["field"] for f in caught.value.fields}
    assert fields == {"order_id", "channel", "total", "placed_at", "currency", "buyer.external_id"}


@pytest.mark.parametrize("total", ["-1", "1.001", "abc", "NaN", None, "", "1e20"])
def test_a_bad_total_is_refused(total):
    with pytest.raises(InvalidArgument) as caught:
        domain.parse_order_placed(_payload(total=total))
    assert [f["field"] for f in caught.value.fields] == ["total"]


def test_errors_never_carry_personal_data():
    phone = "1" * 40
    with pytest.raises(InvalidArgument) as caught:
        domain.parse_order_placed(_payload(buyer={"phone": phone, "name": "Zhang San"}))
    assert phone not in str(caught.value.fields) + caught.value.message
    assert "Zhang" not in str(caught.value.fields) + caught.value.message


def test_order_shipped_needs_the_order_and_a_time():
    event = domain.parse_order_shipped({"order_id": "o1", "shipped_at": "2024-02-01T10:00:00+00:00",
                                        "carrier": "SF", "tracking_number": "SF1"})
    assert event.shipped_at == datetime(2024, 2, 1, 10, tzinfo=timezone.utc) and event.carrier == "SF"
    with pytest.raises(InvalidArgument) as caught:
        domain.parse_order_shipped({"shipped_at": ""})
    assert {f["field"] for f in caught.value.fields} == {"order_id", "shipped_at"}


def test_a_search_needs_a_criterion():
    with pytest.raises(InvalidArgument) as caught:
        domain.check_criteria("", "", "", "", 0)
    assert caught.value.fields


@pytest.mark.parametrize("args, field", [
    (("taobao", "", "", "", 0), "external_id"),
    (("", "b1", "", "", 0), "channel"),
    (("", "", "---", "", 0), "phone"),
    (("", "", "", "o1", -1), "limit"),
])
def test_a_bad_search_names_its_field(args, field):
    with pytest.raises(InvalidArgument) as caught:
        domain.check_criteria(*args)
    assert [f["field"] for f in caught.value.fields] == [field]


def test_search_limit_defaults_and_is_capped():
    assert domain.check_criteria("", "", "", "o1", 0).limit == 50
    assert domain.check_criteria("", "", "", "o1", 10_000).limit == 500
    assert domain.check_criteria("", "", "138-0013-8000", "", 5) == domain.Criteria(phone="13800138000", limit=5)
