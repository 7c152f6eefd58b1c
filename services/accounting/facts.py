"""The sales facts each posting writes beside its voucher (pure): one per document line that moves
revenue, cost of goods or platform fees, with what the sales KPIs group by (channel, shop, region,
category, SKU, customer). Amounts are computed exactly as the posting rules compute the voucher's
lines, line by line, so the facts of a voucher add up to its lines on those accounts to the cent
(`reconcile` checks it and books any difference as an unattributed fact)."""
from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

from hubkit.money import cents, split_vat
from services.accounting import domain

ZERO = domain.ZERO


@dataclass(frozen=True)
class Fact:
    kind: str  # sale | return | refund | rma_refund | cost | return_cost | commission | other
    order_id: str = ""
    line_no: int = 0
    channel: str = ""
    shop: str = ""
    region: str = ""
    category: str = ""
    sku: str = ""
    customer: str = ""
    quantity: int = 0
    list_amount: Decimal = ZERO  # a sale's line at list price (unit price x units), net of VAT
    revenue: Decimal = ZERO      # credit-positive on the revenue account
    cogs: Decimal = ZERO         # debit-positive on the cost of goods account
    commission: Decimal = ZERO   # debit-positive on the platform fees account
    dims_pending: bool = False   # shop, region, category and customer come from the order's sale facts

    def negated(self) -> Fact:
        return replace(self, quantity=-self.quantity, list_amount=-self.list_amount, revenue=-self.revenue,
                       cogs=-self.cogs, commission=-self.commission)


def customer(payload: dict) -> str:
    """The buyer as the KPIs name a customer: `<channel>:<the channel's buyer id>` (never a name or phone);
    a buyer the channel gives no id for is known by the order alone."""
    buyer = (payload.get("buyer") or {}).get("external_id")
    return f"{payload['channel']}:{buyer}" if buyer else f"{payload['channel']}:order:{payload['order_id']}"


def _nets(lines: list[dict], before_key, rules: domain.Rules, rate: Decimal | None) -> list[Decimal]:
    """Each line's net (what domain._vat_split adds up): cumulative over what came before it."""
    out = []
    for line in lines:
        before = cents(before_key(line) or 0)
        _, net_before = domain._gross_net(before, rules, rate)
        _, net_after = domain._gross_net(before + cents(line["amount"]), rules, rate)
        out.append(net_after - net_before)
    return out


def sale(payload: dict, rules: domain.Rules, rate: Decimal | None = None) -> list[Fact]:
    lines = payload["lines"]
    nets = _nets(lines, lambda l: l.get("amount_returned_before") or l.get("amount_shipped_before"), rules, rate)
    who, region = customer(payload), payload.get("region") or ""
    out = []
    for line, net in zip(lines, nets):
        listed = split_vat(domain._in_books(Decimal(str(line["unit_price"])) * line["quantity"], rate), rules.vat_rate)[0]
        out.append(Fact("sale", payload["order_id"], line["line_no"], payload["channel"], payload["shop"], region,
                        line.get("category") or "", line["sku"], who, line["quantity"], listed, revenue=net))
    return out


def sales_return(payload: dict, rules: domain.Rules, rate: Decimal | None = None) -> list[Fact]:
    if payload.get("refund_deferred"):  # an RMA's goods: its refund reverses the sale
        return []
    lines = payload["lines"]
    nets = _nets(lines, lambda l: l.get("amount_returned_before") or l.get("amount_shipped_before"), rules, rate)
    return [Fact("return", payload["order_id"], l["line_no"], payload["channel"], payload["shop"], sku=l["sku"],
                 customer=customer(payload), quantity=-l["quantity"], revenue=-net, dims_pending=True)
            for l, net in zip(lines, nets)]


def sales_refund(payload: dict, rules: domain.Rules, rate: Decimal | None = None) -> list[Fact]:
    kind = "rma_refund" if payload.get("kind") == "rma" else "refund"
    lines = payload["lines"]
    nets = _nets(lines, lambda l: l["amount_reversed_before"], rules, rate)
    return [Fact(kind, payload["order_id"], l["line_no"], payload["channel"], payload["shop"], sku=l["sku"],
                 customer=customer(payload), revenue=-net, dims_pending=True) for l, net in zip(lines, nets)]


def cost_of_goods(payload: dict, sign: int = 1, kind: str = "cost") -> list[Fact]:
    """goods_issued (cost) or goods_returned (return_cost, sign -1): the cost inventory issued, per line."""
    return [Fact(kind, payload["order_id"], l["line_no"], payload.get("channel") or "", sku=l["sku"],
                 cogs=sign * cents(l["cost"]), dims_pending=True) for l in payload["lines"]]


def settlement(channel: str, shop: str, commission: Decimal, fees: Decimal) -> list[Fact]:
    """What a platform kept of a settlement (its commission and fees): known per channel and shop only."""
    return [Fact("commission", channel=channel, shop=shop, commission=commission + fees)] if commission + fees else []


def from_lines(lines: list[domain.Line], accounts: dict, kind: str = "other") -> list[Fact]:
    """A voucher no posting rule breaks down (opening balances, a cost change of goods already sold, a
    price difference on a return to the supplier): one unattributed fact per line on the three accounts,
    with the channel its cost centre names."""
    out = []
    for line in lines:
        channel = line.cost_centre.removeprefix("channel:") if line.cost_centre.startswith("channel:") else ""
        amounts = _on_accounts([line], accounts)
        if any(amounts):
            out.append(Fact(kind, channel=channel, revenue=amounts[0], cogs=amounts[1], commission=amounts[2]))
    return out


def _on_accounts(lines: list[domain.Line], accounts: dict) -> tuple[Decimal, Decimal, Decimal]:
    revenue = sum((l.credit - l.debit for l in lines if l.account == accounts["revenue"]), ZERO)
    cogs = sum((l.debit - l.credit for l in lines if l.account == accounts["cost_of_goods"]), ZERO)
    fees = sum((l.debit - l.credit for l in lines if l.account == accounts["platform_fees"]), ZERO)
    return revenue, cogs, fees


def reconcile(facts: list[Fact], lines: list[domain.Line], accounts: dict) -> list[Fact]:
    """The facts, plus one unattributed fact for whatever they miss of the voucher's lines on the revenue,
    cost of goods and platform fees accounts (none when the breakdown is exact, as the tests require):
    the facts of a period always add up to the trial balance."""
    want = _on_accounts(lines, accounts)
    have = (sum((f.revenue for f in facts), ZERO), sum((f.cogs for f in facts), ZERO),
            sum((f.commission for f in facts), ZERO))
    gap = [w - h for w, h in zip(want, have)]
    if any(gap):
        return facts + [Fact("other", revenue=gap[0], cogs=gap[1], commission=gap[2])]
    return facts
