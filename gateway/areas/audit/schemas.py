"""The audit area's response models."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from gateway.common.schemas import Money, Reply


class BooksStockRow(Reply):
    cost_centre: str = Field(description="the books' cost centre: warehouse:<code>, transit (goods between "
                                         "warehouses), or another the inventory accounts carry")
    warehouse: str = Field(description="the warehouse's code; \"\" for transit and other cost centres")
    books: Money = Field(description="balance of the inventory accounts (and goods in transit) on the cost centre")
    stock: Money = Field(description="what inventory values the stock at: on hand, or in transit")
    difference: Money = Field(description="books - stock")
    status: Literal["agrees", "in_flight", "diverged"] = Field(
        description="in_flight: a difference no audit run has confirmed yet (events may be on their way); "
                    "diverged: the same difference found by two periodic runs in a row")
    diverged_since: str | None = Field(description="when the periodic runs first found this difference (UTC)")


class BooksDocumentsRow(Reply):
    account: str = Field(description="the payable account (2202 by default) or the receivable (1122)")
    counterparty: str = Field(description="supplier:<code>, customer:<channel>:<buyer>, platform:<channel>/<shop> "
                                          "(or another counterparty the books name)")
    books: Money = Field(description="the account's balance for the counterparty, in its normal direction")
    documents: Money = Field(description="the open documents: purchase receipts less goods sent back (procurement), "
                                         "or shipped orders less goods sent back (order service), at what was paid; "
                                         "less payments and settlements, plus opening balances (accounting)")
    difference: Money | None = Field(description="books - documents; null when the counterparty has documents in "
                                                 "another currency than the books' that the books converted at a "
                                                 "rate of their own (not compared)")
    status: Literal["agrees", "in_flight", "diverged", "not_compared"]
    diverged_since: str | None = Field(description="when the periodic runs first found this difference (UTC)")


class BooksAudit(Reply):
    checked_at: str = Field(description="RFC 3339, UTC")
    agrees: bool = Field(description="every difference is zero")
    diverged: bool = Field(description="some difference persisted across two periodic runs")
    accounts: dict[str, str] = Field(description="posting role -> account code compared")
    inventory: list[BooksStockRow]
    payables: list[BooksDocumentsRow]
    receivables: list[BooksDocumentsRow]
