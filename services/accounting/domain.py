"""Posting rules: which balanced voucher each business event or accounting command makes."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from hubkit.errors import Conflict, FieldErrors, InvalidArgument
from hubkit.money import cents, convert, split_vat

ZERO = Decimal("0.00")
GENERAL = "记"  # voucher type: general journal (记账凭证)


class UnbalancedVoucher(Conflict):
    pass


class PeriodClosed(Conflict):
    pass


@dataclass(frozen=True)
class Line:
    account: str
    summary: str
    debit: Decimal = ZERO
    credit: Decimal = ZERO
    aux: str = ""          # counterparty: customer:<channel>:<buyer>, platform:<channel>/<shop>, supplier:<code>
    cost_centre: str = ""  # warehouse:<code>, channel:<channel>


@dataclass(frozen=True)
class Rules:
    accounts: dict        # posting role -> account code
    vat_rate: Decimal     # sales VAT, prices VAT-inclusive
    timezone: str         # the merchant's: decides periods and business dates
    marketplaces: tuple = field(default=("taobao", "tmall", "jd", "pdd", "douyin"))
    base_currency: str = "CNY"  # the books' currency


def business_day(moment_iso: str, tz: str) -> tuple[str, date]:
    """(period YYYY-MM, business date) of a UTC instant in the merchant's time zone."""
    local = datetime.fromisoformat(moment_iso).astimezone(ZoneInfo(tz))
    return local.strftime("%Y-%m"), local.date()


def check_period(period: str, field: str = "period") -> None:
    """A period is YYYY-MM; anything else is refused with a field error."""
    errors = FieldErrors()
    try:
        if not isinstance(period, str) or len(period) != 7:
            raise ValueError
        datetime.strptime(period, "%Y-%m")
    except ValueError:
        errors.add(field, "expected YYYY-MM")
    errors.raise_if_any(f"invalid {field}")


def check_balanced(lines: list[Line]) -> Decimal:
    """Every line one-sided, non-negative, to the cent; debits equal credits. Returns the total."""
    for line in lines:
        if line.debit < 0 or line.credit < 0 or (line.debit and line.credit) or \
                cents(line.debit) != line.debit or cents(line.credit) != line.credit:
            raise UnbalancedVoucher(f"invalid voucher line {line}")
    debit, credit = sum((l.debit for l in lines), ZERO), sum((l.credit for l in lines), ZERO)
    if debit != credit or debit == 0:
        raise UnbalancedVoucher(f"voucher does not balance: debit {debit}, credit {credit}")
    return debit


def _nonzero(lines: list[Line]) -> list[Line]:
    return [l for l in lines if l.debit or l.credit]


def debtor(payload: dict, rules: Rules) -> str:
    """Who owes the money for an order: the platform that collects it on a marketplace, else the buyer."""
    channel = payload["channel"]
    if channel in rules.marketplaces:
        return f"platform:{channel}/{payload['shop']}"
    buyer = (payload.get("buyer") or {}).get("external_id") or payload["order_id"]
    return f"customer:{channel}:{buyer}"


def _in_books(amount, rate: Decimal | None) -> Decimal:
    """An amount of the document in the books' currency: converted at the document's rate, to the cent."""
    return cents(amount) if rate is None else convert(amount, rate)


def _gross_net(amount: Decimal, rules: Rules, rate: Decimal | None) -> tuple[Decimal, Decimal]:
    """A line's gross and net in the books: the gross converted, then VAT per line on it, net
    rounded, tax the rest."""
    gross = _in_books(amount, rate)
    net, _ = split_vat(gross, rules.vat_rate)
    return gross, net


def _vat_split(lines: list[dict], rules: Rules, rate: Decimal | None = None) -> tuple[Decimal, Decimal, Decimal]:
    """(gross, net, tax) in the books summed over lines, VAT computed per line on its gross amount. A
    returned line says what earlier returns of it already reversed (`amount_returned_before`): its
    gross and VAT are those of everything returned so far less those reversed before, so a line's
    returns add up to exactly its sale, to the cent, converted or not. A parcel of a partial shipment
    says the same of the line's earlier parcels (`amount_shipped_before`), so its parcels add up to
    exactly the sale of the whole line."""
    gross = net = ZERO
    for line in lines:
        before = cents(line.get("amount_returned_before") or line.get("amount_shipped_before") or 0)
        gross_before, net_before = _gross_net(before, rules, rate)
        gross_after, net_after = _gross_net(before + cents(line["amount"]), rules, rate)
        gross, net = gross + gross_after - gross_before, net + net_after - net_before
    return gross, net, gross - net


def sale(payload: dict, rules: Rules, rate: Decimal | None = None) -> list[Line]:
    """Sale on shipment: Dr receivable (gross), Cr revenue (net), Cr output VAT; VAT per line. An
    order in another currency: each line converted at the order's rate, then split."""
    a = rules.accounts
    gross, net, tax = _vat_split(payload["lines"], rules, rate)
    summary, channel = f"Sale {payload['channel']} {payload['external_order_id']}", f"channel:{payload['channel']}"
    return _nonzero([
        Line(a["receivable"], summary, debit=gross, aux=debtor(payload, rules)),
        Line(a["revenue"], summary, credit=net, cost_centre=channel),
        Line(a["output_vat"], summary, credit=tax),
    ])


def sales_return(payload: dict, rules: Rules, rate: Decimal | None = None) -> list[Line]:
    """Goods sent back after shipment: the sale reversed for the returned lines, at what the buyer paid
    for the returned units (their share of the line's amount, after discounts and fees), converted at
    the order's rate as the sale was. An RMA's inspected goods (`refund_deferred`) post nothing here: the
    RMA's refund reverses the sale (order_refunded, sales_refund), an exchange never does."""
    if payload.get("refund_deferred"):
        return []
    a = rules.accounts
    gross, net, tax = _vat_split(payload["lines"], rules, rate)
    summary, channel = f"Return {payload['channel']} {payload['external_order_id']}", f"channel:{payload['channel']}"
    return _nonzero([
        Line(a["revenue"], summary, debit=net, cost_centre=channel),
        Line(a["output_vat"], summary, debit=tax),
        Line(a["receivable"], summary, credit=gross, aux=debtor(payload, rules)),
    ])


def sales_refund(payload: dict, rules: Rules, rate: Decimal | None = None) -> list[Line]:
    """Money given back after shipment without goods coming back (仅退款): the sale reversed at the
    refunded amount, a credit to the receivable (the buyer's, or the platform's on a marketplace), VAT per
    line as everything reversed of the line so far less what was reversed before (returns and refunds),
    so the reversals of a line never split its VAT differently from its sale. No stock moves, so no cost."""
    a = rules.accounts
    gross, net, tax = _vat_split([{"amount": l["amount"], "amount_returned_before": l["amount_reversed_before"]}
                                  for l in payload["lines"]], rules, rate)
    summary, channel = f"Refund {payload['channel']} {payload['external_order_id']}", f"channel:{payload['channel']}"
    return _nonzero([
        Line(a["revenue"], summary, debit=net, cost_centre=channel),
        Line(a["output_vat"], summary, debit=tax),
        Line(a["receivable"], summary, credit=gross, aux=debtor(payload, rules)),
    ])


def _rounding(lines: list[Line], summary: str, rules: Rules) -> list[Line]:
    """Amounts converted one by one can leave a converted voucher a cent or two apart: the difference
    goes to exchange differences, so debits equal credits."""
    difference = sum((l.debit - l.credit for l in lines), ZERO)
    return lines + [Line(rules.accounts["exchange_differences"], f"Exchange rounding: {summary}",
                         debit=max(-difference, ZERO), credit=max(difference, ZERO))]


def _by_warehouse(lines: list[dict]) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    for line in lines:
        out[line["warehouse"]] = out.get(line["warehouse"], ZERO) + cents(line["cost"])
    return out


def cost_of_goods(payload: dict, rules: Rules) -> list[Line]:
    """Goods issued for a sale: Dr cost of goods, Cr inventory per warehouse, at FIFO cost."""
    a, by_warehouse = rules.accounts, _by_warehouse(payload["lines"])
    summary = f"Cost of goods, order {payload['order_id']}"
    channel = f"channel:{payload['channel']}" if payload.get("channel") else ""
    return _nonzero([Line(a["cost_of_goods"], summary, debit=sum(by_warehouse.values(), ZERO), cost_centre=channel)] +
                    [Line(a["inventory"], summary, credit=v, cost_centre=f"warehouse:{w}")
                     for w, v in sorted(by_warehouse.items())])


def return_cost(payload: dict, rules: Rules) -> list[Line]:
    """Returned goods restocked at their original cost: Dr inventory, Cr cost of goods."""
    a, by_warehouse = rules.accounts, _by_warehouse(payload["lines"])
    summary = f"Restock of return {payload['return_id'][:12]}, order {payload['order_id']}"
    channel = f"channel:{payload['channel']}" if payload.get("channel") else ""
    return _nonzero([Line(a["inventory"], summary, debit=v, cost_centre=f"warehouse:{w}")
                     for w, v in sorted(by_warehouse.items())] +
                    [Line(a["cost_of_goods"], summary, credit=sum(by_warehouse.values(), ZERO), cost_centre=channel)])


def purchase(payload: dict, rules: Rules, rate: Decimal | None = None) -> list[Line]:
    """Purchase receipt: Dr inventory (net), Dr input VAT, Cr payable to the supplier (gross). A
    purchase in another currency: inventory at each line converted (what inventory added to stock),
    VAT and the payable converted, any rounding difference to exchange differences."""
    a = rules.accounts
    net, tax, total = cents(payload["total_net"]), cents(payload["total_tax"]), cents(payload["total"])
    if rate is not None:
        net = sum((convert(l["amount"], rate) for l in payload["lines"]), ZERO)
        tax, total = convert(tax, rate), convert(total, rate)
    summary = f"Purchase {payload['purchase_order_id'][:12]} receipt {payload['receipt_id'][:12]}"
    if payload.get("invoice_pending"):
        return provisional_purchase(payload, rules, summary)
    lines = [
        Line(a["inventory"], summary, debit=net, cost_centre=f"warehouse:{payload['warehouse']}"),
        Line(a["input_vat"], summary, debit=tax),
        Line(a["payable"], summary, credit=total, aux=f"supplier:{payload['supplier']['code']}"),
    ]
    return _nonzero(lines if rate is None else _rounding(lines, summary, rules))


def provisional_purchase(payload: dict, rules: Rules, summary: str) -> list[Line]:
    """Goods before invoice (先货后票): Dr inventory, Cr provisional payable (暂估应付) to the supplier,
    both at the order's price excluding VAT; the input VAT waits for the invoice."""
    a, net = rules.accounts, cents(payload["total_net"])
    return _nonzero([
        Line(a["inventory"], f"Provisional: {summary}", debit=net, cost_centre=f"warehouse:{payload['warehouse']}"),
        Line(a["provisional_payable"], f"Provisional: {summary}", credit=net,
             aux=f"supplier:{payload['supplier']['code']}"),
    ])


def _either_side(account: str, summary: str, amount: Decimal, **kw) -> Line:
    return Line(account, summary, debit=max(amount, ZERO), credit=max(-amount, ZERO), **kw)


def purchase_cost(payload: dict, rules: Rules) -> list[Line]:
    """A supplier invoice for goods received before it, or a landed cost bill, as inventory applied it
    (purchase_cost_adjusted): the provisional payable reversed at what the receipts were booked at (an
    invoice; 0.00 for a landed cost), the cost change on inventory for the units still held and on cost
    of goods for those already gone (either sign), the input VAT from the bill, Cr payable to whoever
    billed it (gross). Balances because the changes add up to the bill's net less the provisional."""
    a, supplier = rules.accounts, f"supplier:{payload['supplier']['code']}"
    provisional, net, tax, total = (cents(payload[k]) for k in ("provisional", "total_net", "total_tax", "total"))
    to_stock, to_cost = cents(payload["to_stock"]), cents(payload["to_cost_of_goods"])
    if to_stock + to_cost != net - provisional or net + tax != total:
        raise InvalidArgument(f"{payload['kind']} {payload['document_id']}: the cost changes {to_stock} + {to_cost} "
                              f"do not add up to the net {net} less the provisional {provisional}, or the total "
                              f"{total} is not net plus tax", [{"field": "to_stock", "message": "does not add up"}])
    what = "Invoice" if payload["kind"] == "supplier_invoice" else f"Landed cost ({payload['charge']})"
    summary = f"{what} {payload['reference'] or payload['document_id'][:12]}, PO {payload['purchase_order_id'][:12]}"
    where = f"warehouse:{payload['warehouse']}"
    return _nonzero([
        Line(a["provisional_payable"], summary, debit=provisional, aux=supplier),
        _either_side(a["inventory"], summary, to_stock, cost_centre=where),
        _either_side(a["cost_of_goods"], f"Of goods already sold: {summary}", to_cost),
        Line(a["input_vat"], summary, debit=tax),
        Line(a["payable"], summary, credit=total, aux=supplier),
    ])


def purchase_return(payload: dict, rules: Rules, rate: Decimal | None = None) -> list[Line]:
    """Goods sent back to the supplier: Dr payable (gross), Cr input VAT, Cr inventory at the value
    the goods left with; any difference to the purchase price corrects the cost of goods. A purchase
    in another currency: the supplier's amounts converted at its rate, rounding to exchange differences."""
    a = rules.accounts
    total, tax, net = (_in_books(payload[k], rate) for k in ("total", "total_tax", "total_net"))
    value = cents(payload["total_cost"])
    summary = f"Return to supplier {payload['supplier']['code']}, PO {payload['purchase_order_id'][:12]}"
    difference = net - value
    lines = [
        Line(a["payable"], summary, debit=total, aux=f"supplier:{payload['supplier']['code']}"),
        Line(a["input_vat"], summary, credit=tax),
        Line(a["inventory"], summary, credit=value, cost_centre=f"warehouse:{payload['warehouse']}"),
        Line(a["cost_of_goods"], f"Price difference: {summary}", credit=max(difference, ZERO),
             debit=max(-difference, ZERO)),
    ]
    return _nonzero(lines if rate is None else _rounding(lines, summary, rules))


# stock_adjusted reasons: a count can go either way; the others only take stock away.
ADJUSTMENT_REASONS = ("count", "loss", "scrap", "expired")


def stock_adjustment(payload: dict, rules: Rules) -> list[Line]:
    """Count gain: Dr inventory, Cr unsettled gains/losses; count loss or a loss pending approval:
    Dr unsettled gains/losses, Cr inventory; scrap or an expired lot written off: Dr scrap, Cr inventory."""
    a, reason, quantity = rules.accounts, payload.get("reason"), payload["quantity"]
    if reason not in ADJUSTMENT_REASONS:
        raise InvalidArgument(f"stock adjustment {payload.get('adjustment_id')}: unknown reason {reason!r}, "
                              f"expected one of {', '.join(ADJUSTMENT_REASONS)}",
                              [{"field": "reason", "message": f"one of {', '.join(ADJUSTMENT_REASONS)}"}])
    value = cents(payload["value"])
    gain = reason == "count" and quantity > 0
    if (reason != "count" and quantity >= 0) or (value < 0 if gain else value > 0):
        raise InvalidArgument(f"stock adjustment {payload.get('adjustment_id')}: reason {reason!r} with quantity "
                              f"{quantity} and value {value}: a gain needs a positive quantity and value >= 0, "
                              f"a loss a negative quantity and value <= 0",
                              [{"field": "value", "message": "sign does not match the quantity and reason"}])
    where = f"warehouse:{payload['warehouse']}"
    summary = f"Stock {reason} {payload['sku']} x{quantity} ({payload['adjustment_id'][:12]})"
    if gain:
        return _nonzero([Line(a["inventory"], summary, debit=value, cost_centre=where),
                         Line(a["stock_differences"], summary, credit=value, cost_centre=where)])
    other = a["scrap"] if reason in ("scrap", "expired") else a["stock_differences"]
    return _nonzero([Line(other, summary, debit=-value, cost_centre=where),
                     Line(a["inventory"], summary, credit=-value, cost_centre=where)])


# stock_received reasons -> the posting role credited against inventory
RECEIPT_ROLES = {"opening": "opening_equity", "other": "other_receipts", "found": "stock_differences",
                 "production": "production_cost"}


def stock_receipt(payload: dict, rules: Rules) -> list[Line]:
    """Goods received outside a purchase: Dr inventory at the warehouse, Cr the account of the
    receipt's reason (opening stock: equity; other receipts and found goods: unsettled gains and
    losses; production: production cost), at the value the units added to stock."""
    a, reason = rules.accounts, payload.get("reason")
    document = payload.get("document_id")
    if reason not in RECEIPT_ROLES:
        raise InvalidArgument(f"stock receipt {document}: unknown reason {reason!r}, "
                              f"expected one of {', '.join(RECEIPT_ROLES)}",
                              [{"field": "reason", "message": f"one of {', '.join(RECEIPT_ROLES)}"}])
    value = cents(payload["value"])
    if payload["quantity"] <= 0 or value < 0:
        raise InvalidArgument(f"stock receipt {document}: quantity {payload['quantity']} and value {value}: "
                              f"a receipt needs a positive quantity and a value >= 0",
                              [{"field": "value", "message": "a receipt adds units worth >= 0"}])
    where = f"warehouse:{payload['warehouse']}"
    summary = f"Stock received ({reason}) {payload['sku']} x{payload['quantity']} ({str(document)[:12]})"
    return _nonzero([Line(a["inventory"], summary, debit=value, cost_centre=where),
                     Line(a[RECEIPT_ROLES[reason]], summary, credit=value, cost_centre=where)])


TRANSFER_STAGES = ("shipped", "received")
TRANSIT = "transit"  # cost centre of goods on their way between the merchant's own warehouses


def stock_transfer(payload: dict, rules: Rules) -> list[Line]:
    """Goods moving between own warehouses keep their cost. Shipped: Dr goods in transit (cost centre
    transit), Cr inventory at the sending warehouse; received: Dr inventory at the receiving warehouse,
    Cr goods in transit. Each stage is its own voucher."""
    a, stage = rules.accounts, payload.get("stage")
    if stage not in TRANSFER_STAGES:
        raise InvalidArgument(f"stock transfer {payload.get('transfer_id')}: unknown stage {stage!r}, "
                              f"expected one of {', '.join(TRANSFER_STAGES)}",
                              [{"field": "stage", "message": f"one of {', '.join(TRANSFER_STAGES)}"}])
    value = cents(payload["total_value"])
    lines_value = sum((cents(l["value"]) for l in payload.get("lines") or []), ZERO)
    if payload.get("lines") and lines_value != value:
        raise InvalidArgument(f"stock transfer {payload['transfer_id']}: total_value {value} is not the sum "
                              f"of its lines {lines_value}",
                              [{"field": "total_value", "message": "must equal the sum of the lines' values"}])
    source, target = payload["from_warehouse"], payload["to_warehouse"]
    summary = f"Transfer {payload['transfer_id'][:12]} {source} -> {target} {stage}"
    if stage == "shipped":
        return _nonzero([Line(a["goods_in_transit"], summary, debit=value, cost_centre=TRANSIT),
                         Line(a["inventory"], summary, credit=value, cost_centre=f"warehouse:{source}")])
    return _nonzero([Line(a["inventory"], summary, debit=value, cost_centre=f"warehouse:{target}"),
                     Line(a["goods_in_transit"], summary, credit=value, cost_centre=TRANSIT)])


KIT_ACTIONS = ("assembled", "disassembled")


def kit_change(payload: dict, rules: Rules) -> list[Line]:
    """A kit assembled from its components: Dr inventory for the kit, Cr inventory per component, at the
    components' cost (the kit's value is their sum); disassembled: the reverse. Net zero on the inventory
    account, but the voucher documents the movement. All zero (free components): no lines, nothing to post."""
    a, action = rules.accounts, payload.get("action")
    if action not in KIT_ACTIONS:
        raise InvalidArgument(f"kit document {payload.get('document_id')}: unknown action {action!r}, "
                              f"expected one of {', '.join(KIT_ACTIONS)}",
                              [{"field": "action", "message": f"one of {', '.join(KIT_ACTIONS)}"}])
    where, assembled = f"warehouse:{payload['warehouse']}", action == "assembled"
    ref = payload["document_id"][:12]
    kit_summary = f"Kit {payload['kit_sku']} x{payload['quantity']} {action} ({ref})"
    kit_value = cents(payload["value"])
    kit = Line(a["inventory"], kit_summary, debit=kit_value if assembled else ZERO,
               credit=ZERO if assembled else kit_value, cost_centre=where)
    components = []
    for c in payload["components"]:
        summary = f"Kit {payload['kit_sku']} {action}: component {c['sku']} x{c['quantity']} ({ref})"
        value = cents(c["value"])
        components.append(Line(a["inventory"], summary, debit=ZERO if assembled else value,
                               credit=value if assembled else ZERO, cost_centre=where))
    return _nonzero([kit] + components if assembled else components + [kit])


def payment(direction: str, counterparty: str, amount: Decimal, reference: str, rules: Rules) -> list[Line]:
    """Money in from a customer or platform (Dr bank, Cr receivable) or out to a supplier (Dr payable, Cr bank)."""
    a = rules.accounts
    if direction == "received":
        return [Line(a["bank"], f"Received {reference}", debit=amount),
                Line(a["receivable"], f"Received {reference}", credit=amount, aux=counterparty)]
    return [Line(a["payable"], f"Paid {reference}", debit=amount, aux=counterparty),
            Line(a["bank"], f"Paid {reference}", credit=amount)]


def settlement(channel: str, shop: str, reference: str, gross: Decimal, commission: Decimal, fees: Decimal,
               rules: Rules) -> list[Line]:
    """A platform pays out what it collected less commission and fees: Dr bank (net), Dr platform fees,
    Cr receivable from the platform (gross)."""
    a, summary = rules.accounts, f"Settlement {channel}/{shop} {reference}"
    return _nonzero([
        Line(a["bank"], summary, debit=gross - commission - fees),
        Line(a["platform_fees"], f"Commission {channel}/{shop} {reference}", debit=commission,
             cost_centre=f"channel:{channel}"),
        Line(a["platform_fees"], f"Fees {channel}/{shop} {reference}", debit=fees, cost_centre=f"channel:{channel}"),
        Line(a["receivable"], summary, credit=gross, aux=f"platform:{channel}/{shop}"),
    ])


def reversal(lines: list[Line], number: str) -> list[Line]:
    """The same lines on the other side: how a posted voucher is corrected."""
    return [Line(l.account, f"Reversal of {number}: {l.summary}"[:200], debit=l.credit, credit=l.debit, aux=l.aux,
                 cost_centre=l.cost_centre) for l in lines]
