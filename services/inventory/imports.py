"""A merchant's file moving in (the gateway's /imports): SKUs, warehouses and bins, opening stock and
stock limits, applied by the same catalogue and stock operations as one request each, but every row
in ONE transaction: each row runs in its own savepoint so that every refusal is reported with its
row, and the whole import is undone if any row was refused (or it was a dry run). So a file is
applied whole or not at all, and what the service would refuse is found before anything changes.

Idempotent per row: SKUs, warehouses, bins and limits are upserts by their code; an opening-stock
row carries its natural key (SKU, warehouse, bin, lot) as the receipt's reference, and a place that
has had its opening stock from an import is left alone (`unchanged`)."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from sqlalchemy import exists, select

from hubkit.db import UnitOfWork
from hubkit.errors import HubError
from services.inventory import catalog, movements
from services.inventory.models import barcodes, kit_components, skus, stock_limits, stock_movements, warehouses

OPENING_PREFIX = "opening-import:"


@dataclass
class Outcome:
    errors: list[tuple[int, str, str]] = field(default_factory=list)  # (row, column, message)
    applied: int = 0
    unchanged: int = 0


def opening_reference(sku: str, warehouse: str, bin_code: str, lot: str) -> str:
    """The receipt reference that names an opening-stock row's place (its natural key) in 128 characters."""
    key = "\x1f".join((sku, warehouse, bin_code, lot))
    return OPENING_PREFIX + hashlib.sha256(key.encode()).hexdigest()[:40]


def apply(uow: UnitOfWork, rows: list[dict], dry_run: bool) -> Outcome:
    """`rows`: {"row": n, and one of "sku", "warehouse", "bins", "receipt", "limits": the operation's
    arguments}. Plain SKUs before kits (a kit's components may be in the same file)."""
    outcome, s = Outcome(), uow.session
    ordered = sorted(rows, key=lambda r: bool(r.get("sku", {}).get("components")))
    whole = s.begin_nested()
    refused: dict[str, int] = {}  # SKU code -> its refused row: a kit of it is refused for that reason
    for row in ordered:
        parts = [c for c, _ in row.get("sku", {}).get("components") or [] if c in refused]
        if parts:
            outcome.errors += [(row["row"], "components", f"component {c} is refused on row {refused[c]}")
                               for c in parts]
            continue
        step = s.begin_nested()
        try:
            changed = _apply_row(uow, row)
        except HubError as exc:
            step.rollback()
            if "sku" in row:
                refused[row["sku"]["code"]] = row["row"]
            fields = exc.fields or [{"field": "", "message": exc.message}]
            for f in fields:
                outcome.errors.append((row["row"], _column(f["field"]), f["message"]))
            continue
        step.commit()
        if changed:
            outcome.applied += 1
        else:
            outcome.unchanged += 1
    if dry_run or outcome.errors:
        whole.rollback()
        uow.forget()  # what the rows gathered to announce (stock_changed) was undone with them
    else:
        whole.commit()
    outcome.errors.sort()
    return outcome


def _column(service_field: str) -> str:
    """The service's field ("sku.barcodes[1]", "warehouse.code") as the file's column."""
    name = service_field.split(".", 1)[-1] if "." in service_field else service_field
    return name.split("[", 1)[0]


def _apply_row(uow: UnitOfWork, row: dict) -> bool:
    s = uow.session
    if "sku" in row:
        k = row["sku"]
        before = _sku_state(s, k["code"])
        catalog.upsert_sku(uow, k["code"], k["name"], k.get("base_unit", ""), k.get("category", ""),
                           k.get("lot_tracked", False), k.get("serial_tracked", False), k.get("costing", ""),
                           k.get("barcodes") or [], k.get("components") or [])
        return _sku_state(s, k["code"]) != before
    if "warehouse" in row:
        w = row["warehouse"]
        before = s.execute(select(warehouses.c.name, warehouses.c.priority, warehouses.c.region,
                                  warehouses.c.address).where(warehouses.c.code == w["code"])).first()
        catalog.upsert_warehouse(uow, w["code"], w["name"], w.get("priority", 100), w.get("region", ""),
                                 w.get("address", ""))
        return before is None or tuple(before) != (w["name"], w.get("priority", 100), w.get("region", ""),
                                                   w.get("address", ""))
    if "bins" in row:
        b = row["bins"]
        return catalog.add_bins(uow, b["warehouse"], b["codes"]) > 0
    if "limits" in row:
        lim = row["limits"]
        before = s.execute(select(stock_limits.c.minimum, stock_limits.c.maximum).where(
            stock_limits.c.sku == lim["sku"], stock_limits.c.warehouse == lim["warehouse"])).first()
        if before is not None and tuple(before) == (lim["minimum"], lim["maximum"]):
            return False
        catalog.set_limits(uow, lim["sku"], lim["warehouse"], lim["minimum"], lim["maximum"])
        return True
    r = row["receipt"]
    reference = opening_reference(r["sku"], r["warehouse"], r.get("bin", ""), r.get("lot", ""))
    if s.execute(select(exists().where(stock_movements.c.reference == reference))).scalar():
        return False  # this place's opening stock came in by an earlier import
    movements.receive_stock(uow, r["sku"], r["warehouse"], r["quantity"], r["unit_cost"], "opening", reference,
                            r.get("bin", ""), r.get("lot", ""), r.get("expires_on", ""), r.get("serials") or [])
    return True


def _sku_state(s, code: str) -> tuple | None:
    row = s.execute(select(skus.c.name, skus.c.base_unit, skus.c.category, skus.c.lot_tracked, skus.c.serial_tracked,
                           skus.c.costing).where(skus.c.code == code)).first()
    if row is None:
        return None
    codes = sorted(s.execute(select(barcodes.c.code).where(barcodes.c.sku == code)).scalars())
    parts = sorted(s.execute(select(kit_components.c.component_sku, kit_components.c.quantity)
                             .where(kit_components.c.kit_sku == code)).all())
    return (tuple(row), tuple(codes), tuple(map(tuple, parts)))
