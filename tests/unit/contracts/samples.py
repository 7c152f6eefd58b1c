"""One payload per event type, shaped exactly as its producer writes it (the emit call sites in
services/, connectors/shops core.hub_order): amounts as decimal strings, moments as isoformat()."""
from __future__ import annotations

AT = "2026-03-01T08:30:00.123456+00:00"
BUYER = {"external_id": "tb-buyer-1", "name": "李雷", "phone": "13800138000"}
ADDRESS = {"recipient": "李雷", "phone": "13800138000", "province": "浙江省", "city": "杭州市", "street": "文三路 1 号"}
SUPPLIER = {"code": "ACME", "name": "Acme Tea Co."}
ANSWER = [
    {"line_no": 1, "sku": "TEA-1", "quantity": 3, "status": "reserved", "warehouse": "WH-SH", "reserved_quantity": 3,
     "allocations": [{"warehouse": "WH-BJ", "quantity": 1}, {"warehouse": "WH-SH", "quantity": 2}]},
    {"line_no": 2, "sku": "CUP-1", "quantity": 2, "status": "backordered", "warehouse": None, "reserved_quantity": 0,
     "allocations": []},
]
SOLD = [{"line_no": 1, "sku": "TEA-1", "quantity": 2, "unit_price": "168.00", "amount": "336.00", "warehouse": "WH-SH"},
        {"line_no": 2, "sku": "CUP-1", "quantity": 1, "unit_price": "19.90", "amount": "19.90", "warehouse": None}]
PURCHASED = {"line_no": 1, "sku": "TEA-1", "quantity": 10, "unit_cost": "80.000000", "vat_rate": "0.1300",
             "amount": "800.00", "tax": "104.00"}

PAYLOADS = {
    "customer_terms_changed": {
        "customer_id": "c-1", "channel": "taobao", "external_id": "tb-buyer-1", "tier": "vip",
        "credit_limit": "50000.00", "changed_at": AT,
        "group_id": "c-1"},
    "sku_changed": {"sku": "TEA-1", "category": "tea", "changed_at": AT},
    "order_placed": {
        "order_id": "9f1c0d6e3b2a4c5d8e7f6a5b4c3d2e1f", "channel": "taobao", "shop": "tea-house",
        "external_order_id": "TB-1001", "currency": "CNY", "total": "355.90", "placed_at": AT, "buyer": BUYER,
        "shipping_address": ADDRESS,
        "lines": [{"line_no": 1, "sku": "TEA-1", "quantity": 2, "unit_price": "168.00"},
                  {"line_no": 2, "sku": "CUP-1", "quantity": 1, "unit_price": "19.90"}]},
    "order_prioritised": {"order_id": "o-1", "priority": 10},
    "order_held": {"order_id": "o-1", "hold_id": "h-1", "reason": "finance_approval", "rule": None,
                   "note": "credit limit exceeded", "approval": True, "placed_by": "review", "placed_at": AT},
    "order_cancelled": {
        "order_id": "o-1", "cancelled_at": AT,
        "lines": [{"line_no": 1, "sku": "TEA-1", "quantity": 2}]},
    "order_lines_released": {
        "order_id": "o-1", "released_at": AT, "reason": "refunded on the platform",
        "lines": [{"line_no": 1, "sku": "TEA-1", "quantity": 2}]},
    "order_refunded": {
        "order_id": "o-1", "refund_id": "f-1", "channel": "taobao", "shop": "tea-house",
        "external_order_id": "TB-1001", "buyer": BUYER, "reason": "scratched, buyer keeps it", "refunded_at": AT,
        "currency": "CNY", "lines": [{"line_no": 1, "sku": "TEA-1", "amount": "30.00",
                                      "amount_reversed_before": "0.00"}]},
    "order_shipped": {
        "order_id": "o-1", "channel": "taobao", "shop": "tea-house", "external_order_id": "TB-1001",
        "currency": "CNY", "buyer": BUYER, "carrier": "SF", "tracking_number": "SF1234567890", "shipped_at": AT,
        "total": "355.90", "lines": SOLD},
    "order_returned": {
        "order_id": "o-1", "return_id": "r-1", "channel": "taobao", "shop": "tea-house",
        "external_order_id": "TB-1001", "buyer": BUYER, "reason": "damaged", "returned_at": AT, "lines": SOLD[:1]},
    "channel_order_changed": {
        "channel": "jd", "shop": "jd-flagship", "external_order_id": "JD-77", "version": 1767225600123,
        "status": "paid", "currency": "CNY", "buyer": BUYER, "shipping_address": ADDRESS,
        "lines": [{"sku": "TEA-1", "quantity": 2, "unit_price": "150.00", "amount": "300.00", "refund_status": None},
                  {"sku": "CUP-1", "quantity": 2, "unit_price": "9.95", "amount": "19.90", "refund_status": "refunding"}]},
    "stock_reserved": {"order_id": "o-1", "lines": ANSWER[:1]},
    "stock_short": {"order_id": "o-1", "lines": ANSWER},
    "order_moved": {
        "order_id": "o-1", "warehouse": "WH-SH", "before": ["WH-BJ"], "note": "nearer the buyer", "moved_at": AT,
        "lines": ANSWER[:1]},
    "reservation_expired": {
        "order_id": "o-1", "expired_at": AT, "lines": [{"line_no": 1, "sku": "TEA-1", "quantity": 3}]},
    "goods_issued": {
        "order_id": "o-1", "channel": "taobao", "issued_at": AT,
        "lines": [{"line_no": 1, "sku": "TEA-1", "warehouse": "WH-BJ", "quantity": 1, "cost": "80.00"},
                  {"line_no": 1, "sku": "TEA-1", "warehouse": "WH-SH", "quantity": 1, "cost": "81.50"}],
        "total_cost": "161.50"},
    "goods_returned": {
        "order_id": "o-1", "return_id": "r-1", "channel": None, "returned_at": AT,
        "lines": [{"line_no": 1, "sku": "TEA-1", "warehouse": "WH-SH", "quantity": 1, "cost": "81.50"}]},
    "stock_adjusted": {
        "adjustment_id": "a-1", "sku": "TEA-1", "warehouse": "WH-SH", "quantity": -2, "reason": "scrap",
        "note": "water damage", "value": "-160.00", "occurred_at": AT},
    "stock_received": {
        "document_id": "r-1", "reason": "opening", "sku": "TEA-1", "warehouse": "WH-SH", "quantity": 5,
        "value": "400.00", "reference": "go-live count", "occurred_at": AT},
    "stock_transferred": {
        "transfer_id": "t-1", "stage": "shipped", "from_warehouse": "WH-SH", "to_warehouse": "WH-BJ",
        "occurred_at": AT, "lines": [{"sku": "TEA-1", "quantity": 4, "value": "320.00"}], "total_value": "320.00"},
    "kit_changed": {
        "document_id": "k-1", "action": "assembled", "kit_sku": "GIFT-1", "warehouse": "WH-SH", "quantity": 2,
        "value": "340.00", "occurred_at": AT,
        "components": [{"sku": "TEA-1", "quantity": 2, "value": "300.00"},
                       {"sku": "CUP-1", "quantity": 4, "value": "40.00"}]},
    "purchase_return_shipped": {
        "purchase_order_id": "po-1", "return_id": "pr-1", "supplier": SUPPLIER, "warehouse": "WH-SH",
        "total_net": "160.00", "total_tax": "20.80", "total": "180.80", "returned_at": AT,
        "lines": [{"line_no": 1, "sku": "TEA-1", "quantity": 2, "cost": "160.00"}], "total_cost": "160.00"},
    "purchase_receipt_refused": {
        "purchase_order_id": "po-1", "receipt_id": "rc-1", "warehouse": "WH-SH",
        "reason": "line 1: bin 'Z-99' does not exist in WH-SH",
        "errors": [{"field": "lines[0].bin", "message": "unknown bin in WH-SH"}], "refused_at": AT},
    "purchase_return_refused": {
        "purchase_order_id": "po-1", "return_id": "pr-1", "warehouse": "WH-SH",
        "reason": "line 1: TEA-1 in WH-SH: 2 units are not free to take (reserved for orders or held)",
        "errors": [{"field": "lines[0].quantity", "message": "more than the free stock"}], "refused_at": AT},
    "stock_changed": {
        "sku": "TEA-1", "available": 7,
        "levels": [{"sku": "TEA-1", "warehouse": "WH-BJ", "on_hand": 3, "reserved": 1, "held": 0, "in_transit": 4,
                    "available": 2},
                   {"sku": "TEA-1", "warehouse": "WH-SH", "on_hand": 8, "reserved": 2, "held": 1, "in_transit": 0,
                    "available": 5}]},
    "approval_waiting": {
        "document_kind": "purchase_order", "document_id": "b" * 32, "step_no": 2, "step": "finance-director",
        "approver": None, "role": "finance_director", "waiting_since": AT, "overdue": False, "amount": "5000.00",
        "requester": "li.buyer"},
    "low_stock": {
        "sku": "TEA-1", "warehouse": "WH-SH", "available": 2, "minimum": 5, "maximum": 40, "shortfall": 38,
        "occurred_at": AT},
    "lot_expiring": {
        "sku": "MILK-1", "lot": "L2026-02", "expires_on": "2026-03-20", "days_left": 19,
        "quantities": [{"warehouse": "WH-BJ", "quantity": 5}, {"warehouse": "WH-SH", "quantity": 30}],
        "occurred_at": AT},
    "lot_hold_changed": {
        "sku": "MILK-1", "lot": "L2026-02", "warehouse": "WH-SH", "held": True, "reason": "quarantine",
        "quantity": 30, "note": "smells odd", "occurred_at": AT},
    "inspection_recorded": {
        "inspection_id": "in-1", "receipt_id": "rc-1", "purchase_order_id": "po-1", "line_no": 1,
        "supplier": "SUP-1", "warehouse": "WH-SH", "sku": "MILK-1", "lot": "L2026-02", "quantity": 10, "passed": 7,
        "failed": 3, "disposition": "return", "return_lot": "L2026-02.REJ", "note": "3 dented",
        "inspected_by": "qc-1", "inspected_at": AT},
    "purchase_received": {
        "purchase_order_id": "po-1", "receipt_id": "rc-1", "supplier": SUPPLIER, "warehouse": "WH-SH",
        "currency": "CNY", "received_at": AT, "reference": "DN-88",
        "lines": [PURCHASED,  # a line without tracking has none of its keys
                  {**PURCHASED, "line_no": 2, "sku": "MILK-1", "quantity": 2, "bin": "A-01", "lot": "L2026-02",
                   "expires_on": "2026-03-20", "serials": ["S1", "S2"]}],
        "total_net": "1600.00", "total_tax": "208.00", "total": "1808.00"},
    "purchase_returned": {
        "purchase_order_id": "po-1", "return_id": "pr-1", "supplier": SUPPLIER, "warehouse": "WH-SH",
        "currency": "CNY", "returned_at": AT, "reason": "wrong grade",
        "lines": [{**PURCHASED, "quantity": 2, "amount": "160.00", "tax": "20.80"}],
        "total_net": "160.00", "total_tax": "20.80", "total": "180.80"},
    "purchase_cost_billed": {
        "document_id": "inv-1", "kind": "supplier_invoice", "purchase_order_id": "po-1", "supplier": SUPPLIER,
        "warehouse": "WH-SH", "currency": "CNY", "reference": "INV-001", "charge": "", "billed_at": AT,
        "provisional": "800.00", "total_net": "820.00", "total_tax": "106.60", "total": "926.60",
        "lines": [{"receipt_id": "rc-1", "line_no": 1, "sku": "TEA-1", "quantity": 10, "change": "20.00"}]},
    "purchase_cost_adjusted": {
        "document_id": "inv-1", "kind": "supplier_invoice", "purchase_order_id": "po-1", "supplier": SUPPLIER,
        "warehouse": "WH-SH", "reference": "INV-001", "charge": "", "billed_at": AT, "provisional": "800.00",
        "total_net": "820.00", "total_tax": "106.60", "total": "926.60", "to_stock": "8.00",
        "to_cost_of_goods": "12.00"},
    "voucher_posted": {
        "id": "v-1", "number": "记-2026-03-0007", "voucher_type": "记", "period": "2026-03", "kind": "sale",
        "source_type": "order_shipped", "source_id": "o-1", "posted_by": "system", "export_status": "pending",
        "reverses": None, "business_date": "2026-03-01", "posted_at": AT, "total": "355.90",
        "lines": [{"line_no": 1, "account": "1122", "summary": "Sale taobao TB-1001", "debit": "355.90",
                   "credit": "0.00", "aux": "customer:tb-buyer-1", "cost_centre": "channel:taobao"},
                  {"line_no": 2, "account": "6001", "summary": "Sale taobao TB-1001", "debit": "0.00",
                   "credit": "314.96", "aux": "", "cost_centre": "channel:taobao"},
                  {"line_no": 3, "account": "22210105", "summary": "Sale taobao TB-1001", "debit": "0.00",
                   "credit": "40.94", "aux": "", "cost_centre": ""}]},
    "voucher_refused": {"ledger": "kingdee", "voucher_id": "v-1", "external_number": "HUB-202603-JZ-0007",
                        "error": "科目 6001 不存在", "refused_at": AT},
    "shop_failing": {"connector": "shops_taobao", "platform": "taobao", "shop": "tea-flagship",
                     "error": "isv.session-expired", "since": AT},
    "dead_lettered": {"queue": "accounting.order_shipped", "dead_letter_queue": "accounting.order_shipped.dlq",
                      "event_id": "e" * 32, "event_type": "order_shipped", "aggregate_id": "o-1", "attempts": 5,
                      "error": "KeyError: 'x'", "failed_at": AT},
}
