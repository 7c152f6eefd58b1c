"""Approval chains as data: which steps a requisition or purchase order goes through, and who may
approve a step (in their own right or by delegation). Pure: no database.

A chain is a versioned document (JSON or YAML, like the review rule sets): `steps`, each with an id,
a condition (`when`, a rule-engine expression over FACTS, via hubkit.rules: never eval) and an
approver (a role or a named user). A document's chain is every step whose condition holds, in the
document's order; the steps are approved one after the other."""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hubkit import rules
from hubkit.errors import Conflict, InvalidArgument, PermissionDenied

# The facts a step's condition may read. amount: the document's total, VAT included, in the base currency.
FACTS = rules.Facts({
    "kind": "string",           # requisition | purchase_order
    "amount": "number",
    "currency": "string",       # the document's own currency
    "supplier": "string",       # a purchase order's; "" for a requisition of several suppliers
    "suppliers": "strings",
    "category": "string",       # what is bought (a requisition's; "" on a direct purchase order)
    "material_type": "string",
    "project": "string",
    "cost_centre": "string",
    "department": "string",
    "skus": "strings",
})
# The gateway's roles (gateway.models.ROLES; a unit test keeps the two equal): a role step names one.
ROLES = ("warehouse", "sales", "purchasing", "finance", "admin", "dept_manager", "finance_director")
DEFAULT_FILE = Path(__file__).with_name("default_approval_chain.yaml")
REQUISITION, PURCHASE_ORDER = "requisition", "purchase_order"
KINDS = (REQUISITION, PURCHASE_ORDER)
# a document's approval; a step's status
PENDING, APPROVED, REJECTED = "pending", "approved", "rejected"
WAITING, QUEUED = "waiting", "queued"  # a step open now; a step after it, not open yet
CANCELLED = "cancelled"                # a step after a rejection


class Approver(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    role: str | None = Field(default=None, min_length=1, max_length=16)
    user: str | None = Field(default=None, min_length=1, max_length=64)

    @model_validator(mode="after")
    def _one(self):
        if (self.role is None) == (self.user is None):
            raise ValueError("an approver is a role or a user, exactly one")
        if self.role is not None and self.role not in ROLES:
            raise ValueError(f"role: one of {', '.join(ROLES)}")
        return self


class StepDoc(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]*$")
    description: str = Field(default="", max_length=500)
    when: str = Field(default="true", min_length=1, max_length=rules.MAX_EXPRESSION)
    approver: Approver


class ChainDoc(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=1000)
    parameters: dict[str, int | float] = Field(default_factory=dict, max_length=10)
    steps: list[StepDoc] = Field(min_length=1, max_length=20)

    @field_validator("parameters")
    @classmethod
    def _known(cls, parameters: dict) -> dict:
        unknown = sorted(set(parameters) - {"overdue_hours"})
        if unknown:
            raise ValueError(f"unknown parameter {unknown[0]!r} (known: overdue_hours)")
        hours = parameters.get("overdue_hours", 24)
        if isinstance(hours, bool) or not isinstance(hours, (int, float)) or not math.isfinite(hours) \
                or not 0 < hours <= 24 * 90:
            raise ValueError("overdue_hours: more than 0, at most 2160")
        return parameters


@dataclass(frozen=True)
class Chain:
    doc: ChainDoc
    conditions: tuple  # per step: (rule_engine.Rule, the facts it reads)

    @property
    def overdue_hours(self) -> float:
        return float(self.doc.parameters.get("overdue_hours", 24))

    def as_json(self) -> str:
        return self.doc.model_dump_json(exclude_none=True)


@dataclass(frozen=True)
class Step:
    step_no: int       # 1, 2, ... in the order approved
    step_id: str
    role: str | None
    user: str | None

    @property
    def approver(self) -> str:
        return f"role {self.role}" if self.role else f"user {self.user}"


def compile_chain(document) -> Chain:
    """The chain checked: its shape, unique step ids, each condition against FACTS (naming the step's
    field and the position at fault). InvalidArgument otherwise, every problem in one answer."""
    raw = rules.parse_document(document)
    try:
        doc = ChainDoc.model_validate(raw)
    except ValidationError as e:
        raise InvalidArgument("the approval chain is invalid", rules.validation_problems(e))
    seen: set[str] = set()
    for i, step in enumerate(doc.steps):
        if step.id in seen:
            raise InvalidArgument("the approval chain is invalid",
                                  [{"field": f"steps[{i}].id", "message": f"step id {step.id!r} is used twice"}])
        seen.add(step.id)
    conditions = rules.compile_conditions([(f"steps[{i}].when", s.when) for i, s in enumerate(doc.steps)], FACTS)
    return Chain(doc, tuple(conditions))


@functools.cache
def default_chain() -> Chain:
    return compile_chain(DEFAULT_FILE.read_text(encoding="utf-8"))


def resolve(chain: Chain, values: dict) -> tuple[list[Step], list[dict]]:
    """(the steps a document with these facts goes through, the trace: per step whether it applies
    and the facts it read). A condition that fails on the values applies (the safer side)."""
    seen = rules.prepare(FACTS, values)
    steps: list[Step] = []
    trace: list[dict] = []
    for step, (condition, reads) in zip(chain.doc.steps, chain.conditions):
        entry: dict = {"step": step.id, "facts": {n: rules._plain(seen[n]) for n in reads}}
        try:
            applies = bool(condition.matches(seen))
        except Exception as e:
            applies, entry["error"] = True, str(e)
        entry["applies"] = applies
        trace.append(entry)
        if applies:
            steps.append(Step(len(steps) + 1, step.id, step.approver.role, step.approver.user))
    return steps, trace


@dataclass(frozen=True)
class Delegation:
    delegator: str
    delegator_role: str
    delegate: str
    starts_at: datetime
    ends_at: datetime

    def active(self, at: datetime) -> bool:
        return self.starts_at <= at < self.ends_at


def qualifies(step_role: str | None, step_user: str | None, actor: str, actor_role: str,
              delegations: list[Delegation], at: datetime) -> str | None:
    """Whether the actor may approve a step: "" in their own right, the delegator's name by a
    delegation in force at `at`, None when not at all."""
    if (step_user and step_user == actor) or (step_role and step_role == actor_role):
        return ""
    for d in delegations:
        if d.delegate == actor and d.active(at) and (
                (step_user and d.delegator == step_user) or (step_role and d.delegator_role == step_role)):
            return d.delegator
    return None


def check_decision(kind: str, document_id: str, requester: str, steps: list[dict], actor: str, actor_role: str,
                   delegations: list[Delegation], at: datetime) -> tuple[dict, str]:
    """The step the actor decides now and on whose behalf ("" in their own right). `steps` are the
    document's, in order, as dicts with step_no, step_id, role, user_name, status, decided_by.
    Refuses: the requester (four eyes), a document not waiting, an actor who approved an earlier step,
    a step out of turn (409) and an actor who may approve no step of it (403)."""
    what = f"{kind.replace('_', ' ')} {document_id}"
    if actor == requester:
        raise PermissionDenied(f"{actor} raised {what} and may not approve or reject it (four eyes)",
                               [{"field": "actor", "message": "the requester never approves their own document"}])
    current = next((s for s in steps if s["status"] == WAITING), None)
    if current is None:
        raise Conflict(f"{what} waits for no approval", [{"field": "id", "message": "no step is waiting"}])
    if any(s["status"] == APPROVED and actor in (s["decided_by"], s.get("on_behalf_of")) for s in steps):
        raise Conflict(f"{actor} approved an earlier step of {what}; another person approves this one",
                       [{"field": "actor", "message": "one person approves one step of a document"}])
    on_behalf = qualifies(current["role"], current["user_name"], actor, actor_role, delegations, at)
    if on_behalf is not None:
        return current, on_behalf
    later = [s for s in steps if s["status"] == QUEUED and
             qualifies(s["role"], s["user_name"], actor, actor_role, delegations, at) is not None]
    approver = f"role {current['role']}" if current["role"] else f"user {current['user_name']}"
    if later:
        raise Conflict(f"step {current['step_no']} ({current['step_id']}, {approver}) of {what} is waiting first: "
                       f"step {later[0]['step_no']} opens after it",
                       [{"field": "step", "message": f"out of turn: step {current['step_no']} waits for {approver}"}])
    raise PermissionDenied(f"step {current['step_no']} of {what} waits for {approver}, not {actor}",
                           [{"field": "actor", "message": f"not an approver of step {current['step_no']}"}])
