"""Pure money rules for channel orders: spread order-level discounts and shipping over the lines
so that the lines add up to exactly what the buyer paid."""
from __future__ import annotations

from decimal import Decimal

from hubkit import money


def allocate(weights: list[Decimal], total: Decimal) -> list[Decimal]:
    """Split `total` over lines in proportion to `weights`, to the cent, by largest remainder
    (hubkit.money.allocate): the parts always add up to `total` exactly. Lines that all weigh
    nothing share it evenly."""
    if not weights:
        return []
    if sum(weights, Decimal(0)) <= 0:
        weights = [Decimal(1)] * len(weights)
    return money.allocate(total, weights)
