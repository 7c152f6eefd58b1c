"""Rules as data: a versioned rule set of conditions over declared facts, and what each rule does.

Every service that decides something explains it the same way (docs/ARCHITECTURE.md, the processing
layer). A service declares its facts once, with their types (`Facts`); a rule set (a JSON or YAML
document, `RuleSetDoc`) is checked against them by `compile_rule_set`, which refuses it with the
rule, the field and the position in the expression at fault; `evaluate` answers a `Decision` with a
trace: per rule whether it matched and the facts it read, with their values.

Conditions are rule-engine expressions (typed, no Python `eval`): `amount > 10000 and customer_tier == "vip"`.
"""
from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

import rule_engine
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hubkit.errors import InvalidArgument

# The fact types a service may declare, as rule-engine types. Numbers are Decimal (money stays exact).
TYPES: dict[str, Any] = {
    "string": rule_engine.DataType.STRING,
    "number": rule_engine.DataType.FLOAT,
    "boolean": rule_engine.DataType.BOOLEAN,
    "strings": rule_engine.DataType.ARRAY(rule_engine.DataType.STRING),
    "numbers": rule_engine.DataType.ARRAY(rule_engine.DataType.FLOAT),
}
MAX_RULES = 200
MAX_EXPRESSION = 2000
# the action kinds a rule set may use unless its service names others (replenishment: suggest, note)
DECISION_KINDS = ("approve", "hold", "set_priority", "route_to_warehouse", "double_check", "note")


class Action(BaseModel):
    """What a matched rule does. `hold` needs a reason (one the service knows), `set_priority` a
    priority, `route_to_warehouse` a warehouse, `note` a text, `suggest` (replenishment) a quantity:
    an expression over the facts that answers a number of units (`forecast * 1.2`)."""
    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["approve", "hold", "set_priority", "route_to_warehouse", "double_check", "note", "suggest"]
    reason: str | None = Field(default=None, max_length=64)
    priority: int | None = Field(default=None, ge=0, le=1000)
    warehouse: str | None = Field(default=None, min_length=1, max_length=32)
    note: str | None = Field(default=None, max_length=500)
    quantity: str | None = Field(default=None, min_length=1, max_length=MAX_EXPRESSION)

    @model_validator(mode="after")
    def _needs(self):
        needed = {"hold": "reason", "set_priority": "priority", "route_to_warehouse": "warehouse", "note": "note",
                  "suggest": "quantity"}
        name = needed.get(self.kind)
        if name and getattr(self, name) is None:
            raise ValueError(f"a {self.kind} action needs its {name}")
        return self


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]*$")
    description: str = Field(default="", max_length=500)
    when: str = Field(min_length=1, max_length=MAX_EXPRESSION)
    actions: list[Action] = Field(min_length=1, max_length=20)
    stop: bool = False  # a match ends the evaluation: the rules after it are not looked at


class RuleSetDoc(BaseModel):
    """The document a merchant writes. Rules are evaluated in their order; a matched hold holds
    (the first one names the reason and rule); otherwise `otherwise` decides (approve, or hold with
    `otherwise_reason`)."""
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=1000)
    otherwise: Literal["approve", "hold"] = "approve"
    otherwise_reason: str | None = Field(default=None, max_length=64)
    # numbers the service reads besides the conditions (e.g. a window for its facts); it checks them
    parameters: dict[str, int | float | str | bool] = Field(default_factory=dict, max_length=50)
    rules: list[Rule] = Field(default_factory=list, max_length=MAX_RULES)

    @field_validator("parameters")
    @classmethod
    def _finite(cls, parameters: dict) -> dict:  # a stored document is JSON, which has no NaN or infinity
        if any(isinstance(v, float) and not math.isfinite(v) for v in parameters.values()):
            raise ValueError("parameters must be finite numbers")
        return parameters


@dataclass(frozen=True)
class Facts:
    """The facts a service offers its rules: name -> type (one of TYPES)."""
    types: dict[str, str]

    def __post_init__(self):
        unknown = {k: v for k, v in self.types.items() if v not in TYPES}
        if unknown:
            raise ValueError(f"unknown fact types: {unknown}")

    def context(self) -> rule_engine.Context:
        return rule_engine.Context(
            type_resolver=rule_engine.type_resolver_from_dict({k: TYPES[v] for k, v in self.types.items()}),
            default_timezone="UTC")


@dataclass(frozen=True)
class CompiledRule:
    rule: Rule
    condition: rule_engine.Rule
    reads: tuple[str, ...]  # the facts the condition refers to, in order of first mention
    quantities: tuple = ()  # per action: its compiled quantity expression, or None


@dataclass(frozen=True)
class RuleSet:
    doc: RuleSetDoc
    rules: tuple[CompiledRule, ...]

    def as_json(self) -> str:
        return self.doc.model_dump_json(exclude_none=True)


@dataclass
class Decision:
    outcome: str                      # "approve" or "hold"
    reason: str | None = None         # the hold's reason
    rule_id: str | None = None        # the rule that held it (None: `otherwise` decided)
    actions: list[dict] = field(default_factory=list)   # every matched rule's actions, with its rule id
    trace: list[dict] = field(default_factory=list)     # per rule: matched, the facts read and their values


def parse_document(text: str | bytes | dict) -> dict:
    """A rule-set document as JSON or YAML text (or already a mapping)."""
    if isinstance(text, dict):
        return text
    try:
        doc = yaml.safe_load(text)  # JSON is YAML
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise InvalidArgument("the rule set does not parse", [{"field": "document", "message": f"not JSON or YAML{where}"}])
    except (ValueError, OverflowError, RecursionError):  # a value YAML resolves but cannot build, e.g. 2026-13-45
        raise InvalidArgument("the rule set does not parse", [{"field": "document", "message": "a value is malformed"}])
    if not isinstance(doc, dict):
        raise InvalidArgument("the rule set does not parse", [{"field": "document", "message": "a mapping with name and rules"}])
    return doc


_tokens_lock = threading.Lock()
# a copy of the lexer of the parser rule-engine builds once for every Rule (building a Parser of our own
# took as long as importing rule-engine: most of a second at each start of a process that reviews)
_lexer = rule_engine.Rule.parser._lexer.clone()


def _tokens(text: str) -> list:
    with _tokens_lock:
        _lexer.input(text)
        try:
            return list(_lexer)
        except rule_engine.errors.EngineError:
            return []


def _reads(tokens) -> tuple[str, ...]:
    """The symbols an expression refers to (an attribute after '.' is not one)."""
    names: list[str] = []
    for i, t in enumerate(tokens):
        if t.type == "SYMBOL" and (i == 0 or tokens[i - 1].type not in ("ATTR", "ATTR_SAFE")) and t.value not in names:
            names.append(t.value)
    return tuple(names)


def _mismatch_position(text: str, tokens, context) -> int:
    """Where a type mismatch shows: the end of the shortest prefix of the expression, cut after a
    token, that parses and does not type (rule-engine's types do not carry positions)."""
    for t in tokens:
        end = t.lexpos + len(str(t.value))
        try:
            rule_engine.Rule(text[:end], context=context)
        except rule_engine.errors.RuleSyntaxError:
            continue
        except Exception:  # the first prefix that fails otherwise is the place
            return t.lexpos
    return 0


def _condition_error(text: str, error: Exception, context) -> tuple[int, str]:
    """(position, message) of an expression that is refused."""
    errors = rule_engine.errors
    tokens = _tokens(text)
    if isinstance(error, errors.SymbolResolutionError):
        at = next((t.lexpos for t in tokens if t.type == "SYMBOL" and t.value == error.symbol_name), 0)
        hint = f" (did you mean {error.suggestion!r}?)" if error.suggestion else ""
        return at, f"unknown fact {error.symbol_name!r}{hint}"
    if isinstance(error, errors.AttributeResolutionError):
        at = next((t.lexpos for t in tokens if t.type == "SYMBOL" and t.value == error.attribute_name), 0)
        return at, f"unknown attribute {error.attribute_name!r}"
    if isinstance(error, errors.RuleSyntaxError):
        token = error.token
        if token is None:
            return len(text), "does not parse: the expression ends too early"
        return token.lexpos, f"does not parse: unexpected {token.value!r}"
    if isinstance(error, errors.SyntaxError):  # a literal that is malformed (string, float, regex...)
        value = getattr(error, "value", "")
        return max(text.find(str(value)), 0) if value else 0, f"does not parse: {error.message}"
    return _mismatch_position(text, tokens, context), f"type mismatch: {getattr(error, 'message', error)}"


def _compile_expression(text: str, context, field_name: str, rule_id: str, problems: list, want) -> Any:
    """A compiled expression, or None with its problem appended."""
    try:
        compiled = rule_engine.Rule(text, context=context)
    except rule_engine.errors.EngineError as e:
        at, message = _condition_error(text, e, context)
        problems.append({"field": field_name, "rule": rule_id, "position": at, "message": f"at {at}: {message}"})
        return None
    except Exception:  # e.g. nested too deeply, a literal out of range
        problems.append({"field": field_name, "rule": rule_id, "position": 0,
                         "message": "at 0: does not parse (too deep, or a literal out of range)"})
        return None
    if compiled.statement.expression.result_type not in (want, rule_engine.DataType.UNDEFINED):
        kind = "true or false" if want == rule_engine.DataType.BOOLEAN else "a number"
        problems.append({"field": field_name, "rule": rule_id, "position": 0,
                         "message": f"at 0: type mismatch: it must be {kind}"})
        return None
    return compiled


def compile_rule_set(document: str | bytes | dict, facts: Facts, reasons: tuple[str, ...],
                     kinds: tuple[str, ...] = DECISION_KINDS) -> RuleSet:
    """The rule set, checked: its shape, each rule's expression against the facts (every fact known,
    the types fit, it parses), unique rule ids, and hold reasons among `reasons`. Refused with
    InvalidArgument, one field error per fault: `rules[2].when` with `at N` (0-based character)."""
    raw = parse_document(document)
    try:
        doc = RuleSetDoc.model_validate(raw)
    except ValidationError as e:
        raise InvalidArgument("the rule set is invalid", [
            {"field": ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in err["loc"]).replace(".[", "["),
             "message": err["msg"]} for err in e.errors(include_url=False)][:50])
    context = facts.context()
    problems: list[dict] = []
    compiled: list[CompiledRule] = []
    seen: set[str] = set()
    if doc.otherwise == "hold" and doc.otherwise_reason not in reasons:
        problems.append({"field": "otherwise_reason", "message": f"one of {', '.join(reasons)}"})
    for i, rule in enumerate(doc.rules):
        if rule.id in seen:
            problems.append({"field": f"rules[{i}].id", "rule": rule.id, "message": f"rule id {rule.id!r} is used twice"})
        seen.add(rule.id)
        quantities: list = []
        for j, action in enumerate(rule.actions):
            if action.kind not in kinds:
                problems.append({"field": f"rules[{i}].actions[{j}].kind", "rule": rule.id,
                                 "message": f"one of {', '.join(kinds)}"})
            if action.kind == "hold" and action.reason not in reasons:
                problems.append({"field": f"rules[{i}].actions[{j}].reason", "rule": rule.id,
                                 "message": f"one of {', '.join(reasons)}"})
            quantities.append(None if action.quantity is None else _compile_expression(
                action.quantity, context, f"rules[{i}].actions[{j}].quantity", rule.id, problems,
                rule_engine.DataType.FLOAT))
        try:
            condition = rule_engine.Rule(rule.when, context=context)
        except rule_engine.errors.EngineError as e:
            at, message = _condition_error(rule.when, e, context)
            problems.append({"field": f"rules[{i}].when", "rule": rule.id, "position": at,
                             "message": f"at {at}: {message}"})
            continue
        except Exception:  # e.g. nested too deeply, a literal out of range
            problems.append({"field": f"rules[{i}].when", "rule": rule.id, "position": 0,
                             "message": "at 0: does not parse (too deep, or a literal out of range)"})
            continue
        if condition.statement.expression.result_type not in (rule_engine.DataType.BOOLEAN, rule_engine.DataType.UNDEFINED):
            problems.append({"field": f"rules[{i}].when", "rule": rule.id, "position": 0,
                             "message": "at 0: type mismatch: a condition must be true or false"})
            continue
        compiled.append(CompiledRule(rule, condition,
                                     tuple(n for n in _reads(_tokens(rule.when)) if n in facts.types),
                                     tuple(quantities)))
    if problems:
        raise InvalidArgument(f"the rule set is invalid ({len(problems)} problem{'s' if len(problems) > 1 else ''})",
                              problems)
    return RuleSet(doc, tuple(compiled))


def compile_conditions(conditions: list[tuple[str, str]], facts: Facts) -> list[tuple[rule_engine.Rule, tuple[str, ...]]]:
    """Conditions that are not rules of a rule set (an approval chain's steps): each (field,
    expression) checked as `compile_rule_set` checks a rule's `when`. Returns (condition, facts it
    reads) per entry; InvalidArgument with one field error (and position) per fault."""
    context, problems, out = facts.context(), [], []
    for name, when in conditions:
        try:
            condition = rule_engine.Rule(when, context=context)
        except rule_engine.errors.EngineError as e:
            at, message = _condition_error(when, e, context)
            problems.append({"field": name, "position": at, "message": f"at {at}: {message}"})
            continue
        except Exception:
            problems.append({"field": name, "position": 0,
                             "message": "at 0: does not parse (too deep, or a literal out of range)"})
            continue
        if condition.statement.expression.result_type not in (rule_engine.DataType.BOOLEAN, rule_engine.DataType.UNDEFINED):
            problems.append({"field": name, "position": 0,
                             "message": "at 0: type mismatch: a condition must be true or false"})
            continue
        out.append((condition, tuple(n for n in _reads(_tokens(when)) if n in facts.types)))
    if problems:
        raise InvalidArgument(f"the document is invalid ({len(problems)} problem{'s' if len(problems) > 1 else ''})",
                              problems)
    return out


def validation_problems(e: ValidationError) -> list[dict]:
    """A pydantic refusal of a document as field errors (`steps[0].approver`)."""
    return [{"field": ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in err["loc"]).replace(".[", "["),
             "message": err["msg"]} for err in e.errors(include_url=False)][:50]


def _plain(value):
    """A fact's value as JSON keeps it (Decimal as text, so money stays exact)."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def prepare(facts: Facts, values: dict) -> dict:
    """The facts as the expressions see them: numbers as Decimal, lists as tuples."""
    out = {}
    for name, kind in facts.types.items():
        v = values.get(name)
        if kind == "number":
            v = Decimal(str(v if v is not None else 0))
        elif kind == "numbers":
            v = tuple(Decimal(str(x)) for x in (v or ()))
        elif kind == "strings":
            v = tuple(str(x) for x in (v or ()))
        elif kind == "boolean":
            v = bool(v)
        else:
            v = "" if v is None else str(v)
        out[name] = v
    return out


def evaluate(rule_set: RuleSet, facts: Facts, values: dict) -> Decision:
    """Every rule in order (until a matched `stop`), and the outcome: held by the first matched hold,
    else approved by `otherwise` (or held with its reason). Never raises for a rule that fails on
    these values: that rule counts as not matched and its trace says why."""
    seen = prepare(facts, values)
    decision = Decision(outcome="approve")
    held = False
    for compiled in rule_set.rules:
        rule = compiled.rule
        entry: dict[str, Any] = {"rule": rule.id, "facts": {n: _plain(seen[n]) for n in compiled.reads}}
        try:
            matched = bool(compiled.condition.matches(seen))
        except Exception as e:  # a rule that fails on these values does not match
            matched, entry["error"] = False, str(e)
        entry["matched"] = matched
        decision.trace.append(entry)
        if not matched:
            continue
        for action, quantity in zip(rule.actions, compiled.quantities or (None,) * len(rule.actions)):
            done: dict[str, Any] = {"rule": rule.id, **action.model_dump(exclude_none=True)}
            if quantity is not None:
                try:
                    done["units"] = _plain(quantity.evaluate(seen))
                except Exception as e:  # a quantity that fails on these values suggests nothing
                    done["error"] = str(e)
            decision.actions.append(done)
            if action.kind == "hold" and not held:
                held = True
                decision.outcome, decision.reason, decision.rule_id = "hold", action.reason, rule.id
            elif action.kind == "approve" and not held and decision.rule_id is None:
                decision.rule_id = rule.id
        if rule.stop:
            entry["stopped"] = True
            break
    if not held and decision.rule_id is None and rule_set.doc.otherwise == "hold":
        decision.outcome, decision.reason = "hold", rule_set.doc.otherwise_reason
    return decision


def dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=_plain)
