"""The accounting worker (nameko): every business event becomes its balanced voucher."""
from nameko.extensions import DependencyProvider
from prometheus_client import Counter

from hubkit.consumer import handle_event
from hubkit.db import Database
from hubkit.inbox import handle_once
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

    def _post(self, consumer, envelope, posting):
        posted = []
        applied = handle_once(self.db, "accounting", consumer, envelope,
                              lambda uow, env: posted.append(posting(uow, env, self.rules)))
        for voucher in posted:
            if voucher:  # counted once the transaction has committed
                VOUCHERS_POSTED.labels(voucher["kind"]).inc()
        return applied

    @handle_event("order_shipped")
    def on_order_shipped(self, envelope):
        return self._post("accounting.order_shipped", envelope, handlers.post_sale)

    @handle_event("goods_issued")
    def on_goods_issued(self, envelope):
        return self._post("accounting.goods_issued", envelope, handlers.post_cost_of_goods)

    @handle_event("purchase_received")
    def on_purchase_received(self, envelope):
        return self._post("accounting.purchase_received", envelope, handlers.post_purchase)

    @handle_event("order_returned")
    def on_order_returned(self, envelope):
        return self._post("accounting.order_returned", envelope, handlers.post_sales_return)

    @handle_event("goods_returned")
    def on_goods_returned(self, envelope):
        return self._post("accounting.goods_returned", envelope, handlers.post_return_cost)

    @handle_event("stock_adjusted")
    def on_stock_adjusted(self, envelope):
        return self._post("accounting.stock_adjusted", envelope, handlers.post_stock_adjustment)

    @handle_event("purchase_return_shipped")
    def on_purchase_return_shipped(self, envelope):
        return self._post("accounting.purchase_return_shipped", envelope, handlers.post_purchase_return)

    @handle_event("stock_transferred")
    def on_stock_transferred(self, envelope):
        return self._post("accounting.stock_transferred", envelope, handlers.post_stock_transfer)

    @handle_event("kit_changed")
    def on_kit_changed(self, envelope):
        return self._post("accounting.kit_changed", envelope, handlers.post_kit_change)
