"""The voucher export workbook, read back with openpyxl."""
from datetime import date, datetime, timezone
from decimal import Decimal
from io import BytesIO

from openpyxl import load_workbook

from services.accounting import export

ACCOUNTS = {"1122": "应收账款 Accounts receivable", "6001": "主营业务收入 Revenue from main operations",
            "22210105": "应交税费-应交增值税-销项税额 Output VAT", "1002": "银行存款 Bank deposits",
            "6602": "管理费用 Administrative expenses"}


def _voucher(number, period, day, lines, posted_by="order-svc"):
    vid = f"id-{number}"
    return {"id": vid, "number": number, "voucher_type": "记", "period": period, "kind": "sale",
            "source_type": "order_shipped", "source_id": "src-" + number, "business_date": day,
            "total": sum((Decimal(l[2]) for l in lines), Decimal("0")),
            "posted_at": datetime(2024, 3, 1, tzinfo=timezone.utc),
            "posted_by": posted_by, "export_status": "pending", "reverses": None,
            "lines": [{"voucher_id": vid, "line_no": i + 1, "account": a, "summary": s, "debit": Decimal(d),
                       "credit": Decimal(c), "aux": aux, "cost_centre": cc}
                      for i, (a, s, d, c, aux, cc) in enumerate(lines)]}


VOUCHERS = [
    _voucher("记-2024-03-0001", "2024-03", date(2024, 3, 5), [
        ("1122", "Sale taobao T1", "152.80", "0.00", "customer:taobao:b-1", ""),
        ("6001", "Sale taobao T1", "0.00", "135.22", "channel:taobao/shop1", "channel:taobao"),
        ("22210105", "Sale taobao T1", "0.00", "17.58", "", ""),
    ]),
    _voucher("记-2024-03-0012", "2024-03", date(2024, 3, 31), [
        ("1002", "Payment b-1", "0.01", "0.00", "", ""),
        ("1122", "Payment b-1", "0.00", "0.01", "customer:taobao:b-1", ""),
    ], posted_by="finance"),
]


def _read(data: bytes):
    return load_workbook(BytesIO(data))


def test_one_row_per_line_with_exact_amounts_dates_and_numbers():
    wb = _read(export.vouchers_workbook(VOUCHERS, ACCOUNTS))
    ws = wb[export.VOUCHERS_SHEET]
    rows = list(ws.iter_rows(values_only=True))
    assert list(rows[0]) == export.HEADERS
    assert rows[0][0] == "凭证日期(Date)" and rows[0][10] == "借方金额(Debit)" and rows[0][11] == "贷方金额(Credit)"
    body = rows[1:]
    assert len(body) == sum(len(v["lines"]) for v in VOUCHERS) == 5
    first = dict(zip(export.HEADERS, body[0]))
    assert first["凭证日期(Date)"].date() == date(2024, 3, 5)
    assert (first["会计年度(Year)"], first["会计期间(Period)"], first["凭证字(Type)"]) == (2024, 3, "记")
    assert (first["凭证号(Number)"], first["分录号(Line)"]) == (1, 1)
    assert first["科目代码(Account)"] == "1122" and first["科目名称(Account name)"] == ACCOUNTS["1122"]
    assert first["币别(Currency)"] == "CNY"
    assert first["核算维度(Aux)"] == "customer:taobao:b-1"
    assert first["外部凭证号(Hub voucher number)"] == "记-2024-03-0001"
    assert dict(zip(export.HEADERS, body[1]))["成本中心(Cost centre)"] == "channel:taobao"
    last = dict(zip(export.HEADERS, body[4]))
    assert (last["凭证号(Number)"], last["分录号(Line)"], last["制单人(Posted by)"]) == (12, 2, "finance")

    expected = [(l["debit"], l["credit"]) for v in VOUCHERS for l in v["lines"]]
    got = [(Decimal(str(r[10])).quantize(Decimal("0.01")), Decimal(str(r[11])).quantize(Decimal("0.01")))
           for r in body]
    assert got == expected
    assert sum(d for d, _ in got) == sum(c for _, c in got) == Decimal("152.81")
    for r in ws.iter_rows(min_row=2):
        assert r[10].data_type == "n" and r[10].number_format == "0.00"
        assert r[11].data_type == "n" and r[11].number_format == "0.00"
        assert r[0].is_date
    assert ws.freeze_panes == "A2"
    assert ws.column_dimensions["G"].width >= 20  # summary column is wide enough to read


def test_amounts_are_stored_as_the_exact_decimal_values():
    """The cell text in the file parses to exactly the posted Decimal (no float rounding shows)."""
    import re
    import zipfile

    data = export.vouchers_workbook(VOUCHERS, ACCOUNTS)
    sheet = zipfile.ZipFile(BytesIO(data)).read("xl/worksheets/sheet1.xml").decode()
    stored = {m.group(1): Decimal(m.group(2)) for m in re.finditer(r'<c r="([KL]\d+)"[^>]*><v>([^<]*)</v>', sheet)}
    expected = {}
    for row, (_v, line) in enumerate(((v, l) for v in VOUCHERS for l in v["lines"]), start=2):
        expected[f"K{row}"], expected[f"L{row}"] = line["debit"], line["credit"]
    assert stored == expected


def test_accounts_sheet_lists_the_accounts_used():
    wb = _read(export.vouchers_workbook(VOUCHERS, {**ACCOUNTS}))
    assert wb.sheetnames == [export.VOUCHERS_SHEET, "科目 Accounts"]
    rows = list(wb["科目 Accounts"].iter_rows(values_only=True))
    assert rows[0] == ("科目代码(Account)", "科目名称(Account name)")
    assert [r[0] for r in rows[1:]] == ["1002", "1122", "22210105", "6001"]  # 6602 unused, not listed
    assert dict(rows[1:])["6001"] == ACCOUNTS["6001"]


def test_empty_export_has_headers_only():
    wb = _read(export.vouchers_workbook([], ACCOUNTS))
    assert [list(r) for r in wb[export.VOUCHERS_SHEET].iter_rows(values_only=True)] == [export.HEADERS]
    assert len(list(wb["科目 Accounts"].iter_rows())) == 1
