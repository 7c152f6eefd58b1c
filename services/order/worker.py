"""The order worker (nameko): applies inventory's answers to order lines, cancels orders whose
reservation expired, applies the channels' order changes, and keeps review's projections of other
services' facts (customer terms, SKU categories, buyers' receivables)."""
from contracts import (
    ChannelOrderChanged,
    CustomerTermsChanged,
    OrderMoved,
    ReservationExpired,
    SkuChanged,
    StockReserved,
    StockShort,
    VoucherPosted,
)
from hubkit.consumer import handle_event, handle_events
from hubkit.nameko_deps import DatabaseProvider, SettingsProvider
from services.order import domain, handlers, review
from services.order.models import metadata


class Worker:
    name = "order"
    db = DatabaseProvider(metadata)
    settings = SettingsProvider()

    # Both answers share one consumer name, so one sequence per order: a stock_short that arrives
    # after the stock_reserved which superseded it (backorder filled) is stale and ignored.
    @handle_events(StockReserved, consumer="order.stock_answer")
    def on_stock_reserved(self, uow, batch):
        handlers.apply_stock_answers(uow, batch, self.settings.merge_window)

    @handle_events(StockShort, consumer="order.stock_answer")
    def on_stock_short(self, uow, batch):
        handlers.apply_stock_answers(uow, batch, self.settings.merge_window)

    # a shop connector publishes a page of orders at once: they are placed in one transaction
    @handle_events(ChannelOrderChanged)
    def on_channel_order_changed(self, uow, batch):
        handlers.apply_channel_orders(uow, [(domain.channel_order(event), envelope) for event, envelope in batch],
                                      self.settings.review_first)

    # its own consumer name, so its own inbox positions: accepted after stock_reserved/stock_short
    # of the same order (and before them, should it overtake them on its own queue)
    @handle_event(ReservationExpired)
    def on_reservation_expired(self, uow, event, envelope):
        handlers.expire_reservation(uow, envelope)

    # the audit of an operator's move, from inventory's record of it (its own consumer: its own inbox)
    @handle_event(OrderMoved)
    def on_order_moved(self, uow, event, envelope):
        handlers.record_move(uow, event, envelope)

    # review's customer facts by projection: the customer service owns the tier and credit limit
    @handle_event(CustomerTermsChanged)
    def on_customer_terms_changed(self, uow, event, envelope):
        review.apply_customer_terms(uow, event)

    # review's category facts by projection: inventory's SKU master owns the category
    @handle_events(SkuChanged)
    def on_sku_changed(self, uow, batch):
        review.apply_sku_changes(uow, [event for event, _ in batch])

    # review's exposure by projection: what each buyer owes is the books' (accounting's receivable);
    # a voucher with no buyer's receivable line (cost of goods, purchases...) is acked without a
    # transaction: it would change nothing, and each voucher is the one event of its aggregate
    @handle_events(VoucherPosted,
                   wanted=lambda self, event: review.moves_receivable(event, self.settings.receivable_account))
    def on_voucher_posted(self, uow, batch):
        review.apply_vouchers(uow, [event for event, _ in batch], self.settings.receivable_account)
