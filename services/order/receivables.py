"""What the shipped orders say each debtor owes, for the books audit: per counterparty, what the
buyers paid for the shipped orders (what the sale voucher debits to the receivable) and what the
goods sent back were paid (what the sales returns credit) and the refunds after shipment without goods
back (what their credit vouchers credit); a line refunded before shipment was never sold. Payments and
settlements are the books' own documents: the audit takes them from accounting."""
from __future__ import annotations

import json
from decimal import Decimal

from sqlalchemy import not_, or_, select

from hubkit.db import Database
from hubkit.money import cents, convert, share
from hubkit.sql import cents_sum
from services.order.domain import PARTLY_SHIPPED, REFUNDED
from services.order.models import order_lines, order_parcel_lines, orders

ZERO = Decimal("0.00")
AUX_LENGTH = 128  # the books keep a counterparty to this length


def debtor(channel: str, shop: str, buyer: dict, order_id: str, marketplaces) -> str:
    """Who owes the money for an order, named as the books name it: the platform that collects it on
    a marketplace, else the buyer (the order itself when the channel gave no buyer id)."""
    if channel in marketplaces:
        name = f"platform:{channel}/{shop}"
    else:
        name = f"customer:{channel}:{buyer.get('external_id') or order_id}"
    return name[:AUX_LENGTH]


def _in_books(amount: Decimal, rate: Decimal | None) -> Decimal:
    """As the books take a line: converted at the order's rate line by line, to the cent."""
    return cents(amount) if rate is None else convert(amount, rate)


def receivables(db: Database, marketplaces) -> list[dict]:
    """Rows {"counterparty", "currency", "converted", "shipped", "returned"} per counterparty,
    currency and whether the orders carried a rate (then the amounts are in the books' currency,
    each line converted as the sale voucher converts it), sorted. A line's returns add up to its
    share of what was paid for the units returned so far, as the return vouchers do."""
    o, l = orders, order_lines
    marketplaces = set(marketplaces)
    shipped, on_marketplace = o.c.shipped_at.is_not(None), o.c.channel.in_(sorted(marketplaces))
    sold = l.c.reservation != REFUNDED  # a line refunded before shipment was never sold
    unconverted = (select(o.c.channel, o.c.shop, o.c.currency, cents_sum(l.c.amount))
                   .join(l, l.c.order_id == o.c.id).where(shipped, sold, o.c.exchange_rate.is_(None)))
    totals: dict[tuple[str, str, bool], dict] = {}

    def add(counterparty: str, currency: str, converted: bool, name: str, amount: Decimal) -> None:
        row = totals.setdefault((counterparty, currency, converted), {
            "counterparty": counterparty, "currency": currency, "converted": converted,
            "shipped": ZERO, "returned": ZERO})
        row[name] += amount

    with db.reader() as s:
        # unconverted sales summed in SQL: per shop on a marketplace, per order (its buyer) elsewhere
        per_shop = s.execute(unconverted.where(on_marketplace).group_by(o.c.channel, o.c.shop, o.c.currency)).all()
        per_order = s.execute(unconverted.add_columns(o.c.id, o.c.buyer).where(not_(on_marketplace))
                              .group_by(o.c.id, o.c.channel, o.c.shop, o.c.currency, o.c.buyer)).all()
        # converted sales and the returns line by line, as the books take them
        per_line = s.execute(select(o.c.id, o.c.channel, o.c.shop, o.c.buyer, o.c.currency, o.c.exchange_rate,
                                    l.c.amount, l.c.quantity, l.c.returned_quantity, l.c.refunded_amount)
                             .join(l, l.c.order_id == o.c.id)
                             .where(shipped, sold, or_(o.c.exchange_rate.is_not(None), l.c.returned_quantity > 0,
                                                       l.c.refunded_amount > 0))).all()
        # an order partly shipped (never in another currency): the parcels shipped so far, as their vouchers
        partly = s.execute(select(o.c.id, o.c.channel, o.c.shop, o.c.buyer, o.c.currency, order_parcel_lines.c.amount)
                           .join(order_parcel_lines, order_parcel_lines.c.order_id == o.c.id)
                           .where(o.c.status == PARTLY_SHIPPED)).all()
    for order_id, channel, shop, buyer, currency, amount in partly:
        who = debtor(channel, shop, {} if channel in marketplaces else json.loads(buyer), order_id, marketplaces)
        add(who, currency, False, "shipped", cents(amount))
    for channel, shop, currency, paid in per_shop:
        add(debtor(channel, shop, {}, "", marketplaces), currency, False, "shipped", cents(Decimal(paid) / 100))
    for channel, shop, currency, paid, order_id, buyer in per_order:
        add(debtor(channel, shop, json.loads(buyer), order_id, marketplaces), currency, False, "shipped",
            cents(Decimal(paid) / 100))
    for order_id, channel, shop, buyer, currency, rate, amount, quantity, returned, refunded in per_line:
        who = debtor(channel, shop, {} if channel in marketplaces else json.loads(buyer), order_id, marketplaces)
        if rate is not None:
            add(who, currency, True, "shipped", convert(amount, rate))
        if returned:
            add(who, currency, rate is not None, "returned", _in_books(share(amount, returned, quantity), rate))
        if refunded:  # refunds without goods back credit the receivable as returns do
            add(who, currency, rate is not None, "returned", _in_books(refunded, rate))
    return [totals[key] for key in sorted(totals)]
