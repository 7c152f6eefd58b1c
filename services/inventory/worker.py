"""The inventory worker (nameko): reserves stock for placed orders."""
from hubkit.consumer import handle_event
from hubkit.inbox import handle_once
from hubkit.nameko_deps import DatabaseProvider
from services.inventory import handlers
from services.inventory.models import metadata


class Worker:
    name = "inventory"
    db = DatabaseProvider(metadata)

    @handle_event("order_placed")
    def on_order_placed(self, envelope):
        return handle_once(self.db, "inventory", "inventory.order_placed", envelope, handlers.reserve_order)
