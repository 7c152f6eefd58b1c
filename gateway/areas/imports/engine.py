"""An import, start to end, for the gateway's /imports and the CLI's `hub import` alike: read the
file row by row (hubkit.sheets), check every row (kinds.py), ask the owning service to check what
needs its data (a dry run inside its transaction), and apply only a file without a single problem.

Every kind is applied by its owning service as one command in one transaction (inventory's
ImportRows; procurement's, customer's, the order service's price lists and the shop connectors'
imports: hubkit.imports), whose id is
the kind and the file's content hash (hubkit.commands: the same file again answers the first reply
and changes nothing), and every row is an upsert by its natural key (an opening-stock place is
received once), so a row already as the file says is `unchanged`."""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from io import BytesIO
from typing import IO, Any

from gateway.areas.imports.kinds import KINDS, Kind, Problem, Row, check_kits, check_rows
from hubapi.customer.v1 import customer_service_pb2 as cus
from hubapi.inventory.v1 import inventory_service_pb2 as inv
from hubapi.order.v1 import order_service_pb2 as ordpb
from hubapi.procurement.v1 import procurement_service_pb2 as pro
from hubapi.shops.v1 import shop_service_pb2 as shp
from hubkit import money, xlsx
from hubkit.commands import COMMAND_KEY, REPLAY_ONLY_KEY
from hubkit.sheets import NOTES_SHEET, open_sheet

ERRORS_COLUMN = "errors"  # the report's added column; a corrected report can be sent back as it is
Progress = Callable[[str, int], None]  # (stage, rows so far)
DEADLINE_SECONDS = 300.0  # one inventory call checks or applies the whole file


@dataclass
class Outcome:
    kind: str
    dry_run: bool
    import_id: str
    rows: list[Row] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    applied: int = 0
    unchanged: int = 0
    replayed: bool = False  # the same file was imported before: nothing changed now

    def json(self) -> dict:
        return {"kind": self.kind, "dry_run": self.dry_run, "import_id": self.import_id, "rows": len(self.rows),
                "valid": not self.problems, "rows_with_errors": len({p.row for p in self.problems}),
                "errors": [p.json() for p in self.problems], "applied": self.applied, "unchanged": self.unchanged,
                "replayed": self.replayed}


def import_id(kind: str, digest: str) -> str:
    """The import's command id: its kind and content hash (64 hex characters, the commands table's key)."""
    return hashlib.sha256(f"import\n{kind}\n{digest}".encode()).hexdigest()


def read(kind: Kind, data: IO[bytes], problems: list[Problem], progress: Progress | None = None) -> list[Row]:
    """Every row of the file checked on its own (SheetError for a file that cannot be read)."""
    sheet = open_sheet(data, kind.name, kind.required, kind.known, ignored=(ERRORS_COLUMN,))
    tick = (lambda n: progress("checked", n)) if progress else None
    return list(check_rows(kind, sheet.rows, problems, tick))


def run(kind_name: str, data: IO[bytes], digest: str, stubs: Any, metadata: list[tuple[str, str]], dry_run: bool,
        progress: Progress | None = None) -> Outcome:
    """Check the file, then apply it when it has no problem and this is no dry run. `stubs`: the gRPC
    stubs (.inventory, .procurement, .customer, .order); `metadata`: who asks."""
    kind = KINDS[kind_name]
    outcome = Outcome(kind.name, dry_run, import_id(kind.name, digest))
    outcome.rows = read(kind, data, outcome.problems, progress)
    if kind.name == "price_lists":  # inventory owns the catalogue (the order service's copy may lag behind)
        skus = sorted({r.values["sku"] for r in outcome.rows if r.values.get("sku")})
        known = {s.code for s in stubs.inventory.GetSkus(inv.GetSkusRequest(codes=skus), metadata=metadata).skus} \
            if skus else set()
        outcome.problems += [Problem(r.number, "sku", "unknown_sku", f"{r.values['sku']} is not a known SKU")
                             for r in outcome.rows if r.values.get("sku") and r.values["sku"] not in known]
    if kind.name in ("skus", "channel_sku_mappings"):
        codes = sorted({c for r in outcome.rows for c, _ in r.values.get("components") or []})
        known = {s.code for s in stubs.inventory.GetSkus(inv.GetSkusRequest(codes=codes), metadata=metadata).skus} \
            if codes else set()
        if kind.name == "skus":
            check_kits(outcome.rows, outcome.problems, known)
        else:
            outcome.problems += [Problem(r.number, "components", "unknown_sku", f"{c} is not a known SKU")
                                 for r in outcome.rows for c, _ in r.values.get("components") or [] if c not in known]
    _apply(kind, outcome, _targets(kind, outcome, stubs), metadata, progress)
    outcome.problems.sort(key=lambda p: (p.row, p.column))
    return outcome


@dataclass
class _Target:
    """A service that applies the file's rows (for channel SKU mappings: one shop connector per platform)."""
    call: Any  # its import RPC: (request, metadata, timeout) -> hubapi ImportResult-like reply
    request: Callable[[bool], Any]  # its rows' request, a dry run or not
    command_id: str


def _targets(kind: Kind, outcome: Outcome, stubs: Any) -> list[_Target]:
    bad_rows = {p.row for p in outcome.problems}
    rows = [r for r in outcome.rows if r.number not in bad_rows]
    if not rows:
        return []
    if kind.owner == "inventory":
        items = [_inventory_row(kind, r) for r in rows]
        return [_Target(stubs.inventory.ImportRows, lambda dry: inv.ImportRowsRequest(rows=items, dry_run=dry),
                        outcome.import_id)]
    if kind.name == "suppliers":
        sups = [pro.ImportSupplierRow(row=r.number, supplier=pro.Supplier(code=r.values["code"], name=r.values["name"]))
                for r in rows]
        return [_Target(stubs.procurement.ImportSuppliers,
                        lambda dry: pro.ImportSuppliersRequest(rows=sups, dry_run=dry), outcome.import_id)]
    if kind.name == "customers":
        buyers = [cus.ImportCustomerRow(
            row=r.number, channel=r.values["channel"], external_id=r.values["external_id"],
            tier=r.values["tier"] or "standard", credit_limit=r.values["credit_limit"], name=r.values["name"],
            phone=r.values["phone"]) for r in rows]
        return [_Target(stubs.customer.ImportCustomers,
                        lambda dry: cus.ImportCustomersRequest(rows=buyers, dry_run=dry), outcome.import_id)]
    if kind.name == "price_lists":
        lines = [ordpb.ImportPriceListRow(
            row=r.number, header=ordpb.PriceList(**{k: r.values[k] for k in (
                "code", "name", "currency", "channel", "tier", "valid_from", "valid_to")}),
            line=ordpb.PriceListLine(sku=r.values["sku"], unit_price=money.to_proto(r.values["unit_price"]),
                                     min_quantity=r.values["min_quantity"])) for r in rows]
        return [_Target(stubs.order.ImportPriceLists,
                        lambda dry: ordpb.ImportPriceListsRequest(rows=lines, dry_run=dry), outcome.import_id)]
    by_platform: dict[str, list[shp.ImportSkuMappingRow]] = {}
    for r in rows:
        mapping = shp.MapSkuRequest(outer_sku=r.values["outer_sku"],
                                    components=[shp.Component(sku=c, quantity=q) for c, q in r.values["components"]])
        by_platform.setdefault(r.values["platform"], []).append(shp.ImportSkuMappingRow(row=r.number, mapping=mapping))
    return [_Target(stubs.shops[platform].ImportSkuMappings,
                    lambda dry, m=m: shp.ImportSkuMappingsRequest(rows=m, dry_run=dry),
                    hashlib.sha256(f"{outcome.import_id}\n{platform}".encode()).hexdigest())
            for platform, m in sorted(by_platform.items())]


def _apply(kind: Kind, outcome: Outcome, targets: list[_Target], metadata: list, progress: Progress | None) -> None:
    """Each owning service checks (dry run) or applies its rows in one transaction. Channel SKU
    mappings of several platforms are several connectors: every one checks first, then each applies."""
    def md(t: _Target) -> list:
        return [*metadata, (COMMAND_KEY, t.command_id)]
    if not outcome.dry_run and targets:
        firsts = [t.call(type(t.request(True))(), metadata=[*md(t), (REPLAY_ONLY_KEY, "1")]) for t in targets]
        if all(f.ByteSize() for f in firsts):  # this very file was applied before
            outcome.replayed, outcome.unchanged = True, sum(f.applied + f.unchanged for f in firsts)
            return
    if not targets:
        return
    bad_rows = bool(outcome.problems)
    if progress:
        progress("checking against the catalogue" if outcome.dry_run or bad_rows else "applying",
                 len(outcome.rows))
    # a file with problems of its own is still checked by the services, to report everything at once
    dry = outcome.dry_run or bad_rows
    stages = [True, False] if not dry and len(targets) > 1 else [dry]
    for stage in stages:
        replies = [t.call(t.request(stage), metadata=metadata if stage else md(t), timeout=DEADLINE_SECONDS)
                   for t in targets]
        outcome.problems += [Problem(e.row, e.column or kind.key[0], "refused", e.message)
                             for reply in replies for e in reply.errors]
        if outcome.problems:
            return
    if not dry:
        outcome.applied, outcome.unchanged = sum(r.applied for r in replies), sum(r.unchanged for r in replies)


def _inventory_row(kind: Kind, r: Row) -> inv.ImportRow:
    v = r.values
    if kind.name == "skus":
        return inv.ImportRow(row=r.number, sku=inv.Sku(
            code=v["code"], name=v["name"], base_unit=v["base_unit"], category=v["category"],
            lot_tracked=v["lot_tracked"], serial_tracked=v["serial_tracked"], costing=v["costing"],
            barcodes=v["barcodes"], components=[inv.KitComponent(sku=s, quantity=q) for s, q in v["components"]]))
    if kind.name == "warehouses":
        return inv.ImportRow(row=r.number, warehouse=inv.Warehouse(**v))
    if kind.name == "bins":
        return inv.ImportRow(row=r.number, bins=inv.AddBinsRequest(warehouse=v["warehouse"], codes=[v["bin"]]))
    if kind.name == "stock_limits":
        return inv.ImportRow(row=r.number, limits=inv.SetStockLimitsRequest(**v))
    return inv.ImportRow(row=r.number, receipt=inv.ReceiveStockRequest(
        sku=v["sku"], warehouse=v["warehouse"], quantity=v["quantity"], unit_cost=v["unit_cost"], reason="opening",
        bin=v["bin"], lot=v["lot"], expires_on=v["expires_on"], serials=v["serials"]))


# -- templates and reports ------------------------------------------------------------------
def template_xlsx(kind_name: str) -> bytes:
    """The kind's sheet (header and an example row to replace) and a notes sheet describing each column."""
    kind = KINDS[kind_name]
    notes = [[c.name, "yes" if c.required else "no", c.type, c.description, c.example] for c in kind.columns]
    return xlsx.table(kind.name, [(c.name, max(14, len(c.name) + 4)) for c in kind.columns],
                      [[c.example for c in kind.columns]],
                      extra=((NOTES_SHEET, [("column", 16), ("required", 10), ("type", 12), ("what it means", 70),
                                            ("example", 24)], notes),))


def template_csv(kind_name: str) -> bytes:
    """The header, a notes row (its first cell starts with #: never read as data) and an example row."""
    import csv
    import io
    kind, out = KINDS[kind_name], io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow([c.name for c in kind.columns])
    w.writerow([("# " if i == 0 else "") + ("required: " if c.required else "") + c.description
                for i, c in enumerate(kind.columns)])
    w.writerow([c.example for c in kind.columns])
    return out.getvalue().encode("utf-8-sig")  # the BOM: Excel opens it as UTF-8


def report_xlsx(outcome: Outcome) -> bytes:
    """The sheet back, row by row as read, with an errors column (a red cell per problem's column)."""
    kind = KINDS[outcome.kind]
    by_row: dict[int, list[Problem]] = {}
    for p in outcome.problems:
        by_row.setdefault(p.row, []).append(p)
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font, PatternFill
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(kind.name)
    names = kind.known
    red, bold = PatternFill("solid", fgColor="F8CBAD"), Font(bold=True)
    header = []
    for name in [*names, ERRORS_COLUMN]:
        cell = WriteOnlyCell(ws, value=name)
        cell.font = bold
        header.append(cell)
    ws.append(header)
    for r in outcome.rows:
        problems = by_row.get(r.number, [])
        wrong = {p.column for p in problems}
        cells = []
        for name in names:
            value = r.raw.get(name)
            cell = WriteOnlyCell(ws, value=value if not isinstance(value, str) or not value.startswith("=")
                                 else "'" + value)
            if name in wrong:
                cell.fill = red
            cells.append(cell)
        cells.append(WriteOnlyCell(ws, value="; ".join(f"row {p.row} {p.column}: {p.message}" for p in problems)))
        ws.append(cells)
    buf = BytesIO()
    wb.save(buf)
    return buf.getvalue()
