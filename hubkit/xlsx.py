"""Excel workbooks (.xlsx), one writer for every export: openpyxl's write-only mode (rows streamed to
the file, no cell objects kept), a bold, filled, frozen and filtered header row, columns wide enough
for their text (CJK characters count double), amounts as Decimal (openpyxl stores their exact text),
never as float. Text is always stored as text, never as a formula (a cell starting with "=" stays what
it says). services.accounting.export, services.procurement.scorecard and the gateway's exports
(gateway.common.exports) write through it. openpyxl (~8 MiB) is imported by the first workbook written:
the processes that import this module mostly never write one."""
from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from io import BytesIO
from itertools import chain, islice
from typing import Any, BinaryIO

MONEY = "#,##0.00"
INTEGER = "0"
DATE = "yyyy-mm-dd"
MOMENT = "yyyy-mm-dd hh:mm:ss"
MAX_WIDTH = 60
MAX_TEXT = 32_767  # Excel's limit of characters in a cell
SAMPLE_ROWS = 500  # rows read ahead to size the columns before the first one is written
_SHEET_TITLE = re.compile(r"[\[\]:*?/\\]")
# openpyxl.cell.cell's (a test keeps them equal), here so that a text is cleaned without importing openpyxl
ILLEGAL_CHARACTERS_RE = re.compile(r"[\000-\010]|[\013-\014]|[\016-\037]")
ERROR_CODES = ("#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A")


def display_width(text: str) -> int:
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


@dataclass(frozen=True)
class Column:
    header: str
    width: int = 0  # at least this wide; 0: as wide as the header and the text under it
    number_format: str = ""  # of its numbers and dates (MONEY, INTEGER, DATE, MOMENT or any Excel format)


@dataclass
class Sheet:
    title: str
    columns: Sequence[Column]
    rows: Iterable[Sequence[Any]]


def text(value: str) -> str:
    """What a cell can hold of a text: no control characters (the file format has none), at most
    Excel's 32,767 characters."""
    return ILLEGAL_CHARACTERS_RE.sub("", value)[:MAX_TEXT]


def _titles(sheets: Sequence[Sheet]) -> Iterator[str]:
    """Sheet titles Excel accepts: no []:*?/\\, at most 31 characters, each once."""
    seen: set[str] = set()
    for sheet in sheets:
        base = _SHEET_TITLE.sub(" ", text(sheet.title)).strip()[:31] or "Sheet"
        title, n = base, 1
        while title.lower() in seen:
            n += 1
            title = f"{base[:31 - len(str(n)) - 3]} ({n})"
        seen.add(title.lower())
        yield title


def _widths(columns: Sequence[Column], sample: Sequence[Sequence[Any]]) -> list[int]:
    widths = [c.width or min(MAX_WIDTH, display_width(c.header) + 2) for c in columns]
    for row in sample:
        for i, value in enumerate(row[:len(widths)]):
            if isinstance(value, str):
                widths[i] = max(widths[i], min(MAX_WIDTH, display_width(value) + 2))
    return widths


def write(sheets: Iterable[Sheet], out: BinaryIO, sample: int | None = SAMPLE_ROWS) -> None:
    """Write the sheets as one workbook to `out`, streaming each sheet's rows. The columns are sized
    from the first `sample` rows (None: all of them, read into memory first)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter
    sheets = list(sheets)
    wb = Workbook(write_only=True)
    bold, fill = Font(bold=True), PatternFill("solid", fgColor="DDEBF7")
    centred = Alignment(horizontal="center", vertical="center", wrap_text=True)
    for sheet, title in zip(sheets, _titles(sheets)):
        ws = wb.create_sheet(title)
        rows = iter(sheet.rows)
        ahead = list(rows) if sample is None else list(islice(rows, sample))
        for i, width in enumerate(_widths(sheet.columns, ahead), start=1):
            ws.column_dimensions[get_column_letter(i)].width = width
        ws.freeze_panes = "A2"
        header = []
        for column in sheet.columns:
            cell = WriteOnlyCell(ws, text(column.header))
            cell.font, cell.fill, cell.alignment = bold, fill, centred
            header.append(cell)
        ws.append(header)
        formats = [c.number_format for c in sheet.columns]
        count = 0
        for row in chain(ahead, rows):
            ws.append([_cell(ws, value, formats[i] if i < len(formats) else "") for i, value in enumerate(row)])
            count += 1
        if count:
            ws.auto_filter.ref = f"A1:{get_column_letter(max(len(sheet.columns), 1))}{count + 1}"
    wb.save(out)


def _cell(ws, value, number_format: str):
    """What to append for a value: the value itself where openpyxl's own typing is right (cheap),
    a styled cell for a formatted number or date, a text cell for text openpyxl would take for a
    formula ("=...") or an error ("#N/A")."""
    from openpyxl.cell import WriteOnlyCell
    if isinstance(value, str):
        value = text(value)
        if value.startswith("=") or value in ERROR_CODES:
            cell = WriteOnlyCell(ws, value)
            cell.data_type = "s"  # text, never a formula or an error
            return cell
        return value
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (date, datetime)):  # per value: a column may hold both
        number_format = number_format or (MOMENT if isinstance(value, datetime) else DATE)
    if not number_format:
        return value
    cell = WriteOnlyCell(ws, value)
    cell.number_format = number_format
    return cell


def workbook(sheets: Iterable[Sheet], sample: int | None = SAMPLE_ROWS) -> bytes:
    out = BytesIO()
    write(sheets, out, sample)
    return out.getvalue()


def table(title: str, columns: list[tuple[str, int]], rows: list[list], formats: dict[int, str] | None = None,
          extra: tuple[tuple[str, list[tuple[str, int]], list[list]], ...] = ()) -> bytes:
    """A workbook of one sheet `title`: the header from `columns` ((header, width)), then `rows`;
    `formats` maps a 0-based column to its number format. `extra` sheets follow, as (title, columns, rows)."""
    fmt = formats or {}
    first = Sheet(title, [Column(h, w, fmt.get(i, "")) for i, (h, w) in enumerate(columns)], rows)
    return workbook([first, *(Sheet(t, [Column(h, w) for h, w in c], r) for t, c, r in extra)], sample=None)
