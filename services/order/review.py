"""Review (审单): the merchant's rule set decides, once inventory has answered an order (by default), or
when it is placed (HUB_ORDER_REVIEW_STAGE=before_reservation, services.order.reservation), whether it is
released (approved) or held with a typed reason; every decision is stored with the rule-set version,
the facts it saw and the trace (hubkit.rules), and a draft rule set can be replayed over the stored
facts of a past window without changing anything.

Facts come from the order service's own tables: the order and its lines, the reservation answers,
the customer's other orders and returns (on every channel buyer of a merged customer), and three
projections of other services' events: the customer terms (tier, credit limit, the customer a channel
buyer belongs to) in customer_terms, the SKUs' categories in sku_categories (inventory's
sku_changed) and what each buyer owes in the books in customer_receivables (accounting's
voucher_posted)."""
from __future__ import annotations

import functools
import json
import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from prometheus_client import Counter
from sqlalchemy import BigInteger, Numeric, bindparam, cast, distinct, func, literal, null, or_, select, union_all, update
from sqlalchemy.exc import IntegrityError

from contracts import OrderPrioritised
from hubkit import clock, rules
from hubkit.db import Database, UnitOfWork, as_utc, once_per_transaction
from hubkit.errors import Conflict, InvalidArgument, NotFound
from hubkit.money import cents, convert
from hubkit.sql import cents_sum, dialect_insert, once_per_dialect
from services.order import domain, holds, prices
from services.order.models import (
    customer_receivables,
    customer_terms,
    order_lines,
    order_returns,
    orders,
    review_decisions,
    review_rule_sets,
    sku_categories,
)

# The facts a rule may read, declared once (validation checks every condition against them).
FACTS = rules.Facts({
    "channel": "string", "shop": "string", "currency": "string",
    "amount": "number",              # the order's total, in its currency
    "line_count": "number", "skus": "strings",
    "categories": "strings",         # the lines' SKUs' categories, distinct, sorted (inventory's SKU master)
    "quantities": "numbers", "total_quantity": "number",
    "discount_ratio": "number",      # 1 - paid / list (unit price x quantity), 0 without a discount
    "buyer_message": "boolean",      # the buyer wrote to the seller (orders.buyer_message not blank)
    "province": "string", "city": "string",
    "address_complete": "boolean",   # recipient, phone, province, city and street all given
    "customer_tier": "string",       # from customer_terms ("" when none), e.g. vip
    "has_credit_limit": "boolean", "credit_limit": "number",
    "exposure": "number",            # books' currency: what the customer (every channel buyer of a merged
                                     # customer) owes in the books (receivable) plus their open orders not
                                     # held (released, not shipped), this one included
    "credit_available": "number",    # credit_limit - exposure (negative: over the limit); 0 without a limit
    "customer_orders": "number",     # the customer's orders in the return window (on every channel)
    "customer_returns": "number",    # of those, how many had goods sent back
    "return_rate": "number",         # customer_returns / customer_orders (0 without orders)
    "stock_covers": "boolean",       # inventory reserved every line (false before reservation: none is)
    "review_stage": "string",        # after_reservation, or before_reservation (inventory not asked yet)
    "unit_prices": "numbers", "max_unit_price": "number",
    "line_values": "numbers",        # what each line is worth (its amount)
    "max_line_value": "number",
    "below_list_price": "boolean",   # a line's paid unit price (amount / quantity) is below the price list's
                                     # price for it (services.order.prices; lists in the order's currency,
                                     # in force on the day it was placed); false without a list in force
})
DEFAULT_FILE = Path(__file__).with_name("default_rules.yaml")
REVIEWER = "review"  # who holds what the rules hold
DEFAULT_WINDOW_DAYS = 30
REVIEWED = Counter("hub_order_reviews_total", "Orders reviewed by the rules, by outcome and hold reason",
                   ["outcome", "reason"])


def compile_document(document) -> rules.RuleSet:
    """A rule set checked against the order facts and hold reasons, and its parameters."""
    rule_set = rules.compile_rule_set(document, FACTS, domain.HOLD_REASONS)
    window = rule_set.doc.parameters.get("return_window_days", DEFAULT_WINDOW_DAYS)
    if isinstance(window, bool) or not isinstance(window, int) or not 1 <= window <= 366:
        raise InvalidArgument("the rule set is invalid", [{"field": "parameters.return_window_days",
                                                           "message": "a whole number of days from 1 to 366"}])
    unknown = sorted(set(rule_set.doc.parameters) - {"return_window_days"})
    if unknown:
        raise InvalidArgument("the rule set is invalid", [{"field": f"parameters.{unknown[0]}",
                                                           "message": "unknown parameter (known: return_window_days)"}])
    return rule_set


@functools.cache
def default_rule_set() -> rules.RuleSet:
    return compile_document(DEFAULT_FILE.read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=32)
def _compiled(version: int, document: str) -> rules.RuleSet:  # a version's document never changes
    return compile_document(document)


# The statements every review runs are built once, their values given at execute (p_* parameters):
# building them and their cache keys per batch was most of a review's CPU.
_IN_FORCE = (select(review_rule_sets.c.version, review_rule_sets.c.document)
             .order_by(review_rule_sets.c.version.desc()).limit(1))
# the lines with their SKUs' categories (sku_categories, "" or none: no category): one statement
_LINES = (select(order_lines, sku_categories.c.category)
          .outerjoin(sku_categories, sku_categories.c.sku == order_lines.c.sku)
          .where(order_lines.c.order_id.in_(bindparam("p_ids", expanding=True)))
          .order_by(order_lines.c.order_id, order_lines.c.line_no))
# the buyers' terms and, in the same statement, every other channel buyer of the customers they belong to
# (customer_terms.customer_id: the customer service's merges); a row is a buyer's own when its pair is asked
_BUYER = (customer_terms.c.channel.in_(bindparam("p_channels", expanding=True))
          & customer_terms.c.external_id.in_(bindparam("p_external_ids", expanding=True)))
_GROUPS = (select(customer_terms.c.customer_id).where(_BUYER, customer_terms.c.customer_id != "")
           .scalar_subquery())
_TERMS = select(customer_terms).where(_BUYER | customer_terms.c.customer_id.in_(_GROUPS))
_INSERT_DECISIONS = review_decisions.insert()


def in_force(s) -> tuple[int, rules.RuleSet]:
    """(version, rule set) in force: the newest applied, else the shipped default (version 0). Compiled
    once per version and document (_compiled): a cache keyed by the version alone would be wrong for a
    version whose transaction rolled back, or in a process that serves more than one database."""
    row = s.execute(_IN_FORCE).first()
    return (row.version, _compiled(row.version, row.document)) if row else (0, default_rule_set())


# -- deciding ----------------------------------------------------------------
def review_answered(uow: UnitOfWork, answered) -> None:
    """Review the orders inventory has answered for the first time (no decision yet, still open and
    not held): one rule set read per transaction, their facts gathered in four statements, each
    decision stored, holds placed in the same transaction. `answered`: the orders' rows, with whether
    a decision was stored for them (`reviewed`), as the order worker read them."""
    candidates = [o for o in answered if o.status in (domain.RESERVED, domain.BACKORDERED) and not o.reviewed]
    if candidates:
        _decide(uow, candidates)


def review_placed(uow: UnitOfWork, order_id: str) -> dict:
    """Review a new order when it is placed, before it asks inventory to reserve (the review stage
    before_reservation): nothing is reserved yet, so stock_covers is false and review_stage says
    before_reservation. A hold keeps it from asking until it is released; the caller asks
    (reservation.request) when it is not held. Inventory's first answer does not review it again."""
    [decided] = _decide(uow, [uow.session.execute(select(orders).where(orders.c.id == order_id)).one()])
    return decided


def review_again(uow: UnitOfWork, order_id: str, why: str) -> dict | None:
    """An order whose facts changed (a channel's new version with another address, an operator's new
    shipping address) is reviewed again by the rule set in force, while it is not shipped or cancelled
    and once it has had its first review (before that, inventory's first answer reviews it with the new
    facts). The new decision is stored beside the earlier ones and its holds placed (a hold given already
    and still open is that hold again). A hold the new decision no longer gives stays: a person placed or
    saw it, and a person releases it. Audited as `review`, naming why. Returns the decision, or None
    when the order was not reviewed again."""
    s = uow.session
    order = s.execute(select(orders).where(orders.c.id == order_id, orders.c.status.in_(domain.OPEN))).first()
    if order is None or s.execute(select(review_decisions.c.id).where(review_decisions.c.order_id == order_id)
                                  .limit(1)).first() is None:
        return None
    [decided] = _decide(uow, [order])
    holds.audit(uow, order_id, "review", why, decision=decided["id"], outcome=decided["outcome"],
                reason=decided["reason"], rule=decided["rule"], rule_set_version=decided["rule_set_version"])
    return decided


def _decide(uow: UnitOfWork, candidates) -> list[dict]:
    """Evaluate the rule set in force (read once per transaction) over these orders, store each decision
    and act on it, in the caller's transaction."""
    s = uow.session
    version, rule_set = once_per_transaction(s, "order.review.rule_set", lambda: in_force(s))
    now = clock.now()
    facts = gather_facts(s, candidates, rule_set, now)
    decided = []
    for order in candidates:
        decision = rules.evaluate(rule_set, FACTS, facts[order.id])
        decided.append(dict(id=uuid.uuid4().hex, order_id=order.id, rule_set_version=version,
                            outcome=decision.outcome, reason=decision.reason, rule=decision.rule_id,
                            facts=rules.dumps(facts[order.id]), trace=rules.dumps(decision.trace),
                            actions=rules.dumps(decision.actions), decided_at=now))
        _act(uow, order, decision)
        uow.after_commit(functools.partial(_count, decision.outcome, decision.reason or ""))
    s.execute(_INSERT_DECISIONS, decided)
    return decided


def _count(outcome: str, reason: str) -> None:
    REVIEWED.labels(outcome, reason).inc()


def _act(uow: UnitOfWork, order, decision: rules.Decision) -> None:
    """What the matched rules said: priority and the outbound double check on the order, then the hold
    (with the rule's notes). A route to a warehouse is recorded in the decision only. A priority only
    rises; a raised one is told to inventory (order_prioritised), which reserved the order already and
    fills its backorders by it; an order that has not asked inventory to reserve yet (reviewed before
    reservation) carries it on its order_placed instead."""
    changes: dict = {}
    notes = []
    raised_by = None
    for action in decision.actions:
        if action["kind"] == "set_priority":
            if action["priority"] > max(changes.get("priority", 0), order.priority):
                changes["priority"], raised_by = action["priority"], action.get("rule")
        elif action["kind"] == "double_check":
            changes["double_check"] = True
        elif action["kind"] == "note":
            notes.append(action["note"])
    if changes:
        uow.session.execute(update(orders).where(orders.c.id == order.id).values(**changes))
    if "priority" in changes and order.reservation_requested_at is not None:
        uow.emit(OrderPrioritised(order_id=order.id, priority=changes["priority"], rule=raised_by), order.id)
    if decision.outcome == "hold":
        note = "; ".join([f"rule {decision.rule_id or 'otherwise'}", *notes])[:domain.MAX_NOTE]
        holds.place(uow, order.id, decision.reason or "needs_review", by=REVIEWER, note=note, rule=decision.rule_id)


def _split_key(key: str) -> tuple[str, str]:
    channel, _, external_id = key.partition(":")
    return channel, external_id


def _in_books(total, rate) -> Decimal:
    """An order's total in the books' currency: converted at the order's rate, to the cent."""
    return Decimal(total).quantize(Decimal("0.01")) if rate is None else convert(total, rate)


def counterparty(customer_key: str) -> str:
    """The books' name of the buyer a customer key names (receivables.debtor for a buyer who owes)."""
    return f"customer:{customer_key}"[:128]


def gather_facts(s, candidates, rule_set: rules.RuleSet, now: datetime) -> dict[str, dict]:
    """The facts of each order, read set-based: its lines and their SKUs' categories, the price lists, its
    customer's terms with the other buyers of that customer, then in one statement what the customer owes
    and has released and their orders and returns in the window."""
    ids = [o.id for o in candidates]
    lines: dict[str, list] = {}
    category: dict[str, str] = {}
    for line in s.execute(_LINES, {"p_ids": ids}):
        lines.setdefault(line.order_id, []).append(line)
        if line.category:
            category[line.sku] = line.category
    skus = sorted({l.sku for own in lines.values() for l in own})
    listed_prices = prices.load(s, skus=skus) if skus else []
    keys = sorted({o.customer_key for o in candidates if o.customer_key})
    terms, exposure = {}, {}
    placed: dict[str, int] = {}
    returned: dict[str, int] = {}
    buyers: dict[str, set[str]] = {}  # customer key -> the keys of every channel buyer of its customer
    if keys:
        pairs = {_split_key(k) for k in keys}
        rows = s.execute(_TERMS, {"p_channels": sorted({c for c, _ in pairs}),
                                  "p_external_ids": sorted({e for _, e in pairs})}).all()
        for t in rows:
            if (t.channel, t.external_id) in pairs:
                terms[f"{t.channel}:{t.external_id}"] = t
        buyers = _customer_buyers(keys, terms, rows)
        window = int(rule_set.doc.parameters.get("return_window_days", DEFAULT_WINDOW_DAYS))
        exposure, placed, returned = _customer_sums(s, sorted(set().union(*buyers.values())), ids,
                                                    now - timedelta(days=window))
    out = {}
    for o in candidates:
        key, own = o.customer_key, lines.get(o.id, [])
        term = terms.get(key) if key else None
        listed = sum((l.unit_price * l.quantity for l in own), Decimal("0"))
        paid = sum((l.amount for l in own), Decimal("0"))
        address = json.loads(o.shipping_address)
        group = buyers.get(key, set()) if key else set()
        n_orders, n_returns = sum(placed.get(k, 0) for k in group), sum(returned.get(k, 0) for k in group)
        owed = sum((exposure[k] for k in group), Decimal("0.00")) if key else _in_books(o.total, o.exchange_rate)
        out[o.id] = {
            "channel": o.channel, "shop": o.shop, "currency": o.currency, "amount": o.total,
            "line_count": len(own), "skus": [l.sku for l in own],
            "categories": sorted({category[l.sku] for l in own if category.get(l.sku)}),
            "quantities": [l.quantity for l in own], "total_quantity": sum(l.quantity for l in own),
            "discount_ratio": (Decimal(1) - paid / listed).quantize(Decimal("0.0001")) if listed > 0 else Decimal(0),
            "buyer_message": bool((o.buyer_message or "").strip()),
            "province": address.get("province", ""), "city": address.get("city", ""),
            "address_complete": all(address.get(k) for k in ("recipient", "phone", "province", "city", "street")),
            "customer_tier": term.tier if term else "",
            "has_credit_limit": bool(term is not None and term.credit_limit is not None),
            "credit_limit": term.credit_limit if term is not None and term.credit_limit is not None else Decimal(0),
            "exposure": owed,
            "credit_available": term.credit_limit - owed if term is not None and term.credit_limit is not None
            else Decimal(0),
            "customer_orders": n_orders, "customer_returns": n_returns,
            "return_rate": (Decimal(n_returns) / n_orders).quantize(Decimal("0.0001")) if n_orders else Decimal(0),
            "stock_covers": bool(own) and all(l.reservation == domain.RESERVED for l in own),
            "review_stage": "after_reservation" if o.reservation_requested_at is not None else "before_reservation",
            "unit_prices": [l.unit_price for l in own], "max_unit_price": max((l.unit_price for l in own), default=0),
            "line_values": [l.amount for l in own], "max_line_value": max((l.amount for l in own), default=0),
            "below_list_price": _below_list_price(listed_prices, o, own, term.tier if term else ""),
        }
    return out


def _below_list_price(lists: list, order, own: list, tier: str) -> bool:
    if not lists or not own:
        return False
    mine = [pl for pl in lists if pl.currency == order.currency]
    on = clock.local(as_utc(order.created_at)).date()
    for line in own:
        applies = prices.resolve(mine, line.sku, order.channel, tier, line.quantity, on)
        if applies is not None and line.quantity > 0 and cents(line.amount / line.quantity) < applies.line.unit_price:
            return True
    return False


def _customer_buyers(keys: list[str], terms: dict, rows) -> dict[str, set[str]]:
    """Per customer key, the keys of every channel buyer of the same customer (customer_terms.customer_id,
    the customer service's merges), itself included; a buyer in no group is a customer alone.
    Who belongs to whom is the customer service's (it merges); the facts added up over them (exposure,
    orders, returns) are review's own, read from its tables as the order is reviewed: current to this
    very order, with no call to another service, and no copy of them that lags behind the order."""
    groups = {t.customer_id for t in terms.values() if t.customer_id}
    members: dict[str, set[str]] = {}
    for t in rows:  # _TERMS: the buyers asked and every member of their groups
        if t.customer_id in groups:
            members.setdefault(t.customer_id, set()).add(f"{t.channel}:{t.external_id}"[:128])
    out = {}
    for key in keys:
        term = terms.get(key)
        out[key] = members.get(term.customer_id, set()) | {key} if term is not None and term.customer_id else {key}
    return out


RELEASED_UNSHIPPED = (domain.RESERVED, domain.BACKORDERED)  # answered by inventory, not held, not shipped
_NO_RATE = cast(null(), Numeric(18, 8))
# one statement for what review adds up per buyer: the open orders' totals per buyer and rate (kind "o"),
# the buyers' receivables (kind "b", no rate), both in whole cents (the receivable is kept to the cent),
# then the buyers' orders (kind "p") and orders with returns (kind "r") in the window, counted
_SUMS = union_all(
    select(literal("o").label("kind"), orders.c.customer_key.label("name"), orders.c.exchange_rate.label("rate"),
           cents_sum(orders.c.total).label("n"))
    .where(orders.c.customer_key.in_(bindparam("p_keys", expanding=True)),
           or_(orders.c.status.in_(RELEASED_UNSHIPPED), orders.c.id.in_(bindparam("p_reviewed", expanding=True))))
    .group_by(orders.c.customer_key, orders.c.exchange_rate),
    select(literal("b"), customer_receivables.c.counterparty, _NO_RATE,
           cast(func.round(customer_receivables.c.balance * 100), BigInteger))
    .where(customer_receivables.c.counterparty.in_(bindparam("p_names", expanding=True))),
    select(literal("p"), orders.c.customer_key, _NO_RATE, func.count())
    .where(orders.c.customer_key.in_(bindparam("p_keys", expanding=True)), orders.c.created_at >= bindparam("p_since"))
    .group_by(orders.c.customer_key),
    select(literal("r"), orders.c.customer_key, _NO_RATE, func.count(distinct(order_returns.c.order_id)))
    .select_from(order_returns.join(orders, orders.c.id == order_returns.c.order_id))
    .where(orders.c.customer_key.in_(bindparam("p_keys", expanding=True)),
           order_returns.c.created_at >= bindparam("p_since"))
    .group_by(orders.c.customer_key))


def _customer_sums(s, keys: list[str], reviewed: list[str],
                   since: datetime) -> tuple[dict[str, Decimal], dict[str, int], dict[str, int]]:
    """Per customer key: its exposure, in the books' currency: what the buyer owes in the books (their
    receivable, customer_receivables) plus the totals of their orders released and not yet shipped
    (reserved or backordered, not held), and the orders under review, each converted at its own rate
    (pending, not yet reviewed, held, shipped: in the receivable once accounting posted the sale, and
    cancelled orders are not counted); and its orders, and orders with returns, since `since`."""
    exposure = {key: Decimal("0.00") for key in keys}
    placed: dict[str, int] = {}
    returned: dict[str, int] = {}
    names = {counterparty(k): k for k in keys}
    for kind, name, rate, n in s.execute(_SUMS, {"p_keys": keys, "p_reviewed": reviewed, "p_names": sorted(names),
                                                 "p_since": since}):
        if kind == "o":
            exposure[name] += _in_books(Decimal(int(n)).scaleb(-2), rate)
        elif kind == "b":
            exposure[names[name]] += Decimal(int(n)).scaleb(-2)
        else:
            (placed if kind == "p" else returned)[name] = int(n)  # the column is numeric (the sums')
    return exposure, placed, returned


# -- rule sets -----------------------------------------------------------------
def _version_dict(row, in_force_version: int) -> dict:
    doc = json.loads(row["document"])
    return {"version": row["version"], "name": row["name"], "note": row["note"], "created_by": row["created_by"],
            "created_at": as_utc(row["created_at"]).isoformat() if row["created_at"] else "",
            "rules": len(doc.get("rules", [])), "in_force": row["version"] == in_force_version,
            "document": row["document"]}


def _default_row() -> dict:
    return {"version": 0, "name": default_rule_set().doc.name, "note": "shipped default", "created_by": "hub",
            "created_at": None, "document": default_rule_set().as_json()}


def apply_rule_set(uow: UnitOfWork, document, note: str = "") -> dict:
    """Validate and put in force as the next version (the rule set is refused whole, naming the rule,
    field and position, when it does not validate)."""
    rule_set = compile_document(document)
    if len(note or "") > 500:
        raise InvalidArgument("the rule set is invalid", [{"field": "note", "message": "at most 500 characters"}])
    s = uow.session
    version = (s.execute(select(func.max(review_rule_sets.c.version))).scalar() or 0) + 1
    row = dict(version=version, name=rule_set.doc.name, document=rule_set.as_json(), note=note or "",
               created_by=uow.actor, created_at=clock.now())
    try:
        with s.begin_nested():
            s.execute(review_rule_sets.insert().values(**row))
    except IntegrityError:
        raise Conflict("another rule set was applied at the same time; try again")
    return _version_dict(row, version)


def roll_back(uow: UnitOfWork, version: int) -> dict:
    """Put an earlier version's document in force again, as a new version (0: the shipped default)."""
    if version == 0:
        document = default_rule_set().as_json()
    else:
        document = uow.session.execute(select(review_rule_sets.c.document)
                                       .where(review_rule_sets.c.version == version)).scalar()
        if document is None:
            raise NotFound(f"rule set version {version} not found")
    return apply_rule_set(uow, document, f"rolled back to version {version}")


def rule_set_versions(db: Database) -> list[dict]:
    """Every version, newest first, the shipped default (0) last; which one is in force."""
    with db.reader() as s:
        rows = [dict(r._mapping) for r in s.execute(select(review_rule_sets)
                                                    .order_by(review_rule_sets.c.version.desc()))]
    current = rows[0]["version"] if rows else 0
    return [_version_dict(r, current) for r in [*rows, _default_row()]]


# -- explaining and replaying -----------------------------------------------------
def _decision_dict(row) -> dict:
    return {"id": row.id, "order_id": row.order_id, "rule_set_version": row.rule_set_version,
            "outcome": row.outcome, "reason": row.reason or "", "rule": row.rule or "",
            "facts": row.facts, "trace": row.trace, "actions": row.actions,
            "decided_at": as_utc(row.decided_at).isoformat()}


def decisions(db: Database, order_id: str) -> list[dict]:
    with db.reader() as s:
        if s.execute(select(orders.c.id).where(orders.c.id == order_id)).first() is None:
            raise NotFound(f"order {order_id} not found")
        rows = s.execute(select(review_decisions).where(review_decisions.c.order_id == order_id)
                         .order_by(review_decisions.c.decided_at)).all()
    return [_decision_dict(r) for r in rows]


MAX_DIFFERENCES = 1000
MAX_REPLAYED = 20_000  # about 6 s of evaluation: within the gateway's deadline for one call


def replay(db: Database, document, since: datetime, until: datetime, limit: int = 100) -> dict:
    """Evaluate a draft rule set over the stored facts of the decisions taken in [since, until),
    changing nothing, and list the orders whose outcome (approve, or hold and its reason) would differ,
    with the rule that decided before and the rule that would decide now."""
    draft = compile_document(document)
    if since >= until:
        raise InvalidArgument("the window is empty", [{"field": "until", "message": "must be after since"}])
    limit = max(1, min(limit or 100, MAX_DIFFERENCES))
    evaluated = changed = 0
    differences: list[dict] = []
    window = (review_decisions.c.decided_at >= since, review_decisions.c.decided_at < until)
    query = (select(review_decisions.c.order_id, review_decisions.c.rule_set_version, review_decisions.c.outcome,
                    review_decisions.c.reason, review_decisions.c.rule, review_decisions.c.facts,
                    review_decisions.c.decided_at)
             .where(*window)
             .order_by(review_decisions.c.decided_at, review_decisions.c.id))
    with db.reader() as s:
        count = s.execute(select(func.count()).select_from(review_decisions).where(*window)).scalar()
        if count > MAX_REPLAYED:
            raise InvalidArgument("the window is too large", [{"field": "since", "message": (
                f"the window holds {count} decisions; at most {MAX_REPLAYED} are replayed at once: narrow it")}])
        for row in s.execute(query.execution_options(yield_per=1000)):
            evaluated += 1
            would = rules.evaluate(draft, FACTS, json.loads(row.facts))
            if (would.outcome, would.reason or "") == (row.outcome, row.reason or ""):
                continue
            changed += 1
            if len(differences) < limit:
                differences.append({
                    "order_id": row.order_id, "decided_at": as_utc(row.decided_at).isoformat(),
                    "was": {"outcome": row.outcome, "reason": row.reason or "", "rule": row.rule or "",
                            "rule_set_version": row.rule_set_version},
                    "would": {"outcome": would.outcome, "reason": would.reason or "", "rule": would.rule_id or ""}})
    return {"evaluated": evaluated, "changed": changed, "differences": differences}


# -- customer terms ---------------------------------------------------------------
def apply_customer_terms(uow: UnitOfWork, event) -> None:
    """customer_terms_changed from the customer service: the projection review reads, per channel and
    buyer id (a buyer the channel gave no id cannot be matched to an order: nothing to keep), with the
    customer it belongs to (its group: a merge or an unmerge moves the buyer to another). The
    inbox's sequence per customer makes an older change arriving late change nothing."""
    if not event.external_id:
        return
    s, now = uow.session, clock.now()
    values = dict(tier=event.tier, credit_limit=event.credit_limit, customer_id=event.group_id or event.customer_id,
                  updated_by=uow.actor, updated_at=now)
    if not s.execute(update(customer_terms).where(customer_terms.c.channel == event.channel,
                                                  customer_terms.c.external_id == event.external_id)
                     .values(**values)).rowcount:
        s.execute(customer_terms.insert().values(channel=event.channel, external_id=event.external_id, **values))


# -- SKU categories and receivables ----------------------------------------------------------
@once_per_dialect
def _upsert_category(s):
    insert = dialect_insert(s, sku_categories)
    return insert.on_conflict_do_update(index_elements=[sku_categories.c.sku], set_={
        "category": insert.excluded.category, "updated_at": insert.excluded.updated_at})


def apply_sku_changes(uow: UnitOfWork, events) -> None:
    """sku_changed from inventory (its SKU master owns the category): the projection review reads. The
    inbox's sequence per SKU makes an older change arriving late change nothing."""
    rows = {e.sku: dict(sku=e.sku, category=e.category, updated_at=clock.now()) for e in events}
    if rows:
        uow.session.execute(_upsert_category(uow.session), list(rows.values()))


@once_per_dialect
def _add_to_receivable(s):
    insert = dialect_insert(s, customer_receivables)
    return insert.on_conflict_do_update(index_elements=[customer_receivables.c.counterparty], set_={
        "balance": customer_receivables.c.balance + insert.excluded.balance,
        "updated_at": insert.excluded.updated_at})


def moves_receivable(event, receivable_account: str) -> bool:
    """Whether a voucher_posted has a line apply_vouchers keeps (the receivable account, a buyer named)."""
    return any(line.account == receivable_account and line.aux.startswith("customer:") for line in event.lines)


def apply_vouchers(uow: UnitOfWork, events, receivable_account: str) -> None:
    """voucher_posted from accounting: each buyer's receivable (debits less credits of the receivable
    account's lines naming a `customer:` counterparty, in the books' currency) added to what the
    projection keeps. A sum: the vouchers' order does not matter; the inbox applies each once."""
    moved: dict[str, Decimal] = {}
    for event in events:
        for line in event.lines:
            if line.account == receivable_account and line.aux.startswith("customer:"):
                moved[line.aux] = moved.get(line.aux, Decimal("0.00")) + Decimal(line.debit) - Decimal(line.credit)
    rows = [dict(counterparty=name[:128], balance=amount, updated_at=clock.now())
            for name, amount in sorted(moved.items()) if amount]
    if rows:
        uow.session.execute(_add_to_receivable(uow.session), rows)
