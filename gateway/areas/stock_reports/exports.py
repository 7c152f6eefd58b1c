"""The stock reports as Excel workbooks (hubkit.xlsx): the same figures as the JSON answer, money
and ratios as exact decimals (never float), an empty cell where the JSON says null, and a second
sheet with what the report was asked (period, filters, method) and how its figures are computed."""
from __future__ import annotations

from decimal import Decimal

from hubkit import xlsx

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MONEY = "#,##0.00"
ASKED = (("项目 Item", 22), ("值 Value", 60))


def _d(text: str | None) -> Decimal | None:
    return Decimal(text) if text not in (None, "") else None


def attachment(name: str) -> dict:
    return {"content-disposition": f'attachment; filename="{name}"'}


def turnover(report: dict) -> bytes:
    columns = [("键 Key", 16), ("销售成本 COGS", 14), ("期初 Opening value", 14), ("期末 Closing value", 14),
               ("平均 Average value", 14), ("周转率 Turnover", 12), ("供应天数 Days of supply", 14)]
    figures = ("cogs", "opening_value", "closing_value", "average_value", "turnover", "days_of_supply")
    rows = [[r["key"], *(_d(r[f]) for f in figures)] for r in report["rows"]]
    rows.append(["合计 Total", *(_d(report["total"][f]) for f in figures)])
    asked = [["from", report["date_from"]], ["to", report["date_to"]], ["days", report["days"]], ["by", report["by"]],
             ["warehouse", report["warehouse"] or "(all)"], ["category", report["category"] or "(all)"],
             ["explanation", report["explanation"]]]
    return xlsx.table(f"{report['date_from']}~{report['date_to']}", columns, rows,
                      {i: MONEY for i in range(1, 7)}, extra=(("说明 About", list(ASKED), asked),))


def slow_movers(report: dict, asked: dict) -> bytes:
    columns = [("SKU", 16), ("类别 Category", 14), ("仓库 Warehouse", 12), ("数量 Quantity", 10),
               ("金额 Value", 14), ("最后销售 Last sale", 14), ("未销天数 Days since sale", 12),
               ("最早入库 Oldest received", 14), ("在库天数 Days in stock", 12)]
    rows = [[r["sku"], r["category"], r["warehouse"], r["quantity"], _d(r["value"]), r["last_issue_on"],
             r["days_since_issue"], r["oldest_received_on"], r["days_in_stock"]] for r in report["rows"]]
    about = [["as_of", report["as_of"]], *([k, "" if v is None else str(v)] for k, v in asked.items())]
    return xlsx.table(report["as_of"], columns, rows, {4: MONEY}, extra=(("说明 About", list(ASKED), about),))


def forecast(report: dict) -> bytes:
    horizon = report["horizon"]
    columns = [("SKU", 16), ("类别 Category", 14), ("历史销量 History units", 12), ("预测合计 Forecast total", 12),
               *((f"+{d}", 8) for d in range(1, horizon + 1))]
    rows = [[r["sku"], r["category"], r["history_units"], _d(r["total"]), *(_d(v) for v in r["forecast"])]
            for r in report["rows"]]
    history = [[r["sku"], *r["history"]] for r in report["rows"]]
    about = [["method", report["method"]], *([f"param {k}", str(v)] for k, v in report["params"].items()),
             ["as_of", report["as_of"]], ["horizon (days)", horizon],
             ["history", f"{report['history_from']}~{report['history_to']} ({report['history_days']} days)"],
             ["warehouse", report["warehouse"] or "(all)"]]
    return xlsx.table(f"forecast {report['as_of']}", columns, rows, {i: "0.00" for i in range(3, 4 + horizon)},
                      extra=(("历史 History", [("SKU", 16), *((f"{i + 1}", 6) for i in range(report["history_days"]))],
                              history),
                             ("说明 About", list(ASKED), about)))
