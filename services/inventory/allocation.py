"""Smart allocation (智能分仓): which warehouse(s) ship an order, decided per order, not per line.

Pure functions over data read once (the rules, the free stock); reservations.py reads them under
its locks and applies the plan with its conditional updates, so allocation never decides alone
whether a unit is sold.

- **Candidates**: the coverage table maps a region to the warehouses that serve it, in order of
  preference: the rows of the address's city first, then its province's, then the default row
  (province and city empty). No row matching at all: every warehouse, by its priority (the
  behaviour before coverage existed). A shop restriction (channel, shop or the whole channel)
  keeps only the shop's warehouses: those among the region's candidates, else (none of them there,
  or no coverage row matching) the shop's own in their order: the restriction is absolute; the
  region only orders them.
- **Choice**: one parcel when one candidate can cover every line: the most preferred that can. Else
  the fewest parcels by a greedy set cover: repeatedly the candidate that covers the most of the
  lines still open (ties: the more preferred); a line no candidate covers whole is split, taking
  first from warehouses already chosen (no extra parcel), then by preference; what is left is
  backordered. Set cover is NP-hard; greedy is within ln(lines) of the optimum, and an order's few
  lines and candidates make it exact in practice and cheap (see bench/allocation.py).
- **Later**: a backorder filled later (stock arrived or was freed) is decided again by the same
  rules over its open lines, with the warehouses that already ship the order's other lines tried
  first among the candidates (another line from there adds no parcel).
- **Explanation**: every candidate with its rank, where its rank came from, the lines it could
  cover whole and the SKUs it lacks; the chosen warehouses and a sentence why."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone

# why an order went out in more than one parcel (the allocation_splits metric's reasons)
NO_SINGLE_WAREHOUSE = "no_single_warehouse"  # each line fits somewhere, but no one warehouse fits all
LINE_SPLIT = "line_split"  # a line is larger than what any one warehouse has free
SPLIT_REASONS = (NO_SINGLE_WAREHOUSE, LINE_SPLIT)


@dataclass(frozen=True)
class Line:
    line_no: int
    sku: str
    quantity: int


@dataclass(frozen=True)
class Rules:
    """The allocation rules as data: coverage rows (province, city, warehouse) in preference order
    within each region, shop restrictions ((channel, shop) -> warehouses; shop '' = every shop of the
    channel) and every warehouse by priority (the fallback)."""
    coverage: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    shops: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    warehouses: list[str] = field(default_factory=list)


@dataclass
class Decision:
    candidates: list[dict]  # [{warehouse, rank, source, covers: [line_no], lacks: [sku]}] by rank
    chosen: list[str]  # the warehouses that ship, first chosen first
    plan: dict[int, list[tuple[str, int]]]  # line_no -> [(warehouse, units)]; short lines are backordered
    reason: str
    split_reason: str | None = None  # one of SPLIT_REASONS when more than one parcel
    backordered: list[int] = field(default_factory=list)  # lines not wholly reserved

    @property
    def parcels(self) -> int:
        return len(self.chosen)


def region_of(address: dict | None) -> tuple[str, str]:
    """(province, city) of a shipping address, trimmed; '' where the address has none."""
    address = address or {}
    return str(address.get("province") or "").strip(), str(address.get("city") or "").strip()


def candidates(rules: Rules, province: str, city: str, channel: str, shop: str) -> list[tuple[str, str]]:
    """The warehouses that may ship an order to (province, city) from (channel, shop), most preferred
    first, each with where its place came from: [(warehouse, source)]."""
    ranked: list[tuple[str, str]] = []
    for key, source in (((province, city), "city"), ((province, ""), "province"), (("", ""), "default")):
        if source == "city" and not city or source == "province" and not province:
            continue
        ranked += [(w, source) for w in rules.coverage.get(key, []) if w not in {c for c, _ in ranked}]
    if not ranked:
        ranked = [(w, "priority") for w in rules.warehouses]
    allowed = rules.shops.get((channel, shop)) or rules.shops.get((channel, ""))
    if allowed:  # a region without coverage rows says nothing: the shop's own order then
        kept = [(w, source) for w, source in ranked if w in allowed and source != "priority"]
        ranked = kept or [(w, "shop") for w in allowed]
    return ranked


def urgency(priority: int, ship_by: datetime | None, arrival: int) -> tuple:
    """Who gets scarce stock first: the higher priority, then the earlier promised ship-by time (a
    promise before none), then the order that came first."""
    return -priority, ship_by is None, ship_by or _NEVER, arrival


_NEVER = datetime.max.replace(tzinfo=timezone.utc)


def allocate(lines: list[Line], ranked: list[tuple[str, str]], free: dict[str, dict[str, int]],
             shipping: tuple[str, ...] | list[str] = ()) -> Decision:
    """Plan an order's lines over its ranked candidates against `free` (sku -> warehouse -> units),
    which is read, not changed. `shipping`: the warehouses that already ship some of the order's lines
    (a backorder filled later): among the candidates they are tried first, since another line from
    one of them is no extra parcel; the candidates keep their rank."""
    rank = {w: i + 1 for i, (w, _) in enumerate(ranked)}
    order = ([w for w, _ in ranked if w in shipping] + [w for w, _ in ranked if w not in shipping])
    need = Counter()
    for line in lines:
        need[line.sku] += line.quantity

    def has(w: str, sku: str) -> int:
        return free.get(sku, {}).get(w, 0)

    table = [{"warehouse": w, "rank": rank[w], "source": source,
              "covers": [l.line_no for l in lines if has(w, l.sku) >= l.quantity],
              "lacks": sorted({sku for sku, n in need.items() if has(w, sku) < n})}
             for w, source in ranked]
    whole = next((c for c in sorted(table, key=lambda c: order.index(c["warehouse"])) if not c["lacks"]), None)
    if whole is not None and whole["warehouse"] in shipping:
        w = whole["warehouse"]
        return Decision(table, [w], {l.line_no: [(w, l.quantity)] for l in lines},
                        f"{w}: no extra parcel, it ships the order's other lines already")
    if whole is not None:
        w = whole["warehouse"]
        passed = [f"{c['warehouse']} lacks {', '.join(c['lacks'])}" for c in table[:whole["rank"] - 1]]
        why = "the most preferred" if not passed else "the most preferred that covers all lines (" + "; ".join(passed) + ")"
        return Decision(table, [w], {l.line_no: [(w, l.quantity)] for l in lines},
                        f"{w}: one parcel, {why}")
    return _fewest_parcels(lines, order, free, table)


def _fewest_parcels(lines, order, free, table) -> Decision:
    """`order`: the candidates in the order they are tried (ties go to the earlier)."""
    left = {w: {sku: free.get(sku, {}).get(w, 0) for sku in {l.sku for l in lines}} for w in order}
    open_lines, chosen, plan = list(lines), [], {}
    while open_lines:
        def fits(w):
            return _whole_lines(open_lines, left[w])
        best = min((w for w in order if w not in chosen), key=lambda w: (-len(fits(w)), order.index(w)), default=None)
        if best is None or not fits(best):
            break
        chosen.append(best)
        for line in fits(best):
            left[best][line.sku] -= line.quantity
            plan[line.line_no] = [(best, line.quantity)]
            open_lines.remove(line)
    split_lines, backordered = [], []
    for line in open_lines:  # no candidate has the whole line: the chosen ones first, then by preference
        got, want = [], line.quantity
        for w in chosen + [w for w in order if w not in chosen]:
            take = min(left[w][line.sku], want)
            if take > 0:
                got.append((w, take))
                left[w][line.sku] -= take
                want -= take
                if w not in chosen:
                    chosen.append(w)
        plan[line.line_no] = got
        if len(got) > 1:
            split_lines.append(line)
        if want:
            backordered.append(line.line_no)
    whole_anywhere = [l for l in lines if any(l.line_no in c["covers"] for c in table)]
    parts = "; ".join(f"{w}: {', '.join(sorted({l.sku for l in lines if any(x == w for x, _ in plan[l.line_no])}))}"
                      for w in chosen)
    if not chosen:
        return Decision(table, [], plan, "backordered: no candidate warehouse has any of the lines free",
                        backordered=backordered)
    if split_lines:
        split_reason = LINE_SPLIT
        skus = ", ".join(sorted({l.sku for l in split_lines}))
        why = f"no single warehouse has all the units of {skus}"
    else:
        split_reason = NO_SINGLE_WAREHOUSE
        skus = ", ".join(sorted({l.sku for l in whole_anywhere}))
        why = f"no single warehouse covers {skus}"
    short = (f"; short: {', '.join(sorted({l.sku for l in lines if l.line_no in backordered}))} backordered"
             if backordered else "")
    if len(chosen) == 1:
        return Decision(table, chosen, plan, f"{chosen[0]}: one parcel, the most preferred with stock{short}",
                        backordered=backordered)
    return Decision(table, chosen, plan, f"split: {why}; fewest parcels = {len(chosen)} ({parts}){short}",
                    split_reason, backordered)


def _whole_lines(lines: list[Line], free: dict[str, int]) -> list[Line]:
    """The lines a warehouse with `free` could ship whole together, in line order."""
    left, fit = dict(free), []
    for line in lines:
        if left.get(line.sku, 0) >= line.quantity:
            left[line.sku] -= line.quantity
            fit.append(line)
    return fit
