"""Which voucher_posted events the customer worker applies: only those that move a buyer's receivable;
the rest are acked without a transaction (hubkit.consumer.handle_events' `wanted`)."""
from contracts import VoucherPosted
from services.customer import profiles


def _voucher(*lines) -> VoucherPosted:
    return VoucherPosted.model_validate({
        "id": "v1", "number": "记-2026-12-0001", "voucher_type": "记", "period": "2026-12", "kind": "sale",
        "source_type": "order_shipped", "source_id": "o1", "posted_by": "system", "export_status": "pending",
        "reverses": None, "business_date": "2026-12-06", "posted_at": "2026-12-06T10:00:00+00:00", "total": "19.90",
        "lines": [{"line_no": i + 1, "account": account, "summary": "", "debit": debit, "credit": credit, "aux": aux,
                   "cost_centre": ""} for i, (account, debit, credit, aux) in enumerate(lines)]})


def test_a_voucher_on_a_buyers_receivable_is_wanted_and_others_are_not():
    own_shop = _voucher(("1122", "19.90", "0.00", "customer:web:b-1"), ("6001", "0.00", "17.61", ""),
                        ("2221", "0.00", "2.29", ""))
    marketplace = _voucher(("1122", "19.90", "0.00", "platform:taobao/shop-1"), ("6001", "0.00", "19.90", ""))
    cost = _voucher(("6401", "5.00", "0.00", ""), ("1405", "0.00", "5.00", ""))
    elsewhere = _voucher(("1123", "19.90", "0.00", "customer:web:b-1"), ("6001", "0.00", "19.90", ""))
    assert profiles.moves_receivable(own_shop, "1122")
    assert not profiles.moves_receivable(marketplace, "1122")
    assert not profiles.moves_receivable(cost, "1122")
    assert not profiles.moves_receivable(elsewhere, "1122")
    assert profiles.moves_receivable(elsewhere, "1123")  # the account is the setting's
