"""gRPC channels and stubs, created once per gateway process."""
from __future__ import annotations

from dataclasses import dataclass

import grpc

from hubapi.inventory.v1 import inventory_service_pb2_grpc
from hubapi.order.v1 import order_service_pb2_grpc

# Spread calls over every api pod behind a headless Service (plain DNS in the embedded default).
CHANNEL_OPTIONS = [("grpc.lb_policy_name", "round_robin")]


@dataclass
class Clients:
    order: order_service_pb2_grpc.OrderServiceStub
    inventory: inventory_service_pb2_grpc.InventoryServiceStub
    channels: list

    @classmethod
    def connect(cls, settings) -> "Clients":
        channels = [grpc.insecure_channel(settings.grpc_target(s), options=CHANNEL_OPTIONS)
                    for s in ("order", "inventory")]
        return cls(order_service_pb2_grpc.OrderServiceStub(channels[0]),
                   inventory_service_pb2_grpc.InventoryServiceStub(channels[1]), channels)

    def close(self):
        for channel in self.channels:
            channel.close()
