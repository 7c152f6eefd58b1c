"""Yonyou U8 OpenAPI simulator (docs/EXTERNAL_APIS.md section 4.1).

This module holds no server: the paths, the default config, the simulator's errcode table (the
reference has none) and the voucher rules (both body shapes of section 4.1). The server is in app.py.
"""
from __future__ import annotations

import calendar
from datetime import date

from simulators import amount, entry, is_detail, parse_date

TOKEN_PATH = "/system/token"
TRADEID_PATH = "/system/tradeid"
ADD_PATH = "/api/voucher/add"
RESULT_PATH = "/result"
# Every path the simulator serves: the calls section 4.1 documents (voucher/cancel is documented
# too, but the hub never cancels). The OpenAPI documents no call that reads a voucher back, so
# the simulator offers none; any other path is a 404, recorded under /__sim/calls as not U8.
U8_PATHS = frozenset({TOKEN_PATH, TRADEID_PATH, ADD_PATH, RESULT_PATH})

# errcode values: "0" is documented; the rest are the simulator's own (no official table was found)
OK = "0"
PARAM = "40001"  # a required parameter is missing or malformed
AUTH = "40002"  # from_account / app_key / app_secret / to_account not recognised
TOKEN = "40003"  # errmsg contains "参数token已过期" (the observed wording)
RATE = "40009"  # too many calls
NOT_FOUND = "404"  # an unknown requestid
VALIDATION = "50001"  # the voucher breaks a ledger rule (account, balance, closed period, ...)
DUPLICATE = "50002"  # reserve2 (外部凭证业务号) already used, or (repeat_answer "duplicate_error") a repeated key

TOKEN_EXPIRED = "参数token已过期或无效，请重新获取token"
RATE_LIMITED = "接口调用过于频繁，超过调用频率限制，请稍后再试"

DEFAULT_CONFIG = {
    "from_account": "hub",
    "to_account": "u8demo",
    "app_key": "opa5e0c3a1b9d7f2468",
    "app_secret": "7c1e5b2a9d4f60837e2b1c5d9a0f4e63",
    "voucher_types": ["记"],
    "accounts": {
        "1001": "库存现金", "1002": "银行存款", "1122": "应收账款", "1123": "预付账款", "1405": "库存商品",
        "2202": "应付账款", "2203": "预收账款", "2221": "应交税费", "222101": "应交增值税",
        "22210101": "进项税额", "22210105": "销项税额", "4001": "实收资本", "4103": "本年利润",
        "6001": "主营业务收入", "6051": "其他业务收入", "6401": "主营业务成本", "6601": "销售费用",
        "6602": "管理费用", "6711": "营业外支出",
    },
    "closed_periods": [],
    "token_seconds": 7200,
    "timezone": "Asia/Shanghai",  # for the documented defaults fiscal_year/accounting_period = current year/month
    # how an add repeating the biz_id/tradeid of a stored voucher is answered (the reference names
    # biz_id the idempotency key but shows no such answer): "first_answer" (the first answer again,
    # with the voucher's id) or "duplicate_error" (errcode DUPLICATE naming the key and the voucher's id)
    "repeat_answer": "first_answer",
}
REPEAT_ANSWERS = ("first_answer", "duplicate_error")


class U8Error(Exception):
    def __init__(self, errcode: str, errmsg: str, outcome: str = "rejected"):
        super().__init__(errmsg)
        self.errcode, self.errmsg, self.outcome = errcode, errmsg, outcome

    def body(self) -> dict:
        return {"errcode": self.errcode, "errmsg": self.errmsg}


def _entries(side) -> list:
    """voucher.debit / voucher.credit: {"entry": [...]} or {"entry": {...}} (one line) or a bare list."""
    lines = side.get("entry", []) if isinstance(side, dict) else side
    if isinstance(lines, dict):
        lines = [lines]
    if not isinstance(lines, list):
        raise U8Error(VALIDATION, "凭证分录entry格式错误")
    return lines


def _int(value, name: str) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        raise U8Error(VALIDATION, f"{name}[{value}]不是整数") from None


def parse_voucher(body, cfg: dict, today: date) -> dict:
    """Check {"voucher": {...}} against the ledger: the parts to store, or U8Error naming every problem."""
    voucher = body.get("voucher") if isinstance(body, dict) else None
    if not isinstance(voucher, dict):
        raise U8Error(PARAM, "请求内容应为{\"voucher\": {...}}")
    errors = []
    if voucher.get("voucher_type") not in cfg["voucher_types"]:
        errors.append(f"凭证类别[{voucher.get('voucher_type', '')}]不存在")
    day = None
    if voucher.get("date"):
        try:
            day = parse_date(voucher["date"])
        except ValueError as exc:
            errors.append(f"制单日期{exc}")
    basis = day or today
    year = _int(voucher.get("fiscal_year") or basis.year, "会计年度fiscal_year")
    month = _int(voucher.get("accounting_period") or basis.month, "会计期间accounting_period")
    if not 1 <= month <= 12:
        raise U8Error(VALIDATION, f"会计期间accounting_period[{month}]应在1到12之间")
    period = f"{year:04d}-{month:02d}"
    if day and (day.year, day.month) != (year, month):
        errors.append(f"制单日期{day}不在会计期间{period}内")
    if day is None:  # no date given: today if it falls in the period, else the period's last day
        day = today if (today.year, today.month) == (year, month) else date(year, month,
                                                                           calendar.monthrange(year, month)[1])
    if period in cfg["closed_periods"]:
        errors.append(f"会计期间{period}已结账，不能增加凭证")
    reserve2 = str(voucher["reserve2"]) if voucher.get("reserve2") else None
    if reserve2 and voucher.get("voucher_making_system") != "CDM":
        errors.append("使用外部凭证业务号reserve2时，voucher_making_system必须为CDM")

    nested = "debit" in voucher or "credit" in voucher
    if nested and "entry" in voucher:
        raise U8Error(VALIDATION, "凭证分录只能使用debit/credit或entry其中一种格式")
    if nested:
        sides = [(line, "debit") for line in _entries(voucher.get("debit"))]
        sides += [(line, "credit") for line in _entries(voucher.get("credit"))]
    else:
        sides = [(line, None) for line in _entries({"entry": voucher.get("entry", [])})]
    if not sides:
        errors.append("凭证分录不能为空")
    lines, totals = [], [0, 0]
    for n, (line, side) in enumerate(sides, 1):
        where = f"第{n}条分录"
        if not isinstance(line, dict):
            errors.append(f"{where}格式错误")
            continue
        code = str(line.get("account_code") or "")
        if code not in cfg["accounts"]:
            errors.append(f"{where}：科目编码[{code}]不存在")
        elif not is_detail(code, cfg["accounts"]):
            errors.append(f"{where}：科目[{code}]不是末级科目")
        if not str(line.get("abstract") or "").strip():
            errors.append(f"{where}：摘要abstract不能为空")
        try:
            debit = amount(line.get("natural_debit_currency"))
            credit = amount(line.get("natural_credit_currency"))
        except ValueError as exc:
            errors.append(f"{where}：{exc}")
            continue
        if side == "debit" and (credit or not debit):
            errors.append(f"{where}：借方分录必须填写本币借方发生额natural_debit_currency（且不填贷方）")
        elif side == "credit" and (debit or not credit):
            errors.append(f"{where}：贷方分录必须填写本币贷方发生额natural_credit_currency（且不填借方）")
        elif side is None and bool(debit) == bool(credit):
            errors.append(f"{where}：本币借方发生额与本币贷方发生额必须且只能填写一个")
        totals = [totals[0] + debit, totals[1] + credit]
        aux = line.get("auxiliary") if isinstance(line.get("auxiliary"), dict) else {}
        aux = {k: v for k, v in aux.items() if v not in ("", None)}
        lines.append(entry(code, debit, credit, str(line.get("abstract") or ""), aux))
    if not errors and totals[0] != totals[1]:
        errors.append(f"借贷不平衡：借方合计{totals[0]}，贷方合计{totals[1]}")
    if errors:
        raise U8Error(VALIDATION, "；".join(errors))
    return {"day": day, "period": period, "prefix": voucher["voucher_type"], "entries": lines,
            "external_key": reserve2}
