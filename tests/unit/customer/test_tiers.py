"""Tier rules as data (services/customer/tiers.py) and the phone's keyed hash (domain.phone_hash)."""
from __future__ import annotations

from decimal import Decimal

import pytest

from hubkit.errors import InvalidArgument
from services.customer import domain, tiers

DOC = {"name": "t", "period_days": 90, "default_tier": "regular",
       "tiers": [{"tier": "vip", "when": "spend >= 10000 or orders >= 20"},
                 {"tier": "gold", "when": "spend >= 3000 and return_rate <= 0.1"},
                 {"tier": "business", "when": "\"business\" in tags"}]}


def test_the_first_tier_whose_condition_holds_is_the_customers_with_its_trace():
    rules = tiers.compile_tiers(DOC)
    gold = tiers.decide(rules, {"spend": Decimal("3500.00"), "orders": 3, "return_rate": Decimal("0.05")})
    assert (gold.tier, gold.matched) == ("gold", "gold")
    assert gold.trace == [{"tier": "vip", "matched": False, "facts": {"spend": "3500.00", "orders": "3"}},
                          {"tier": "gold", "matched": True, "facts": {"spend": "3500.00", "return_rate": "0.05"}}]
    assert tiers.decide(rules, {"spend": 50, "orders": 25}).tier == "vip"
    assert tiers.decide(rules, {"spend": 3500, "return_rate": Decimal("0.2"), "tags": ["business"]}).tier == "business"


def test_no_tier_matching_gives_the_default_tier_and_every_tier_in_the_trace():
    decision = tiers.decide(tiers.compile_tiers(DOC), {})
    assert (decision.tier, decision.matched, [t["tier"] for t in decision.trace]) == \
        ("regular", None, ["vip", "gold", "business"])


@pytest.mark.parametrize("change, field", [
    ({"tiers": [{"tier": "vip", "when": "spend >"}]}, "tiers[0].when"),
    ({"tiers": [{"tier": "vip", "when": "spent > 1"}]}, "tiers[0].when"),          # an unknown fact
    ({"tiers": [{"tier": "vip", "when": "spend + 1"}]}, "tiers[0].when"),          # not true or false
    ({"tiers": [{"tier": "vip", "when": "tags > 1"}]}, "tiers[0].when"),           # a type mismatch
    ({"tiers": []}, "tiers"),
    ({"default_tier": "no tier!"}, "default_tier"),
    ({"period_days": 0}, "period_days"),
    ({"tiers": [{"tier": "vip", "when": "true", "stop": True}]}, "tiers[0].stop"),  # unknown key
])
def test_bad_tier_rules_are_refused_naming_the_field(change, field):
    with pytest.raises(InvalidArgument) as refused:
        tiers.compile_tiers({**DOC, **change})
    assert [f["field"] for f in refused.value.fields] == [field]


def test_an_unknown_fact_is_refused_with_its_position():
    with pytest.raises(InvalidArgument) as refused:
        tiers.compile_tiers({**DOC, "tiers": [{"tier": "vip", "when": "orders > 1 and spent > 1"}]})
    [problem] = refused.value.fields
    assert problem["position"] == 15 and "unknown fact 'spent'" in problem["message"]


def test_the_example_rules_compile_and_yaml_is_accepted():
    example = tiers.compile_tiers(tiers.EXAMPLE_FILE.read_text(encoding="utf-8"))
    assert tiers.decide(example, {"spend": 5000, "tags": ["business"]}).tier == "vip"
    assert tiers.compile_tiers("name: y\ntiers:\n  - {tier: a, when: orders > 0}\n").doc.default_tier == "standard"


def test_the_phone_hash_is_keyed_and_finds_one_buyer_whatever_the_formatting():
    same = domain.phone_hash(b"k1", domain.normalize_phone("139 0013-9000"))
    assert same == domain.phone_hash(b"k1", domain.normalize_phone("13900139000"))
    assert same != domain.phone_hash(b"k2", "13900139000")  # another key: another hash
    assert "13900139000" not in same and len(same) == 64
    assert domain.phone_hash(b"k1", "") == ""  # no phone: nothing to match
