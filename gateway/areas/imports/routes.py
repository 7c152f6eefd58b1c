"""Imports: a merchant's spreadsheets (xlsx or CSV) of SKUs, warehouses, bins, opening stock, stock
limits, suppliers and customers, checked row by row (a dry run answers every problem with its row
and column, as JSON or as the sheet back with an errors column) and applied whole or not at all.
The upload streams to a spooled temporary file (memory up to 1 MiB, then disk), hashed as it comes;
a file above HUB_IMPORT_MAX_BYTES is refused with 413 as soon as that is known."""
from __future__ import annotations

import hashlib
import tempfile
from typing import Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from python_multipart.multipart import MultipartParser, parse_options_header

from gateway.areas.imports import engine
from gateway.areas.imports.schemas import ImportReport
from gateway.common.access import CATALOG, CUSTOMERS, PURCHASING, SALES, STOCK_KEEPING, allowed
from gateway.errors import Problem
from hubkit.sheets import SheetError

router = APIRouter(tags=["imports"])

KindName = Literal["skus", "warehouses", "bins", "opening_stock", "stock_limits", "suppliers", "customers",
                   "channel_sku_mappings", "price_lists"]
ROLES = {"skus": CATALOG, "warehouses": CATALOG, "bins": CATALOG, "opening_stock": STOCK_KEEPING,
         "stock_limits": STOCK_KEEPING, "suppliers": PURCHASING, "customers": CUSTOMERS,
         "channel_sku_mappings": CATALOG, "price_lists": SALES}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
IMPORT_PREFIX = "/imports/"
SPOOL_BYTES = 1 << 20


def _attachment(data: bytes, media_type: str, filename: str) -> Response:
    return Response(data, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@router.get("/imports/{kind}/template.xlsx", response_class=Response,
            responses={200: {"content": {XLSX: {}}, "description": "the kind's workbook: its sheet and a notes sheet"}})
def template_xlsx(kind: KindName, md=allowed(frozenset().union(*ROLES.values()))):
    return _attachment(engine.template_xlsx(kind), XLSX, f"{kind}-template.xlsx")


@router.get("/imports/{kind}/template.csv", response_class=Response,
            responses={200: {"content": {"text/csv": {}}, "description": "header, notes row (#), example row"}})
def template_csv(kind: KindName, md=allowed(frozenset().union(*ROLES.values()))):
    return _attachment(engine.template_csv(kind), "text/csv; charset=utf-8", f"{kind}-template.csv")


def _too_large(limit: int) -> Problem:
    return Problem(413, "payload-too-large", f"the file is larger than {limit} bytes (HUB_IMPORT_MAX_BYTES)")


async def _spool(request: Request, limit: int):
    """The uploaded file (a multipart form's first file part, or the whole body) in a spooled
    temporary file, and its SHA-256; 413 once more than `limit` bytes arrived."""
    spool, digest, size = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES), hashlib.sha256(), 0
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    parts: list[int] = []  # file parts seen: only the first one is kept

    def on_data(data: bytes, start: int, end: int) -> None:
        nonlocal size
        if len(parts) == 1:
            chunk = data[start:end]
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            spool.write(chunk)
            digest.update(chunk)

    def on_part_begin() -> None:
        parts.append(1)

    parser = None
    if content_type == b"multipart/form-data":
        boundary = params.get(b"boundary")
        if not boundary:
            raise Problem(400, "bad-upload", "a multipart body needs its boundary")
        parser = MultipartParser(boundary, {"on_part_begin": on_part_begin, "on_part_data": on_data})
    else:
        parts.append(1)
    try:
        async for chunk in request.stream():
            if parser is not None:
                parser.write(chunk)
            else:
                on_data(chunk, 0, len(chunk))
        if parser is not None:
            parser.finalize()
    except Problem:
        spool.close()
        raise
    except Exception as exc:  # python-multipart's errors: a malformed form
        spool.close()
        raise Problem(400, "bad-upload", f"the multipart body cannot be read: {exc}") from None
    if size == 0:
        spool.close()
        raise Problem(422, "not-a-spreadsheet", "no file was sent: upload an xlsx or CSV file",
                      [{"field": "file", "message": "empty"}])
    spool.seek(0)
    return spool, digest.hexdigest()


@router.post("/imports/{kind}", response_model=ImportReport,
             responses={200: {"content": {XLSX: {}}, "description": "with report=xlsx: the sheet back with an "
                                                                   "errors column"},
                        415: {"description": "not a spreadsheet"}},
             openapi_extra={"requestBody": {"content": {
                 "multipart/form-data": {"schema": {"type": "object", "properties": {
                     "file": {"type": "string", "format": "binary"}}}},
                 XLSX: {"schema": {"type": "string", "format": "binary"}},
                 "text/csv": {"schema": {"type": "string"}}}}})
async def import_file(kind: KindName, request: Request,
                      dry_run: bool = Query(False, description="check only: every problem with its row, nothing "
                                                               "changes"),
                      report: Literal["json", "xlsx"] = Query("json", description="xlsx: the sheet back with an "
                                                                                  "errors column")):
    """Check a file of `kind` row by row and, unless it is a dry run, apply it whole: any problem and
    nothing is written (422 with every problem). The same file again changes nothing."""
    md = await allowed(ROLES[kind]).dependency(request)
    settings = request.app.state.imports
    spool, digest = await _spool(request, settings["max_bytes"])
    try:
        outcome = await run_in_threadpool(_run, kind, spool, digest, request.app.state.clients, md, dry_run,
                                          settings["max_rows"])
    finally:
        spool.close()
    if report == "xlsx":
        return _attachment(engine.report_xlsx(outcome), XLSX, f"{kind}-report.xlsx")
    body = outcome.json()
    if outcome.problems and not dry_run:
        raise Problem(422, "import-refused", f"{body['rows_with_errors']} row(s) of {body['rows']} have problems: "
                      "nothing was imported",
                      [{"field": f"rows[{p.row}].{p.column}", "message": f"{p.code}: {p.message}"}
                       for p in outcome.problems[:1000]])
    return body


def _run(kind, spool, digest, clients, md, dry_run, max_rows):
    def progress(stage: str, n: int) -> None:
        if n > max_rows:
            raise SheetError("too-many-rows", f"more than {max_rows} rows (HUB_IMPORT_MAX_ROWS): split the file")
    try:
        return engine.run(kind, spool, digest, clients, md, dry_run, progress)
    except SheetError as exc:
        status = 415 if exc.kind == "not-a-spreadsheet" else 413 if exc.kind == "too-many-rows" else 422
        raise Problem(status, exc.kind, exc.message, exc.problems or None) from None
