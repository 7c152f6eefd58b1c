"""One customer across channels, and what the merchant knows of them: merges (by the phone hash, or
by an operator) and unmerges, tags and notes (audited: who, when, why), tiers by the rules in force
(with their history and trace), the credit exposure and the return rate.

A customer row stays one channel identity with its own history and counters; a merge links rows
(`merged_into`: the group's root), so the merged customer's history, value and facts are the group's,
and an unmerge takes the link away and they come apart. Nothing here logs names, phones or emails."""
from __future__ import annotations

import functools
import json
import logging
import uuid
from datetime import datetime, timedelta
from decimal import Decimal

from prometheus_client import Counter
from sqlalchemy import bindparam, case, distinct, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from contracts import CustomerTermsChanged
from hubkit import clock, rules
from hubkit.db import Database, UnitOfWork, as_utc, once_per_transaction
from hubkit.errors import Conflict, FieldErrors, InvalidArgument, NotFound
from hubkit.sql import dialect_insert, once_per_dialect
from services.customer import domain, tiers
from services.customer.models import (
    after_sales,
    audit,
    customer_orders,
    customers,
    merges,
    notes,
    payments,
    receivables,
    tags,
    tier_history,
    tier_rule_sets,
)

log = logging.getLogger(__name__)
DEDUP = "dedup"  # the actor of a merge the phone hash made
RULES, OPERATOR = "rules", "operator"  # who set a tier (the tier history's source)
MAX_WHY, MAX_NOTE, MAX_LISTED = 500, 2000, 200
ZERO = Decimal("0.00")
# labels are who and what, never a customer or a phone
CHANGES = Counter("hub_customer_changes_total", "Merges, unmerges and tier changes of customers, by who made them "
                  "(dedup: the phone hash; rules: the tier rules; operator)", ["change", "by"])


def _count(uow: UnitOfWork, change: str, by: str, n: int = 1) -> None:
    uow.after_commit(lambda: CHANGES.labels(change, by).inc(n))


def _required_text(errors: FieldErrors, name: str, value: str, max_len: int) -> str:
    value = (value or "").strip()
    if not value or len(value) > max_len:
        errors.add(name, f"required, at most {max_len} characters")
    return value


def _row(s, customer_id: str, lock: bool = False):
    query = select(customers).where(customers.c.id == customer_id)
    row = s.execute(query.with_for_update() if lock else query).first() if customer_id else None
    if row is None:
        raise NotFound(f"customer {customer_id} not found")
    return row


def root_of(s, customer_id: str, lock: bool = False):
    """The row that stands for the customer: itself, or the customer it was merged into."""
    row = _row(s, customer_id, lock)
    return _row(s, row.merged_into, lock) if row.merged_into else row


def members(s, root_id: str) -> list:
    """The root and every row merged into it, the root first."""
    rows = s.execute(select(customers).where(or_(customers.c.id == root_id, customers.c.merged_into == root_id))
                     .order_by(customers.c.created_at, customers.c.id)).all()
    return sorted(rows, key=lambda r: r.id != root_id)


def _audit(uow: UnitOfWork, customer_id: str, action: str, why: str, actor: str | None = None, **detail) -> None:
    uow.session.execute(audit.insert().values(
        id=uuid.uuid4().hex, customer_id=customer_id, action=action, actor=actor or uow.actor, at=clock.now(),
        why=why[:MAX_WHY], detail=json.dumps(detail, sort_keys=True, default=str)))


def announce_terms(uow: UnitOfWork, root, rows, tier: str | None = None) -> None:
    """customer_terms_changed for each row of the group, with the root's tier and credit limit and the
    root's id as the group: the order service's review reads them per channel buyer, so every channel
    of one customer sees the same terms, and adds up the exposure and return rate over the group."""
    now = clock.now()
    for m in rows:
        uow.emit(CustomerTermsChanged(customer_id=m.id, channel=m.channel, external_id=m.external_id,
                                      tier=tier or root.tier, credit_limit=root.credit_limit, changed_at=now,
                                      group_id=root.id), m.id)


# -- merging -----------------------------------------------------------------------
def merge(uow: UnitOfWork, customer_id: str, into_id: str, why: str, actor: str | None = None) -> str:
    """Merge a customer (with whatever was merged into it) into another: one customer from now on,
    whose history, value and facts are the group's, and whose terms every channel's buyer gets.
    Refused: itself (422), two rows that are one customer already (409). Returns the root's id."""
    errors = FieldErrors()
    why = _required_text(errors, "why", why, MAX_WHY)
    if customer_id and customer_id == into_id:
        errors.add("into", "a customer is not merged with itself")
    errors.raise_if_any("the merge is invalid")
    s = uow.session
    for cid in sorted({customer_id, into_id}):  # lock in one order: two merges at once do not deadlock
        _row(s, cid, lock=True)
    source, target = root_of(s, customer_id, lock=True), root_of(s, into_id, lock=True)
    if source.id == target.id:
        raise Conflict(f"customers {customer_id} and {into_id} are one customer already",
                       [{"field": "into", "message": f"both are customer {target.id}"}])
    moved = [r.id for r in members(s, source.id)]
    s.execute(update(customers).where(customers.c.id.in_(moved)).values(
        merged_into=target.id, updated_by=actor or uow.actor, updated_at=clock.now()))
    s.execute(merges.insert().values(id=uuid.uuid4().hex, customer_id=source.id, into_id=target.id,
                                     moved=json.dumps(moved[1:]), merged_by=actor or uow.actor,
                                     merged_at=clock.now(), why=why))
    _audit(uow, source.id, "merged", why, actor, into=target.id, rows=moved)
    _audit(uow, target.id, "merge", why, actor, merged=source.id, rows=moved)
    # every row of the group, the target's own too: review learns the whole group, not only who moved
    announce_terms(uow, target, members(s, target.id))
    recompute_tiers(uow, [target.id])
    _count(uow, "merge", DEDUP if actor == DEDUP else OPERATOR)
    log.info("customer %s merged into %s by %s", source.id, target.id, actor or uow.actor)
    return target.id


def unmerge(uow: UnitOfWork, customer_id: str, why: str) -> str:
    """Undo the merge of this customer: it (with the rows that came with it) is its own customer again,
    with its own history, value, terms and tier. Refused (409) for a customer not merged, and for a row
    that came along with another (unmerge that one). Returns the customer's id."""
    errors = FieldErrors()
    why = _required_text(errors, "why", why, MAX_WHY)
    errors.raise_if_any("the unmerge is invalid")
    s = uow.session
    row = _row(s, customer_id, lock=True)
    merge_row = s.execute(select(merges).where(merges.c.customer_id == customer_id, merges.c.unmerged_at.is_(None))
                          .order_by(merges.c.merged_at.desc()).limit(1)).first()
    if row.merged_into is None or merge_row is None:
        raise Conflict(f"customer {customer_id} is not merged into another" if row.merged_into is None else
                       f"customer {customer_id} came with another customer's merge into {row.merged_into}; "
                       f"unmerge that one", [{"field": "id", "message": "not the customer of an open merge"}])
    came_along = json.loads(merge_row.moved)
    now = clock.now()
    s.execute(update(customers).where(customers.c.id == customer_id).values(
        merged_into=None, updated_by=uow.actor, updated_at=now))
    if came_along:
        s.execute(update(customers).where(customers.c.id.in_(came_along),
                                          customers.c.merged_into == merge_row.into_id)
                  .values(merged_into=customer_id, updated_by=uow.actor, updated_at=now))
    s.execute(update(merges).where(merges.c.id == merge_row.id).values(
        unmerged_by=uow.actor, unmerged_at=now, unmerge_why=why))
    _audit(uow, customer_id, "unmerged", why, was_in=merge_row.into_id)
    _audit(uow, merge_row.into_id, "unmerge", why, unmerged=customer_id)
    own = _row(s, customer_id)
    announce_terms(uow, own, members(s, customer_id))
    recompute_tiers(uow, [customer_id, merge_row.into_id])
    _count(uow, "unmerge", OPERATOR)
    return customer_id


# dedup_by_phone's statements, built once (values at execute), as the order history's are
_c = customers.c
_DEDUP_ROWS = select(_c.id, _c.phone, _c.phone_hash, _c.merged_into, _c.identity_key).where(
    _c.id.in_(bindparam("p_ids", expanding=True)))
_SET_PHONE_HASH = update(customers).where(_c.id == bindparam("p_id")).values(phone_hash=bindparam("p_phone_hash"))
_MERGED_BEFORE = select(merges.c.id).where(merges.c.customer_id == bindparam("p_id")).limit(1)
_HAS_MEMBERS = select(_c.id).where(_c.merged_into == bindparam("p_id")).limit(1)
_SAME_PHONE = (select(_c.id, _c.merged_into).where(_c.phone_hash == bindparam("p_phone_hash"), _c.id != bindparam("p_id"))
               .order_by(_c.created_at, _c.id).limit(1))


# (customer id, key) of the customers this transaction inserted for a buyer with a channel's buyer id, with
# the keyed hash of their phone (handlers.record_order_placed): nothing for dedup_by_phone to write or
# look for (a later order of theirs in the transaction writes the hash with the phone it takes)
PHONE_HASH_SETTLED = "customer.phone_hash_settled"


def dedup_by_phone(uow: UnitOfWork, customer_ids, key: bytes) -> None:
    """Keep the phone hash of these customers, and merge a buyer the channel knows by phone only into
    the customer that has the same phone hash (the oldest; on any channel). A buyer with a platform
    buyer id is that buyer already; a shared phone (a family, a shop's placeholder number) is not
    enough to merge two buyer ids: an operator does. A customer once unmerged is not merged again."""
    s = uow.session
    settled = s.info.get(PHONE_HASH_SETTLED, ())
    ids = sorted({cid for cid in customer_ids if (cid, key) not in settled})
    if not ids:
        return
    for row in s.execute(_DEDUP_ROWS, {"p_ids": ids}).all():
        # one row after the other, each hashed just before it looks for its twin (as a merge's
        # direction depends on which of two new twins is hashed first)
        digest = domain.phone_hash(key, row.phone)
        if digest != row.phone_hash:
            s.execute(_SET_PHONE_HASH, {"p_id": row.id, "p_phone_hash": digest})
        if not digest or row.merged_into or not row.identity_key.startswith("phone:"):
            continue
        if s.execute(_MERGED_BEFORE, {"p_id": row.id}).first() is not None:
            continue  # merged before (and unmerged by a person): left alone
        if s.execute(_HAS_MEMBERS, {"p_id": row.id}).first() is not None:
            continue  # others were merged into it: it is a customer an operator built
        other = s.execute(_SAME_PHONE, {"p_phone_hash": digest, "p_id": row.id}).first()
        if other is not None:
            merge(uow, row.id, other.merged_into or other.id, "the same phone (keyed hash)", actor=DEDUP)


# -- tags and notes ---------------------------------------------------------------------
def tag(uow: UnitOfWork, customer_id: str, name: str, remove: bool = False) -> str:
    """Tag the customer (e.g. business, wholesale), or take the tag away; audited. Tags are the
    group's: one on any merged row is the customer's."""
    errors = FieldErrors()
    name = (name or "").strip()
    if not domain.CHANNEL.match(name):  # the same shape: 1-32 letters, digits, '.', '_' or '-'
        errors.add("tag", "required: 1-32 letters, digits, '.', '_' or '-'")
    errors.raise_if_any("the tag is invalid")
    s = uow.session
    root = root_of(s, customer_id)
    ids = [r.id for r in members(s, root.id)]
    if remove:
        gone = s.execute(tags.delete().where(tags.c.customer_id.in_(ids), tags.c.tag == name)).rowcount
        if not gone:
            raise NotFound(f"customer {root.id} has no tag {name!r}")
        _audit(uow, root.id, "untag", "", tag=name)
    else:
        s.execute(_insert_tag(s), dict(customer_id=root.id, tag=name, added_by=uow.actor, added_at=clock.now()))
        _audit(uow, root.id, "tag", "", tag=name)
    recompute_tiers(uow, [root.id])
    return root.id


@once_per_dialect
def _insert_tag(s):
    return dialect_insert(s, tags).on_conflict_do_nothing(index_elements=["customer_id", "tag"])


def add_note(uow: UnitOfWork, customer_id: str, text: str) -> str:
    errors = FieldErrors()
    text = _required_text(errors, "text", text, MAX_NOTE)
    errors.raise_if_any("the note is invalid")
    s = uow.session
    root = root_of(s, customer_id)
    note_id = uuid.uuid4().hex
    s.execute(notes.insert().values(id=note_id, customer_id=root.id, text=text, written_by=uow.actor,
                                    written_at=clock.now()))
    _audit(uow, root.id, "note", "", note=note_id)
    return root.id


# -- tier rules -------------------------------------------------------------------------
@functools.lru_cache(maxsize=16)
def _compiled(version: int, document: str) -> tiers.TierRules:  # a version's document never changes
    return tiers.compile_tiers(document)


_TIER_RULES_IN_FORCE = (select(tier_rule_sets.c.version, tier_rule_sets.c.document)
                        .order_by(tier_rule_sets.c.version.desc()).limit(1))  # built once


def tier_rules_in_force(s) -> tuple[int, tiers.TierRules | None]:
    """(version, rules) in force; (0, None) before any was applied: tiers are set by hand. Read in each
    transaction, compiled once per version and document (_compiled; as services.order.review.in_force:
    a cache keyed by the version alone would be wrong for a version whose transaction rolled back, or
    in a process that serves more than one database)."""
    row = s.execute(_TIER_RULES_IN_FORCE).first()
    return (row.version, _compiled(row.version, row.document)) if row else (0, None)


def _rule_set_dict(row, current: int) -> dict:
    return {"version": row["version"], "name": row["name"], "note": row["note"], "created_by": row["created_by"],
            "created_at": as_utc(row["created_at"]).isoformat(), "in_force": row["version"] == current,
            "document": row["document"]}


def apply_tier_rules(uow: UnitOfWork, document, note: str = "") -> dict:
    """Validate and put in force as the next version; refused whole (naming the field and position)
    when it does not validate. Every customer takes their tier by it at once (an operator's tier
    stands), and again as their orders arrive."""
    compiled = tiers.compile_tiers(document)
    if len(note or "") > MAX_WHY:
        raise InvalidArgument("the tier rules are invalid", [{"field": "note", "message": "at most 500 characters"}])
    s = uow.session
    version = (s.execute(select(func.max(tier_rule_sets.c.version))).scalar() or 0) + 1
    row = dict(version=version, name=compiled.doc.name, document=compiled.as_json(), note=note or "",
               created_by=uow.actor, created_at=clock.now())
    try:
        with s.begin_nested():
            s.execute(tier_rule_sets.insert().values(**row))
    except IntegrityError:
        raise Conflict("another tier rule set was applied at the same time; try again")
    # every customer takes their tier by it now, in this transaction (about 1 s per 5,000 customers on
    # PostgreSQL, see the ARCHITECTURE): a tier that does not wait for the customer's next order
    retiered = retier_everyone(uow, version, compiled)
    log.info("tier rules version %s applied: %s customers, %s tiers changed", version, retiered["customers"],
             retiered["changed"])
    return _rule_set_dict(row, version) | {"retiered": retiered}


def tier_rule_versions(db: Database) -> list[dict]:
    with db.reader() as s:
        rows = [dict(r._mapping) for r in s.execute(select(tier_rule_sets).order_by(tier_rule_sets.c.version.desc()))]
    return [_rule_set_dict(r, rows[0]["version"]) for r in rows]


def tier_facts(s, groups: dict[str, list], period_days: int, now: datetime) -> dict[str, dict]:
    """Per customer (root id -> its rows, the root first), the facts a tier's condition reads, over
    every row of the customer (orders in its currency): a few set-based statements for all of them."""
    owner = {r.id: root_id for root_id, rows in groups.items() for r in rows}
    ids, since = sorted(owner), now - timedelta(days=period_days)
    o = customer_orders.c
    recent = o.placed_at >= since
    out = {root_id: {"spend": ZERO, "orders": 0, "lifetime_value": ZERO, "lifetime_orders": 0, "returns": 0,
                     "channels": set(), "tags": set(), "has_credit_limit": rows[0].credit_limit is not None}
           for root_id, rows in groups.items()}
    currency = {root_id: root_currency(rows) for root_id, rows in groups.items()}
    for cid, cur, spend, n, lifetime, n_all in s.execute(
            select(o.customer_id, o.currency, func.sum(case((recent, o.total), else_=0)),
                   func.sum(case((recent, 1), else_=0)), func.sum(o.total), func.count())
            .where(o.customer_id.in_(ids), o.status != domain.CANCELLED).group_by(o.customer_id, o.currency)):
        facts = out[owner[cid]]
        if cur == currency[owner[cid]]:
            facts["spend"] += Decimal(spend or 0)
            facts["orders"] += int(n or 0)
            facts["lifetime_value"] += Decimal(lifetime or 0)
            facts["lifetime_orders"] += n_all
    for returned, cid in s.execute(_returns_query(ids, since).add_columns(customer_orders.c.customer_id)
                                   .group_by(customer_orders.c.customer_id)).all():
        out[owner[cid]]["returns"] += returned
    for cid, channel in s.execute(select(o.customer_id, o.channel).where(o.customer_id.in_(ids)).distinct()):
        out[owner[cid]]["channels"].add(channel)
    for cid, name in s.execute(select(tags.c.customer_id, tags.c.tag).where(tags.c.customer_id.in_(ids))):
        out[owner[cid]]["tags"].add(name)
    for facts in out.values():
        facts.update(spend=Decimal(facts["spend"]).quantize(Decimal("0.01")),
                     lifetime_value=Decimal(facts["lifetime_value"]).quantize(Decimal("0.01")),
                     return_rate=_rate(facts["returns"], facts["orders"]),
                     channels=sorted(facts["channels"]), tags=sorted(facts["tags"]))
    return out


def root_currency(rows) -> str:
    """The customer's currency: the root's, else the first row's that has ordered."""
    return next((r.currency for r in rows if r.currency and r.order_count), rows[0].currency)


def _rate(returned: int, placed: int) -> Decimal:
    return (Decimal(returned) / placed if placed else Decimal(0)).quantize(Decimal("0.0001"))


def _returns_query(ids: list[str], since: datetime):
    """The customer's orders with goods sent back since `since` (returns, not refunds without goods)."""
    return (select(func.count(distinct(after_sales.c.order_id)))
            .join(customer_orders, customer_orders.c.order_id == after_sales.c.order_id)
            .where(customer_orders.c.customer_id.in_(ids), after_sales.c.kind == domain.RETURN,
                   after_sales.c.at >= since))


def _returns(s, ids: list[str], since: datetime) -> int:
    return s.execute(_returns_query(ids, since)).scalar() or 0


def recompute_tiers(uow: UnitOfWork, customer_ids) -> None:
    """The tier of each of these customers (their roots) by the rules in force (none: nothing changes),
    but for a customer whose tier an operator set (the terms: a manual override). A change is kept in
    the tier history with the facts and trace that decided it, and announced to review
    (customer_terms_changed) for every channel of the customer."""
    s = uow.session
    version, rules_in_force = once_per_transaction(s, "customer.tier_rules", lambda: tier_rules_in_force(s))
    if rules_in_force is None or not customer_ids:
        return
    asked = s.execute(select(customers.c.id, customers.c.merged_into)
                      .where(customers.c.id.in_(sorted(set(customer_ids))))).all()
    _retier(uow, sorted({r.merged_into or r.id for r in asked}), version, rules_in_force)


def _retier(uow: UnitOfWork, roots: list[str], version: int, rules_in_force: tiers.TierRules) -> int:
    """recompute_tiers for these roots, set-based: a few statements for all of them, one UPDATE per
    tier given, and the announcements of the customers whose tier changed. Returns how many changed."""
    s, now = uow.session, clock.now()
    # the roots locked in one order: two batches recomputing the same customer wait for each other
    s.execute(select(customers.c.id).where(customers.c.id.in_(roots)).order_by(customers.c.id).with_for_update())
    groups: dict[str, list] = {root_id: [] for root_id in roots}
    for row in s.execute(select(customers).where(or_(customers.c.id.in_(roots), customers.c.merged_into.in_(roots)))
                         .order_by(customers.c.created_at, customers.c.id)):
        groups[row.merged_into or row.id].append(row)
    for root_id, rows in groups.items():
        rows.sort(key=lambda r: r.id != root_id)
    # a tier an operator gave stands over the rules (their manual override): the latest change says who
    last: dict[str, str] = {}
    for cid, source in s.execute(select(tier_history.c.customer_id, tier_history.c.source)
                                 .where(tier_history.c.customer_id.in_(roots))
                                 .order_by(tier_history.c.at, tier_history.c.id)):
        last[cid] = source
    groups = {k: v for k, v in groups.items() if v and last.get(k) != OPERATOR}
    if not groups:
        return 0
    facts = tier_facts(s, groups, rules_in_force.doc.period_days, now)
    history, by_tier = [], {}
    for root_id, rows in groups.items():
        decision = tiers.decide(rules_in_force, facts[root_id])
        if decision.tier == rows[0].tier:
            continue
        history.append(dict(id=uuid.uuid4().hex, customer_id=root_id, tier=decision.tier, previous=rows[0].tier,
                            source=RULES, rule_set_version=version, facts=rules.dumps(facts[root_id]),
                            trace=rules.dumps(decision.trace), changed_by=uow.actor, at=now))
        by_tier.setdefault(decision.tier, []).append(root_id)
    for tier, changed in sorted(by_tier.items()):
        s.execute(update(customers).where(customers.c.id.in_(changed)).values(tier=tier, updated_at=now))
        for root_id in changed:
            announce_terms(uow, groups[root_id][0], groups[root_id], tier)
    if history:
        s.execute(tier_history.insert(), history)
        _count(uow, "tier", RULES, len(history))
    return len(history)


RETIER_BATCH = 500  # customers (roots) per round of a re-tiering: a few statements each, bounded IN lists


def retier_everyone(uow: UnitOfWork, version: int, rules_in_force: tiers.TierRules) -> dict:
    """Every customer's tier by these rules (but an operator's), in rounds of RETIER_BATCH roots in
    id order, in the caller's transaction. Returns {customers, changed}."""
    s, after, seen, changed = uow.session, "", 0, 0
    while True:
        roots = list(s.execute(select(customers.c.id).where(customers.c.merged_into.is_(None), customers.c.id > after)
                               .order_by(customers.c.id).limit(RETIER_BATCH)).scalars())
        if not roots:
            return {"customers": seen, "changed": changed}
        changed += _retier(uow, roots, version, rules_in_force)
        seen, after = seen + len(roots), roots[-1]


def record_operator_tier(uow: UnitOfWork, customer_id: str, previous: str, tier: str) -> None:
    """A tier set by hand (the terms), in the tier history: it stands over the tier rules (an override)."""
    uow.session.execute(tier_history.insert().values(
        id=uuid.uuid4().hex, customer_id=customer_id, tier=tier, previous=previous, source=OPERATOR,
        rule_set_version=None, facts="{}", trace="[]", changed_by=uow.actor, at=clock.now()))


def tier_to_rules(uow: UnitOfWork, customer_id: str, why: str = "") -> str:
    """Hand a tier an operator set back to the rules: the rules in force decide the customer's tier
    again now, and from now on as their orders arrive. Kept in the tier history (source rules, with the
    facts and trace, even when the tier stays: the override ends there), audited, and announced to
    review when the tier changes. Refused (409) without rules in force, and for a tier that is the
    rules' already. Returns the customer's id."""
    if len(why or "") > MAX_WHY:
        raise InvalidArgument("the hand-back is invalid", [{"field": "why", "message": f"at most {MAX_WHY} characters"}])
    s = uow.session
    root = root_of(s, customer_id, lock=True)
    version, rules_in_force = tier_rules_in_force(s)
    if rules_in_force is None:
        raise Conflict("no tier rules are in force: tiers are set by hand",
                       [{"field": "id", "message": "apply tier rules first (POST /customer-tiers/rules)"}])
    last = s.execute(select(tier_history.c.source).where(tier_history.c.customer_id == root.id)
                     .order_by(tier_history.c.at.desc(), tier_history.c.id.desc()).limit(1)).scalar()
    if last != OPERATOR:
        raise Conflict(f"customer {root.id}'s tier is the rules' already",
                       [{"field": "id", "message": "no tier set by an operator to hand back"}])
    rows = members(s, root.id)
    facts = tier_facts(s, {root.id: rows}, rules_in_force.doc.period_days, clock.now())[root.id]
    decision = tiers.decide(rules_in_force, facts)
    s.execute(tier_history.insert().values(
        id=uuid.uuid4().hex, customer_id=root.id, tier=decision.tier, previous=root.tier, source=RULES,
        rule_set_version=version, facts=rules.dumps(facts), trace=rules.dumps(decision.trace),
        changed_by=uow.actor, at=clock.now()))
    _audit(uow, root.id, "tier_to_rules", why or "", was=root.tier, tier=decision.tier, rule_set_version=version)
    if decision.tier != root.tier:
        s.execute(update(customers).where(customers.c.id == root.id).values(
            tier=decision.tier, updated_by=uow.actor, updated_at=clock.now()))
        announce_terms(uow, root, rows, decision.tier)
        _count(uow, "tier", RULES)
    return root.id


def explain_tier(db: Database, customer_id: str) -> dict:
    """Why the customer has their tier: the rules in force evaluated now over their facts (nothing
    changes), beside the tier they have and its history."""
    with db.reader() as s:
        root = root_of(s, customer_id)
        rows = members(s, root.id)
        version, rules_in_force = tier_rules_in_force(s)
        out: dict = {"customer_id": root.id, "tier": root.tier, "rule_set_version": version,
                     "would_be": "", "matched": "", "facts": "{}", "trace": "[]"}
        if rules_in_force is not None:
            facts = tier_facts(s, {root.id: rows}, rules_in_force.doc.period_days, clock.now())[root.id]
            decision = tiers.decide(rules_in_force, facts)
            out.update(would_be=decision.tier, matched=decision.matched or "", facts=rules.dumps(facts),
                       trace=rules.dumps(decision.trace))
        return out


# -- receivables and payments (accounting's voucher_posted) ----------------------------------
@once_per_dialect
def _add_to_receivable(s):
    insert = dialect_insert(s, receivables)
    return insert.on_conflict_do_update(index_elements=[receivables.c.counterparty], set_={
        "balance": receivables.c.balance + insert.excluded.balance, "updated_at": insert.excluded.updated_at})


@once_per_dialect
def _insert_payment(s):
    return dialect_insert(s, payments).on_conflict_do_nothing(index_elements=["id"])


def _receivable_lines(event, receivable_account: str):
    """The lines of a voucher_posted that move a customer's receivable (the rest: a platform's, other accounts)."""
    return [line for line in event.lines
            if line.account == receivable_account and line.aux.startswith("customer:")]


def moves_receivable(event, receivable_account: str) -> bool:
    """Whether apply_vouchers would write anything for this voucher_posted (most vouchers move no
    buyer's receivable: cost of goods, a marketplace's sales, whose receivable is the platform's)."""
    return bool(_receivable_lines(event, receivable_account))


def apply_vouchers(uow: UnitOfWork, events, receivable_account: str) -> None:
    """voucher_posted: each buyer's receivable (debits less credits of the receivable account's lines
    naming a `customer:` counterparty, in the books' currency), and the payments among them (a payment
    voucher's credit to the receivable). A sum: the order of the vouchers does not matter; the inbox
    applies each once."""
    moved: dict[str, Decimal] = {}
    paid = []
    now = clock.now()
    for event in events:
        for line in _receivable_lines(event, receivable_account):
            name = line.aux[:128]
            moved[name] = moved.get(name, ZERO) + Decimal(line.debit) - Decimal(line.credit)
            if event.kind == "payment" and Decimal(line.credit) > 0:
                paid.append(dict(id=f"{event.id}:{line.line_no}"[:80], counterparty=name, voucher_id=event.id[:64],
                                 number=event.number[:64], reference=event.source_id[:200],
                                 amount=Decimal(line.credit), at=event.posted_at))
    rows = [dict(counterparty=n, balance=a, updated_at=now) for n, a in sorted(moved.items()) if a]
    if rows:
        uow.session.execute(_add_to_receivable(uow.session), rows)
    if paid:
        uow.session.execute(_insert_payment(uow.session), paid)


def counterparties(s, rows) -> list[str]:
    """The books' names of the customer (services/order/receivables.debtor): per channel buyer id, and
    per order for a buyer the channel gave no id."""
    names = {f"customer:{r.channel}:{r.external_id}"[:128] for r in rows if r.external_id}
    anonymous = [r.id for r in rows if not r.external_id]
    if anonymous:
        names |= {f"customer:{c}:{oid}"[:128] for c, oid in s.execute(
            select(customer_orders.c.channel, customer_orders.c.order_id)
            .where(customer_orders.c.customer_id.in_(anonymous)))}
    return sorted(names)


def standing(s, root, rows, window_days: int, now: datetime) -> dict:
    """The customer's credit exposure (what they owe in the books plus their orders placed and not
    shipped nor cancelled, in their currency) against their limit, and their return rate in the window."""
    ids, names = [r.id for r in rows], counterparties(s, rows)
    owed = Decimal(s.execute(select(func.coalesce(func.sum(receivables.c.balance), 0))
                             .where(receivables.c.counterparty.in_(names))).scalar() or 0) if names else ZERO
    o = customer_orders.c
    open_orders = Decimal(s.execute(select(func.coalesce(func.sum(o.total), 0)).where(
        o.customer_id.in_(ids), o.status == domain.PLACED, o.currency == root_currency(rows))).scalar() or 0)
    since = now - timedelta(days=window_days)
    placed = s.execute(select(func.count()).where(o.customer_id.in_(ids), o.placed_at >= since,
                                                   o.status != domain.CANCELLED)).scalar() or 0
    returned = _returns(s, ids, since)
    exposure = (owed + open_orders).quantize(Decimal("0.01"))
    paid = [dict(p._mapping) for p in s.execute(select(payments).where(payments.c.counterparty.in_(names))
                                                .order_by(payments.c.at.desc()).limit(MAX_LISTED))] if names else []
    return {"receivable": owed.quantize(Decimal("0.01")), "open_orders": open_orders.quantize(Decimal("0.01")),
            "exposure": exposure,
            "available": None if root.credit_limit is None else (Decimal(root.credit_limit) - exposure),
            "window_days": window_days, "window_orders": placed, "window_returns": returned,
            "return_rate": _rate(returned, placed), "payments": paid}


def profile(s, root, rows) -> dict:
    """Tags, notes, tier history, audit and duplicate candidates of the customer, newest first."""
    ids = [r.id for r in rows]
    hashes = sorted({r.phone_hash for r in rows if r.phone_hash})
    return {
        "tags": sorted({t for (t,) in s.execute(select(distinct(tags.c.tag)).where(tags.c.customer_id.in_(ids)))}),
        "notes": [dict(n._mapping) for n in s.execute(select(notes).where(notes.c.customer_id.in_(ids))
                                                      .order_by(notes.c.written_at.desc()).limit(MAX_LISTED))],
        "tier_history": [dict(t._mapping) for t in s.execute(
            select(tier_history).where(tier_history.c.customer_id.in_(ids))
            .order_by(tier_history.c.at.desc(), tier_history.c.id).limit(MAX_LISTED))],
        "audit": [dict(a._mapping) for a in s.execute(select(audit).where(audit.c.customer_id.in_(ids))
                                                      .order_by(audit.c.at.desc()).limit(MAX_LISTED))],
        # other customers with the same phone hash: for an operator to merge (or not)
        "duplicate_ids": [i for (i,) in s.execute(select(customers.c.id).where(
            customers.c.phone_hash.in_(hashes), customers.c.id.not_in(ids),
            or_(customers.c.merged_into.is_(None), customers.c.merged_into.not_in(ids)))
            .order_by(customers.c.created_at).limit(50))] if hashes else [],
    }
