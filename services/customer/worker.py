"""The customer worker (nameko): customers and their order history from order events."""
from contracts import OrderCancelled, OrderLinesReleased, OrderPlaced, OrderRefunded, OrderReturned, OrderShipped
from hubkit.consumer import each, handle_event, handle_events
from hubkit.nameko_deps import DatabaseProvider
from services.customer import handlers
from services.customer.models import metadata


class Worker:
    name = "customer"
    db = DatabaseProvider(metadata)

    @handle_events(OrderPlaced)
    def on_order_placed(self, uow, batch):
        for _, envelope in each(uow, batch):
            handlers.record_order_placed(uow, envelope)

    @handle_events(OrderShipped)
    def on_order_shipped(self, uow, batch):
        for _, envelope in each(uow, batch):
            handlers.record_order_shipped(uow, envelope)

    @handle_event(OrderCancelled)
    def on_order_cancelled(self, uow, event, envelope):
        handlers.record_order_cancelled(uow, envelope)

    @handle_events(OrderReturned)
    def on_order_returned(self, uow, batch):
        for event, envelope in each(uow, batch):
            handlers.record_after_sale(uow, event, envelope)

    @handle_events(OrderRefunded)
    def on_order_refunded(self, uow, batch):
        for event, envelope in each(uow, batch):
            handlers.record_after_sale(uow, event, envelope)

    @handle_events(OrderLinesReleased)
    def on_order_lines_released(self, uow, batch):
        for event, envelope in each(uow, batch):
            handlers.record_after_sale(uow, event, envelope)
