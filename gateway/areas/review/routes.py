"""Review (审单): the order service's rule sets (validate, apply, versions, roll back), a replay of a
draft over past decisions, and an order's decisions."""
from __future__ import annotations

import json

from fastapi import APIRouter, Path, Request

from gateway.areas.review.schemas import (
    Decisions,
    ReplayIn,
    ReplayResult,
    RuleSetIn,
    RuleSetValid,
    RuleSetVersion,
    RuleSetVersions,
)
from gateway.common.access import ANYONE, REVIEW, RULES, allowed, clients
from hubapi.order.v1 import review_service_pb2 as rv

router = APIRouter(tags=["review"])


def _text(document) -> str:
    return document if isinstance(document, str) else json.dumps(document, ensure_ascii=False)


def _version(v) -> dict:
    return {"version": v.version, "name": v.name, "note": v.note, "created_by": v.created_by,
            "created_at": v.created_at or None, "rules": v.rules, "in_force": v.in_force,
            "document": json.loads(v.document)}


def _outcome(o, with_version: bool) -> dict:
    out = {"outcome": o.outcome, "reason": o.reason or None, "rule": o.rule or None}
    if with_version:
        out["rule_set_version"] = o.rule_set_version
    return out


@router.post("/review/rule-sets/validate", response_model=RuleSetValid)
def validate_rule_set(body: RuleSetIn, request: Request, md=allowed(REVIEW)):
    """Check a rule set without applying it: a 422 names each rule, field and position at fault
    (an unknown fact, a type mismatch, an expression that does not parse)."""
    reply = clients(request).review.ValidateRuleSet(rv.RuleSetDocument(document=_text(body.document)), metadata=md)
    return {"valid": True, "name": reply.name, "rules": reply.rules}


@router.post("/review/rule-sets", status_code=201, response_model=RuleSetVersion)
def apply_rule_set(body: RuleSetIn, request: Request, md=allowed(RULES)):
    """Validate and put in force as the next version (refused whole, as validate refuses it)."""
    reply = clients(request).review.ApplyRuleSet(rv.RuleSetDocument(document=_text(body.document), note=body.note),
                                                 metadata=md)
    return _version(reply)


@router.get("/review/rule-sets", response_model=RuleSetVersions)
def rule_set_versions(request: Request, md=allowed(REVIEW)):
    """Every version, newest first, with the one in force; version 0 is the shipped default."""
    reply = clients(request).review.ListRuleSets(rv.ListRuleSetsRequest(), metadata=md)
    return {"versions": [_version(v) for v in reply.versions]}


@router.post("/review/rule-sets/{version}/rollback", status_code=201, response_model=RuleSetVersion)
def roll_back_rule_set(request: Request, version: int = Path(ge=0, le=2**31 - 1), md=allowed(RULES)):
    """Put an earlier version in force again, as a new version (0: the shipped default)."""
    reply = clients(request).review.RollBackRuleSet(rv.RollBackRuleSetRequest(version=version), metadata=md)
    return _version(reply)


@router.post("/review/replay", response_model=ReplayResult)
def replay(body: ReplayIn, request: Request, md=allowed(REVIEW)):
    """Evaluate a draft rule set over the facts of the decisions taken in [since, until), changing
    nothing: the orders whose outcome would differ, what decided before and which rule would decide now."""
    reply = clients(request).review.ReplayRuleSet(rv.ReplayRuleSetRequest(
        document=_text(body.document), since=body.since, until=body.until, limit=body.limit), metadata=md)
    return {"evaluated": reply.evaluated, "changed": reply.changed,
            "differences": [{"order_id": d.order_id, "decided_at": d.decided_at, "was": _outcome(d.was, True),
                             "would": _outcome(d.would, False)} for d in reply.differences]}


@router.get("/orders/{order_id}/decisions", response_model=Decisions)
def order_decisions(order_id: str, request: Request, md=allowed(ANYONE)):
    """Why an order was approved or held: each review decision with its rule-set version, facts and trace."""
    reply = clients(request).review.ListDecisions(rv.ListDecisionsRequest(order_id=order_id), metadata=md)
    return {"decisions": [{"id": d.id, "order_id": d.order_id, "rule_set_version": d.rule_set_version,
                           "outcome": d.outcome, "reason": d.reason or None, "rule": d.rule or None,
                           "facts": json.loads(d.facts), "trace": json.loads(d.trace),
                           "actions": json.loads(d.actions), "decided_at": d.decided_at}
                          for d in reply.decisions]}
