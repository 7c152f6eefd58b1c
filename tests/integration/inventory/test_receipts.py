"""Receipts outside a purchase name their reason, and each carries its value to the books in the
receipt's own transaction (stock_received): what the event says the units are worth is exactly
what the stock value grew by. An unknown reason is refused and writes nothing."""
from __future__ import annotations

from decimal import Decimal

import pytest

from hubkit.errors import InvalidArgument
from services.inventory import domain, movements
from tests.integration.inventory.test_bad_input import refuses

pytestmark = pytest.mark.integration


def test_each_receipt_reason_announces_the_value_the_stock_grew_by(inv):
    main = inv.warehouse("MAIN")
    tea = inv.sku("TEA")
    grown = []
    for reason, quantity, cost in (("opening", 10, "2.50"), ("other", 3, "3.3333"), ("found", 1, "4.00"),
                                   ("production", 5, "7.123457")):
        before = inv.value(main, tea)
        done = inv.run(movements.receive_stock, tea, main, quantity, cost, reason, reference=f"{reason} doc")
        grown.append((reason, done["document_id"], inv.value(main, tea) - before))
    received = inv.events("stock_received")
    assert [(e["reason"], e["document_id"], Decimal(e["value"])) for e in received] == grown
    assert [Decimal(e["value"]) for e in received] == [Decimal("25.00"), Decimal("10.00"), Decimal("4.00"),
                                                       Decimal("35.62")]
    assert {(e["sku"], e["warehouse"]) for e in received} == {(tea, main)}
    assert [e["quantity"] for e in received] == [10, 3, 1, 5]
    assert sum(Decimal(e["value"]) for e in received) == inv.value(main, tea)


def test_a_receipt_without_a_reason_is_opening_stock(inv):
    main, cup = inv.warehouse("MAIN"), inv.sku("CUP")
    inv.run(movements.receive_stock, cup, main, 2, "1.50")
    assert [(e["reason"], e["value"]) for e in inv.events("stock_received")] == [("opening", "3.00")]
    assert domain.DEFAULT_RECEIPT_REASON == "opening"


def test_a_receipt_with_an_unknown_reason_is_refused_and_writes_nothing(inv):
    main, cup = inv.warehouse("MAIN"), inv.sku("CUP")
    refuses(inv, InvalidArgument, "the receipt is invalid",
            lambda: inv.run(movements.receive_stock, cup, main, 2, "1.50", "purchase"), "reason")
    refuses(inv, InvalidArgument, "the receipt is invalid",
            lambda: inv.run(movements.receive_stock, cup, main, 2, "1.50", "gift"), "reason")
    assert inv.events("stock_received") == []
