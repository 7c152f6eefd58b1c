"""The supplier scorecard: per supplier and period, how it delivered (on time against each line's
expected date, how much of what was due), the quality of what it delivered (incoming inspections),
what it charged (against the last price paid to it for the SKU) and how long it took; and a grade
from configurable bands over a weighted score. Pure: the numbers come in, the card goes out.

Definitions (all rates in percent, 2 places, None when there is nothing to measure):
- on_time_rate: of the units received in the period on lines with an expected date, the share
  received on or before that date;
- fill_rate: of the units ordered on lines due in the period (their expected date, else the order's
  date), the share received (receipts refused by inventory do not count);
- quality_pass_rate: of the units inspected in the period, the share that passed;
- price_variance: of the units received in the period that the supplier had sold before, how much
  more (positive) or less they cost than the last price paid for the SKU: sum(q x (cost - last)) /
  sum(q x last);
- lead_time_days: the average, over receipt lines in the period, of the days from the order to the receipt
  (1 place).
The score is the weighted mean of the rates that could be measured (the weights of the others are
shared out); its grade is the band it falls in (min inclusive, max exclusive; the top band includes 100).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hubkit import xlsx
from hubkit.errors import FieldErrors, InvalidArgument, check_days

METRICS = ("on_time", "fill", "quality")
HUNDRED = Decimal(100)
PLACES, DAY_PLACES = Decimal("0.01"), Decimal("0.1")
MAX_PERIOD_DAYS = 3660
DEFAULT_CONFIG = {
    "weights": {"on_time": "0.4", "fill": "0.3", "quality": "0.3"},
    "bands": [{"grade": "A", "min": "90", "max": "100"}, {"grade": "B", "min": "75", "max": "90"},
              {"grade": "C", "min": "60", "max": "75"}, {"grade": "D", "min": "0", "max": "60"}],
}


class Band(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    grade: str = Field(min_length=1, max_length=16)
    min: Decimal = Field(ge=0, le=100)
    max: Decimal = Field(ge=0, le=100)


class Weights(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    on_time: Decimal = Field(ge=0, le=1)
    fill: Decimal = Field(ge=0, le=1)
    quality: Decimal = Field(ge=0, le=1)


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    weights: Weights
    bands: list[Band] = Field(min_length=1, max_length=26)


def parse_config(document: str | dict) -> Config:
    """A scorecard configuration, validated: weights from 0 to 1 that add up to 1; bands with distinct
    grades, each min below its max, that together cover 0 to 100 exactly once (no gap, no overlap).
    InvalidArgument with every problem and its field otherwise."""
    try:
        raw = json.loads(document) if isinstance(document, str) else document
        config = Config.model_validate(raw)
    except json.JSONDecodeError as exc:
        raise InvalidArgument(f"the scorecard configuration is not JSON: {exc.msg}",
                              [{"field": "", "message": exc.msg}]) from None
    except ValidationError as exc:
        raise InvalidArgument("the scorecard configuration is invalid",
                              [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
                               for e in exc.errors(include_url=False)]) from None
    errors = FieldErrors()
    total = config.weights.on_time + config.weights.fill + config.weights.quality
    if total != 1:
        errors.add("weights", f"must add up to 1, not {total}")
    grades = [b.grade for b in config.bands]
    for i, band in enumerate(config.bands):
        if band.min >= band.max:
            errors.add(f"bands[{i}]", f"min {band.min} must be below max {band.max}")
        if grades.index(band.grade) != i:
            errors.add(f"bands[{i}].grade", f"grade {band.grade!r} is named twice")
    if not errors.items:
        order = sorted(range(len(config.bands)), key=lambda i: config.bands[i].min)
        first = config.bands[order[0]]
        if first.min != 0:
            errors.add(f"bands[{order[0]}].min", f"the bands leave a gap from 0 to {first.min}")
        for before, after in zip(order, order[1:]):
            a, b = config.bands[before], config.bands[after]
            if b.min > a.max:
                errors.add(f"bands[{after}].min", f"the bands leave a gap from {a.max} to {b.min}")
            elif b.min < a.max:
                errors.add(f"bands[{after}].min",
                           f"band {b.grade} overlaps band {a.grade} from {b.min} to {min(a.max, b.max)}")
        top = max(b.max for b in config.bands)
        if top != 100:
            errors.add(f"bands[{order[-1]}].max", f"the bands leave a gap from {top} to 100")
    errors.raise_if_any("the scorecard bands are invalid")
    return config


def config_json(config: Config) -> dict:
    return {"weights": {k: str(v) for k, v in config.weights.model_dump().items()},
            "bands": [{"grade": b.grade, "min": str(b.min), "max": str(b.max)}
                      for b in sorted(config.bands, key=lambda b: b.min, reverse=True)]}


def grade(config: Config, score: Decimal | None) -> str:
    """The band a score falls in ("" without a score)."""
    if score is None:
        return ""
    for band in config.bands:
        if band.min <= score < band.max or (score == band.max == 100):
            return band.grade
    return ""  # unreachable for a validated configuration


def check_period(start: str, end: str) -> tuple[date, date]:
    return check_days(start, end, MAX_PERIOD_DAYS)


@dataclass(frozen=True)
class Received:
    """A receipt line in the period."""
    quantity: int
    received_on: date
    ordered_on: date
    expected_on: date | None
    unit_cost: Decimal
    last_cost: Decimal | None  # the supplier's last price for the SKU before this order


@dataclass(frozen=True)
class Due:
    """A purchase order line due in the period: ordered, and received so far."""
    ordered: int
    received: int


def _rate(part, whole) -> Decimal | None:
    return None if not whole else (HUNDRED * Decimal(part) / Decimal(whole)).quantize(PLACES, ROUND_HALF_UP)


def on_time(received: list[Received]) -> dict:
    """The on-time figures of receipt lines (the scorecard's on_time_rate and its inputs): of the
    units received on lines with an expected date (promised_units), those received on or before it
    (on_time_units) and after it (late_units, on late_lines, days_late_max the worst by days)."""
    promised = [r for r in received if r.expected_on is not None]
    late = [r for r in promised if r.received_on > r.expected_on]  # type: ignore[operator]
    promised_units, late_units = sum(r.quantity for r in promised), sum(r.quantity for r in late)
    return {"on_time_rate": _rate(promised_units - late_units, promised_units), "lines": len(promised),
            "promised_units": promised_units, "on_time_units": promised_units - late_units,
            "late_units": late_units, "late_lines": len(late),
            "days_late_max": max(((r.received_on - r.expected_on).days for r in late), default=0)}  # type: ignore[operator]


def card(config: Config, received: list[Received], due: list[Due], inspected: list[tuple[int, int]]) -> dict:
    """The scorecard's numbers. `inspected`: (passed, failed) per inspection in the period."""
    on_time_rate = on_time(received)["on_time_rate"]
    fill = _rate(sum(min(d.received, d.ordered) for d in due), sum(d.ordered for d in due))
    quality = _rate(sum(p for p, _ in inspected), sum(p + f for p, f in inspected))
    priced = [r for r in received if r.last_cost]
    base = sum((r.quantity * r.last_cost for r in priced), start=Decimal(0))  # type: ignore[operator]
    variance = None if not base else (HUNDRED * sum(
        (r.quantity * (r.unit_cost - r.last_cost) for r in priced), start=Decimal(0))  # type: ignore[operator]
        / base).quantize(PLACES, ROUND_HALF_UP)
    lead = None if not received else (Decimal(sum((r.received_on - r.ordered_on).days for r in received))
                                      / len(received)).quantize(DAY_PLACES, ROUND_HALF_UP)
    rates = {"on_time": on_time_rate, "fill": fill, "quality": quality}
    weights = config.weights.model_dump()
    measured = {k: v for k, v in rates.items() if v is not None and weights[k] > 0}
    weight = sum((weights[k] for k in measured), start=Decimal(0))
    score = None if not weight else (sum((weights[k] * v for k, v in measured.items()), start=Decimal(0))
                                     / weight).quantize(PLACES, ROUND_HALF_UP)
    return {"on_time_rate": on_time_rate, "fill_rate": fill, "quality_pass_rate": quality, "price_variance": variance,
            "lead_time_days": lead, "score": score, "grade": grade(config, score),
            "received_units": sum(r.quantity for r in received), "inspected_units": sum(p + f for p, f in inspected)}


COLUMNS = [("供应商(Supplier)", 14), ("名称(Name)", 24), ("准时率 On time %", 12), ("满足率 Fill %", 12),
           ("合格率 Quality %", 12), ("价差 Price variance %", 14), ("交期(天) Lead time days", 14),
           ("得分 Score", 10), ("等级 Grade", 8), ("收货数 Units received", 12), ("检验数 Units inspected", 12)]
KEYS = ("on_time_rate", "fill_rate", "quality_pass_rate", "price_variance", "lead_time_days", "score")


def workbook(report: dict) -> bytes:
    """The scorecard report as .xlsx: a row per supplier (an unmeasured number left empty), and the
    bands it was graded with on a second sheet."""
    rows = [[r["supplier"], r["name"], *(r[k] for k in KEYS), r["grade"], r["received_units"], r["inspected_units"]]
            for r in report["rows"]]
    bands = [[b["grade"], Decimal(b["min"]), Decimal(b["max"])] for b in report["config"]["bands"]]
    title = f"{report['from'].isoformat()}~{report['to'].isoformat()}"
    return xlsx.table(title, COLUMNS, rows, {i: "0.00" for i in range(2, 8)},
                      extra=(("等级 Bands", [("等级 Grade", 10), ("从 Min", 10), ("到 Max", 10)], bands),))


ON_TIME_GROUPS = ("month", "week", "period")


def period_of(day: date, group: str, first: date, last: date) -> str:
    """The label of the part of the period a day falls in: 2024-03, 2024-W10, or the period itself."""
    if group == "month":
        return f"{day.year:04d}-{day.month:02d}"
    if group == "week":
        year, week, _ = day.isocalendar()
        return f"{year:04d}-W{week:02d}"
    return f"{first.isoformat()}~{last.isoformat()}"
