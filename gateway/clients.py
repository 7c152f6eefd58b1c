"""gRPC channels and stubs, created once per gateway process."""
from __future__ import annotations

from dataclasses import dataclass

import grpc

from hubapi.accounting.v1 import accounting_service_pb2_grpc
from hubapi.customer.v1 import customer_service_pb2_grpc
from hubapi.inventory.v1 import inventory_reports_pb2_grpc, inventory_service_pb2_grpc
from hubapi.ledger.v1 import ledger_service_pb2_grpc
from hubapi.notify.v1 import notify_service_pb2_grpc
from hubapi.order.v1 import order_service_pb2_grpc, review_service_pb2_grpc
from hubapi.procurement.v1 import procurement_service_pb2_grpc
from hubapi.shops.v1 import shop_service_pb2_grpc

# Spread calls over every api pod behind a headless Service (plain DNS in the embedded default);
# reconnect quickly once a restarted service is back, instead of failing fast for a long backoff.
CHANNEL_OPTIONS = [("grpc.lb_policy_name", "round_robin"),
                   ("grpc.initial_reconnect_backoff_ms", 200),
                   ("grpc.min_reconnect_backoff_ms", 200),
                   ("grpc.max_reconnect_backoff_ms", 2000)]
DEADLINE_SECONDS = 10.0


class _Deadline(grpc.UnaryUnaryClientInterceptor):
    """Every call gets a deadline, so a stuck service turns into a 504, not a hung request."""

    def intercept_unary_unary(self, continuation, details, request):
        if details.timeout is None:
            details = details._replace(timeout=DEADLINE_SECONDS)
        return continuation(details, request)


def _channel(target: str) -> grpc.Channel:
    return grpc.intercept_channel(grpc.insecure_channel(target, options=CHANNEL_OPTIONS), _Deadline())


STUBS = {"order": order_service_pb2_grpc.OrderServiceStub,
         "inventory": inventory_service_pb2_grpc.InventoryServiceStub,
         "procurement": procurement_service_pb2_grpc.ProcurementServiceStub,
         "customer": customer_service_pb2_grpc.CustomerServiceStub,
         "accounting": accounting_service_pb2_grpc.AccountingServiceStub}


@dataclass
class Clients:
    order: order_service_pb2_grpc.OrderServiceStub
    inventory: inventory_service_pb2_grpc.InventoryServiceStub
    procurement: procurement_service_pb2_grpc.ProcurementServiceStub
    customer: customer_service_pb2_grpc.CustomerServiceStub
    accounting: accounting_service_pb2_grpc.AccountingServiceStub
    ledger: ledger_service_pb2_grpc.LedgerServiceStub
    shops: dict  # platform -> ShopConnectorServiceStub
    channels: list
    inventory_reports: inventory_reports_pb2_grpc.InventoryReportsStub | None = None  # same target as inventory
    review: review_service_pb2_grpc.ReviewServiceStub | None = None  # same target as order
    notify: notify_service_pb2_grpc.NotifyServiceStub | None = None  # the notifier (HUB_NOTIFY_FILE)

    @classmethod
    def connect(cls, settings) -> Clients:
        channels = {svc: _channel(settings.grpc_target(svc)) for svc in STUBS}
        channels["ledger"] = _channel(settings.ledger_grpc_target)
        channels["notify"] = _channel(settings.notify_grpc_target)
        shops = {p: _channel(target) for p, target in settings.shops_grpc_targets.items()}
        return cls(**{svc: stub(channels[svc]) for svc, stub in STUBS.items()},
                   ledger=ledger_service_pb2_grpc.LedgerServiceStub(channels["ledger"]),
                   shops={p: shop_service_pb2_grpc.ShopConnectorServiceStub(c) for p, c in shops.items()},
                   channels=[*channels.values(), *shops.values()],
                   inventory_reports=inventory_reports_pb2_grpc.InventoryReportsStub(channels["inventory"]),
                   review=review_service_pb2_grpc.ReviewServiceStub(channels["order"]),
                   notify=notify_service_pb2_grpc.NotifyServiceStub(channels["notify"]))

    def close(self):
        for channel in self.channels:
            channel.close()
