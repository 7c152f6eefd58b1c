"""The order worker (nameko): applies inventory's answers to order lines."""
from hubkit.consumer import handle_event
from hubkit.inbox import handle_once
from hubkit.nameko_deps import DatabaseProvider
from services.order import domain, handlers
from services.order.models import metadata


class Worker:
    name = "order"
    db = DatabaseProvider(metadata)

    @handle_event("stock_reserved")
    def on_stock_reserved(self, envelope):
        return handle_once(self.db, "order", "order.stock_reserved", envelope, handlers.apply_stock_answer)

    @handle_event("stock_short")
    def on_stock_short(self, envelope):
        return handle_once(self.db, "order", "order.stock_short", envelope, handlers.apply_stock_answer)

    @handle_event("channel_order_changed")
    def on_channel_order_changed(self, envelope):
        return handle_once(self.db, "order", "order.channel_order_changed", envelope, lambda uow, env:
                           handlers.apply_channel_order(uow, domain.channel_order_from_dict(env.payload)))
