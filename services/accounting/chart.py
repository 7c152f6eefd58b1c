"""The chart of accounts: Chinese enterprise accounting standard codes by default, or the
merchant's own from a CSV file (HUB_ACCOUNTING_CHART: code,name,category,normal_balance),
and which account each posting rule uses (HUB_ACCOUNTING_ACCOUNTS: JSON overrides)."""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass

CATEGORIES = ("asset", "liability", "equity", "cost", "revenue", "expense")


@dataclass(frozen=True)
class Account:
    code: str
    name: str
    category: str
    normal_balance: str  # debit | credit


DEFAULT_CHART = [
    Account("1001", "库存现金 Cash on hand", "asset", "debit"),
    Account("1002", "银行存款 Bank deposits", "asset", "debit"),
    Account("1122", "应收账款 Accounts receivable", "asset", "debit"),
    Account("1123", "预付账款 Prepayments", "asset", "debit"),
    Account("1405", "库存商品 Inventory goods", "asset", "debit"),
    Account("1901", "待处理财产损溢 Unsettled gains and losses on assets", "asset", "debit"),
    Account("2202", "应付账款 Accounts payable", "liability", "credit"),
    Account("220202", "应付账款-暂估应付款 Goods received not invoiced", "liability", "credit"),
    Account("2203", "预收账款 Advances from customers", "liability", "credit"),
    Account("2221", "应交税费 Taxes payable", "liability", "credit"),
    Account("22210101", "应交税费-应交增值税-进项税额 Input VAT", "liability", "credit"),
    Account("22210105", "应交税费-应交增值税-销项税额 Output VAT", "liability", "credit"),
    Account("4001", "实收资本 Paid-in capital", "equity", "credit"),
    Account("4103", "本年利润 Profit for the year", "equity", "credit"),
    Account("5001", "生产成本 Production cost", "cost", "debit"),
    Account("6001", "主营业务收入 Revenue from main operations", "revenue", "credit"),
    Account("6051", "其他业务收入 Other operating revenue", "revenue", "credit"),
    Account("6401", "主营业务成本 Cost of main operations", "expense", "debit"),
    Account("6601", "销售费用 Selling expenses", "expense", "debit"),
    Account("6602", "管理费用 Administrative expenses", "expense", "debit"),
    Account("6603", "财务费用 Financial expenses", "expense", "debit"),
    Account("6711", "营业外支出 Non-operating expenses", "expense", "debit"),
]

# Posting rule roles -> account codes.
DEFAULT_ACCOUNTS = {
    "receivable": "1122", "revenue": "6001", "output_vat": "22210105",
    "cost_of_goods": "6401", "inventory": "1405", "input_vat": "22210101", "payable": "2202",
    "bank": "1002", "platform_fees": "6601", "stock_differences": "1901", "scrap": "6711",
    # cents left over when a document in another currency is converted line by line (汇兑损益)
    "exchange_differences": "6603",
    # goods on their way between the merchant's own warehouses (cost centre "transit"); e.g. 1402 在途物资
    "goods_in_transit": "1405",
    # what a receipt outside a purchase is booked against, by its reason (stock_received):
    # opening stock against equity (4001 实收资本, the chart's owners' equity), finished goods
    # against the production cost they carry, other receipts (like found goods) pending approval
    "opening_equity": "4001", "other_receipts": "1901", "production_cost": "5001",
    # goods received before the supplier's invoice (先货后票): the provisional payable (暂估应付)
    "provisional_payable": "220202",
}
# Channels whose platform collects the buyer's money: the platform is the debtor, not the buyer.
DEFAULT_MARKETPLACES = ("taobao", "tmall", "jd", "pdd", "douyin")


def load_chart(path: str | None) -> list[Account]:
    if not path:
        return list(DEFAULT_CHART)
    with open(path, newline="", encoding="utf-8") as f:
        rows = [Account(r["code"].strip(), r["name"].strip(), r["category"].strip(), r["normal_balance"].strip())
                for r in csv.DictReader(f)]
    bad = [r.code for r in rows if r.category not in CATEGORIES or r.normal_balance not in ("debit", "credit")]
    if bad or not rows:
        raise ValueError(f"chart {path}: invalid category or normal balance for {bad or 'an empty file'}")
    return rows


def posting_accounts(overrides_json: str | None) -> dict:
    accounts = dict(DEFAULT_ACCOUNTS)
    if overrides_json:
        overrides = json.loads(overrides_json)
        unknown = set(overrides) - set(DEFAULT_ACCOUNTS)
        if unknown:
            raise ValueError(f"HUB_ACCOUNTING_ACCOUNTS: unknown roles {sorted(unknown)}")
        accounts.update(overrides)
    return accounts


def rules(settings):
    """The posting rules and chart this process uses, from its settings."""
    from decimal import Decimal

    from services.accounting.domain import Rules

    marketplaces = tuple(c.strip() for c in settings.marketplace_channels.split(",") if c.strip())
    return (Rules(accounts=posting_accounts(settings.accounting_accounts), vat_rate=Decimal(settings.vat_rate),
                  timezone=settings.timezone, marketplaces=marketplaces, base_currency=settings.base_currency),
            load_chart(settings.accounting_chart))
