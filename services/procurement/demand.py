"""Demand rules: a merchant's rule set (JSON or YAML, hubkit.rules) over a SKU's demand facts in a
warehouse; a matched rule's `suggest` action names the units to cover (an expression over the facts,
e.g. `forecast`). The shipped default is default_demand_rules.yaml."""
from __future__ import annotations

import functools
from pathlib import Path

from hubkit import forecast as fc
from hubkit import rules
from hubkit.errors import InvalidArgument

FACTS = rules.Facts({
    "sku": "string", "warehouse": "string",
    "average_daily_sales": "number",  # over the window (parameters.window_days), days out of stock left out
    "days_of_cover": "number",        # available / average_daily_sales (99999 without sales)
    "available": "number", "on_order": "number", "in_transit": "number", "net_position": "number",
    "days_out_of_stock": "number",    # in the window
    "sales_window": "number",         # units sold in the window
    "forecast": "number",             # units forecast for the next parameters.horizon_days
    "lead_time_days": "number", "safety_stock": "number",
})
KINDS = ("suggest", "note")
NO_SALES_COVER = 99999
DEFAULT_FILE = Path(__file__).with_name("default_demand_rules.yaml")
PARAMETERS = {"window_days": 30, "horizon_days": 30, "method": "moving_average"}


def compile_document(document) -> rules.RuleSet:
    """A demand rule set checked against the facts, with its parameters (window_days and horizon_days:
    1 to 366; method: a forecast method with its defaults; moving_average averages the whole window)."""
    rule_set = rules.compile_rule_set(document, FACTS, (), KINDS)
    params = rule_set.doc.parameters
    problems = [{"field": f"parameters.{k}", "message": f"unknown parameter (known: {', '.join(PARAMETERS)})"}
                for k in sorted(set(params) - set(PARAMETERS))]
    for name in ("window_days", "horizon_days"):
        v = params.get(name, PARAMETERS[name])
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 366:
            problems.append({"field": f"parameters.{name}", "message": "a whole number of days from 1 to 366"})
    if params.get("method", PARAMETERS["method"]) not in fc.METHODS:
        problems.append({"field": "parameters.method", "message": f"one of {', '.join(fc.METHODS)}"})
    if problems:
        raise InvalidArgument("the demand rule set is invalid", problems)
    return rule_set


def parameter(rule_set: rules.RuleSet, name: str):
    return rule_set.doc.parameters.get(name, PARAMETERS[name])


@functools.cache
def default_rule_set() -> rules.RuleSet:
    return compile_document(DEFAULT_FILE.read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=32)
def compiled(version: int, document: str) -> rules.RuleSet:  # a version's document never changes
    return compile_document(document)


def decide(rule_set: rules.RuleSet, facts: dict) -> tuple[dict | None, rules.Decision]:
    """The first matched suggest action's {"rule", "quantity"} (None: no rule suggests), and the
    decision with its trace."""
    decision = rules.evaluate(rule_set, FACTS, facts)
    for action in decision.actions:
        if action["kind"] == "suggest" and "units" in action:
            return {"rule": action["rule"], "quantity": float(action["units"])}, decision
    return None, decision
