"""The one Excel writer (hubkit.xlsx), read back with openpyxl."""
from __future__ import annotations

import io
from datetime import date, datetime
from decimal import Decimal

from openpyxl import load_workbook

from hubkit import xlsx


def _book(data: bytes):
    return load_workbook(io.BytesIO(data))


def test_cells_keep_their_types_and_formats():
    sheet = xlsx.Sheet("Report", [xlsx.Column("Amount", number_format=xlsx.MONEY), xlsx.Column("Day"),
                                  xlsx.Column("At"), xlsx.Column("Count", number_format=xlsx.INTEGER),
                                  xlsx.Column("Ok")],
                       [[Decimal("1234.50"), date(2026, 3, 1), datetime(2026, 3, 1, 8, 30), 7, True],
                        [None, None, None, None, False]])
    ws = _book(xlsx.workbook([sheet]))["Report"]
    amount, day, at, count, ok = ws[2]
    assert (amount.value, amount.number_format, amount.data_type) == (1234.5, "#,##0.00", "n")
    assert day.is_date and day.number_format == xlsx.DATE and day.value == datetime(2026, 3, 1)
    assert at.is_date and at.number_format == xlsx.MOMENT and at.value == datetime(2026, 3, 1, 8, 30)
    assert (count.value, count.number_format) == (7, "0") and ok.value is True
    assert [c.value for c in ws[3]] == [None, None, None, None, False]
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref == "A1:E3"
    assert ws["A1"].font.b and ws["A1"].fill.fgColor.rgb.endswith("DDEBF7")


def test_text_is_never_a_formula_and_loses_what_excel_cannot_hold():
    rows = [["=SUM(A1:A9)", "bell\x07 and NUL\x00 gone", "x" * 40_000, "中文", "#N/A"]]
    ws = _book(xlsx.workbook([xlsx.Sheet("T", [xlsx.Column(h) for h in "abcde"], rows)]))["T"]
    formula, controls, long, chinese, error = ws[2]
    assert (formula.value, formula.data_type) == ("=SUM(A1:A9)", "s")
    assert (error.value, error.data_type) == ("#N/A", "s")  # not Excel's error value
    assert controls.value == "bell and NUL gone"
    assert len(long.value) == xlsx.MAX_TEXT and chinese.value == "中文"


def test_sheet_titles_are_made_valid_and_unique():
    sheets = [xlsx.Sheet(t, [xlsx.Column("a")], []) for t in ("a/b:c", "A very long title that goes past 31 chars",
                                                               "a/b:c", "")]
    names = _book(xlsx.workbook(sheets)).sheetnames
    assert names == ["a b c", "A very long title that goes pas", "a b c (2)", "Sheet"]


def test_columns_are_sized_from_the_rows_read_ahead():
    rows = ([["short"]] * 3) + [["一个很长的中文名字"]]
    ws = _book(xlsx.workbook([xlsx.Sheet("T", [xlsx.Column("H")], iter(rows))], sample=3))["T"]
    assert ws.column_dimensions["A"].width == len("short") + 2  # the fourth row was not read ahead
    assert ws.max_row == 5  # but it is written
    ws = _book(xlsx.workbook([xlsx.Sheet("T", [xlsx.Column("H")], rows)], sample=None))["T"]
    assert ws.column_dimensions["A"].width == 9 * 2 + 2  # CJK characters count double


def test_table_keeps_its_layout():
    data = xlsx.table("Suppliers", [("Code", 10), ("Rate", 8)], [["S1", Decimal("0.95")]], {1: "0.00"},
                      extra=(("Bands", [("Grade", 6)], [["A"]]),))
    book = _book(data)
    assert book.sheetnames == ["Suppliers", "Bands"]
    ws = book["Suppliers"]
    assert [c.value for c in ws[1]] == ["Code", "Rate"] and ws["B2"].number_format == "0.00"
    assert ws.column_dimensions["A"].width == 10 and ws.column_dimensions["B"].width == 8
    assert [c.value for c in book["Bands"][2]] == ["A"]


def test_the_cleaning_of_a_text_is_openpyxls_own():
    # hubkit.xlsx keeps a copy of openpyxl's two constants, so that it imports openpyxl only to write
    from openpyxl.cell.cell import ERROR_CODES, ILLEGAL_CHARACTERS_RE
    assert xlsx.ERROR_CODES == ERROR_CODES
    assert xlsx.ILLEGAL_CHARACTERS_RE.pattern == ILLEGAL_CHARACTERS_RE.pattern
