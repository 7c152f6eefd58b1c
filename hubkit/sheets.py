"""Reading a merchant's spreadsheet, row by row: Excel (.xlsx, openpyxl in read-only streaming mode,
so a large workbook is never held whole) or CSV (UTF-8, with or without a BOM; comma, semicolon or
tab). What makes the file unusable as a whole is a SheetError (not a spreadsheet, no such sheet,
a formula, merged cells, a missing or unknown column); what is wrong with a value is the caller's
to say per row. The writer side is hubkit.xlsx."""
from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

XLSX_MAGIC = b"PK\x03\x04"  # an xlsx file is a zip archive
NOTES_SHEET = "notes"  # the templates' sheet describing each column, never read as data
COMMENT = "#"  # a CSV row whose first cell starts so (the template's notes row) is not data


class SheetError(Exception):
    """The file as a whole cannot be read: `problems` says what and where ([{field, message}])."""

    def __init__(self, kind: str, message: str, problems: list[dict] | None = None):
        super().__init__(message)
        self.kind, self.message, self.problems = kind, message, problems or []


@dataclass
class Sheet:
    """A readable sheet: its header and an iterator over (row number in the file, {column: value})."""
    name: str
    header: list[str]
    rows: Iterator[tuple[int, dict[str, Any]]]
    format: str  # xlsx | csv
    extra_columns: list[str] = field(default_factory=list)


def open_sheet(data: IO[bytes], sheet: str, required: list[str], known: list[str],
               ignored: tuple[str, ...] = ()) -> Sheet:
    """The sheet named `sheet` of an xlsx file (or its only data sheet), or a CSV file, checked:
    every `required` column present, no column outside `known` (`ignored` ones are dropped: the
    `errors` column of a report sent back corrected). `data` must be seekable."""
    head = data.read(4)
    data.seek(0)
    if head == XLSX_MAGIC:
        name, header, rows = _xlsx(data, sheet)
        fmt = "xlsx"
    else:
        name, (header, rows) = "", _csv(data)
        fmt = "csv"
    header = [h.strip() for h in header]
    from openpyxl.utils import get_column_letter
    problems = [{"field": h or get_column_letter(i + 1), "message": "the column appears twice" if h else
                 "a column without a header"} for i, h in enumerate(header)
                if not h or header.index(h) != i]
    problems += [{"field": c, "message": "required column missing"} for c in required if c not in header]
    unknown = [h for h in header if h and h not in known and h not in ignored]
    problems += [{"field": c, "message": f"unknown column (expected: {', '.join(known)})"} for c in unknown]
    if problems:
        raise SheetError("bad-columns", "the sheet's columns do not fit the template", problems)
    keep = [(i, h) for i, h in enumerate(header) if h in known]
    return Sheet(name, header, ((n, {h: values[i] if i < len(values) else None for i, h in keep})
                                for n, values in rows), fmt)


def _trim_header(values: tuple) -> list[str]:
    """The header row without the empty cells at its end."""
    cells = ["" if v is None else str(v) for v in values]
    while cells and not cells[-1].strip():
        cells.pop()
    return cells


def _xlsx(data: IO[bytes], sheet: str) -> tuple[str, list[str], Iterator[tuple[int, list]]]:
    from openpyxl import load_workbook  # here: ~8 MiB that the processes which never read a sheet keep
    try:
        wb = load_workbook(data, read_only=True, data_only=False)
    except Exception as exc:  # a damaged archive or XML fails in many ways: all of them the file's fault
        raise SheetError("not-a-spreadsheet", f"the file is not a readable xlsx workbook: {exc}") from None
    names = wb.sheetnames
    data_sheets = [n for n in names if n.lower() != NOTES_SHEET]
    chosen = sheet if sheet in names else (data_sheets[0] if len(data_sheets) == 1 else None)
    if chosen is None:
        raise SheetError("missing-sheet", f"the workbook has no sheet {sheet!r} (sheets: {', '.join(names)})",
                         [{"field": "sheet", "message": f"expected a sheet named {sheet!r}"}])
    ws = wb[chosen]
    try:
        merged = _merged_ranges(data, names.index(chosen))
    except Exception as exc:
        raise SheetError("not-a-spreadsheet", f"the sheet cannot be read: {exc}") from None
    if merged:
        raise SheetError("merged-cells", "the sheet has merged cells: unmerge them, one value per cell",
                         [{"field": r, "message": "merged cells"} for r in merged[:50]])
    ws.reset_dimensions()  # no pass over the whole sheet for its size: rows as they come
    stream = ws.iter_rows()
    try:
        first = next(stream, None)
    except Exception as exc:
        raise SheetError("not-a-spreadsheet", f"the sheet cannot be read: {exc}") from None
    if first is None:
        raise SheetError("bad-columns", "the sheet is empty: no header row",
                         [{"field": "header", "message": "missing"}])
    header = _trim_header(tuple(c.value for c in first))

    def rows() -> Iterator[tuple[int, list]]:
        try:
            yield from _values(stream)
        except SheetError:
            raise
        except Exception as exc:  # damaged XML further down the sheet
            raise SheetError("not-a-spreadsheet", f"the sheet cannot be read: {exc}") from None
        finally:
            wb.close()
    return chosen, header, rows()


def _values(stream) -> Iterator[tuple[int, list]]:
    """The rows after the header with their row numbers; blank rows skipped, a formula refused."""
    formulas: list[str] = []
    for cells in stream:
        values, number = [], 0
        for c in cells:
            if getattr(c, "data_type", None) == "f":
                formulas.append(c.coordinate)
            values.append(c.value)
            number = getattr(c, "row", number) or number
        if formulas:
            raise SheetError("formulas", "the sheet has formulas: paste their values instead",
                             [{"field": f, "message": "a formula"} for f in formulas[:50]])
        if any(v is not None and str(v).strip() != "" for v in values):
            yield number, values


def _merged_ranges(data: IO[bytes], index: int) -> list[str]:
    """The merged ranges of the workbook's `index`-th sheet. openpyxl's read-only mode does not read
    them, and they come after all the rows in the sheet's XML: a byte scan, chunk by chunk."""
    import re

    data.seek(0)
    with zipfile.ZipFile(data) as z:
        names = [n for n in z.namelist() if n.startswith("xl/worksheets/sheet") and n.endswith(".xml")]
        names.sort(key=lambda n: int("".join(ch for ch in n if ch.isdigit()) or 0))
        if index >= len(names):
            return []
        found, tail = [], b""
        with z.open(names[index]) as part:
            while chunk := part.read(1 << 20):
                window = tail + chunk
                found += [m.decode() for m in re.findall(rb'<(?:\w+:)?mergeCell\s+ref="([A-Z0-9:]+)"', window)]
                tail = window[-200:]
        data.seek(0)
        return list(dict.fromkeys(found))


def _csv(data: IO[bytes]) -> tuple[list[str], Iterator[tuple[int, list]]]:
    text = io.TextIOWrapper(data, encoding="utf-8-sig", newline="")
    try:
        sample = text.read(64 * 1024)
    except UnicodeDecodeError:
        raise SheetError("not-a-spreadsheet", "the file is neither an xlsx workbook nor a UTF-8 CSV file") from None
    if "\x00" in sample:
        raise SheetError("not-a-spreadsheet", "the file is neither an xlsx workbook nor a UTF-8 CSV file")
    text.seek(0)
    try:
        dialect: Any = csv.Sniffer().sniff(sample.split("\n", 1)[0], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(text, dialect)
    try:
        header = next(reader, None)
    except (UnicodeDecodeError, csv.Error):
        raise SheetError("not-a-spreadsheet", "the file is neither an xlsx workbook nor a UTF-8 CSV file") from None
    if not header:
        raise SheetError("bad-columns", "the file is empty: no header row", [{"field": "header", "message": "missing"}])

    def rows() -> Iterator[tuple[int, list]]:
        try:
            for values in reader:
                if values and values[0].lstrip().startswith(COMMENT):
                    continue
                if any(v.strip() for v in values):
                    yield reader.line_num, [v if v.strip() else None for v in values]
        except UnicodeDecodeError:
            raise SheetError("not-a-spreadsheet", f"line {reader.line_num + 1} is not UTF-8 text") from None
        except csv.Error as exc:
            raise SheetError("not-a-spreadsheet", f"line {reader.line_num}: {exc}") from None
    return _trim_header(tuple(header)), rows()
