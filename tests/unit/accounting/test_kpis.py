"""The sales KPIs' pure parts: the ABC classifier at its boundaries, the checks of a request, and the
facts a posting breaks down into adding up to its voucher's lines."""
from __future__ import annotations

from decimal import Decimal

import pytest

from hubkit.errors import InvalidArgument
from services.accounting import chart, domain, facts, kpis

D = Decimal
RULES = domain.Rules(accounts=dict(chart.DEFAULT_ACCOUNTS), vat_rate=D("0.13"), timezone="Asia/Shanghai")


def grades(values, a="80", b="95"):
    return [(r.key, r.grade) for r in kpis.classify([(k, D(v)) for k, v in values], D(a), D(b))]


def test_the_customer_that_reaches_exactly_80_percent_is_a_and_the_next_is_b():
    assert grades([("x", "50"), ("y", "30"), ("z", "15"), ("w", "5")]) == \
        [("x", "A"), ("y", "A"), ("z", "B"), ("w", "C")]


def test_the_customer_that_crosses_a_boundary_belongs_to_the_class_below_it():
    # x alone is 79.99 %: y takes A to 89.99 %; z reaches 95.99 %, crossing 95, so it is still B
    assert grades([("x", "7999"), ("y", "1000"), ("z", "600"), ("w", "401")]) == \
        [("x", "A"), ("y", "A"), ("z", "B"), ("w", "C")]


def test_one_large_customer_is_a_alone_and_non_positive_ones_are_c():
    ranked = kpis.classify([("big", D("90")), ("small", D("10")), ("refunded", D("-5")), ("none", D("0"))],
                           D("80"), D("95"))
    assert [(r.key, r.grade) for r in ranked] == [("big", "A"), ("small", "B"), ("none", "C"), ("refunded", "C")]
    assert [r.share for r in ranked] == [D("90.00"), D("10.00"), D("0.00"), D("-5.00")]
    assert ranked[-1].cumulative == D("100.00")


def test_b_at_100_leaves_no_positive_customer_in_c_and_ties_sort_by_key():
    assert grades([("b", "10"), ("a", "10"), ("c", "10")], "50", "100") == [("a", "A"), ("b", "A"), ("c", "B")]
    assert kpis.classify([], D("80"), D("95")) == []


@pytest.mark.parametrize("a,b,field", [
    ("0", "95", "a"), ("-1", "95", "a"), ("80", "101", "b"), ("95", "80", "b"), ("80", "80", "b"),
    ("x", "95", "a"), ("NaN", "95", "a"), ("80", "Infinity", "b"),
])
def test_class_boundaries_outside_0_100_or_a_not_below_b_are_refused(a, b, field):
    with pytest.raises(InvalidArgument) as refused:
        kpis.check_boundaries(a, b)
    assert field in [e["field"] for e in refused.value.fields]


@pytest.mark.parametrize("start,end,by,field", [
    ("2026-11-30", "2026-11-01", "day", "to"),       # upside down
    ("", "2026-11-30", "day", "from"),              # unbounded
    ("2026-11-01", "", "day", "to"),
    ("2026-02-30", "2026-03-01", "day", "from"),     # no such day
    ("2023-11-01", "2026-11-30", "day", "to"),       # more than about three years
    ("2026-11-01", "2026-11-30", "colour", "by"),    # unknown dimension
])
def test_a_bad_report_request_is_refused_naming_the_field(start, end, by, field):
    with pytest.raises(InvalidArgument) as refused:
        kpis.sales_report(None, start, end, by, {})  # type: ignore[arg-type]  # refused before any query
    assert field in [e["field"] for e in refused.value.fields]


def test_the_longest_period_allowed_is_accepted_by_the_check():
    first, last = kpis.check_period("2024-01-01", "2026-12-31")
    assert (last - first).days + 1 <= kpis.MAX_SPAN_DAYS


def test_a_converted_sales_facts_add_up_to_its_voucher_line_by_line():
    payload = {"order_id": "o", "channel": "shopify", "shop": "S", "external_order_id": "E", "buyer": {},
               "region": "", "lines": [{"line_no": n, "sku": f"K{n}", "quantity": 3, "unit_price": "33.33",
                                        "amount": amount} for n, amount in enumerate(("99.99", "0.01", "45.67"), 1)]}
    rate = D("7.12345")
    lines = domain.sale(payload, RULES, rate)
    rows = facts.sale(payload, RULES, rate)
    assert facts.reconcile(rows, lines, RULES.accounts) == rows  # nothing left over
    assert sum((f.revenue for f in rows), D(0)) == next(l.credit for l in lines if l.account == "6001")
    assert rows[0].customer == "shopify:order:o"


def test_a_breakdown_that_misses_a_cent_is_completed_by_an_unattributed_fact():
    lines = [domain.Line("1122", "s", debit=D("1.13")), domain.Line("6001", "s", credit=D("1.00")),
             domain.Line("22210105", "s", credit=D("0.13"))]
    rows = facts.reconcile([facts.Fact("sale", revenue=D("0.99"))], lines, RULES.accounts)
    assert rows[-1] == facts.Fact("other", revenue=D("0.01"))
