"""The procurement worker (nameko): turns inventory's stock signals into purchase suggestions
(low_stock; and demand: sales from goods_issued, positions from stock_changed), alerts for buyers
(lot_expiring, lot_hold_changed), and marks receipts and returns inventory refused; keeps inventory's
inspection results (the supplier scorecard) and sends failed goods back to the supplier; on a timer
it announces approval steps waiting too long (approval_waiting, overdue)."""
from datetime import datetime

from nameko.timer import timer

from contracts import (
    GoodsIssued,
    InspectionRecorded,
    LotExpiring,
    LotHoldChanged,
    LowStock,
    PurchaseReceiptRefused,
    PurchaseReturnRefused,
    StockChanged,
)
from hubkit.consumer import handle_event, handle_events
from hubkit.db import UnitOfWork
from hubkit.nameko_deps import DatabaseProvider
from services.procurement import approvals, handlers
from services.procurement.models import metadata

# Replenishment re-plans each SKU and warehouse once per batch of stock signals, whatever the number of
# signals in it, and nobody waits for a purchase suggestion: their batches gather longer (`background`).


class Worker:
    name = "procurement"
    db = DatabaseProvider(metadata)

    @handle_event(LowStock)
    def on_low_stock(self, uow, event, envelope):
        handlers.apply_low_stock(uow, envelope)

    @handle_events(GoodsIssued, background=True)
    def on_goods_issued(self, uow, batch):
        handlers.record_sales(uow, [event for event, _ in batch])

    @handle_events(StockChanged, background=True)
    def on_stock_changed(self, uow, batch):
        handlers.record_levels(uow, [(event, datetime.fromisoformat(envelope.occurred_at)) for event, envelope in batch])

    @handle_event(LotExpiring)
    def on_lot_expiring(self, uow, event, envelope):
        handlers.record_stock_alert(uow, envelope)

    @handle_event(LotHoldChanged)
    def on_lot_hold_changed(self, uow, event, envelope):
        handlers.record_stock_alert(uow, envelope)

    @handle_event(InspectionRecorded)
    def on_inspection_recorded(self, uow, event, envelope):
        handlers.record_inspection(uow, event)

    @handle_event(PurchaseReceiptRefused)
    def on_purchase_receipt_refused(self, uow, event, envelope):
        handlers.refuse_receipt(uow, event)

    @handle_event(PurchaseReturnRefused)
    def on_purchase_return_refused(self, uow, event, envelope):
        handlers.refuse_return(uow, event)

    @timer(interval=60)
    def approvals_overdue(self):
        """Steps waiting longer than the chain's overdue_hours: approval_waiting once more, as overdue."""
        with UnitOfWork(self.db, "procurement", "procurement-worker", "housekeeping:approvals_overdue") as uow:
            approvals.scan_overdue(uow)
