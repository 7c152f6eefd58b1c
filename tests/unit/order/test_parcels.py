"""Partial shipment: a line's amount allocated to the cent across its parcels (services.order.domain
.parcel_amount), the books' sale of the parcels (VAT split cumulatively) adding up to exactly the sale of
the whole order, and the parcel's validation (lines and packing scans)."""
from decimal import Decimal
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hubkit.errors import InvalidArgument
from services.accounting import chart
from services.accounting import domain as books
from services.order import domain, parcels

RULES = books.Rules(accounts=chart.DEFAULT_ACCOUNTS, vat_rate=Decimal("0.13"), timezone="Asia/Shanghai")
# the machine is shared: slow draws are the load, not the strategy
SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.large_base_example])
amounts = st.integers(min_value=0, max_value=10_000_000).map(lambda c: Decimal(c) / 100)


@st.composite
def split_lines(draw):
    """Lines (amount, quantity) and the parcels that ship them: per parcel, units of each line."""
    lines = draw(st.lists(st.tuples(amounts, st.integers(min_value=1, max_value=50)), min_size=1, max_size=5))
    n = draw(st.integers(min_value=1, max_value=4))
    shipments: list[dict[int, int]] = [{} for _ in range(n)]
    for i, (_, q) in enumerate(lines):  # each line's units cut into the parcels at n - 1 points
        cuts = sorted(draw(st.lists(st.integers(min_value=0, max_value=q), min_size=n - 1, max_size=n - 1)))
        for p, units in enumerate(b - a for a, b in zip([0, *cuts], [*cuts, q])):
            if units:
                shipments[p][i] = units
    shipments = [p for p in shipments if p]
    return lines, shipments


def _allocate(lines, shipments):
    shipped, out = [0] * len(lines), []
    for parcel in shipments:
        rows = []
        for i, units in sorted(parcel.items()):
            amount, quantity = lines[i]
            share, before = domain.parcel_amount(amount, quantity, shipped[i], units)
            rows.append((i, units, share, before))
            shipped[i] += units
        out.append(rows)
    return out


@SETTINGS
@given(split_lines())
def test_the_parcels_of_an_order_add_up_to_exactly_its_total_whatever_the_split(case):
    lines, shipments = case
    allocated = _allocate(lines, shipments)
    for i, (amount, quantity) in enumerate(lines):
        mine = [(units, share) for rows in allocated for j, units, share, _ in rows if j == i]
        assert sum(s for _, s in mine) == amount  # to the cent: the last parcel takes what is left
        for units, share in mine:  # never a cent or more off the units' exact share, never negative
            assert share >= 0 and abs(share - amount * units / quantity) < Decimal("0.01")
    assert sum(share for rows in allocated for *_, share, _ in rows) == sum(a for a, _ in lines)


@SETTINGS
@given(split_lines())
def test_the_sale_vouchers_of_the_parcels_add_up_to_the_sale_of_the_whole_order(case):
    lines, shipments = case
    whole = books.sale(_payload([{"amount": str(a)} for a, _ in lines]), RULES)
    per_parcel = [books.sale(_payload([{"amount": str(share), "amount_shipped_before": str(before)}
                                       for _, _, share, before in rows]), RULES)
                  for rows in _allocate(lines, shipments)]
    for account, side in (("1122", "debit"), ("6001", "credit"), ("22210105", "credit")):
        assert sum(_sum(v, account, side) for v in per_parcel) == _sum(whole, account, side), account


def test_three_units_for_ten_yuan_ship_as_3_33_then_3_34_then_3_33():
    shares = [domain.parcel_amount(Decimal("10.00"), 3, before, 1)[0] for before in range(3)]
    assert shares == [Decimal("3.33"), Decimal("3.34"), Decimal("3.33")]


def _sum(lines, account, side):
    return sum((getattr(l, side) for l in lines if l.account == account), Decimal("0"))


def _payload(lines):
    return {"order_id": "o1", "channel": "storefront", "shop": "s", "external_order_id": "W1",
            "buyer": {"external_id": "b1"}, "lines": lines}


def _line(sku, quantity, reservation=domain.RESERVED, shipped=0):
    return SimpleNamespace(sku=sku, quantity=quantity, reservation=reservation, shipped_quantity=shipped)


CURRENT = {1: _line("A", 3), 2: _line("B", 2, domain.BACKORDERED), 3: _line("C", 2, shipped=2)}


@pytest.mark.parametrize("wanted, scans, field", [
    ([(9, 1)], [], "lines[0].line_no"),                      # a line the order does not have
    ([(2, 1)], [], "lines[0].line_no"),                      # backordered: not reserved
    ([(1, 4)], [], "lines[0].quantity"),                     # more than reserved
    ([(3, 1)], [], "lines[0].quantity"),                     # shipped whole already
    ([(1, 1), (1, 1)], [], "lines"),                          # a line twice
    ([], [], "lines"),                                        # nothing
    ([(1, 2)], [("A", ""), ("X", "")], "scans[1].sku"),       # the wrong item scanned
    ([(1, 2)], [("A", "")], "scans"),                         # a unit not scanned
    ([(1, 1)], [("A", "S1"), ("A", "S1")], "scans[1].serial"),  # a serial twice
])
def test_a_parcel_of_units_not_reserved_or_a_wrong_scan_is_refused_naming_the_field(wanted, scans, field):
    with pytest.raises(InvalidArgument) as refused:
        parcels.validate(CURRENT, wanted, scans)
    assert field in [f["field"] for f in refused.value.fields]


def test_a_parcel_of_reserved_units_scanned_unit_by_unit_is_accepted():
    assert parcels.validate(CURRENT, [(1, 2)], [("A", "S1"), ("A", "S2")]) is None  # no refusal
    with pytest.raises(InvalidArgument) as short:  # the same parcel with one unit not scanned is refused
        parcels.validate(CURRENT, [(1, 2)], [("A", "S1")])
    assert short.value.fields
