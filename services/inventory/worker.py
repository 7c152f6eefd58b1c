"""The inventory worker (nameko): reserves stock for placed orders, issues it for shipped
orders, receives purchased goods; on timers it lets abandoned reservations lapse, holds expired
lots, warns of lots about to expire and schedules monthly cycle counts."""

from nameko.timer import timer
from prometheus_client import Counter

from contracts import (
    OrderCancelled,
    OrderLinesReleased,
    OrderPlaced,
    OrderPrioritised,
    OrderReturned,
    OrderShipped,
    PurchaseCostBilled,
    PurchaseReceived,
    PurchaseReturned,
)
from hubkit import clock
from hubkit.consumer import handle_event, handle_events
from hubkit.db import UnitOfWork
from hubkit.nameko_deps import DatabaseProvider, SettingsProvider
from services.inventory import counts, handlers, holds, inspections, reservations, signals
from services.inventory.models import metadata

RESERVATIONS = Counter("hub_inventory_reservations_total", "Order lines answered, by outcome", ["outcome"])
ALLOCATION_SPLITS = Counter("hub_inventory_allocation_splits_total",
                            "Orders allocated to more than one warehouse, by why", ["reason"])
ALLOCATIONS = Counter("hub_inventory_allocations_total", "Orders allocated, per warehouse that ships (part of) them",
                      ["warehouse"])
HOUSEKEEPING = Counter("hub_inventory_housekeeping_total", "Timer work done, by kind", ["kind"])


class Worker:
    name = "inventory"
    db = DatabaseProvider(metadata)
    settings = SettingsProvider()

    @handle_events(OrderPlaced)
    def on_order_placed(self, uow, batch):
        decided: list = []
        answer = [line for answers in reservations.reserve_orders(uow, [envelope for _, envelope in batch],
                                                                  self.settings.reservation_ttl_minutes, decided)
                  for line in answers]

        def count():  # once the transaction has committed
            for line in answer:
                RESERVATIONS.labels(line["status"]).inc()
            for decision in decided:
                for warehouse in decision.chosen:
                    ALLOCATIONS.labels(warehouse).inc()
                if decision.split_reason:
                    ALLOCATION_SPLITS.labels(decision.split_reason).inc()
        uow.after_commit(count)

    # a review rule raised an order's priority: its reservations take it, so backorders fill by it
    @handle_events(OrderPrioritised)
    def on_order_prioritised(self, uow, batch):
        reservations.prioritise_orders(uow, [(event.order_id, event.priority) for event, _ in batch])

    @handle_events(OrderShipped)
    def on_order_shipped(self, uow, batch):
        reservations.issue_for_shipments(uow, [envelope for _, envelope in batch])

    @handle_event(PurchaseReceived)
    def on_purchase_received(self, uow, event, envelope):
        handlers.receive_purchase(uow, envelope, inspections.Policy.of(self.settings))

    @handle_event(PurchaseCostBilled)
    def on_purchase_cost_billed(self, uow, event, envelope):
        handlers.adjust_purchase_cost(uow, envelope)

    @handle_event(OrderReturned)
    def on_order_returned(self, uow, event, envelope):
        handlers.restock_rma(uow, envelope)

    @handle_event(PurchaseReturned)
    def on_purchase_returned(self, uow, event, envelope):
        handlers.return_to_supplier(uow, envelope)

    @handle_event(OrderCancelled)
    def on_order_cancelled(self, uow, event, envelope):
        reservations.release_order(uow, envelope)

    @handle_event(OrderLinesReleased)
    def on_order_lines_released(self, uow, event, envelope):
        reservations.release_lines(uow, envelope)

    @timer(interval=30)
    def housekeeping(self):
        """Each step in its own transaction, so one failing does not hold up the others."""
        s, today = self.settings, clock.today()
        steps = {
            "reservations_expired": lambda uow: len(reservations.expire_reservations(uow, clock.now())),
            "lots_expired": lambda uow: holds.expire_lots(uow, today),
            "lots_expiring": lambda uow: signals.lots_expiring(uow, today, s.lot_expiry_warning_days),
            "cycle_counts_opened": lambda uow: len(counts.schedule_cycle_counts(uow, today, s.cycle_count_skus)),
        }
        for kind, step in steps.items():
            with UnitOfWork(self.db, "inventory", "inventory-worker", f"housekeeping:{kind}") as uow:
                HOUSEKEEPING.labels(kind).inc(step(uow))
