"""Pure money rules for channel orders: spread order-level discounts and shipping over the lines
so that the lines add up to exactly what the buyer paid."""
from __future__ import annotations

from decimal import Decimal

from hubkit.money import CENT, cents


def allocate(weights: list[Decimal], total: Decimal) -> list[Decimal]:
    """Split `total` over lines in proportion to `weights`, to the cent, by largest remainder:
    the parts always add up to `total` exactly."""
    total = cents(total)
    if not weights:
        return []
    base = sum(weights, Decimal(0))
    if base <= 0:
        weights, base = [Decimal(1)] * len(weights), Decimal(len(weights))
    raw = [total * w / base for w in weights]
    parts = [(r // CENT) * CENT for r in raw]  # floor to the cent
    left = int((total - sum(parts, Decimal(0))) / CENT)
    for i in sorted(range(len(raw)), key=lambda i: raw[i] - parts[i], reverse=True)[:left]:
        parts[i] += CENT
    return parts
