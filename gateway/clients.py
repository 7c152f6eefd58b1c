"""gRPC channels and stubs, created once per gateway process."""
from __future__ import annotations

from dataclasses import dataclass

import grpc

from hubapi.inventory.v1 import inventory_service_pb2_grpc
from hubapi.order.v1 import order_service_pb2_grpc

TIMEOUT_SECONDS = 10.0


@dataclass
class Clients:
    order: order_service_pb2_grpc.OrderServiceStub
    inventory: inventory_service_pb2_grpc.InventoryServiceStub
    channels: list

    @classmethod
    def connect(cls, settings) -> "Clients":
        channels = [grpc.insecure_channel(settings.grpc_target(s)) for s in ("order", "inventory")]
        return cls(order_service_pb2_grpc.OrderServiceStub(channels[0]),
                   inventory_service_pb2_grpc.InventoryServiceStub(channels[1]), channels)

    def close(self):
        for channel in self.channels:
            channel.close()
