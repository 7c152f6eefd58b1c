"""Every list and report the gateway answers, also as CSV and as an Excel workbook: the same GET
with `format=csv|xlsx` (or an Accept header preferring text/csv or the xlsx type) gets the JSON
answer written as a table, typed from the operation's response model. Nothing here names a route:
any GET whose response model holds a list of models offers the export (`plan_for`).

- The rows: the answer's list of models ("rows" or "lines" or the one the path names, else the
  first). A nested model becomes columns ("Buyer name"); a row's own list of models is unfolded, one
  row per item with the row's columns repeated (a voucher's lines, a warehouse's SKUs); its other
  lists of models go to sheets of their own, keyed by the row's first column (an order's holds). A
  list of values is one cell ("a, b"), a map one column per key found, free JSON one cell of JSON.
- Types: Money (common.schemas.ExportAs) is a number with two decimals, an int an integer, a bool a
  boolean; a field named *_at, *_on, *_date, as_of, ... holding an ISO date or time a real date or
  date and time, times on the merchant's clock (hubkit.clock; the header names the zone).
- Totals: the answer's total_X (or X, or total.X) of a numeric column X ends the table as a
  "Total" row. Everything else the answer says besides its lists is on the workbook's Summary sheet.
- CSV: UTF-8 with a BOM (Excel reads Chinese correctly), RFC 4180 (CRLF, quoted when needed), the
  main table only. Formula injection: a text cell starting with = + - @ or a tab or CR gets a
  leading apostrophe in CSV (OWASP's advice: Excel shows it as text); in the workbook text is stored
  as a text cell, which Excel never evaluates, so it stays exactly as the JSON says.
- Refusals: an unknown `format` is a bad query parameter (422, like any other); an Accept header
  that admits none of JSON, CSV and xlsx gets 406 on an exporting operation (elsewhere the gateway
  answers JSON, as before). An answer that is not a success passes through as it is (problem+json)."""
from __future__ import annotations

import csv
import io
import json
import re
import types
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Annotated, Any, Union, get_args, get_origin
from urllib.parse import quote

from fastapi import Request
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders

from gateway.common.schemas import ExportAs
from gateway.errors import Problem
from hubkit import clock, xlsx

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV = "text/csv"
JSON = "application/json"
FORMATS = ("json", "csv", "xlsx")
MEDIA = {"csv": f"{CSV}; charset=utf-8", "xlsx": XLSX}
PARAMETER = "format"
STATE_KEY = "export"  # request.state.export: the format and plan chosen for this request
NOT_IN_NAME = {PARAMETER, "page_token"}  # query parameters left out of the file's name

TEXT, MONEY, NUMBER, INTEGER, BOOL, DAY, MOMENT, LIST, DATA = (
    "text", "money", "number", "integer", "bool", "day", "moment", "list", "json")
NUMERIC = {MONEY, NUMBER, INTEGER}
FORMAT_OF = {MONEY: xlsx.MONEY, INTEGER: xlsx.INTEGER}
MIN_WIDTH = {MONEY: 12, NUMBER: 10, DAY: 11, MOMENT: 19}
INJECTION = ("=", "+", "-", "@", "\t", "\r")
WORDS = {"sku": "SKU", "skus": "SKUs", "id": "ID", "ids": "IDs", "vat": "VAT", "cogs": "COGS", "rma": "RMA",
         "rmas": "RMAs", "url": "URL", "kpi": "KPI", "kpis": "KPIs", "po": "PO", "fifo": "FIFO"}
ROW_LISTS = ("rows", "lines", "items")  # the list a table is made of, when a model has several
DAY_NAMES = {"date", "day", "as_of", "valid_from", "valid_to", "date_from", "date_to", "period_from", "period_to"}
CENT = Decimal("0.01")
FIRST_EXCEL_YEAR = 1900  # Excel has no earlier dates
EXCEL_DIGITS = 10**15  # an integer beyond this loses digits as an Excel number: written as text


# -- the plan: what a response model becomes ------------------------------------------------------
@dataclass(frozen=True)
class Col:
    path: tuple[str, ...]  # keys into an item
    header: str
    kind: str
    keyed: bool = False  # a map: a column per key found in the data


@dataclass(frozen=True)
class Rows:
    """How one list of models becomes rows."""
    path: tuple[str, ...]  # the list, from the item above it (or the answer)
    title: str
    columns: tuple[Col, ...]
    child: Rows | None = None  # the list unfolded into the rows
    details: tuple[Rows, ...] = ()  # the other lists: sheets of their own


@dataclass(frozen=True)
class Plan:
    main: Rows
    others: tuple[Rows, ...]  # the answer's other lists
    summary: tuple[Col, ...]  # what the answer says besides its lists


def _words(names: tuple[str, ...]) -> str:
    words = [WORDS.get(w, w) for name in names for w in name.replace("-", "_").split("_") if w]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def _kind_of_name(name: str) -> str:
    if name.endswith("_at") or name == "at":
        return MOMENT
    if name.endswith(("_on", "_date")) or name in DAY_NAMES:
        return DAY
    return TEXT


def _is_model(t) -> bool:
    return isinstance(t, type) and issubclass(t, BaseModel)


def _shape(annotation, metadata=()) -> tuple[str, Any]:
    """("scalar", kind) | ("model", [models]) | ("models", [models]) | ("list", kind) | ("map", kind) | ("json", None)"""
    origin = get_origin(annotation)
    if origin is Annotated:
        base, *more = get_args(annotation)
        return _shape(base, (*metadata, *more))
    marked = next((m.kind for m in metadata if isinstance(m, ExportAs)), None)
    if origin in (Union, types.UnionType):
        members = [a for a in get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return _shape(members[0], metadata)
        if all(_is_model(m) for m in members):
            return "model", members
        return "scalar", marked or TEXT
    if origin is list:
        (item,) = get_args(annotation) or (Any,)
        inner = _shape(item)
        return {"model": ("models", inner[1]), "scalar": ("list", inner[1])}.get(inner[0], ("json", None))
    if origin is dict or annotation is dict:
        args = get_args(annotation)
        inner = _shape(args[1]) if len(args) == 2 else ("json", None)
        return ("map", inner[1]) if inner[0] == "scalar" else ("json", None)
    if _is_model(annotation):
        return "model", [annotation]
    if marked:
        return "scalar", marked
    simple = {bool: BOOL, int: INTEGER, float: NUMBER, Decimal: NUMBER, date: DAY, datetime: MOMENT, str: TEXT}
    return ("scalar", simple[annotation]) if annotation in simple else ("json", None)


def _flatten(models, path: tuple[str, ...], names: tuple[str, ...]) -> tuple[list[Col], list[Rows]]:
    """The columns of a model (its nested models' fields in place) and its lists of models."""
    columns: list[Col] = []
    lists: list[Rows] = []
    seen: set[tuple[str, ...]] = set()
    for model in models:  # a union's members: their fields together
        for name, info in model.model_fields.items():
            where, named = (*path, name), (*names, name)
            if where in seen:
                continue
            seen.add(where)
            shape, what = _shape(info.annotation, tuple(info.metadata))
            header = info.title or _words(named)
            if shape == "scalar":
                kind = _kind_of_name(name) if what == TEXT else what
                columns.append(Col(where, header, kind))
            elif shape == "model":
                more, nested = _flatten(what, where, named)
                columns += more
                lists += nested
            elif shape == "models":
                lists.append(_rows(what, where, named))
            elif shape == "list":
                columns.append(Col(where, header, LIST))
            elif shape == "map":
                columns.append(Col(where, header, what if what != TEXT else TEXT, keyed=True))
            else:
                columns.append(Col(where, header, DATA))
    return columns, lists


def _pick(lists: list[Rows], hint: str = "") -> int:
    """The list the rows are made of: the one `hint` (the path's last word) names, else rows or lines, else the first."""
    names = [r.path[-1] for r in lists]
    for wanted in (hint, *ROW_LISTS):
        if wanted in names:
            return names.index(wanted)
    return 0


def _rows(models, path: tuple[str, ...], names: tuple[str, ...]) -> Rows:
    columns, lists = _flatten(models, (), ())
    child = lists.pop(_pick(lists)) if lists else None
    return Rows(path=path, title=_words(names), columns=tuple(columns), child=child, details=tuple(lists))


def _own_query(route: APIRoute) -> bool:
    """The route has a `format` query parameter of its own (the export steps aside)."""
    stack = [route.dependant]
    while stack:
        dependant = stack.pop()
        if any(getattr(p, "alias", p.name) == PARAMETER for p in dependant.query_params):
            return True
        stack.extend(dependant.dependencies)
    return False


@cache
def _plan(model, hint: str) -> Plan | None:
    columns, lists = _flatten([model], (), ())
    if not lists:
        return None
    main = lists.pop(_pick(lists, hint))
    if main.path == ("rows",) and hint:  # a report's rows: the sheet is named after the report
        main = replace(main, title=_words((hint,)))
    return Plan(main=main, others=tuple(lists), summary=tuple(columns))


def plan_for(route) -> Plan | None:
    """How a route's answers are exported; None: the route offers no export (not a GET, no list of
    models in its answer, or a `format` parameter of its own)."""
    model = getattr(route, "response_model", None)
    if not isinstance(route, APIRoute) or "GET" not in route.methods or not _is_model(model) or _own_query(route):
        return None
    hint = next((p for p in reversed(route.path_format.split("/")) if p and not p.startswith("{")), "")
    return _plan(model, hint.replace("-", "_"))


def api_routes(routes) -> Iterator[APIRoute]:
    """Every APIRoute of an app, also inside included routers."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        inner = getattr(route, "original_router", None)  # FastAPI's included router
        if inner is not None:
            yield from api_routes(inner.routes)


# -- the data: JSON answer to typed tables ---------------------------------------------------------
def _get(item, path: tuple[str, ...]):
    for key in path:
        if not isinstance(item, dict):
            return None
        item = item.get(key)
    return item


def _temporal(value: str):
    """An ISO day as a date, an ISO time as a naive datetime on the merchant's clock; else the text."""
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return day if day.year >= FIRST_EXCEL_YEAR else value
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if moment.tzinfo is not None:
        moment = clock.local(moment).replace(tzinfo=None)
    return moment if moment.year >= FIRST_EXCEL_YEAR else value


def typed(kind: str, value):
    """A JSON value as what its column holds: Decimal, int, bool, date, datetime or text."""
    if value is None:
        return None
    try:
        if kind in (MONEY, NUMBER):
            number = Decimal(str(value))
            if not number.is_finite():
                return str(value)
            return number.quantize(CENT) if kind == MONEY else number
        if kind == INTEGER and isinstance(value, int) and not isinstance(value, bool):
            return value if abs(value) < EXCEL_DIGITS else str(value)
    except (InvalidOperation, ValueError):
        return str(value)
    if kind == BOOL and isinstance(value, bool):
        return value
    if kind in (DAY, MOMENT) and isinstance(value, str):
        return _temporal(value)
    if kind == LIST and isinstance(value, list):
        return ", ".join(v if isinstance(v, str) else json.dumps(v, ensure_ascii=False) for v in value)
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


@dataclass
class Table:
    title: str
    columns: list[Col]
    rows: list[list] = field(default_factory=list)
    lead: int = 0  # the columns of the listed items themselves (the rest: the lists unfolded)


def _concrete(columns, items: list) -> list[Col]:
    """A map's column becomes one column per key found in the items, in the order they come."""
    out: list[Col] = []
    for col in columns:
        if not col.keyed:
            out.append(col)
            continue
        keys: dict[str, None] = {}
        for item in items:
            value = _get(item, col.path)
            if isinstance(value, dict):
                keys.update(dict.fromkeys(map(str, value)))
        out += [Col((*col.path, k), f"{col.header} {k}", col.kind) for k in keys]
    return out


def _levels(rows: Rows) -> list[Rows]:
    out = [rows]
    while out[-1].child is not None:
        out.append(out[-1].child)  # type: ignore[arg-type]
    return out


def _chains(rows: Rows, items: list) -> list[tuple[int, list]]:
    """Each row as (the index of its item, the item of each level it unfolds; None below an item
    whose list is empty)."""
    depth = len(_levels(rows))
    out: list[tuple[int, list]] = []
    for i, item in enumerate(items):
        children = _get(item, rows.child.path) if rows.child is not None else None
        if rows.child is not None and isinstance(children, list) and children:
            out += [(i, [item, *sub]) for _, sub in _chains(rows.child, children)]
        else:
            out.append((i, [item, *([None] * (depth - 1))]))
    return out


def _distinct(items) -> list:
    seen, out = set(), []
    for item in items:
        if item is not None and id(item) not in seen:
            seen.add(id(item))
            out.append(item)
    return out


def _tables(rows: Rows, items: list, keys: list[Col], key_values: list[list]) -> list[Table]:
    """The table of `rows` over `items`, each row led by its item's `key_values` (in the `keys`
    columns), then the tables of the details of each level, keyed by the first column of each
    level above them."""
    levels = _levels(rows)
    chains = _chains(rows, items)
    per_level = [_concrete(level.columns, _distinct(c[n] for _, c in chains)) for n, level in enumerate(levels)]
    headers = {k.header for k in keys}
    columns = list(keys)
    for n, cols in enumerate(per_level):
        for m, col in enumerate(cols):
            if col.header in headers:  # named as a column before it: "SKU quantity"
                col = cols[m] = replace(col, header=_words((levels[n].path[-1].removesuffix("s"), *col.path)))
            headers.add(col.header)
            columns.append(col)
    table = Table(rows.title, columns, lead=len(keys) + len(per_level[0]))
    for i, chain in chains:
        row = list(key_values[i])
        for n, cols in enumerate(per_level):
            row += [None if chain[n] is None else typed(c.kind, _get(chain[n], c.path)) for c in cols]
        table.rows.append(row)
    out = [table]
    for n, level in enumerate(levels):
        if not level.details:
            continue
        firsts = [(m, per_level[m][0]) for m in range(n + 1) if per_level[m]]
        parents = list({id(c[n]): (i, c) for i, c in chains if c[n] is not None}.values())
        for detail in level.details:
            sub_items: list = []
            sub_values: list[list] = []
            for i, chain in parents:
                children = _get(chain[n], detail.path)
                if isinstance(children, list):
                    values = [*key_values[i], *(typed(col.kind, _get(chain[m], col.path)) for m, col in firsts)]
                    sub_items += children
                    sub_values += [values] * len(children)
            title = f"{level.title} {detail.title[:1].lower()}{detail.title[1:]}"
            out += _tables(replace(detail, title=title), sub_items, [*keys, *(c for _, c in firsts)], sub_values)
    return out


def _totals(plan: Plan, answer: dict, table: Table) -> list | None:
    """The answer's totals of the main table's numeric columns as its last row, or None."""
    own = {c.path[0]: i for i, c in enumerate(table.columns[:table.lead]) if len(c.path) == 1 and c.kind in NUMERIC}
    row: list = [None] * len(table.columns)
    found = False
    for col in plan.summary:
        name = col.path[-1] if col.path[:1] == ("total",) and len(col.path) == 2 else col.path[0]
        name = name.removeprefix("total_") if len(col.path) == 1 else name
        if col.kind in NUMERIC and name in own and _get(answer, col.path) is not None:
            row[own[name]] = typed(table.columns[own[name]].kind, _get(answer, col.path))
            found = True
    if not found:
        return None
    label = next((i for i, c in enumerate(table.columns) if c.kind == TEXT and row[i] is None), None)
    if label is not None:
        row[label] = "Total"
    return row


def tables(plan: Plan, answer: dict) -> tuple[list[Table], Table | None]:
    """The answer as tables: the main one (with its totals row) first, then its details and the
    answer's other lists; and the Summary of what the answer says besides (None if nothing)."""
    items = _get(answer, plan.main.path) or []
    out = _tables(plan.main, items, [], [[] for _ in items])
    total = _totals(plan, answer, out[0])
    if total is not None:
        out[0].rows.append(total)
    for other in plan.others:
        more = _get(answer, other.path) or []
        out += _tables(other, more, [], [[] for _ in more])
    summary_cols = _concrete(plan.summary, [answer])
    summary = None
    if summary_cols:
        summary = Table("Summary", [Col(("field",), "Field", TEXT), Col(("value",), "Value", TEXT)],
                        [[_header(c), typed(c.kind, _get(answer, c.path))] for c in summary_cols])
    return out, summary


# -- writing ---------------------------------------------------------------------------------------
def _header(col: Col) -> str:
    return f"{col.header} ({clock.zone().key})" if col.kind == MOMENT else col.header


def _xlsx_column(col: Col) -> xlsx.Column:
    header = _header(col)
    width = max(MIN_WIDTH.get(col.kind, 0), min(xlsx.MAX_WIDTH, xlsx.display_width(header) + 2))
    return xlsx.Column(header, width, FORMAT_OF.get(col.kind, ""))


def workbook(plan: Plan, answer: dict) -> bytes:
    found, summary = tables(plan, answer)
    sheets = [xlsx.Sheet(t.title, [_xlsx_column(c) for c in t.columns], t.rows) for t in found]
    if summary is not None:
        sheets.append(xlsx.Sheet(summary.title, [xlsx.Column("Field", 24), xlsx.Column("Value", 24)], summary.rows))
    return xlsx.workbook(sheets)


def csv_text(value) -> str:
    """A cell as CSV text; text that a spreadsheet would take for a formula gets a leading apostrophe."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, (date, int, Decimal)):
        return str(value)
    text = str(value)
    return "'" + text if text.startswith(INJECTION) else text


def csv_bytes(plan: Plan, answer: dict) -> bytes:
    """The main table as CSV: UTF-8 with a BOM, CRLF line ends, quoted where RFC 4180 needs it."""
    table = tables(plan, answer)[0][0]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([_header(c) for c in table.columns])
    writer.writerows([csv_text(v) for v in row] for row in table.rows)
    return ("\ufeff" + out.getvalue()).encode("utf-8")


# -- the request: which representation, and the answer rewritten -----------------------------------
@dataclass(frozen=True)
class Export:
    format: str
    plan: Plan
    filename: str  # ASCII
    written: str  # as the path and query say it (maybe not ASCII)


def _accepted(header: str) -> str | None:
    """The representation an Accept header prefers (RFC 9110 12.5.1: the most specific range
    naming a type gives its weight; equal weights go to the range named most exactly, then to JSON),
    or None when it admits none."""
    ranges = []
    for part in header.split(","):
        media, *params = [p.strip() for p in part.split(";")]
        if not media:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        ranges.append((media.lower(), q))
    if not ranges:
        return "json"
    best: tuple[float, int, int] | None = None
    choice = None
    for order, (fmt, media) in enumerate((("json", JSON), ("csv", CSV), ("xlsx", XLSX))):
        kind = media.split("/")[0]
        matches = [(3 if r == media else 2 if r == f"{kind}/*" else 1, q) for r, q in ranges
                   if r in (media, f"{kind}/*", "*/*")]
        if not matches:
            continue
        exactness, q = max(matches)
        score = (q, exactness, -order)
        if q > 0 and (best is None or score > best):
            best, choice = score, fmt
    return choice


def _filename(request: Request) -> tuple[str, str]:
    """The file's name from the path and the query's values (ASCII, and as the client wrote it)."""
    parts = [p for p in request.url.path.split("/") if p]
    parts += [v for k, v in request.query_params.multi_items() if k not in NOT_IN_NAME and v]
    full = re.sub(r'[\x00-\x1f\x7f/\\"]+', "-", "-".join(parts)).strip("-. ")[:150] or "export"
    ascii_ = re.sub(r"[^A-Za-z0-9._-]+", "-", full).strip("-.")[:150] or "export"
    return ascii_, full


async def negotiate(request: Request) -> None:
    """An app dependency: on a GET of an exporting route, which representation the client asked
    for (`format` first, then Accept); a CSV or workbook is noted for `Converter` to write."""
    if request.method != "GET":
        return
    plan = plan_for(request.scope.get("route"))
    if plan is None:
        return
    asked = request.query_params.getlist(PARAMETER)
    if asked:
        chosen = asked[-1]
        if len(set(asked)) > 1 or chosen not in FORMATS:
            raise Problem(422, "invalid-argument", "the request is invalid",
                          [{"field": f"query.{PARAMETER}", "message": f"expected one of {', '.join(FORMATS)}"}])
    else:
        accepted = _accepted(request.headers.get("accept", ""))
        if accepted is None:
            raise Problem(406, "not-acceptable", f"this operation answers {JSON}, {CSV} or {XLSX}: "
                                                 f"the Accept header admits none of them")
        chosen = accepted
    if chosen != "json":
        setattr(request.state, STATE_KEY, Export(chosen, plan, *_filename(request)))


def _disposition(export: Export) -> str:
    """RFC 6266: the ASCII name, and the name as written when that is not ASCII."""
    out = f'attachment; filename="{export.filename}.{export.format}"'
    if export.written != export.filename:
        out += f"; filename*=UTF-8''{quote(export.written)}.{export.format}"
    return out


class Converter:
    """Plain ASGI, inside the gateway's guard: the JSON answer of a request `negotiate` marked for
    export, rewritten as CSV or a workbook. Any other answer (a refusal included) passes as it is."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "GET":
            return await self.app(scope, receive, send)
        held: dict = {}
        chunks: list[bytes] = []

        async def converting(message):
            if message["type"] == "http.response.start":
                export = scope.get("state", {}).get(STATE_KEY)
                if export is not None and 200 <= message["status"] < 300:
                    held.update(message, export=export)
                    return
            elif held and message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if message.get("more_body"):
                    return
                return await self._send(held, b"".join(chunks), send)
            await send(message)
        await self.app(scope, receive, converting)

    @staticmethod
    async def _send(start: dict, body: bytes, send) -> None:
        export: Export = start["export"]
        answer = json.loads(body)
        write = workbook if export.format == "xlsx" else csv_bytes
        # in a worker thread, as the sync routes run: a workbook of a few thousand rows takes a CPU
        # second that the event loop would otherwise not serve other requests in
        data = await run_in_threadpool(write, export.plan, answer)
        headers = MutableHeaders(raw=[(k, v) for k, v in start.get("headers", [])
                                      if k.lower() not in (b"content-type", b"content-length")])
        headers["content-type"] = MEDIA[export.format]
        headers["content-length"] = str(len(data))
        headers["content-disposition"] = _disposition(export)
        token = answer.get("next_page_token") if isinstance(answer, dict) else None
        if isinstance(token, str) and token:
            headers["x-next-page-token"] = token
        await send({"type": "http.response.start", "status": start["status"], "headers": headers.raw})
        await send({"type": "http.response.body", "body": data})


# -- the OpenAPI document --------------------------------------------------------------------------
FORMAT_PARAMETER = {
    "name": PARAMETER, "in": "query", "required": False,
    "description": "json (the default), csv (UTF-8 with a BOM, the main table) or xlsx (a workbook: the tables "
                   "and a Summary sheet); the Accept header may ask for text/csv or the xlsx type instead",
    "schema": {"type": "string", "enum": list(FORMATS), "default": "json"}}


def exported_paths(routes) -> set[str]:
    """The paths whose GET offers the export."""
    return {r.path_format for r in api_routes(routes) if r.include_in_schema and plan_for(r) is not None}


def document(operation: dict) -> None:
    """An exporting GET in the OpenAPI document: its `format` parameter, and CSV and a workbook
    besides JSON as its success."""
    params = operation.setdefault("parameters", [])
    if not any(p.get("name") == PARAMETER and p.get("in") == "query" for p in params):
        params.append(FORMAT_PARAMETER)
    ok = operation.get("responses", {}).get("200")
    if ok is not None:
        ok.setdefault("content", {}).update({CSV: {"schema": {"type": "string"}},
                                             XLSX: {"schema": {"type": "string", "format": "binary"}}})
        ok["headers"] = {"Content-Disposition": {
            "description": "with CSV and xlsx: an attachment, and the file's name", "schema": {"type": "string"}}}
