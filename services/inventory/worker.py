"""The inventory worker (nameko): reserves stock for placed orders."""
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
