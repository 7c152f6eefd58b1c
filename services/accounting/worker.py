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
# The sales figures as the books have them (net of VAT, in the books' currency, by the channel cost
# centre the posting rules put on revenue and cost of goods): counters only grow, so what reverses
# them (returns, refunds, restocks) counts apart; net revenue = revenue - reversed. Revenue also by
# shop (the sale's event names it; a merchant has a few); the cost of goods' events do not name one.
REVENUE = Counter("hub_sales_revenue_total", "Revenue posted by shipped sales, net of VAT, in the books' currency",
                  ["channel", "shop"])
REVENUE_REVERSED = Counter("hub_sales_revenue_reversed_total",
                           "Revenue reversed by returns and refunds after shipment, in the books' currency",
                           ["channel", "shop"])
COST_OF_GOODS = Counter("hub_sales_cost_of_goods_total", "Cost of the goods shipped (their cost layers), in the books' "
                        "currency", ["channel"])
COST_OF_GOODS_REVERSED = Counter("hub_sales_cost_of_goods_reversed_total",
                                 "Cost of goods that came back into stock, in the books' currency", ["channel"])


def sales_figures(lines: list[dict], accounts: dict[str, str], shop: str = "") -> list[tuple[Counter, tuple, float]]:
    """(counter, its label values, amount) for a posted voucher's revenue and cost-of-goods lines; a line
    without a channel cost centre counts under channel "none". Each counter comes with its reversing one
    at 0, so both have the series and subtract."""
    sides = {accounts["revenue"]: (REVENUE, REVENUE_REVERSED), accounts["cost_of_goods"]: (COST_OF_GOODS_REVERSED,
                                                                                           COST_OF_GOODS)}
    figures = []
    for line in lines:
        if line["account"] in sides:
            credited, debited = sides[line["account"]]
            channel = line["cost_centre"].removeprefix("channel:") if line["cost_centre"].startswith("channel:") \
                else "none"
            labels = (channel, shop or "none") if credited is REVENUE else (channel,)
            figures += [(credited, labels, float(line["credit"])), (debited, labels, float(line["debit"]))]
    return figures


class PostingRules(DependencyProvider):
    """The posting rules from this process's settings; makes sure the chart is in the database."""

    def setup(self):
        settings = process_settings(self.container)
        self.rules, accounts = chart.rules(settings)
        db = Database(settings.db_url, metadata, pool_size=1, prepare=settings.db_prepared_statements)
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
        if voucher:
            self._count(uow, voucher, envelope)

    def _count(self, uow, voucher, envelope):
        """The voucher's figures, counted once the transaction has committed."""
        figures = sales_figures(voucher["lines"], self.rules.accounts, str(envelope.payload.get("shop") or ""))

        def count():
            VOUCHERS_POSTED.labels(voucher["kind"]).inc()
            for counter, labels, amount in figures:
                counter.labels(*labels).inc(amount)
        uow.after_commit(count)

    def _post_batch(self, uow, batch, posting):
        """A batch's vouchers written together (handlers.posting_batch), each counted."""
        with handlers.posting_batch(uow) as written:
            for _, envelope in each(uow, batch):
                posting(uow, envelope, self.rules)
        for voucher, envelope in written:
            self._count(uow, voucher, envelope)

    @handle_events(OrderShipped, background=True)
    def on_order_shipped(self, uow, batch):
        self._post_batch(uow, batch, handlers.post_sale)

    @handle_events(GoodsIssued, background=True)
    def on_goods_issued(self, uow, batch):
        self._post_batch(uow, batch, handlers.post_cost_of_goods)

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
