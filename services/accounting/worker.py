"""The accounting worker (nameko): every business event becomes its balanced voucher."""
from nameko.extensions import DependencyProvider
from prometheus_client import Counter

from contracts import (
    GoodsIssued,
    GoodsReturned,
    KitChanged,
    OrderRefunded,
    OrderReturned,
    OrderShipped,
    PurchaseCostAdjusted,
    PurchaseReceiptRefused,
    PurchaseReceived,
    PurchaseReturnShipped,
    StockAdjusted,
    StockReceived,
    StockTransferred,
)
from hubkit.consumer import each, handle_event, handle_events
from hubkit.db import Database
from hubkit.nameko_deps import DatabaseProvider, process_settings
from services.accounting import chart, handlers
from services.accounting.models import metadata

VOUCHERS_POSTED = Counter("hub_accounting_vouchers_posted_total", "Vouchers posted", ["kind"])


class PostingRules(DependencyProvider):
    """The posting rules from this process's settings; makes sure the chart is in the database."""

    def setup(self):
        settings = process_settings(self.container)
        self.rules, accounts = chart.rules(settings)
        db = Database(settings.db_url, metadata, pool_size=1)
        try:
            handlers.ensure_chart(db, accounts)
        finally:
            db.dispose()

    def get_dependency(self, worker_ctx):
        return self.rules


class Worker:
    name = "accounting"
    db = DatabaseProvider(metadata)
    rules = PostingRules()

    def _post(self, uow, envelope, posting):
        voucher = posting(uow, envelope, self.rules)
        if voucher:  # counted once the transaction has committed
            uow.after_commit(lambda: VOUCHERS_POSTED.labels(voucher["kind"]).inc())

    @handle_events(OrderShipped)
    def on_order_shipped(self, uow, batch):
        for _, envelope in each(uow, batch):
            self._post(uow, envelope, handlers.post_sale)

    @handle_events(GoodsIssued)
    def on_goods_issued(self, uow, batch):
        for _, envelope in each(uow, batch):
            self._post(uow, envelope, handlers.post_cost_of_goods)

    @handle_event(PurchaseReceived)
    def on_purchase_received(self, uow, event, envelope):
        self._post(uow, envelope, handlers.post_purchase)

    @handle_event(PurchaseReceiptRefused)
    def on_purchase_receipt_refused(self, uow, event, envelope):
        self._post(uow, envelope, handlers.reverse_refused_purchase)

    @handle_event(OrderReturned)
    def on_order_returned(self, uow, event, envelope):
        self._post(uow, envelope, handlers.post_sales_return)

    @handle_event(OrderRefunded)
    def on_order_refunded(self, uow, event, envelope):
        self._post(uow, envelope, handlers.post_sales_refund)

    @handle_event(GoodsReturned)
    def on_goods_returned(self, uow, event, envelope):
        self._post(uow, envelope, handlers.post_return_cost)

    @handle_event(StockAdjusted)
    def on_stock_adjusted(self, uow, event, envelope):
        self._post(uow, envelope, handlers.post_stock_adjustment)

    @handle_event(StockReceived)
    def on_stock_received(self, uow, event, envelope):
        self._post(uow, envelope, handlers.post_stock_receipt)

    @handle_event(PurchaseReturnShipped)
    def on_purchase_return_shipped(self, uow, event, envelope):
        self._post(uow, envelope, handlers.post_purchase_return)

    @handle_event(StockTransferred)
    def on_stock_transferred(self, uow, event, envelope):
        self._post(uow, envelope, handlers.post_stock_transfer)

    @handle_event(KitChanged)
    def on_kit_changed(self, uow, event, envelope):
        self._post(uow, envelope, handlers.post_kit_change)

    @handle_event(PurchaseCostAdjusted)
    def on_purchase_cost_adjusted(self, uow, event, envelope):
        self._post(uow, envelope, handlers.post_purchase_cost)
