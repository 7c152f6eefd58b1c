"""The inventory worker (nameko): reserves stock for placed orders, issues it for shipped
orders, receives purchased goods; on timers it lets abandoned reservations lapse, holds expired
lots, warns of lots about to expire and schedules monthly cycle counts."""
from datetime import datetime, timezone

from nameko.timer import timer
from prometheus_client import Counter

from hubkit import clock
from hubkit.consumer import handle_event
from hubkit.db import UnitOfWork
from hubkit.inbox import handle_once
from hubkit.nameko_deps import DatabaseProvider, SettingsProvider
from services.inventory import counts, handlers, holds, reservations, signals
from services.inventory.models import metadata

RESERVATIONS = Counter("hub_inventory_reservations_total", "Order lines answered, by outcome", ["outcome"])
HOUSEKEEPING = Counter("hub_inventory_housekeeping_total", "Timer work done, by kind", ["kind"])


class Worker:
    name = "inventory"
    db = DatabaseProvider(metadata)
    settings = SettingsProvider()

    @handle_event("order_placed")
    def on_order_placed(self, envelope):
        answer = []
        ttl = self.settings.reservation_ttl_minutes
        applied = handle_once(self.db, "inventory", "inventory.order_placed", envelope,
                              lambda uow, env: answer.extend(reservations.reserve_order(uow, env, ttl)))
        for line in answer:  # counted once the transaction has committed
            RESERVATIONS.labels(line["status"]).inc()
        return applied

    @handle_event("order_shipped")
    def on_order_shipped(self, envelope):
        return handle_once(self.db, "inventory", "inventory.order_shipped", envelope,
                           reservations.issue_for_shipment)

    @handle_event("purchase_received")
    def on_purchase_received(self, envelope):
        return handle_once(self.db, "inventory", "inventory.purchase_received", envelope,
                           handlers.receive_purchase)

    @handle_event("order_returned")
    def on_order_returned(self, envelope):
        return handle_once(self.db, "inventory", "inventory.order_returned", envelope, reservations.restock_return)

    @handle_event("purchase_returned")
    def on_purchase_returned(self, envelope):
        return handle_once(self.db, "inventory", "inventory.purchase_returned", envelope, handlers.return_to_supplier)

    @handle_event("order_cancelled")
    def on_order_cancelled(self, envelope):
        return handle_once(self.db, "inventory", "inventory.order_cancelled", envelope, reservations.release_order)

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
