"""Customer tiers as data: which tier a customer has, by a versioned rule document over their spend
and orders in a period (hubkit.rules conditions: typed expressions, never eval). Pure: no database.

A document names the period, the tier of a customer no rule matches, and tiers in order; the first
tier whose condition holds is the customer's. The trace says, per tier, whether it matched and the
facts it read, with their values: why a customer has their tier."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hubkit import rules
from hubkit.errors import InvalidArgument

# The facts a tier's condition may read. Money in the customer's currency; the period is the document's.
FACTS = rules.Facts({
    "spend": "number",            # the totals of their orders placed in the period, cancelled ones left out
    "orders": "number",           # those orders
    "lifetime_value": "number",   # every order ever (not cancelled)
    "lifetime_orders": "number",
    "returns": "number",          # orders in the period with goods sent back
    "return_rate": "number",      # returns / orders (0 without orders)
    "channels": "strings",        # the channels they bought on (one customer across channels)
    "tags": "strings",            # an operator's tags, e.g. business
    "has_credit_limit": "boolean",
})
TIER = r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,31}$"
EXAMPLE_FILE = Path(__file__).with_name("example_tiers.yaml")


class TierDoc(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    tier: str = Field(pattern=TIER)
    description: str = Field(default="", max_length=500)
    when: str = Field(min_length=1, max_length=rules.MAX_EXPRESSION)


class TierRulesDoc(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=1000)
    period_days: int = Field(default=365, ge=1, le=3660)
    default_tier: str = Field(default="standard", pattern=TIER)
    tiers: list[TierDoc] = Field(min_length=1, max_length=20)


@dataclass(frozen=True)
class TierRules:
    doc: TierRulesDoc
    conditions: tuple  # per tier: (rule_engine.Rule, the facts it reads)

    def as_json(self) -> str:
        return self.doc.model_dump_json(exclude_none=True)


@dataclass(frozen=True)
class TierDecision:
    tier: str
    matched: str | None  # the tier entry that matched; None: the default tier
    trace: list[dict]


def compile_tiers(document) -> TierRules:
    """The document checked: its shape, each condition against FACTS (naming the tier's field and the
    position at fault). InvalidArgument otherwise, every problem in one answer."""
    raw = rules.parse_document(document)
    try:
        doc = TierRulesDoc.model_validate(raw)
    except ValidationError as e:
        raise InvalidArgument("the tier rules are invalid", rules.validation_problems(e))
    conditions = rules.compile_conditions([(f"tiers[{i}].when", t.when) for i, t in enumerate(doc.tiers)], FACTS)
    return TierRules(doc, tuple(conditions))


def decide(tier_rules: TierRules, values: dict) -> TierDecision:
    """The first tier whose condition holds (a condition that fails on these values does not hold),
    else the default tier; with the trace of every tier looked at."""
    seen = rules.prepare(FACTS, values)
    trace: list[dict] = []
    for entry_doc, (condition, reads) in zip(tier_rules.doc.tiers, tier_rules.conditions):
        entry: dict = {"tier": entry_doc.tier, "facts": {n: rules._plain(seen[n]) for n in reads}}
        try:
            matched = bool(condition.matches(seen))
        except Exception as e:  # a condition that fails on these values does not give the tier
            matched, entry["error"] = False, str(e)
        entry["matched"] = matched
        trace.append(entry)
        if matched:
            return TierDecision(entry_doc.tier, entry_doc.tier, trace)
    return TierDecision(tier_rules.doc.default_tier, None, trace)
