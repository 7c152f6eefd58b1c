"""Excel workbooks (.xlsx), one way for every export: a bold, filled, frozen and filtered header
row, columns wide enough for their text (CJK characters count double), amounts as Decimal (openpyxl
stores their exact text), never as float. services.accounting.export builds its voucher layout on it."""
from __future__ import annotations

from io import BytesIO

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter


def display_width(text: str) -> int:
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def style_header(ws, widths) -> None:
    bold, fill = Font(bold=True), PatternFill("solid", fgColor="DDEBF7")
    for cell in ws[1]:
        cell.font, cell.fill = bold, fill
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    for i, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(i)].width = width
    ws.freeze_panes = "A2"
    if ws.max_row > 1:
        ws.auto_filter.ref = ws.dimensions


def table(title: str, columns: list[tuple[str, int]], rows: list[list], formats: dict[int, str] | None = None,
          extra: tuple[tuple[str, list[tuple[str, int]], list[list]], ...] = ()) -> bytes:
    """A workbook of one sheet `title`: the header from `columns` ((header, width)), then `rows`;
    `formats` maps a 0-based column to its number format. `extra` sheets follow, as (title, columns, rows)."""
    wb = Workbook()
    sheets = [(title, columns, rows, formats or {}), *((t, c, r, {}) for t, c, r in extra)]
    for n, (name, cols, body, fmt) in enumerate(sheets):
        ws = wb.active if n == 0 else wb.create_sheet(name)
        ws.title = name
        ws.append([h for h, _ in cols])
        widths = [w for _, w in cols]
        for row in body:
            ws.append(row)
            for i, value in enumerate(row):
                if isinstance(value, str):
                    widths[i] = max(widths[i], min(60, display_width(value) + 2))
        for r in ws.iter_rows(min_row=2):
            for i, number_format in fmt.items():
                r[i].number_format = number_format
        style_header(ws, widths)
    out = BytesIO()
    wb.save(out)
    return out.getvalue()
