"""The review area's request and response models (services.order.review, hubkit.rules)."""
from __future__ import annotations

from typing import Any

from pydantic import Field, StrictStr

from gateway.common.schemas import Reply, Strict


class RuleSetIn(Strict):
    document: dict[str, Any] | StrictStr = Field(
        description="the rule set: a JSON object, or its JSON or YAML text (name, otherwise, parameters, rules: "
                    "id, description, when, actions, stop)")
    note: StrictStr = Field("", max_length=500, description="why this version (applying only)")


class RuleSetValid(Reply):
    valid: bool
    name: str
    rules: int


class RuleSetVersion(Reply):
    version: int = Field(description="0 is the shipped default")
    name: str
    note: str
    created_by: str
    created_at: str | None
    rules: int
    in_force: bool
    document: dict[str, Any]


class RuleSetVersions(Reply):
    versions: list[RuleSetVersion]


class Decision(Reply):
    id: str
    order_id: str
    rule_set_version: int
    outcome: str = Field(description="approve | hold")
    reason: str | None = Field(description="the hold's reason")
    rule: str | None = Field(description="the rule that decided; null when the rule set's `otherwise` did")
    facts: dict[str, Any]
    trace: list[dict[str, Any]] = Field(description="per rule evaluated: matched, the facts it read and their values")
    actions: list[dict[str, Any]]
    decided_at: str


class Decisions(Reply):
    decisions: list[Decision]


class ReplayIn(Strict):
    document: dict[str, Any] | StrictStr = Field(description="the draft rule set, as for applying")
    since: StrictStr = Field(description="ISO 8601 moment with its offset: decisions taken from then")
    until: StrictStr = Field(description="ISO 8601 moment with its offset: and before then")
    limit: int = Field(100, ge=1, le=1000, description="differences listed")


class Outcome(Reply):
    outcome: str
    reason: str | None
    rule: str | None


class PastOutcome(Outcome):
    rule_set_version: int


class ReplayDifference(Reply):
    order_id: str
    decided_at: str
    was: PastOutcome
    would: Outcome


class ReplayResult(Reply):
    evaluated: int
    changed: int
    differences: list[ReplayDifference]
