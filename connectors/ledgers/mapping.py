"""Pure translation of a hub voucher into each ledger's voucher body. No I/O."""
from __future__ import annotations

import json
import re
from decimal import Decimal

TYPE_CODES = {"记": "JZ", "收": "SK", "付": "FK", "转": "ZZ"}


def external_number(voucher: dict) -> str:
    """Stable and unique per hub voucher: HUB-<yyyymm>-<type>-<seq>, e.g. HUB-202611-JZ-0001; a
    summary voucher carries its own (connectors/ledgers/summary.py)."""
    if voucher.get("external_number"):
        return voucher["external_number"]
    vtype, period, seq = voucher["number"].split("-", 1)[0], voucher["period"], voucher["number"].rsplit("-", 1)[1]
    return f"HUB-{period.replace('-', '')}-{TYPE_CODES.get(vtype, 'XX')}-{seq}"


def default_account(ledger: str, hub_account: str) -> str:
    """Kingdee shows account hierarchies with dots (2221.01.05); U8 uses the plain code."""
    if ledger == "kingdee" and len(hub_account) > 4 and hub_account.isdigit():
        rest = hub_account[4:]
        return ".".join([hub_account[:4], *[rest[i:i + 2] for i in range(0, len(rest), 2)]])
    return hub_account


def account_for(ledger: str, hub_account: str, overrides: dict) -> str:
    return overrides.get(hub_account) or default_account(ledger, hub_account)


def _counterparty(aux: str) -> tuple[str, str]:
    """("customer" | "supplier" | "", code) from customer:<...>, platform:<...>, supplier:<...>."""
    kind, _, code = aux.partition(":")
    if kind in ("customer", "platform"):
        return "customer", code.replace(":", "-").replace("/", "-")[:40]
    if kind == "supplier":
        return "supplier", code[:40]
    return "", ""


def _department(cost_centre: str) -> str:
    kind, _, code = cost_centre.partition(":")
    return f"{kind[:2].upper()}-{code}"[:40] if code else ""


def kingdee_model(voucher: dict, accounts: dict, book: str) -> dict:
    """GL_VOUCHER Model (K/3 Cloud WebAPI Save). The external number leads every explanation as
    a tag, which is how the voucher is found again (ExecuteBillQuery on FEXPLANATION)."""
    tag = f"[{external_number(voucher)}]"
    entries = []
    for line in voucher["lines"]:
        who, code = _counterparty(line["aux"])
        detail = {}
        if who == "customer":
            detail["FDETAILID__FFLEX6"] = {"FNumber": code}
        elif who == "supplier":
            detail["FDETAILID__FFLEX4"] = {"FNumber": code}
        if _department(line.get("cost_centre", "")):
            detail["FDETAILID__FFLEX5"] = {"FNumber": _department(line["cost_centre"])}
        entry = {"FEXPLANATION": f"{tag} {line['summary']}"[:255],
                 "FACCOUNTID": {"FNumber": account_for("kingdee", line["account"], accounts)},
                 "FCURRENCYID": {"FNumber": "PRE001"}, "FEXCHANGERATETYPE": {"FNumber": "HLTX01_SYS"},
                 "FEXCHANGERATE": 1, "FDEBIT": float_free(line["debit"]), "FCREDIT": float_free(line["credit"])}
        if detail:
            entry["FDetailID"] = detail
        entries.append(entry)
    return {"FAccountBookID": {"FNumber": book}, "FDate": voucher["business_date"],
            "FBUSDATE": voucher["business_date"], "FVOUCHERGROUPID": {"FNumber": "PRE001"},
            "FVOUCHERGROUPNO": "", "FATTACHMENTS": 0, "FISADJUSTVOUCHER": "false", "FDocumentStatus": "Z",
            "FEntity": entries}


def ufida_voucher(voucher: dict, accounts: dict, maker: str) -> dict:
    """U8 OpenAPI voucher/add body: debit and credit entries, reserve2 = the external number."""
    year, month = voucher["period"].split("-")
    debit, credit = [], []
    for i, line in enumerate(voucher["lines"], start=1):
        who, code = _counterparty(line["aux"])
        entry = {"entry_id": i, "account_code": account_for("ufida", line["account"], accounts),
                 "abstract": line["summary"][:120], "currency": "人民币",
                 "auxiliary": {"cust_id": code if who == "customer" else "",
                               "supplier_id": code if who == "supplier" else "",
                               "dept_id": _department(line.get("cost_centre", "")), "personnel_id": "",
                               "item_class": "", "item_id": ""}}
        if Decimal(line["debit"]):
            debit.append({**entry, "natural_debit_currency": float_free(line["debit"]),
                          "primary_debit_amount": float_free(line["debit"])})
        else:
            credit.append({**entry, "natural_credit_currency": float_free(line["credit"]),
                           "primary_credit_amount": float_free(line["credit"])})
    return {"voucher": {"voucher_type": voucher["voucher_type"], "fiscal_year": int(year),
                        "accounting_period": int(month), "date": voucher["business_date"], "enter": maker,
                        "attachment_number": 0, "voucher_making_system": "CDM",
                        "reserve2": external_number(voucher),
                        "debit": {"entry": debit}, "credit": {"entry": credit}}}


def float_free(value) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


_NUMBER = re.compile(r'"__decimal__([-0-9.]+)"')


def to_json(body: dict) -> bytes:
    """JSON with Decimal amounts written as bare numbers exactly as they are (never through float)."""
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"),
                      default=lambda v: f"__decimal__{v}" if isinstance(v, Decimal) else str(v))
    return _NUMBER.sub(r"\1", text).encode("utf-8")
