"""Posting rules: which balanced voucher each business event makes."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from hubkit.errors import Conflict
from hubkit.money import cents, split_vat

ZERO = Decimal("0.00")
GENERAL = "记"  # voucher type: general journal (记账凭证)


class UnbalancedVoucher(Conflict):
    pass


@dataclass(frozen=True)
class Line:
    account: str
    summary: str
    debit: Decimal = ZERO
    credit: Decimal = ZERO
    aux: str = ""


@dataclass(frozen=True)
class Rules:
    accounts: dict        # posting role -> account code
    vat_rate: Decimal     # sales VAT, prices VAT-inclusive
    timezone: str         # the merchant's: decides periods and business dates


def business_day(moment_iso: str, tz: str) -> tuple[str, date]:
    """(period YYYY-MM, business date) of a UTC instant in the merchant's time zone."""
    local = datetime.fromisoformat(moment_iso).astimezone(ZoneInfo(tz))
    return local.strftime("%Y-%m"), local.date()


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


def sale(payload: dict, rules: Rules) -> list[Line]:
    """Sale on shipment: Dr receivable (gross), Cr revenue (net), Cr output VAT; VAT per line."""
    a, gross, net, tax = rules.accounts, ZERO, ZERO, ZERO
    for line in payload["lines"]:
        line_net, line_tax = split_vat(line["amount"], rules.vat_rate)
        gross, net, tax = gross + cents(line["amount"]), net + line_net, tax + line_tax
    summary = f"Sale {payload['channel']} {payload['external_order_id']}"
    buyer = (payload.get("buyer") or {}).get("external_id") or payload["order_id"]
    return _nonzero([
        Line(a["receivable"], summary, debit=gross, aux=f"customer:{payload['channel']}:{buyer}"),
        Line(a["revenue"], summary, credit=net, aux=f"channel:{payload['channel']}/{payload['shop']}"),
        Line(a["output_vat"], summary, credit=tax),
    ])


def cost_of_goods(payload: dict, rules: Rules) -> list[Line]:
    """Goods issued for a sale: Dr cost of goods, Cr inventory per warehouse, at FIFO cost."""
    a, by_warehouse = rules.accounts, {}
    for line in payload["lines"]:
        by_warehouse[line["warehouse"]] = by_warehouse.get(line["warehouse"], ZERO) + cents(line["cost"])
    total = sum(by_warehouse.values(), ZERO)
    summary = f"Cost of goods, order {payload['order_id']}"
    return _nonzero([Line(a["cost_of_goods"], summary, debit=total)] +
                    [Line(a["inventory"], summary, credit=v, aux=f"warehouse:{w}")
                     for w, v in sorted(by_warehouse.items())])


def purchase(payload: dict, rules: Rules) -> list[Line]:
    """Purchase receipt: Dr inventory (net), Dr input VAT, Cr payable to the supplier (gross)."""
    a = rules.accounts
    net, tax, total = cents(payload["total_net"]), cents(payload["total_tax"]), cents(payload["total"])
    summary = f"Purchase {payload['purchase_order_id'][:12]} receipt {payload['receipt_id'][:12]}"
    return _nonzero([
        Line(a["inventory"], summary, debit=net, aux=f"warehouse:{payload['warehouse']}"),
        Line(a["input_vat"], summary, debit=tax),
        Line(a["payable"], summary, credit=total, aux=f"supplier:{payload['supplier']['code']}"),
    ])
