"""Customers, their order history and their terms (tier, credit limit); one customer across channels
(merge, unmerge), tags and notes, and the tier rules."""
from __future__ import annotations

import json

from fastapi import APIRouter, Query, Request

from gateway.areas.customers.presenters import customer_json, explanation_json, tier_rule_set_json
from gateway.areas.customers.schemas import (
    BuyerTermsIn,
    Customer,
    Customers,
    MergeIn,
    NoteIn,
    TagIn,
    TermsIn,
    TierExplanation,
    TierRuleSet,
    TierRuleSets,
    TierRulesIn,
    UnmergeIn,
)
from gateway.common.access import CUSTOMERS, FINANCE, RULES, allowed, clients
from gateway.errors import Problem
from hubapi.customer.v1 import customer_service_pb2 as cus

router = APIRouter(tags=["customers"])


@router.get("/customers/{customer_id}", response_model=Customer)
def get_customer(customer_id: str, request: Request, md=allowed(CUSTOMERS)):
    reply = clients(request).customer.GetCustomer(cus.GetCustomerRequest(id=customer_id), metadata=md)
    return customer_json(reply.customer, with_orders=True)


@router.get("/customers", response_model=Customers)
def find_customers(request: Request, channel: str = "", external_id: str = "", phone: str = "",
                   order_id: str = "", limit: int = Query(50, ge=1, le=500), md=allowed(CUSTOMERS)):
    """Find by channel and buyer id, by phone, or by an order they placed."""
    if not (external_id or phone or order_id):
        raise Problem(422, "invalid-argument", "give external_id (with channel), phone or order_id",
                      [{"field": "query", "message": "one search criterion is required"}])
    reply = clients(request).customer.FindCustomers(cus.FindCustomersRequest(
        channel=channel, external_id=external_id, phone=phone, order_id=order_id, limit=limit), metadata=md)
    return {"customers": [customer_json(c, with_orders=False) for c in reply.customers]}


@router.put("/customers/{customer_id}/terms", response_model=Customer)
def set_terms(customer_id: str, body: TermsIn, request: Request, md=allowed(FINANCE)):
    """A customer's tier (e.g. vip) and credit limit (null: none), which order review reads once the
    order service has applied them (customer_terms_changed)."""
    reply = clients(request).customer.SetCustomerTerms(cus.SetCustomerTermsRequest(
        id=customer_id, tier=body.tier, credit_limit=body.credit_limit or ""), metadata=md)
    return customer_json(reply.customer, with_orders=True)


@router.put("/customers/terms", response_model=Customer)
def set_buyer_terms(body: BuyerTermsIn, request: Request, md=allowed(FINANCE)):
    """The terms of a channel's buyer (`channel`, `external_id`), before or after their first order: a
    buyer not seen yet becomes a customer without orders, so a business customer's credit limit is in
    force when their first order is reviewed."""
    reply = clients(request).customer.SetBuyerTerms(cus.SetBuyerTermsRequest(
        channel=body.channel, external_id=body.external_id, tier=body.tier, credit_limit=body.credit_limit or ""),
        metadata=md)
    return customer_json(reply.customer, with_orders=True)


@router.post("/customers/{customer_id}/merge", response_model=Customer)
def merge_customer(customer_id: str, body: MergeIn, request: Request, md=allowed(CUSTOMERS)):
    """Merge this customer (and whatever was merged into it) into `into`: one customer, whose orders,
    value, tier and terms are the group's on every channel; audited with who, when and why."""
    reply = clients(request).customer.MergeCustomers(cus.MergeCustomersRequest(
        id=customer_id, into=body.into, why=body.why), metadata=md)
    return customer_json(reply.customer, with_orders=True)


@router.post("/customers/{customer_id}/unmerge", response_model=Customer)
def unmerge_customer(customer_id: str, body: UnmergeIn, request: Request, md=allowed(CUSTOMERS)):
    """Undo this customer's merge: its own history, value, terms and tier again; audited."""
    reply = clients(request).customer.UnmergeCustomer(cus.UnmergeCustomerRequest(id=customer_id, why=body.why),
                                                      metadata=md)
    return customer_json(reply.customer, with_orders=True)


@router.post("/customers/{customer_id}/tags", response_model=Customer)
def tag_customer(customer_id: str, body: TagIn, request: Request, md=allowed(CUSTOMERS)):
    """Tag the customer (e.g. business); the tier rules may read the tags. Audited."""
    reply = clients(request).customer.TagCustomer(cus.TagCustomerRequest(id=customer_id, tag=body.tag), metadata=md)
    return customer_json(reply.customer, with_orders=True)


@router.delete("/customers/{customer_id}/tags/{tag}", response_model=Customer)
def untag_customer(customer_id: str, tag: str, request: Request, md=allowed(CUSTOMERS)):
    reply = clients(request).customer.TagCustomer(cus.TagCustomerRequest(id=customer_id, tag=tag, remove=True),
                                                  metadata=md)
    return customer_json(reply.customer, with_orders=True)


@router.post("/customers/{customer_id}/notes", response_model=Customer)
def add_note(customer_id: str, body: NoteIn, request: Request, md=allowed(CUSTOMERS)):
    """An operator's note on the customer (who and when kept)."""
    reply = clients(request).customer.AddCustomerNote(cus.AddCustomerNoteRequest(id=customer_id, text=body.text),
                                                      metadata=md)
    return customer_json(reply.customer, with_orders=True)


@router.get("/customers/{customer_id}/tier", response_model=TierExplanation)
def explain_tier(customer_id: str, request: Request, md=allowed(CUSTOMERS)):
    """Why the customer has their tier: the tier rules in force evaluated over their facts now, with
    the trace (nothing changes)."""
    reply = clients(request).customer.ExplainTier(cus.ExplainTierRequest(id=customer_id), metadata=md)
    return explanation_json(reply)


@router.delete("/customers/{customer_id}/tier", response_model=Customer)
def tier_to_rules(customer_id: str, request: Request, why: str = Query("", max_length=500), md=allowed(FINANCE)):
    """Hand a tier set by hand (`PUT /customers/{id}/terms`) back to the tier rules in force: they decide
    the customer's tier again now and as their orders arrive; kept in the tier history, audited with
    `why`. 409 without rules in force, or when the tier is the rules' already."""
    reply = clients(request).customer.TierToRules(cus.TierToRulesRequest(id=customer_id, why=why), metadata=md)
    return customer_json(reply.customer, with_orders=True)


@router.get("/customer-tiers/rules", response_model=TierRuleSets)
def tier_rules(request: Request, md=allowed(CUSTOMERS)):
    reply = clients(request).customer.ListTierRules(cus.ListTierRulesRequest(), metadata=md)
    return {"versions": [tier_rule_set_json(v) for v in reply.versions]}


@router.post("/customer-tiers/rules", status_code=201, response_model=TierRuleSet)
def apply_tier_rules(body: TierRulesIn, request: Request, md=allowed(RULES)):
    """Validate and put in force as the next version (refused whole: a 422 names each field and the
    position at fault); every customer takes their tier by it at once (but a tier an operator set),
    and again as their orders arrive."""
    document = body.document if isinstance(body.document, str) else json.dumps(body.document, ensure_ascii=False)
    reply = clients(request).customer.ApplyTierRules(cus.ApplyTierRulesRequest(document=document, note=body.note),
                                                     metadata=md)
    return tier_rule_set_json(reply, applied=True)
