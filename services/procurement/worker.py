"""The procurement worker (nameko): turns inventory's stock signals into purchase suggestions
(low_stock) and alerts for buyers (lot_expiring, lot_hold_changed)."""
from hubkit.consumer import handle_event
from hubkit.inbox import handle_once
from hubkit.nameko_deps import DatabaseProvider
from services.procurement import handlers
from services.procurement.models import metadata


class Worker:
    name = "procurement"
    db = DatabaseProvider(metadata)

    @handle_event("low_stock")
    def on_low_stock(self, envelope):
        return handle_once(self.db, "procurement", "procurement.low_stock", envelope, handlers.apply_low_stock)

    @handle_event("lot_expiring")
    def on_lot_expiring(self, envelope):
        return handle_once(self.db, "procurement", "procurement.lot_expiring", envelope,
                           handlers.record_stock_alert)

    @handle_event("lot_hold_changed")
    def on_lot_hold_changed(self, envelope):
        return handle_once(self.db, "procurement", "procurement.lot_hold_changed", envelope,
                           handlers.record_stock_alert)
