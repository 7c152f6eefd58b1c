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
