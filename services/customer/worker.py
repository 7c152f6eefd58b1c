"""The customer worker (nameko): customers and their order history from order events, one customer
across channels (the phone hash), their tier by the rules in force, and what they owe from the books."""
from contracts import (
    OrderCancelled,
    OrderLinesReleased,
    OrderPlaced,
    OrderRefunded,
    OrderReturned,
    OrderShipped,
    VoucherPosted,
)
from hubkit.consumer import each, handle_event, handle_events
from hubkit.nameko_deps import DatabaseProvider, SettingsProvider
from services.customer import handlers, profiles
from services.customer.models import metadata


class Worker:
    name = "customer"
    db = DatabaseProvider(metadata)
    settings = SettingsProvider()

    @handle_events(OrderPlaced, background=True)
    def on_order_placed(self, uow, batch):
        key = self.settings.phone_hash_key.get_secret_value().encode("utf-8")
        touched = handlers.record_orders_placed(uow, [envelope for _, envelope in batch], key)
        # once per batch: the buyers' phone hashes and merges, then their tiers
        profiles.dedup_by_phone(uow, touched, key)
        profiles.recompute_tiers(uow, touched)

    @handle_events(OrderShipped, background=True)
    def on_order_shipped(self, uow, batch):
        handlers.record_orders_shipped(uow, batch)

    @handle_event(OrderCancelled)
    def on_order_cancelled(self, uow, event, envelope):
        profiles.recompute_tiers(uow, [handlers.record_order_cancelled(uow, envelope)])

    @handle_events(OrderReturned)
    def on_order_returned(self, uow, batch):
        touched = [handlers.record_after_sale(uow, event, envelope) for event, envelope in each(uow, batch)]
        profiles.recompute_tiers(uow, touched)

    @handle_events(OrderRefunded)
    def on_order_refunded(self, uow, batch):
        for event, envelope in each(uow, batch):
            handlers.record_after_sale(uow, event, envelope)

    @handle_events(OrderLinesReleased)
    def on_order_lines_released(self, uow, batch):
        for event, envelope in each(uow, batch):
            handlers.record_after_sale(uow, event, envelope)

    # what each buyer owes and paid, from the books: the credit exposure without asking accounting; a
    # voucher that moves no buyer's receivable (most: cost of goods, a marketplace's sale) is acked
    # without a transaction
    @handle_events(VoucherPosted, wanted=lambda self, event: profiles.moves_receivable(
        event, self.settings.receivable_account), background=True)
    def on_voucher_posted(self, uow, batch):
        profiles.apply_vouchers(uow, [event for event, _ in batch], self.settings.receivable_account)
