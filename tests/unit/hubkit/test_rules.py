"""The rule library: validation names the rule, field and position at fault; evaluation explains itself."""
import pytest

from hubkit import rules
from hubkit.errors import InvalidArgument

FACTS = rules.Facts({"amount": "number", "customer_tier": "string", "skus": "strings", "stock_covers": "boolean",
                     "line_values": "numbers"})
REASONS = ("finance_approval", "needs_review")

DOC = """
name: test
rules:
  - id: credit
    when: amount > 5000
    actions: [{kind: hold, reason: finance_approval}]
  - id: vip
    description: VIP, small, in stock
    when: customer_tier == "vip" and amount < 10000 and stock_covers
    actions: [{kind: approve}, {kind: set_priority, priority: 10}]
    stop: true
  - id: big-line
    when: "[v for v in line_values if v > 1000].length > 0"
    actions: [{kind: double_check}]
"""


def refused(when: str) -> dict:
    with pytest.raises(InvalidArgument) as e:
        rules.compile_rule_set({"name": "x", "rules": [{"id": "r1", "when": when, "actions": [{"kind": "approve"}]}]},
                               FACTS, REASONS)
    (problem,) = e.value.fields
    assert problem["field"] == "rules[0].when" and problem["rule"] == "r1"
    return problem


def test_unknown_fact_is_refused_at_its_position_with_a_suggestion():
    problem = refused('customer_tier == "vip" and amont > 1')
    assert problem["position"] == 27
    assert "unknown fact 'amont'" in problem["message"] and "amount" in problem["message"]


def test_type_mismatch_is_refused_where_it_shows():
    problem = refused('customer_tier == "vip" and amount > "big"')
    assert problem["position"] == 36 and "type mismatch" in problem["message"]
    assert refused("amount")["message"].endswith("a condition must be true or false")


def test_expression_that_does_not_parse_names_the_position():
    assert refused("amount > 1 and (stock_covers")["position"] == 28  # ends too early
    problem = refused("amount > > 1")
    assert problem["position"] == 9 and "does not parse" in problem["message"]


def test_shape_errors_name_the_field():
    with pytest.raises(InvalidArgument) as e:
        rules.compile_rule_set({"name": "x", "rules": [{"id": "a", "when": "true", "actions": [{"kind": "hold"}]}]},
                               FACTS, REASONS)
    assert e.value.fields[0]["field"] == "rules[0].actions[0]" and "reason" in e.value.fields[0]["message"]
    with pytest.raises(InvalidArgument) as e:
        rules.compile_rule_set({"name": "x", "rules": [
            {"id": "a", "when": "true", "actions": [{"kind": "hold", "reason": "whim"}]},
            {"id": "a", "when": "true", "actions": [{"kind": "approve"}]}]}, FACTS, REASONS)
    assert {p["field"] for p in e.value.fields} == {"rules[0].actions[0].reason", "rules[1].id"}
    with pytest.raises(InvalidArgument) as e:
        rules.compile_rule_set("name: [unclosed", FACTS, REASONS)
    assert e.value.fields[0]["field"] == "document" and "line 1" in e.value.fields[0]["message"]


def test_vip_order_is_approved_and_the_trace_shows_what_each_rule_read():
    rs = rules.compile_rule_set(DOC, FACTS, REASONS)
    d = rules.evaluate(rs, FACTS, {"amount": "900.50", "customer_tier": "vip", "stock_covers": True,
                                   "line_values": ["2000"]})
    assert (d.outcome, d.reason, d.rule_id) == ("approve", None, "vip")
    assert d.trace == [
        {"rule": "credit", "facts": {"amount": "900.50"}, "matched": False},
        {"rule": "vip", "facts": {"customer_tier": "vip", "amount": "900.50", "stock_covers": True},
         "matched": True, "stopped": True}]  # stop: big-line was not looked at
    assert [a["kind"] for a in d.actions] == ["approve", "set_priority"]


def test_a_hold_wins_and_names_its_rule():
    rs = rules.compile_rule_set(DOC, FACTS, REASONS)
    d = rules.evaluate(rs, FACTS, {"amount": "6000", "customer_tier": "plain", "line_values": ["6000"]})
    assert (d.outcome, d.reason, d.rule_id) == ("hold", "finance_approval", "credit")
    assert [(t["rule"], t["matched"]) for t in d.trace] == [("credit", True), ("vip", False), ("big-line", True)]
    assert {"rule": "big-line", "kind": "double_check"} in d.actions


def test_otherwise_decides_when_no_rule_does():
    doc = {"name": "strict", "otherwise": "hold", "otherwise_reason": "needs_review",
           "rules": [{"id": "ok", "when": "amount < 10", "actions": [{"kind": "approve"}]}]}
    rs = rules.compile_rule_set(doc, FACTS, REASONS)
    assert rules.evaluate(rs, FACTS, {"amount": 5}).outcome == "approve"
    d = rules.evaluate(rs, FACTS, {"amount": 50})
    assert (d.outcome, d.reason, d.rule_id) == ("hold", "needs_review", None)


def test_conditions_are_no_python():
    problem = refused("__import__('os').system('true')")
    assert "does not parse" in problem["message"] or "unknown fact" in problem["message"]


@pytest.mark.parametrize("document, field", [
    ("name: x\nrules: []\nwhen: 2026-13-45\n", "document"),          # YAML resolves a date it cannot build
    ("[" * 3000 + "]" * 3000, "document"),                            # nested too deeply
    ("name: x\nparameters: {window: .nan}\nrules: []\n", "parameters"),  # JSON keeps no NaN
])
def test_malformed_documents_are_refused_not_failed(document, field):
    with pytest.raises(InvalidArgument) as e:
        rules.compile_rule_set(document, FACTS, REASONS)
    assert e.value.fields[0]["field"] == field


def test_a_literal_out_of_range_is_refused():
    assert "does not parse" in refused('t"P9999999999999999D" > t"P1D"')["message"]


def test_an_applied_document_compiles_again_from_its_json():
    rs = rules.compile_rule_set(DOC, FACTS, REASONS)
    again = rules.compile_rule_set(rs.as_json(), FACTS, REASONS)
    assert again.doc == rs.doc
