"""What each kind of import reads: its columns (as data: name, type, required, what it means, an
example), and the checks of one row and of the whole file that need nothing but the file. What needs
the catalogue or the stock (an unknown SKU, a barcode another SKU has, a bin the warehouse lacks) is
the owning service's to say, in its dry run (services/inventory/imports.py)."""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-/]{0,63}$")
MAX_QTY = 1_000_000_000
YES, NO = {"yes", "y", "true", "1", "x", "是"}, {"no", "n", "false", "0", "", "否"}
LIST_SEPARATORS = re.compile(r"[;,，；|\n]")


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # code | text | int | decimal | date | bool | choice | list | components
    required: bool = False
    description: str = ""
    example: str = ""
    max_length: int = 200
    places: int = 2  # decimal places allowed (decimal)
    minimum: int = 0  # int
    maximum: int = MAX_QTY  # int
    choices: tuple[str, ...] = ()
    default: Any = None


@dataclass(frozen=True)
class Kind:
    name: str
    title: str
    owner: str  # the service that applies it: inventory | procurement | customer | shops | order
    columns: tuple[Column, ...]
    key: tuple[str, ...]  # the natural key: one row per key in a file
    unique: tuple[str, ...] = ()  # list columns whose values must be unique across the file (barcodes, serials)

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    @property
    def known(self) -> list[str]:
        return [c.name for c in self.columns]


@dataclass
class Problem:
    row: int
    column: str
    code: str
    message: str

    def json(self) -> dict:
        return {"row": self.row, "column": self.column, "code": self.code, "message": self.message}


@dataclass(slots=True)
class Row:
    number: int
    values: dict[str, Any]
    raw: dict[str, Any] = field(default_factory=dict)


def _c(name, type_, required=False, description="", example="", **kw) -> Column:
    return Column(name, type_, required, description, example, **kw)


SKU_CODE = "the hub's SKU code: letters, digits, . _ - /, at most 64"
KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("skus", "SKUs", "inventory", (
        _c("code", "code", True, SKU_CODE, "TEA-001"),
        _c("name", "text", True, "what the SKU is called, at most 200 characters", "Longjing tea 250 g"),
        _c("base_unit", "text", False, "the unit quantities count (default pcs)", "pcs", max_length=16, default="pcs"),
        _c("category", "text", False, "the SKU's category (review rules and reports read it)", "tea", max_length=64,
           default=""),
        _c("lot_tracked", "bool", False, "yes: stock is kept per lot (with expiry dates)", "yes", default=False),
        _c("serial_tracked", "bool", False, "yes: one serial number per unit", "no", default=False),
        _c("costing", "choice", False, "fifo (default) or average (moving weighted average per warehouse)", "fifo",
           choices=("fifo", "average"), default="fifo"),
        _c("barcodes", "list", False, "its barcodes, separated by ; (replace the SKU's barcodes)",
           "6901234567892;6901234567908"),
        _c("components", "components", False, "for a kit: component SKU*units per kit, separated by ; "
           "(each component a SKU of this file or already known)", ""),
    ), key=("code",), unique=("barcodes",)),
    Kind("warehouses", "Warehouses", "inventory", (
        _c("code", "code", True, "the warehouse's code, at most 32", "SH1", max_length=32),
        _c("name", "text", True, "its name", "Shanghai DC"),
        _c("priority", "int", False, "lower is tried first when reserving (0-10000, default 100)", "100",
           default=100, maximum=10_000),
        _c("region", "text", False, "its province or region", "Shanghai", max_length=64, default=""),
        _c("address", "text", False, "its address", "88 Jiangchang Rd", max_length=300, default=""),
    ), key=("code",)),
    Kind("bins", "Bins", "inventory", (
        _c("warehouse", "code", True, "a warehouse already known or imported before", "SH1", max_length=32),
        _c("bin", "code", True, "the bin's code, at most 32", "A-01-03", max_length=32),
    ), key=("warehouse", "bin")),
    Kind("opening_stock", "Opening stock", "inventory", (
        _c("sku", "code", True, "a SKU already known", "TEA-001"),
        _c("warehouse", "code", True, "a warehouse already known", "SH1", max_length=32),
        _c("quantity", "int", True, "units on hand, a whole number above 0", "120", minimum=1),
        _c("unit_cost", "decimal", True, "cost per unit excluding VAT, up to 6 decimals", "35.50", places=6),
        _c("bin", "code", False, "a bin of the warehouse (empty: the unnamed bin)", "A-01-03", max_length=32,
           default=""),
        _c("lot", "code", False, "the lot (required for lot-tracked SKUs)", "L2026-03", default=""),
        _c("expires_on", "date", False, "the lot's expiry, YYYY-MM-DD", "2027-03-31", default=""),
        _c("serials", "list", False, "serial-tracked SKUs: one serial per unit, separated by ;", ""),
    ), key=("sku", "warehouse", "bin", "lot"), unique=("serials",)),
    Kind("stock_limits", "Stock limits", "inventory", (
        _c("sku", "code", True, "a SKU already known", "TEA-001"),
        _c("warehouse", "code", True, "a warehouse already known", "SH1", max_length=32),
        _c("minimum", "int", True, "the minimum: at or below it purchasing hears low_stock", "20"),
        _c("maximum", "int", True, "the maximum: what replenishment fills up to", "200"),
    ), key=("sku", "warehouse")),
    Kind("suppliers", "Suppliers", "procurement", (
        _c("code", "code", True, "the supplier's code", "SUP-HZ-01"),
        _c("name", "text", True, "the supplier's name", "Hangzhou Tea Co."),
    ), key=("code",)),
    Kind("channel_sku_mappings", "Channel SKU mappings", "shops", (
        _c("platform", "choice", True, "the shop platform: taobao or jd", "taobao", choices=("taobao", "jd")),
        _c("outer_sku", "text", True, "the platform's SKU id (outer_sku_id, skuId)", "TB-8812-RED", max_length=64),
        _c("components", "components", True, "hub SKU*units, separated by ; (several: a combination)",
           "TEA-001*2;CUP-01"),
    ), key=("platform", "outer_sku")),
    Kind("customers", "Customers", "customer", (
        _c("channel", "code", True, "where the buyer buys: taobao, jd, a storefront's name", "taobao"),
        _c("external_id", "text", True, "the channel's buyer id", "tb_buyer_001", max_length=128),
        _c("tier", "text", False, "e.g. vip (what order review reads)", "vip", max_length=32, default=""),
        _c("credit_limit", "decimal", False, "credit limit in the books' currency (empty: none)", "5000.00",
           default=""),
        _c("name", "text", False, "the buyer's name (empty: left as it is)", "Li Lei", default=""),
        _c("phone", "text", False, "the buyer's phone (empty: left as it is); kept with its keyed hash, which "
           "finds the same buyer on other channels", "+86 138 0013 8000", max_length=32, default=""),
    ), key=("channel", "external_id")),
    Kind("price_lists", "Price lists", "order", (
        _c("code", "code", True, "the price list's code (letters, digits, . _ -); one row per line, the rows of a list "
           "sharing its code",
           "RETAIL-2026"),
        _c("name", "text", False, "the list's name (on its first row at least; later rows: empty or the same)",
           "Retail 2026", default=""),
        _c("currency", "text", False, "ISO 4217 (empty: the books' base currency)", "CNY", max_length=3, default=""),
        _c("channel", "text", False, "the channel it is for, e.g. taobao (empty: every channel)", "", max_length=32,
           default=""),
        _c("tier", "text", False, "the customer tier it is for, e.g. vip (empty: every tier)", "", max_length=32,
           default=""),
        _c("valid_from", "date", False, "first day in force, YYYY-MM-DD (empty: always)", "2026-01-01", default=""),
        _c("valid_to", "date", False, "last day in force, YYYY-MM-DD (empty: open-ended)", "", default=""),
        _c("sku", "code", True, "a SKU already known", "TEA-001"),
        _c("unit_price", "decimal", True, "the unit price in the list's currency, above 0, up to 2 decimals",
           "59.90"),
        _c("min_quantity", "int", False, "the line applies from this quantity on (default 1: a quantity break "
           "is another row with a higher one)", "1", minimum=1, default=1),
    ), key=("code", "sku", "min_quantity")),
)}


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # Excel keeps numbers typed as codes (690123...) as floats
    if isinstance(value, datetime):
        return value.date().isoformat()
    return str(value).strip()


def parse_value(col: Column, value: Any) -> Any:
    """The cell as the column's type; ValueError(code, message) when it is not one."""
    text = _text(value)
    if text == "":
        if col.required:
            raise ValueError("required", "required")
        return col.default if col.default is not None else ([] if col.type in ("list", "components") else "")
    if "\x00" in text:
        raise ValueError("bad_text", "a NUL character")
    if col.type == "code":
        longest = min(col.max_length, 64)
        if not CODE.match(text) or len(text) > longest:
            raise ValueError("bad_code", f"letters, digits, . _ - / only, at most {longest}")
        return text
    if col.type in ("text", "choice") and len(text) > col.max_length:
        raise ValueError("too_long", f"at most {col.max_length} characters")
    if col.type == "text":
        return text
    if col.type == "choice":
        if text.lower() not in col.choices:
            raise ValueError("bad_choice", f"one of {', '.join(col.choices)}")
        return text.lower()
    if col.type == "bool":
        if isinstance(value, bool):
            return value
        if text.lower() in YES:
            return True
        if text.lower() in NO:
            return False
        raise ValueError("bad_bool", "yes or no")
    if col.type == "int":
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise ValueError("bad_number", "a whole number") from None
        if number != number.to_integral_value():
            raise ValueError("bad_number", "a whole number")
        if not col.minimum <= number <= col.maximum:
            raise ValueError("out_of_range", f"from {col.minimum} to {col.maximum}")
        return int(number)
    if col.type == "decimal":
        try:
            number = Decimal(text) if not isinstance(value, float) else Decimal(repr(value))
        except InvalidOperation:
            raise ValueError("bad_number", "a decimal number such as 12.50") from None
        if not number.is_finite() or number < 0 or number >= Decimal(10) ** 12:
            raise ValueError("out_of_range", "from 0 to 999999999999")
        exponent = number.normalize().as_tuple().exponent
        if isinstance(exponent, int) and -exponent > col.places:
            raise ValueError("too_many_decimals", f"at most {col.places} decimal places")
        return format(number, "f")
    if col.type == "date":
        if isinstance(value, (datetime, date)):
            day = value.date() if isinstance(value, datetime) else value
        else:
            try:
                day = date.fromisoformat(text)
            except ValueError:
                raise ValueError("bad_date", "a date YYYY-MM-DD") from None
        if not date(1900, 1, 1) <= day <= date(2999, 12, 31):
            raise ValueError("bad_date", "a date from 1900-01-01 to 2999-12-31")
        return day.isoformat()
    items = [x.strip() for x in LIST_SEPARATORS.split(text) if x.strip()]
    if len(items) > 10_000:
        raise ValueError("too_long", "at most 10000 items")
    if col.type == "list":
        for item in items:
            if not CODE.match(item):
                raise ValueError("bad_code", f"{item!r}: letters, digits, . _ - / only, at most 64")
        if len(set(items)) != len(items):
            raise ValueError("duplicate_in_row", "the same value twice")
        return items
    parts = []  # components: SKU*units
    for item in items:
        sku, _, units = item.partition("*")
        sku, units = sku.strip(), units.strip() or "1"
        if not CODE.match(sku) or not units.isdigit() or not 0 < int(units) <= 1_000_000:
            raise ValueError("bad_component", f"{item!r}: SKU*units, e.g. TEA-001*2")
        parts.append((sku, int(units)))
    if len({s for s, _ in parts}) != len(parts):
        raise ValueError("duplicate_in_row", "a component named twice")
    return parts


def check_rows(kind: Kind, rows: Iterable[tuple[int, dict[str, Any]]], problems: list[Problem],
               progress: Callable[[int], None] | None = None) -> Iterator[Row]:
    """Each row parsed and checked on its own and against the rows before it (the natural key and
    the unique list values once per file; a kit's components of this file or to be found by the
    service). Problems are appended to `problems`; every row is yielded, good or not."""
    columns = kind.columns
    seen_keys: dict[tuple, int] = {}
    seen_values: dict[str, dict[str, int]] = {c: {} for c in kind.unique}
    count = 0
    for number, raw in rows:
        values: dict[str, Any] = {}
        for col in columns:
            try:
                values[col.name] = parse_value(col, raw.get(col.name))
            except ValueError as exc:
                code, message = exc.args
                problems.append(Problem(number, col.name, code, message))
        if all(k in values for k in kind.key):
            key = tuple(values[k] for k in kind.key)
            if key in seen_keys:
                problems.append(Problem(number, kind.key[0], "duplicate_in_file",
                                        f"{'/'.join(str(k) for k in key if k != '')} is already on row {seen_keys[key]}"))
            else:
                seen_keys[key] = number
        for name in kind.unique:
            for item in values.get(name) or []:
                first = seen_values[name].setdefault(item, number)
                if first != number:
                    problems.append(Problem(number, name, f"duplicate_{name[:-1]}",
                                            f"{item} is already on row {first}"))
        _row_rules(kind, number, values, problems)
        count += 1
        if progress and count % 1000 == 0:
            progress(count)
        yield Row(number, values, raw)
    if progress:
        progress(count)


def _row_rules(kind: Kind, number: int, v: dict[str, Any], problems: list[Problem]) -> None:
    """What one row must say of itself."""
    if kind.name == "skus":
        if any(c == v.get("code") for c, _ in v.get("components") or []):
            problems.append(Problem(number, "components", "kit_contains_itself", "a kit cannot contain itself"))
    elif kind.name == "opening_stock":
        serials, quantity = v.get("serials"), v.get("quantity")
        if serials and isinstance(quantity, int) and len(serials) != quantity:
            problems.append(Problem(number, "serials", "serials_count",
                                    f"{len(serials)} serial(s) for {quantity} unit(s): one per unit"))
        if v.get("expires_on") and not v.get("lot"):
            problems.append(Problem(number, "expires_on", "expiry_without_lot", "only a lot has an expiry date"))
    elif kind.name == "price_lists":
        if v.get("unit_price") is not None and v.get("unit_price") != "" and Decimal(v["unit_price"]) <= 0:
            problems.append(Problem(number, "unit_price", "out_of_range", "above 0"))
        start, end = v.get("valid_from"), v.get("valid_to")
        if start and end and end < start:
            problems.append(Problem(number, "valid_to", "out_of_range", "must not be before valid_from"))
    elif kind.name == "stock_limits":
        low, high = v.get("minimum"), v.get("maximum")
        if isinstance(low, int) and isinstance(high, int) and high < low:
            problems.append(Problem(number, "maximum", "out_of_range", "must be at least the minimum"))


def check_kits(rows: list[Row], problems: list[Problem], known: set[str]) -> None:
    """A kit's components must be SKUs of this file or `known` to the catalogue already."""
    in_file = {r.values.get("code") for r in rows}
    for r in rows:
        for component, _ in r.values.get("components") or []:
            if component not in in_file and component not in known:
                problems.append(Problem(r.number, "components", "kit_component_missing",
                                        f"component {component} is neither in this file nor a known SKU"))
