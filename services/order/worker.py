"""The order worker (nameko): applies inventory's answers to order lines and cancels orders
whose reservation expired."""
from hubkit.consumer import handle_event
from hubkit.inbox import handle_once
from hubkit.nameko_deps import DatabaseProvider
from services.order import domain, handlers
from services.order.models import metadata


class Worker:
    name = "order"
    db = DatabaseProvider(metadata)

    # Both answers share one consumer name, so one sequence per order: a stock_short that arrives
    # after the stock_reserved which superseded it (backorder filled) is stale and ignored.
    @handle_event("stock_reserved")
    def on_stock_reserved(self, envelope):
        return handle_once(self.db, "order", "order.stock_answer", envelope, handlers.apply_stock_answer)

    @handle_event("stock_short")
    def on_stock_short(self, envelope):
        return handle_once(self.db, "order", "order.stock_answer", envelope, handlers.apply_stock_answer)

    @handle_event("channel_order_changed")
    def on_channel_order_changed(self, envelope):
        return handle_once(self.db, "order", "order.channel_order_changed", envelope, lambda uow, env:
                           handlers.apply_channel_order(uow, domain.channel_order_from_dict(env.payload)))

    @handle_event("reservation_expired")
    def on_reservation_expired(self, envelope):
        # its own consumer name, so its own inbox positions: accepted after stock_reserved/stock_short
        # of the same order (and before them, should it overtake them on its own queue)
        return handle_once(self.db, "order", "order.reservation_expired", envelope, handlers.expire_reservation)
