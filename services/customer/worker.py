"""The customer worker (nameko): customers and their order history from order events."""
from hubkit.consumer import handle_event
from hubkit.inbox import handle_once
from hubkit.nameko_deps import DatabaseProvider
from services.customer import handlers
from services.customer.models import metadata


class Worker:
    name = "customer"
    db = DatabaseProvider(metadata)

    @handle_event("order_placed")
    def on_order_placed(self, envelope):
        return handle_once(self.db, "customer", "customer.order_placed", envelope, handlers.record_order_placed)

    @handle_event("order_shipped")
    def on_order_shipped(self, envelope):
        return handle_once(self.db, "customer", "customer.order_shipped", envelope, handlers.record_order_shipped)

    @handle_event("order_cancelled")
    def on_order_cancelled(self, envelope):
        return handle_once(self.db, "customer", "customer.order_cancelled", envelope, handlers.record_order_cancelled)
