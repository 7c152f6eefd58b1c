"""What each printed document says, made from the services' gRPC messages: plain dicts a template
reads (hubkit.pdf renders them). Pure: no I/O, so the unit tests render them from fixture data."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from gateway.common.presenters import money_str
from hubkit import clock, money

# template file per document (the merchant's directory may replace any of them by name)
TEMPLATES = {"delivery-note": "delivery_note.html", "packing-slip": "packing_slip.html", "pick-list": "pick_list.html",
             "purchase-order": "purchase_order.html", "customer-statement": "customer_statement.html",
             "count-sheet": "count_sheet.html"}


def local_time(moment: str) -> str:
    """An RFC 3339 instant on the merchant's wall clock, to the minute; the text as given when it does not read."""
    if not moment:
        return ""
    try:
        return clock.local(datetime.fromisoformat(moment.replace("Z", "+00:00"))).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return moment


def printed_at() -> str:
    return clock.local(clock.now()).strftime("%Y-%m-%d %H:%M")


def _sku(skus: dict, code: str) -> dict:
    s = skus.get(code)
    return {"sku": code, "name": s.name if s is not None else "", "unit": (s.base_unit if s is not None else "") or "pcs"}


def address_text(a) -> str:
    """A Chinese address reads from the province down, without separators."""
    return "".join(p for p in (a.province, a.city, a.district, a.street) if p) + \
        (f" ({a.postal_code})" if a.postal_code else "")


def _order_head(order) -> dict:
    a = order.shipping_address
    return {"order_id": order.id, "channel": order.channel, "shop": order.shop,
            "external_order_id": order.external_order_id, "buyer": order.buyer.name,
            "recipient": a.recipient, "phone": a.phone or order.buyer.phone, "address": address_text(a),
            "country": a.country, "created_at": local_time(order.created_at), "buyer_message": order.buyer_message,
            "carrier": order.carrier, "tracking_number": order.tracking_number,
            "shipped_at": local_time(order.shipped_at), "currency": order.total.currency_code or "CNY"}


def _shipping(order) -> list:
    """The lines that ship: a line refunded before shipment never does."""
    return [l for l in order.lines if l.reservation != "refunded"]


def delivery_note(order, skus: dict) -> dict:
    """送货单: what is delivered to the recipient, priced, to be signed for."""
    lines = [{**_sku(skus, l.sku), "line_no": l.line_no, "quantity": l.quantity, "unit_price": money_str(l.unit_price),
              "amount": money_str(l.amount)} for l in _shipping(order)]
    total = sum((Decimal(l["amount"]) for l in lines), Decimal("0.00"))
    return {"number": order.id, "order": _order_head(order), "lines": lines, "total": str(total),
            "units": sum(l["quantity"] for l in lines), "printed_at": printed_at()}


def packing_slip(order, skus: dict, parcel_no: int = 0) -> dict:
    """装箱单: what goes in the box, without prices; of one parcel of an order shipped in parts when
    `parcel_no` names it. KeyError when the order has no such parcel."""
    head, parcel = _order_head(order), None
    quantities = {l.line_no: l.quantity for l in _shipping(order)}
    if parcel_no:
        parcel = next((p for p in order.parcels if p.parcel_no == parcel_no), None)
        if parcel is None:
            raise KeyError(parcel_no)
        quantities = {p.line_no: p.quantity for p in parcel.lines}
        head.update(carrier=parcel.carrier, tracking_number=parcel.tracking_number,
                    shipped_at=local_time(parcel.shipped_at))
    lines = [{**_sku(skus, l.sku), "line_no": l.line_no, "quantity": quantities[l.line_no]}
             for l in order.lines if l.line_no in quantities]
    return {"number": parcel.parcel_key if parcel is not None else order.id, "order": head, "lines": lines,
            "parcel_no": parcel_no, "units": sum(l["quantity"] for l in lines), "printed_at": printed_at()}


def pick_list(wave, skus: dict, order_id: str = "") -> dict:
    """拣货单: the wave's lines along the walk (inventory's seq), of one order when `order_id` is given."""
    lines = [{**_sku(skus, l.sku), "seq": l.seq, "bin": l.bin or "—", "lot": l.lot, "serial": l.serial,
              "quantity": l.quantity, "packed": l.packed, "order_id": l.order_id, "line_no": l.line_no}
             for l in sorted(wave.pick_list, key=lambda l: l.seq) if not order_id or l.order_id == order_id]
    return {"number": f"{wave.wave_id}-{order_id}" if order_id else wave.wave_id, "wave_id": wave.wave_id,
            "order_id": order_id, "warehouse": wave.warehouse, "status": wave.status, "created_by": wave.created_by,
            "created_at": local_time(wave.created_at), "orders": len({l["order_id"] for l in lines}),
            "lines": lines, "units": sum(l["quantity"] for l in lines), "printed_at": printed_at()}


def purchase_order(po, skus: dict, supplier_name: str = "") -> dict:
    """采购订单: what the supplier is to deliver, at what cost before and with VAT, by when."""
    lines, net_total, vat_total = [], Decimal("0.00"), Decimal("0.00")
    for l in po.lines:
        net = money.cents(money.from_proto(l.amount))
        vat = money.cents(net * money.to_decimal(l.vat_rate or "0"))
        net_total, vat_total = net_total + net, vat_total + vat
        lines.append({**_sku(skus, l.sku), "line_no": l.line_no, "quantity": l.quantity, "unit_cost": l.unit_cost,
                      "vat_rate": l.vat_rate, "net": str(net), "vat": str(vat), "gross": str(net + vat),
                      "expected_on": l.expected_on, "received": l.received})
    return {"number": po.id, "supplier": po.supplier, "supplier_name": supplier_name, "warehouse": po.warehouse,
            "currency": po.currency, "status": po.status, "approval": po.approval, "created_by": po.created_by,
            "created_at": local_time(po.created_at), "lines": lines, "net": str(net_total), "vat": str(vat_total),
            "gross": str(net_total + vat_total), "printed_at": printed_at()}


def customer_statement(customer, detail, period: str, counterparty: str, collected_by_platform: bool = False) -> dict:
    """对账单: a customer's receivable account in a period, from the books' account detail (明细账) for
    that counterparty: the opening balance, each posting with its running balance, the closing one.
    `collected_by_platform`: a marketplace collects what its buyers pay, so the books owe it to the platform."""
    lines = [{"date": l.business_date, "voucher": l.voucher_number, "summary": l.summary,
              "debit": _two(l.debit), "credit": _two(l.credit), "balance": _two(l.balance)} for l in detail.lines]
    return {"number": f"{customer.id}-{period}", "period": period, "customer": {
                "id": customer.id, "name": customer.name, "channel": customer.channel,
                "external_id": customer.external_id, "phone": customer.phone, "email": customer.email},
            "counterparty": counterparty, "account": detail.account, "account_name": detail.name,
            "opening": _two(detail.opening), "debit": _two(detail.debit), "credit": _two(detail.credit),
            "closing": _two(detail.closing), "lines": lines, "collected_by_platform": collected_by_platform,
            "printed_at": printed_at()}


def count_sheet(count, skus: dict, show_expected: bool = False) -> dict:
    """盘点表: the count's lines along the walk through the warehouse (inventory's walk_seq), with a box
    for the counted quantity; blind (no expected quantity) unless `show_expected`."""
    ordered = sorted(count.lines, key=lambda l: (l.walk_seq or len(count.lines) + 1, l.line_no))
    lines = [{**_sku(skus, l.sku), "line_no": l.line_no, "bin": l.bin or "—", "lot": l.lot, "serial": l.serial,
              "expected": l.expected, "counted": l.counted if l.is_counted else None} for l in ordered]
    return {"number": count.count_id, "warehouse": count.warehouse, "status": count.status, "bins": list(count.bins),
            "lines": lines, "show_expected": show_expected, "printed_at": printed_at()}


def _two(value: str) -> str:
    return str(Decimal(value or "0").quantize(Decimal("0.01")))
