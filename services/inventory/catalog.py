"""What stock is and where it can be: SKUs (barcodes, units, tracking, costing, kits),
warehouses, bins and stock limits; and what a scanned code names."""
from __future__ import annotations

from sqlalchemy import bindparam, delete, func, literal_column, select, union_all, update

from contracts import SkuChanged
from hubkit import clock
from hubkit.db import Database, UnitOfWork, dialect_insert
from hubkit.errors import Conflict, FieldErrors, NotFound
from services.inventory import allocation, domain, signals, stock
from services.inventory.models import (
    allocation_coverage,
    barcodes,
    bins,
    kit_components,
    lots,
    serials,
    shop_warehouses,
    skus,
    stock_levels,
    stock_limits,
    warehouses,
)


def upsert_sku(uow: UnitOfWork, code: str, name: str, base_unit: str = "", category: str = "",
               lot_tracked: bool = False, serial_tracked: bool = False, costing: str = "",
               barcode_list: list[str] | None = None, components: list[tuple[str, int]] | None = None) -> bool:
    """Create or update a SKU. Barcodes and kit components, when given, replace the old ones;
    tracking and costing cannot change while the SKU has stock. A new SKU, or a new category, is
    announced (sku_changed) for the order service's review facts."""
    sku_errors(code, name, base_unit, category, costing, barcode_list, components).raise_if_any("the SKU is invalid")
    base_unit, costing = base_unit or "pcs", costing or "fifo"
    s = uow.session
    values = dict(name=name, base_unit=base_unit, category=category, lot_tracked=lot_tracked,
                  serial_tracked=serial_tracked, costing=costing)
    old = s.execute(select(skus).where(skus.c.code == code)).first()
    if old is None:
        s.execute(skus.insert().values(code=code, created_by=uow.actor, created_at=clock.now(), **values))
    else:
        changes_stock_rules = (old.lot_tracked, old.serial_tracked, old.costing) != (lot_tracked, serial_tracked,
                                                                                      costing)
        if changes_stock_rules and s.execute(select(func.sum(stock_levels.c.on_hand + stock_levels.c.in_transit))
                                             .where(stock_levels.c.sku == code)).scalar():
            raise Conflict(f"{code} has stock: its tracking and costing cannot change now",
                           [{"field": "sku.costing", "message": "fixed while the SKU has stock"}])
        s.execute(update(skus).where(skus.c.code == code).values(**values))
    if old is None or old.category != category:
        uow.emit(SkuChanged(sku=code, category=category, changed_at=clock.now()), code)
    if barcode_list:
        _set_barcodes(s, code, barcode_list)
    if components:
        _set_components(s, code, components)
    return old is None


def sku_errors(code: str, name: str, base_unit: str = "", category: str = "", costing: str = "",
               barcode_list: list[str] | None = None, components: list[tuple[str, int]] | None = None) -> FieldErrors:
    """What is wrong with a SKU as given, before the catalogue is asked (upsert_sku, imports)."""
    errors = FieldErrors()
    domain.check_code(errors, "sku.code", code)
    if not name or len(name) > 200:
        errors.add("sku.name", "required, at most 200 characters")
    base_unit, costing = base_unit or "pcs", costing or "fifo"
    if len(base_unit) > 16:
        errors.add("sku.base_unit", "at most 16 characters")
    if len(category) > 64:
        errors.add("sku.category", "at most 64 characters")
    if costing not in domain.COSTING_METHODS:
        errors.add("sku.costing", f"one of {', '.join(domain.COSTING_METHODS)}")
    for i, barcode in enumerate(barcode_list or []):
        domain.check_code(errors, f"sku.barcodes[{i}]", barcode)
    for i, (component, quantity) in enumerate(components or []):
        domain.check_code(errors, f"sku.components[{i}].sku", component)
        domain.check_quantity(errors, f"sku.components[{i}].quantity", quantity)
        if component == code:
            errors.add(f"sku.components[{i}].sku", "a kit cannot contain itself")
    return errors


def _set_barcodes(s, code: str, barcode_list: list[str]) -> None:
    taken = s.execute(select(barcodes).where(barcodes.c.code.in_(barcode_list), barcodes.c.sku != code)).all()
    if taken:
        raise Conflict(f"barcode {taken[0].code} already names {taken[0].sku}",
                       [{"field": "sku.barcodes", "message": f"{b.code} names {b.sku}"} for b in taken])
    s.execute(delete(barcodes).where(barcodes.c.sku == code))
    for barcode in dict.fromkeys(barcode_list):
        s.execute(barcodes.insert().values(code=barcode, sku=code))


def _set_components(s, code: str, components: list[tuple[str, int]]) -> None:
    names = {c for c, _ in components}
    known = set(s.execute(select(skus.c.code).where(skus.c.code.in_(names))).scalars())
    if names - known:
        raise NotFound(f"unknown component SKU(s) {sorted(names - known)}",
                       [{"field": "sku.components", "message": f"unknown {c}"} for c in sorted(names - known)])
    s.execute(delete(kit_components).where(kit_components.c.kit_sku == code))
    for component, quantity in components:
        s.execute(kit_components.insert().values(kit_sku=code, component_sku=component, quantity=quantity))


def upsert_warehouse(uow: UnitOfWork, code: str, name: str, priority: int, region: str = "",
                     address: str = "") -> bool:
    errors = FieldErrors()
    domain.check_code(errors, "warehouse.code", code, 32)
    if not name or len(name) > 200:
        errors.add("warehouse.name", "required, at most 200 characters")
    if not 0 <= priority <= 10_000:
        errors.add("warehouse.priority", "must be from 0 to 10000")
    if len(region) > 64:
        errors.add("warehouse.region", "at most 64 characters")
    if len(address) > 300:
        errors.add("warehouse.address", "at most 300 characters")
    errors.raise_if_any("the warehouse is invalid")
    s, values = uow.session, dict(name=name, priority=priority, region=region, address=address)
    created = s.execute(dialect_insert(s, warehouses).values(code=code, created_by=uow.actor, created_at=clock.now(),
                                                             **values)
                        .on_conflict_do_nothing()).rowcount
    if created:  # every warehouse has its unnamed bin, so a count can freeze it too
        s.execute(bins.insert().values(warehouse=code, code=""))
    else:
        s.execute(update(warehouses).where(warehouses.c.code == code).values(**values))
    return bool(created)


def add_bins(uow: UnitOfWork, warehouse: str, codes: list[str]) -> int:
    errors = FieldErrors()
    if not codes:
        errors.add("codes", "name at least one bin")
    for i, code in enumerate(codes):
        domain.check_code(errors, f"codes[{i}]", code, 32)
    errors.raise_if_any("the bins are invalid")
    s = uow.session
    require_warehouse(s, warehouse)
    added = 0
    for code in dict.fromkeys(codes):
        added += s.execute(dialect_insert(s, bins).values(warehouse=warehouse, code=code)
                           .on_conflict_do_nothing()).rowcount
    return added


def set_limits(uow: UnitOfWork, sku: str, warehouse: str, minimum: int, maximum: int) -> None:
    """A SKU's minimum and maximum in a warehouse, evaluated at once: where available is already at or
    below the new minimum (a SKU at zero stock too), low_stock goes out in this transaction, without
    waiting for a stock movement."""
    errors = FieldErrors()
    domain.check_quantity(errors, "minimum", minimum, allow_zero=True)
    domain.check_quantity(errors, "maximum", maximum, allow_zero=True)
    if not errors.items and maximum < minimum:
        errors.add("maximum", "must be at least the minimum")
    errors.raise_if_any("the stock limits are invalid")
    s = uow.session
    sku_row(s, sku)
    require_warehouse(s, warehouse)
    s.execute(dialect_insert(s, stock_limits).values(sku=sku, warehouse=warehouse, minimum=minimum, maximum=maximum,
                                                     signalled=False)
              .on_conflict_do_update(index_elements=["sku", "warehouse"],
                                     set_={"minimum": minimum, "maximum": maximum, "signalled": False}))
    signals.check_minimum(uow, sku, warehouse)


_SKU = select(skus).where(skus.c.code == bindparam("p_code"))  # built once: every shipment line reads it


def sku_row(s, code: str, field: str = "sku"):
    row = s.execute(_SKU, {"p_code": code}).first()
    if row is None:
        raise NotFound(f"unknown SKU {code!r}", [{"field": field, "message": "unknown SKU"}])
    return row


def require_warehouse(s, code: str, field: str = "warehouse") -> None:
    if s.execute(select(warehouses.c.code).where(warehouses.c.code == code)).first() is None:
        raise NotFound(f"unknown warehouse {code!r}", [{"field": field, "message": "unknown warehouse"}])


def components_of(s, kit_sku: str) -> list[tuple[str, int]]:
    return [(r.component_sku, r.quantity) for r in s.execute(
        select(kit_components).where(kit_components.c.kit_sku == kit_sku).order_by(kit_components.c.component_sku))]


def known_skus(db: Database, codes: list[str]) -> list[dict]:
    """The known ones among `codes`, with how they are tracked and costed."""
    with db.reader() as s:
        return [dict(r._mapping) for r in s.execute(
            select(skus.c.code, skus.c.name, skus.c.base_unit, skus.c.category, skus.c.lot_tracked,
                   skus.c.serial_tracked, skus.c.costing).where(skus.c.code.in_(set(codes)))).all()]


def get_stock(db: Database, sku: str, warehouse: str = "") -> list[dict]:
    with db.reader() as s:
        sku_row(s, sku)
        if warehouse:
            require_warehouse(s, warehouse)
            return [stock.level(s, sku, warehouse)]
        return [stock.level_dict(r) for r in s.execute(select(stock_levels).where(stock_levels.c.sku == sku)
                                                       .order_by(stock_levels.c.warehouse)).all()]


# Scanner labels may say what they are ("BIN:A-01-03", "LOT:L2405", "SN:X123"); a bare code is
# tried as a barcode, a SKU code, a bin of the warehouse, a serial, then a lot.
PREFIXES = {"BIN": "bin", "LOT": "lot", "SN": "serial", "SKU": "sku"}


def resolve(s, code: str, warehouse: str) -> dict:
    """What a scanned code names: {kind: sku|bin|lot|serial, sku, bin, lot, serial}."""
    prefix, _, rest = code.partition(":")
    kinds = [PREFIXES[prefix.upper()]] if rest and prefix.upper() in PREFIXES else ["sku", "bin", "serial", "lot"]
    value = rest if rest and prefix.upper() in PREFIXES else code
    for kind in kinds:
        found = _RESOLVERS[kind](s, value, warehouse)
        if found:
            return found
    raise NotFound(f"code {code!r} is not a barcode, SKU, bin of {warehouse}, serial or lot we know",
                   [{"field": "code", "message": "unknown code"}])


def _as_sku(s, value, warehouse):
    sku = s.execute(select(barcodes.c.sku).where(barcodes.c.code == value)).scalar() or \
        s.execute(select(skus.c.code).where(skus.c.code == value)).scalar()
    return sku and {"kind": "sku", "sku": sku, "bin": "", "lot": "", "serial": ""}


def _as_bin(s, value, warehouse):
    found = s.execute(select(bins.c.code).where(bins.c.warehouse == warehouse, bins.c.code == value)).first()
    return found and {"kind": "bin", "sku": "", "bin": value, "lot": "", "serial": ""}


def _as_serial(s, value, warehouse):
    row = s.execute(select(serials).where(serials.c.serial == value)).first()
    return row and {"kind": "serial", "sku": row.sku, "bin": row.bin, "lot": row.lot, "serial": value}


def _as_lot(s, value, warehouse):
    rows = s.execute(select(lots.c.sku).where(lots.c.lot == value)).scalars().all()
    if len(rows) > 1:
        raise Conflict(f"lot {value} exists for several SKUs {sorted(rows)}: scan the SKU first",
                       [{"field": "code", "message": "ambiguous lot"}])
    return rows and {"kind": "lot", "sku": rows[0], "bin": "", "lot": value, "serial": ""}


_RESOLVERS = {"sku": _as_sku, "bin": _as_bin, "serial": _as_serial, "lot": _as_lot}


def set_allocation_rules(uow: UnitOfWork, coverage: list[dict], shops: list[dict]) -> None:
    """Replace the allocation rules (services/inventory/allocation.py): coverage rows
    {province, city, warehouses} (both empty: the default row; city alone is refused) and shop
    restrictions {channel, shop, warehouses} (shop empty: every shop of the channel). Every warehouse
    must exist; a region or shop is named once; a refusal names the field at fault and changes nothing."""
    s, errors = uow.session, FieldErrors()
    known = set(s.execute(select(warehouses.c.code)).scalars())
    seen: set = set()
    for kind, rows, keys in (("coverage", coverage, ("province", "city")), ("shops", shops, ("channel", "shop"))):
        for i, row in enumerate(rows):
            key = tuple(row.get(k, "") for k in keys)
            for k, v in zip(keys, key, strict=True):
                if len(v) > 64 or v != v.strip():
                    errors.add(f"{kind}[{i}].{k}", "at most 64 characters, no spaces around")
            if kind == "coverage" and key[1] and not key[0]:
                errors.add(f"{kind}[{i}].province", "a city row names its province too")
            if kind == "shops":
                domain.check_code(errors, f"{kind}[{i}].channel", key[0])
            if (kind, key) in seen:
                errors.add(f"{kind}[{i}]", f"{'/'.join(key) or 'the default row'} is named twice")
            seen.add((kind, key))
            listed = row.get("warehouses") or []
            if not listed:
                errors.add(f"{kind}[{i}].warehouses", "name at least one warehouse")
            if len(set(listed)) != len(listed):
                errors.add(f"{kind}[{i}].warehouses", "name each warehouse once")
            for j, w in enumerate(listed):
                if w not in known:
                    errors.add(f"{kind}[{i}].warehouses[{j}]", f"unknown warehouse {w!r}")
    errors.raise_if_any("the allocation rules are invalid")
    s.execute(delete(allocation_coverage))
    s.execute(delete(shop_warehouses))
    rows = [{"province": r.get("province", ""), "city": r.get("city", ""), "warehouse": w, "rank": rank}
            for r in coverage for rank, w in enumerate(r["warehouses"], start=1)]
    if rows:
        s.execute(allocation_coverage.insert(), rows)
    rows = [{"channel": r["channel"], "shop": r.get("shop", ""), "warehouse": w, "rank": rank}
            for r in shops for rank, w in enumerate(r["warehouses"], start=1)]
    if rows:
        s.execute(shop_warehouses.insert(), rows)


_COVERAGE, _SHOPS, _WAREHOUSES = "c", "s", "w"  # the rules' rows, tagged by table


def _rules_query():
    """The three small tables of the rules in one statement (one round trip per batch of orders), each
    row tagged with its table: coverage (province, city), shops (channel, shop), then every warehouse
    with its priority as its rank; in the order each list is kept in."""
    def rows(kind, a, b, warehouse, rank):
        return select(literal_column(f"'{kind}'").label("kind"), a.label("a"), b.label("b"),
                      warehouse.label("warehouse"), rank.label("rank"))
    c, sh, w = allocation_coverage.c, shop_warehouses.c, warehouses.c
    return (union_all(rows(_COVERAGE, c.province, c.city, c.warehouse, c.rank),
                      rows(_SHOPS, sh.channel, sh.shop, sh.warehouse, sh.rank),
                      rows(_WAREHOUSES, literal_column("''"), literal_column("''"), w.code, w.priority))
            .order_by("kind", "a", "b", "rank", "warehouse"))


_RULES = _rules_query()  # built once


def allocation_rules(s) -> allocation.Rules:
    """The allocation rules as allocation.allocate reads them (a few small tables, read whole)."""
    rules = allocation.Rules()
    lists = {_COVERAGE: rules.coverage, _SHOPS: rules.shops}
    for kind, a, b, warehouse, _ in s.execute(_RULES):
        if kind == _WAREHOUSES:
            rules.warehouses.append(warehouse)
        else:
            lists[kind].setdefault((a, b), []).append(warehouse)
    return rules


def get_allocation_rules(db: Database) -> dict:
    with db.reader() as s:
        rules = allocation_rules(s)
    return {"coverage": [{"province": p, "city": c, "warehouses": w} for (p, c), w in rules.coverage.items()],
            "shops": [{"channel": ch, "shop": sh, "warehouses": w} for (ch, sh), w in rules.shops.items()]}
