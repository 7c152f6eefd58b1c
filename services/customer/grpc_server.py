"""The customer api process: gRPC servicer -> handlers (customers are created and updated by the
worker from order events; their terms are set here)."""
from __future__ import annotations

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY

from hubapi.customer.v1 import customer_service_pb2 as pb
from hubapi.customer.v1 import customer_service_pb2_grpc as pb_grpc
from hubkit import grpc_server, metrics, money
from hubkit.db import Database, UnitOfWork, as_utc, pool_size
from hubkit.errors import InvalidArgument
from services.customer import handlers
from services.customer.models import metadata

rpc = grpc_server.rpc("customer")


def _time(moment) -> str:
    return as_utc(moment).isoformat() if moment is not None else ""


def after_sale_to_proto(a: dict, currency: str) -> pb.AfterSale:
    return pb.AfterSale(kind=a["kind"], reference=a["reference"], reason=a["reason"],
                        amount=money.to_proto(a["amount"], a["currency"] or currency) if a["amount"] is not None
                        else None, quantity=a["quantity"] or 0, lines=a["lines"], at=_time(a["at"]))


def order_to_proto(o: dict) -> pb.CustomerOrder:
    return pb.CustomerOrder(order_id=o["order_id"], channel=o["channel"], shop=o["shop"],
                            external_order_id=o["external_order_id"], total=money.to_proto(o["total"], o["currency"]),
                            status=o["status"], placed_at=_time(o["placed_at"]), shipped_at=_time(o["shipped_at"]),
                            carrier=o.get("carrier") or "", tracking_number=o.get("tracking_number") or "",
                            after_sales=[after_sale_to_proto(a, o["currency"]) for a in o.get("after_sales", [])],
                            refunded=money.to_proto(o.get("refunded", 0), o["currency"]))


def customer_to_proto(c: dict) -> pb.Customer:
    return pb.Customer(
        id=c["id"], channel=c["channel"], external_id=c["external_id"], name=c["name"], phone=c["phone"],
        email=c["email"], order_count=c["order_count"],
        lifetime_value=money.to_proto(c["lifetime_value"], c["currency"]),
        first_order_at=_time(c["first_order_at"]), last_order_at=_time(c["last_order_at"]),
        tier=c.get("tier") or "", credit_limit=str(c["credit_limit"]) if c.get("credit_limit") is not None else "",
        orders=[order_to_proto(o) for o in c.get("orders", [])])


class CustomerServicer(pb_grpc.CustomerServiceServicer):
    def __init__(self, db: Database):
        self.db = db

    @rpc
    def GetCustomer(self, request, context):
        grpc_server.caller(context)
        return pb.GetCustomerResponse(customer=customer_to_proto(handlers.get_customer(self.db, request.id)))

    @rpc
    def FindCustomers(self, request, context):
        grpc_server.caller(context)
        found = handlers.find_customers(self.db, request.channel, request.external_id, request.phone,
                                        request.order_id, request.limit)
        return pb.FindCustomersResponse(customers=[customer_to_proto(c) for c in found])

    @rpc
    def SetCustomerTerms(self, request, context):
        actor, correlation_id = grpc_server.caller(context)
        limit = _credit_limit(request.credit_limit)
        with UnitOfWork(self.db, "customer", actor, correlation_id) as uow:
            customer = handlers.set_terms(uow, request.id, request.tier, limit)
            return pb.GetCustomerResponse(customer=customer_to_proto(customer))

    @rpc
    def SetBuyerTerms(self, request, context):
        actor, correlation_id = grpc_server.caller(context)
        limit = _credit_limit(request.credit_limit)
        with UnitOfWork(self.db, "customer", actor, correlation_id) as uow:
            customer = handlers.set_buyer_terms(uow, request.channel, request.external_id, request.tier, limit)
            return pb.GetCustomerResponse(customer=customer_to_proto(customer))


def _credit_limit(text: str):
    """The request's credit limit: None when empty (no limit)."""
    if not text:
        return None
    try:
        return money.to_decimal(text)
    except ValueError:
        raise InvalidArgument("the customer terms are invalid",
                              [{"field": "credit_limit", "message": "a decimal amount such as 5000.00"}])


def customer_gauges(db: Database) -> list[GaugeMetricFamily]:
    family = GaugeMetricFamily("hub_customers", "Customers by tier", labels=["tier"])
    for tier, count in sorted(handlers.count_by_tier(db).items()):
        family.add_metric([tier], count)
    return [family]


def main(settings) -> None:
    db = Database(settings.db_url, metadata, pool_size=pool_size(settings, grpc_server.API_THREADS))
    REGISTRY.register(metrics.Snapshot(lambda: customer_gauges(db), settings.business_metrics_seconds))
    grpc_server.serve("customer", settings.grpc_port,
                      lambda server: pb_grpc.add_CustomerServiceServicer_to_server(CustomerServicer(db), server))
