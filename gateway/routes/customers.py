"""Customers and their order history."""
from __future__ import annotations

from fastapi import APIRouter, Query, Request

from gateway.errors import Problem
from gateway.routes.common import CUSTOMERS, allowed, clients, money_str
from hubapi.customer.v1 import customer_service_pb2 as cus

router = APIRouter(tags=["customers"])


def customer_json(c, with_orders: bool) -> dict:
    body = {"id": c.id, "channel": c.channel, "external_id": c.external_id, "name": c.name, "phone": c.phone,
            "email": c.email, "order_count": c.order_count, "lifetime_value": money_str(c.lifetime_value),
            "first_order_at": c.first_order_at, "last_order_at": c.last_order_at}
    if with_orders:
        body["orders"] = [{"order_id": o.order_id, "channel": o.channel, "shop": o.shop,
                           "external_order_id": o.external_order_id, "total": money_str(o.total),
                           "status": o.status, "placed_at": o.placed_at, "shipped_at": o.shipped_at or None}
                          for o in c.orders]
    return body


@router.get("/customers/{customer_id}")
def get_customer(customer_id: str, request: Request, md=allowed(CUSTOMERS)):
    reply = clients(request).customer.GetCustomer(cus.GetCustomerRequest(id=customer_id), metadata=md)
    return customer_json(reply.customer, with_orders=True)


@router.get("/customers")
def find_customers(request: Request, channel: str = "", external_id: str = "", phone: str = "",
                   order_id: str = "", limit: int = Query(50, ge=1, le=500), md=allowed(CUSTOMERS)):
    """Find by channel and buyer id, by phone, or by an order they placed."""
    if not (external_id or phone or order_id):
        raise Problem(422, "invalid-argument", "give external_id (with channel), phone or order_id",
                      [{"field": "query", "message": "one search criterion is required"}])
    reply = clients(request).customer.FindCustomers(cus.FindCustomersRequest(
        channel=channel, external_id=external_id, phone=phone, order_id=order_id, limit=limit), metadata=md)
    return {"customers": [customer_json(c, with_orders=False) for c in reply.customers]}
