"""Customers, their order history and their terms (tier, credit limit)."""
from __future__ import annotations

from fastapi import APIRouter, Query, Request

from gateway.areas.customers.presenters import customer_json
from gateway.areas.customers.schemas import BuyerTermsIn, Customer, Customers, TermsIn
from gateway.common.access import CUSTOMERS, FINANCE, allowed, clients
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
