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

from contracts import SkuChanged
from hubkit import clock
from hubkit.db import UnitOfWork
from hubkit.errors import HubError
from hubkit.sql import chunks
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
    known = _sku_states(s, [r["sku"]["code"] for r in rows if "sku" in r])
    whole = s.begin_nested()
    refused: dict[str, int] = {}  # SKU code -> its refused row: a kit of it is refused for that reason
    new = {}
    for row in rows:  # SKUs not in the catalogue yet, each code once: checked together, written in bulk
        if "sku" in row and row["sku"]["code"] not in known and row["sku"]["code"] not in new:
            new[row["sku"]["code"]] = row
    outcome.applied += _insert_new_skus(uow, list(new.values()), outcome, refused, dry_run)
    for row in ordered:
        if "sku" in row and new.get(row["sku"]["code"]) is row:
            continue
        parts = [c for c, _ in row.get("sku", {}).get("components") or [] if c in refused]
        if parts:
            outcome.errors += [(row["row"], "components", f"component {c} is refused on row {refused[c]}")
                               for c in parts]
            continue
        if "sku" in row and known.get(row["sku"]["code"]) == _intended(row["sku"], known.get(row["sku"]["code"])):
            outcome.unchanged += 1  # already as the file says: not even written again
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


def _insert_new_skus(uow: UnitOfWork, rows: list[dict], outcome: Outcome, refused: dict[str, int],
                     dry_run: bool) -> int:
    """New SKUs, each checked as upsert_sku checks one (its fields, its barcodes against the catalogue
    and the file's rows before it, its components known or new and not refused), then the good ones
    written together: a few statements for the file instead of ten a row. Returns how many."""
    s = uow.session
    good: list[dict] = []
    for row in rows:
        k = row["sku"]
        errors = catalog.sku_errors(k["code"], k["name"], k.get("base_unit", ""), k.get("category", ""),
                                    k.get("costing", ""), k.get("barcodes") or [], k.get("components") or [])
        for f in errors.items:
            outcome.errors.append((row["row"], _column(f["field"]), f["message"]))
        if errors.items:
            refused[k["code"]] = row["row"]
        else:
            good.append(row)
    wanted = [b for r in good for b in r["sku"].get("barcodes") or []]
    owner: dict[str, str] = {}
    for chunk in chunks(wanted):
        owner.update(s.execute(select(barcodes.c.code, barcodes.c.sku).where(barcodes.c.code.in_(chunk))).all())
    first_row: dict[str, int] = {}
    checked = []
    for row in good:
        k = row["sku"]
        taken = [f"{b} names {owner[b]}" for b in k.get("barcodes") or [] if b in owner]
        taken += [f"{b} is on row {first_row[b]}" for b in k.get("barcodes") or [] if b in first_row]
        if taken:
            outcome.errors += [(row["row"], "barcodes", message) for message in taken]
            refused[k["code"]] = row["row"]
            continue
        first_row.update({b: row["row"] for b in k.get("barcodes") or []})
        checked.append(row)
    parts = {c for r in checked for c, _ in r["sku"].get("components") or []}
    known_parts = {c for chunk in chunks(sorted(parts))
                   for c in s.execute(select(skus.c.code).where(skus.c.code.in_(chunk))).scalars()}
    ok = {r["sku"]["code"] for r in checked}
    written = []
    for row in checked:
        problems = [f"component {c} is refused on row {refused[c]}" if c in refused else f"unknown {c}"
                    for c, _ in row["sku"].get("components") or [] if c not in known_parts and c not in ok]
        if problems:  # a kit's component refused makes the kit refused (the file is refused whole anyway)
            outcome.errors += [(row["row"], "components", p) for p in problems]
        else:
            written.append(row["sku"])
    if not written:
        return 0
    now = clock.now()
    s.execute(skus.insert(), [dict(code=k["code"], name=k["name"], base_unit=k.get("base_unit") or "pcs",
                                   category=k.get("category", ""), lot_tracked=k.get("lot_tracked", False),
                                   serial_tracked=k.get("serial_tracked", False), costing=k.get("costing") or "fifo",
                                   created_by=uow.actor, created_at=now) for k in written])
    codes = [dict(code=b, sku=k["code"]) for k in written for b in dict.fromkeys(k.get("barcodes") or [])]
    if codes:
        s.execute(barcodes.insert(), codes)
    kits = [dict(kit_sku=k["code"], component_sku=c, quantity=q) for k in written for c, q in k.get("components") or []]
    if kits:
        s.execute(kit_components.insert(), kits)
    for k in written if not dry_run else ():  # as upsert_sku announces a new SKU (a dry run is undone)
        uow.emit(SkuChanged(sku=k["code"], category=k.get("category", ""), changed_at=now), k["code"])
    return len(written)


def _column(service_field: str) -> str:
    """The service's field ("sku.barcodes[1]", "warehouse.code") as the file's column."""
    name = service_field.split(".", 1)[-1] if "." in service_field else service_field
    return name.split("[", 1)[0]


def _apply_row(uow: UnitOfWork, row: dict) -> bool:
    s = uow.session
    if "sku" in row:  # a SKU as it is already was skipped by apply()
        k = row["sku"]
        catalog.upsert_sku(uow, k["code"], k["name"], k.get("base_unit", ""), k.get("category", ""),
                           k.get("lot_tracked", False), k.get("serial_tracked", False), k.get("costing", ""),
                           k.get("barcodes") or [], k.get("components") or [])
        return True
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


def _intended(k: dict, now: tuple | None) -> tuple:
    """A SKU row as _sku_states() reads one back: barcodes and components, when given, replace the
    old ones (`now`), else they stay."""
    barcode_list = tuple(sorted(k.get("barcodes") or [])) or (now[1] if now else ())
    parts = tuple(sorted(tuple(c) for c in k.get("components") or [])) or (now[2] if now else ())
    return ((k["name"], k.get("base_unit") or "pcs", k.get("category", ""), k.get("lot_tracked", False),
             k.get("serial_tracked", False), k.get("costing") or "fifo"), barcode_list, parts)


def _sku_states(s, codes: list[str]) -> dict[str, tuple]:
    """The SKUs of a file as they are, in three queries for the whole file."""
    states: dict[str, tuple] = {}
    for chunk in chunks(codes):
        rows = s.execute(select(skus.c.code, skus.c.name, skus.c.base_unit, skus.c.category, skus.c.lot_tracked,
                                skus.c.serial_tracked, skus.c.costing).where(skus.c.code.in_(chunk))).all()
        codes_of: dict[str, list[str]] = {}
        for sku, code in s.execute(select(barcodes.c.sku, barcodes.c.code).where(barcodes.c.sku.in_(chunk))):
            codes_of.setdefault(sku, []).append(code)
        parts_of: dict[str, list[tuple]] = {}
        for kit, part, qty in s.execute(select(kit_components.c.kit_sku, kit_components.c.component_sku,
                                               kit_components.c.quantity).where(kit_components.c.kit_sku.in_(chunk))):
            parts_of.setdefault(kit, []).append((part, qty))
        for r in rows:
            states[r.code] = (tuple(r)[1:], tuple(sorted(codes_of.get(r.code, []))),
                              tuple(sorted(parts_of.get(r.code, []))))
    return states
