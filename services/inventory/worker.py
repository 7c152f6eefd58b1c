"""The inventory worker (nameko): reserves stock for placed orders, issues it for shipped
orders, receives purchased goods."""
from prometheus_client import Counter

from hubkit.consumer import handle_event
from hubkit.inbox import handle_once
from hubkit.nameko_deps import DatabaseProvider
from services.inventory import handlers
from services.inventory.models import metadata

RESERVATIONS = Counter("hub_inventory_reservations_total", "Order lines answered, by outcome", ["outcome"])


class Worker:
    name = "inventory"
    db = DatabaseProvider(metadata)

    @handle_event("order_placed")
    def on_order_placed(self, envelope):
        answer = []
        applied = handle_once(self.db, "inventory", "inventory.order_placed", envelope,
                              lambda uow, env: answer.extend(handlers.reserve_order(uow, env)))
        for line in answer:  # counted once the transaction has committed
            RESERVATIONS.labels(line["status"]).inc()
        return applied

    @handle_event("order_shipped")
    def on_order_shipped(self, envelope):
        return handle_once(self.db, "inventory", "inventory.order_shipped", envelope, handlers.issue_for_shipment)

    @handle_event("purchase_received")
    def on_purchase_received(self, envelope):
        return handle_once(self.db, "inventory", "inventory.purchase_received", envelope,
                           handlers.receive_purchase)

    @handle_event("order_returned")
    def on_order_returned(self, envelope):
        return handle_once(self.db, "inventory", "inventory.order_returned", envelope, handlers.restock_return)

    @handle_event("purchase_returned")
    def on_purchase_returned(self, envelope):
        return handle_once(self.db, "inventory", "inventory.purchase_returned", envelope, handlers.return_to_supplier)

    @handle_event("order_cancelled")
    def on_order_cancelled(self, envelope):
        return handle_once(self.db, "inventory", "inventory.order_cancelled", envelope, handlers.release_order)
