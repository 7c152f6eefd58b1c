"""Customer use cases: one function per event or query.

Nothing here logs names, phones or emails; ids only."""
from __future__ import annotations

import logging
import re
import uuid
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import bindparam, case, func, literal, select, text, update

from contracts import OrderLinesReleased, OrderRefunded, OrderReturned
from hubkit import clock, imports
from hubkit.db import Database, UnitOfWork, changed, dialect_insert
from hubkit.envelope import Envelope
from hubkit.errors import FieldErrors, InvalidArgument
from hubkit.inbox import PredecessorMissing, on_behalf_of
from hubkit.sql import many_rows, once_per_dialect
from services.customer import domain, profiles
from services.customer.models import after_sales, customer_orders, customers

log = logging.getLogger(__name__)
MAX_ORDERS = 1000  # GetCustomer returns at most this many orders, newest first



@once_per_dialect
def _insert_customer(s):
    return dialect_insert(s, customers).on_conflict_do_nothing(index_elements=["channel", "identity_key"])


@once_per_dialect
def _insert_history(s):
    return dialect_insert(s, customer_orders).on_conflict_do_nothing(index_elements=["order_id"])


# The statements of the hot paths are built once, their values given at execute: building them with
# literal values (and their cache keys) was most of the customer worker's CPU per order.
_CUSTOMER_ID = select(customers.c.id).where(customers.c.channel == bindparam("channel"),
                                            customers.c.identity_key == bindparam("identity_key"))
_HISTORY_CUSTOMER = select(customer_orders.c.customer_id).where(customer_orders.c.order_id == bindparam("p_order_id"))
# the columns to set given at execute; the customer's id back with it (one statement, not two)
_MARK_SHIPPED_RETURNING = (update(customer_orders).where(customer_orders.c.order_id == bindparam("p_order_id"))
                           .returning(customer_orders.c.customer_id))
_TOUCH = update(customers).where(customers.c.id == bindparam("p_id"))


def _count_order():
    """The customer's counters and contact after one more order (parameters p_*): the contact fields
    take the order's value when it is non-empty and at least as new as what is stored."""
    c = customers.c
    at = bindparam("p_placed_at", type_=c.first_order_at.type)
    amount = bindparam("p_total", type_=c.lifetime_value.type)
    currency = bindparam("p_currency", type_=c.currency.type)
    values = dict(
        order_count=c.order_count + 1,
        # only orders in the customer's currency add to its lifetime value; ROUND keeps SQLite's
        # REAL storage from drifting. The first order sets the currency (a customer whose terms were
        # set before their first order has none yet)
        currency=case((c.order_count == 0, currency), else_=c.currency),
        lifetime_value=case(((c.currency == currency) | (c.order_count == 0),
                             func.round(c.lifetime_value + amount, 2)), else_=c.lifetime_value),
        first_order_at=case((c.first_order_at.is_(None) | (c.first_order_at > at), at), else_=c.first_order_at),
        last_order_at=case((c.last_order_at.is_(None) | (c.last_order_at < at), at), else_=c.last_order_at),
        updated_by=bindparam("p_actor", type_=c.updated_by.type),
        updated_at=bindparam("p_now", type_=c.updated_at.type))
    for name in ("name", "phone", "email"):
        column, seen_at = c[name], c[f"{name}_at"]
        value = bindparam(f"p_{name}", type_=column.type)
        newer = (value != literal("", column.type)) & (seen_at.is_(None) | (seen_at <= at))
        values[name], values[f"{name}_at"] = case((newer, value), else_=column), case((newer, at), else_=seen_at)
        if name == "phone":
            # the keyed hash of the phone it takes, in the same statement (p_phone_hash NULL: left to
            # profiles.dedup_by_phone, which writes it for a phone-only buyer just before it looks for
            # the twin, and for any phone whose hash is not as stored)
            digest = bindparam("p_phone_hash", type_=c.phone_hash.type)
            values["phone_hash"] = case((newer & digest.is_not(None), digest), else_=c.phone_hash)
    return update(customers).where(c.id == bindparam("p_id")).values(**values)


_COUNT_ORDER = _count_order()


# a customer made by its first order with that order counted (the values _COUNT_ORDER gives a new row),
# taken back to an empty customer in the rare case the order is in a history already
_EMPTY_CONTACT = dict(name="", phone="", email="", name_at=None, phone_at=None, email_at=None, phone_hash="")
_UNCOUNT_NEW = update(customers).where(customers.c.id == bindparam("p_id")).values(
    order_count=0, lifetime_value=Decimal("0.00"), first_order_at=None, last_order_at=None, **_EMPTY_CONTACT)


def _counted_new_customer(ident: domain.Identity, event, phone_hash: str | None, actor: str, now: datetime) -> dict:
    """The row of a new buyer's customer with its first order counted: what the customer insert then
    _COUNT_ORDER wrote in two statements, in one."""
    at = event.placed_at
    row = dict(id=uuid.uuid4().hex, channel=ident.channel, identity_key=ident.key, external_id=ident.external_id,
               currency=event.currency, order_count=1,
               lifetime_value=Decimal(event.total).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP),
               first_order_at=at, last_order_at=at, created_by=actor, created_at=now, updated_by=actor,
               updated_at=now, **_EMPTY_CONTACT)
    for name in ("name", "phone", "email"):
        value = getattr(event.buyer, name)
        if value:
            row[name], row[f"{name}_at"] = value, at
            if name == "phone" and phone_hash is not None:
                row["phone_hash"] = phone_hash
    return row


def _customer_id(s, ident: domain.Identity, currency: str, actor: str, now: datetime) -> str:
    """The customer with this identity, created (with empty contact and counters) if new.
    ON CONFLICT DO NOTHING, then read unless this insert made it: two orders of a new buyer applied at
    once create one row."""
    new_id = uuid.uuid4().hex
    if changed(s, _insert_customer(s), dict(
            id=new_id, channel=ident.channel, identity_key=ident.key, external_id=ident.external_id,
            name="", phone="", email="", currency=currency, order_count=0, lifetime_value=Decimal("0.00"),
            created_by=actor, created_at=now, updated_by=actor, updated_at=now)):
        return new_id
    return s.execute(_CUSTOMER_ID, {"channel": ident.channel, "identity_key": ident.key}).scalar_one()


def record_order_placed(uow: UnitOfWork, envelope: Envelope, phone_key: bytes | None = None) -> str:
    """order_placed: create or update the buyer's customer, add the order to its history and
    count it. Returns the customer id. An order already in the history changes nothing.
    `phone_key`: the phone hash's key; given, a buyer known by a channel's buyer id gets the hash of
    the phone it takes with the count (profiles.dedup_by_phone then finds it as stored).
    A new buyer's customer is inserted with the order counted (ON CONFLICT DO NOTHING: two orders of a
    new buyer applied at once make one row, the other counted by _COUNT_ORDER): two statements, not three."""
    event = domain.parse_order_placed(envelope.payload)
    s, now, actor = uow.session, clock.now(), envelope.actor
    ident = domain.identity(event.channel, event.order_id, event.buyer)
    phone_hash = _phone_hash(phone_key, event, ident)
    new = _counted_new_customer(ident, event, phone_hash, actor, now)
    created = changed(s, _insert_customer(s), new)
    customer_id = new["id"] if created else s.execute(
        _CUSTOMER_ID, {"channel": ident.channel, "identity_key": ident.key}).scalar_one()
    if created and phone_key is not None and not ident.key.startswith("phone:"):
        # made here with the hash of its phone and no twin to look for: dedup_by_phone need not read it
        s.info.setdefault(profiles.PHONE_HASH_SETTLED, set()).add((customer_id, phone_key))
    added = changed(s, _insert_history(s), _history(event, customer_id))
    if not added:
        log.info("order %s is already in the history of a customer", event.order_id)
        if created:  # the new customer counted an order it does not have: an empty customer, as before
            s.execute(_UNCOUNT_NEW, {"p_id": customer_id})
        return s.execute(_HISTORY_CUSTOMER, {"p_order_id": event.order_id}).scalar_one()
    if not created:
        s.execute(_COUNT_ORDER, {"p_id": customer_id, "p_placed_at": event.placed_at, "p_total": event.total,
                                 "p_currency": event.currency, "p_actor": actor, "p_now": now,
                                 "p_name": event.buyer.name, "p_phone": event.buyer.phone,
                                 "p_email": event.buyer.email, "p_phone_hash": phone_hash})
    log.debug("order %s recorded for customer %s", event.order_id, customer_id)
    return customer_id


@once_per_dialect
def _insert_customers(s):
    return many_rows(dialect_insert(s, customers).on_conflict_do_nothing(index_elements=["channel", "identity_key"]))


@once_per_dialect
def _insert_histories(s):
    return many_rows(dialect_insert(s, customer_orders).on_conflict_do_nothing(index_elements=["order_id"]))


def record_orders_placed(uow: UnitOfWork, envelopes: list[Envelope], phone_key: bytes | None = None) -> list[str]:
    """order_placed for a batch, as record_order_placed applied to each in turn (the customer id of each,
    in order), with two statements for all the new buyers: their customers, each inserted with its first
    order of the batch counted, and those orders' history rows. The rest go one by one after them, in
    the batch's order: a known buyer's orders, a buyer's further orders in the batch, an order named
    twice, and an order already in a history (its new customer emptied again, as record_order_placed)."""
    s, now = uow.session, clock.now()
    firsts: list[tuple[int, Any, dict]] = []  # (position, event, its new customer with the order counted)
    rest: list[int] = []
    buyers: set[tuple[str, str]] = set()
    order_ids: set[str] = set()
    for i, envelope in enumerate(envelopes):
        event = domain.parse_order_placed(envelope.payload)
        ident = domain.identity(event.channel, event.order_id, event.buyer)
        if (ident.channel, ident.key) in buyers or event.order_id in order_ids:
            rest.append(i)
            continue
        buyers.add((ident.channel, ident.key))
        order_ids.add(event.order_id)
        phone_hash = _phone_hash(phone_key, event, ident)
        firsts.append((i, event, _counted_new_customer(ident, event, phone_hash, envelope.actor, now)))
    # rows in key order: two batches that insert the same new buyers wait for each other, never deadlock
    rows = sorted((new for *_, new in firsts), key=lambda new: (new["channel"], new["identity_key"]))
    made = set(s.execute(_insert_customers(s), rows).scalars()) if rows else set()
    created = [(i, event, new) for i, event, new in firsts if new["id"] in made]
    rest += [i for i, _, new in firsts if new["id"] not in made]  # a buyer known already
    histories = sorted((_history(event, new["id"]) for _, event, new in created), key=lambda h: h["order_id"])
    added = set(s.execute(_insert_histories(s), histories).scalars()) if histories else set()
    touched: dict[int, str] = {}
    settled = s.info.setdefault(profiles.PHONE_HASH_SETTLED, set())
    for i, event, new in created:
        if event.order_id in added:
            touched[i] = new["id"]
            if phone_key is not None and not new["identity_key"].startswith("phone:"):
                settled.add((new["id"], phone_key))
        else:  # in a history already: the new customer counted an order it does not have
            log.info("order %s is already in the history of a customer", event.order_id)
            s.execute(_UNCOUNT_NEW, {"p_id": new["id"]})
            touched[i] = s.execute(_HISTORY_CUSTOMER, {"p_order_id": event.order_id}).scalar_one()
    for i in sorted(rest):
        with on_behalf_of(uow, envelopes[i]):
            touched[i] = record_order_placed(uow, envelopes[i], phone_key)
    return [touched[i] for i in range(len(envelopes))]


def _phone_hash(phone_key: bytes | None, event, ident: domain.Identity) -> str | None:
    """The keyed hash of the buyer's phone, taken with the count (None: no key, no phone, or a buyer
    known by the phone itself, whose hash profiles.dedup_by_phone writes)."""
    if phone_key is None or not event.buyer.phone or ident.key.startswith("phone:"):
        return None
    return domain.phone_hash(phone_key, event.buyer.phone)


def _history(event, customer_id: str) -> dict:
    return dict(order_id=event.order_id, customer_id=customer_id, channel=event.channel, shop=event.shop,
                external_order_id=event.external_order_id, currency=event.currency, total=event.total,
                status=domain.PLACED, placed_at=event.placed_at, shipped_at=None, carrier="", tracking_number="")


def record_order_shipped(uow: UnitOfWork, envelope: Envelope) -> str:
    """order_shipped: mark the order shipped (partly_shipped by a parcel that is not its last) in its
    customer's history. If order_placed has not
    been applied yet, PredecessorMissing rolls back and the message is retried later."""
    event = domain.parse_order_shipped(envelope.payload)
    s = uow.session
    # a parcel of a partial shipment that leaves units behind: partly shipped (its last parcel: shipped)
    status = domain.PARTLY_SHIPPED if envelope.payload.get("completes_order") is False else domain.SHIPPED
    customer_id = s.execute(_MARK_SHIPPED_RETURNING, {
        "p_order_id": event.order_id, "status": status, "shipped_at": event.shipped_at, "carrier": event.carrier,
        "tracking_number": event.tracking_number}).scalar()
    if customer_id is None:
        raise PredecessorMissing(f"order {event.order_id} shipped before its order_placed was applied")
    s.execute(_TOUCH, {"p_id": customer_id, "updated_by": envelope.actor, "updated_at": clock.now()})
    return customer_id


# order_shipped for a batch on PostgreSQL, one statement: each order's history row marked (the last
# parcel of an order in the batch wins, as applying them one after the other would), each customer
# touched by the last of its orders' actors, and the orders found named (one not found: its
# order_placed was not applied yet)
_SHIPPED_MANY_PG = text("""
WITH v AS (
  SELECT * FROM unnest(CAST(:p_orders AS VARCHAR[]), CAST(:p_statuses AS VARCHAR[]),
                       CAST(:p_shipped_at AS TIMESTAMPTZ[]), CAST(:p_carriers AS VARCHAR[]),
                       CAST(:p_tracking AS VARCHAR[]), CAST(:p_actors AS VARCHAR[]))
         WITH ORDINALITY AS v(order_id, status, shipped_at, carrier, tracking_number, actor, n)),
moved AS (
  UPDATE customer_orders SET status = v.status, shipped_at = v.shipped_at, carrier = v.carrier,
                             tracking_number = v.tracking_number
  FROM v WHERE customer_orders.order_id = v.order_id
  RETURNING customer_orders.order_id, customer_orders.customer_id),
last AS (
  SELECT DISTINCT ON (moved.customer_id) moved.customer_id, v.actor
  FROM moved JOIN v ON v.order_id = moved.order_id ORDER BY moved.customer_id, v.n DESC),
touched AS (
  UPDATE customers SET updated_by = last.actor, updated_at = :p_now FROM last WHERE customers.id = last.customer_id)
SELECT order_id FROM moved""")


def record_orders_shipped(uow: UnitOfWork, batch) -> None:
    """record_order_shipped for each (event, envelope) of a batch, in delivery order; on PostgreSQL
    with one statement for the lot. An order whose order_placed is not applied yet raises
    PredecessorMissing (the batch is then applied one event at a time)."""
    s = uow.session
    if s.get_bind().dialect.name != "postgresql":
        for _, envelope in batch:
            with on_behalf_of(uow, envelope):
                record_order_shipped(uow, envelope)
        return
    last: dict[str, tuple] = {}
    for _, envelope in batch:
        event = domain.parse_order_shipped(envelope.payload)
        status = domain.PARTLY_SHIPPED if envelope.payload.get("completes_order") is False else domain.SHIPPED
        last.pop(event.order_id, None)  # the latest parcel last, as its order of application
        last[event.order_id] = (status, event.shipped_at, event.carrier, event.tracking_number, envelope.actor)
    found = set(s.execute(_SHIPPED_MANY_PG, {
        "p_orders": list(last), "p_statuses": [v[0] for v in last.values()],
        "p_shipped_at": [v[1] for v in last.values()], "p_carriers": [v[2] for v in last.values()],
        "p_tracking": [v[3] for v in last.values()], "p_actors": [v[4] for v in last.values()],
        "p_now": clock.now()}).scalars())
    missing = sorted(set(last) - found)
    if missing:
        raise PredecessorMissing(f"order {missing[0]} shipped before its order_placed was applied")


def record_order_cancelled(uow: UnitOfWork, envelope: Envelope) -> str:
    """order_cancelled: the order stays in the history, marked cancelled (it never shipped)."""
    order_id = envelope.payload.get("order_id")
    if not isinstance(order_id, str) or not order_id:
        raise InvalidArgument("order_cancelled without an order_id", [{"field": "order_id", "message": "required"}])
    updated = changed(uow.session, update(customer_orders).where(customer_orders.c.order_id == order_id)
                                  .values(status=domain.CANCELLED))
    if not updated:
        raise PredecessorMissing(f"order {order_id} cancelled before its order_placed was applied")
    return uow.session.execute(_HISTORY_CUSTOMER, {"p_order_id": order_id}).scalar_one()


@once_per_dialect
def _insert_after_sale(s):
    return dialect_insert(s, after_sales).on_conflict_do_nothing(index_elements=["id"])


_ORDER_CURRENCY = select(customer_orders.c.currency).where(customer_orders.c.order_id == bindparam("p_order_id"))


def record_after_sale(uow: UnitOfWork, event: OrderReturned | OrderRefunded | OrderLinesReleased,
                      envelope: Envelope) -> str:
    """order_returned, order_refunded, order_lines_released: what came back of the order, in its
    customer's history (the 360° view). Once per return, refund or release (its id, or the release's
    event id); before the order_placed was applied, PredecessorMissing (retried later)."""
    s = uow.session
    currency = s.execute(_ORDER_CURRENCY, {"p_order_id": event.order_id}).scalar()
    if currency is None:
        raise PredecessorMissing(f"order {event.order_id}: {envelope.type} before its order_placed was applied")
    if isinstance(event, OrderReturned):
        kind, ref, at = domain.RETURN, event.return_id, event.returned_at
        quantity = sum(line.quantity for line in event.lines)
        # an RMA's goods come back first; their money comes with the order_refunded at settlement
        amount = None if event.refund_deferred else sum((line.amount for line in event.lines), Decimal("0"))
        currency = event.currency or currency
    elif isinstance(event, OrderRefunded):
        kind, ref, at = domain.REFUND, event.refund_id, event.refunded_at
        amount, quantity, currency = sum((line.amount for line in event.lines), Decimal("0")), None, event.currency
    else:
        kind, ref, at = domain.RELEASE, "", event.released_at
        amount, quantity = None, sum(line.quantity for line in event.lines)
    s.execute(_insert_after_sale(s), dict(
        id=f"{kind}:{ref or envelope.event_id}", order_id=event.order_id, kind=kind, reference=ref[:64],
        reason=(event.reason or "")[:200], currency=currency, amount=amount, quantity=quantity,
        lines=len(event.lines), at=at))
    customer_id = s.execute(_HISTORY_CUSTOMER, {"p_order_id": event.order_id}).scalar_one()
    s.execute(_TOUCH, {"p_id": customer_id, "updated_by": envelope.actor, "updated_at": clock.now()})
    return customer_id


TIER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,31}$")


def set_terms(uow: UnitOfWork, customer_id: str, tier: str, credit_limit: Decimal | None) -> dict:
    """A customer's tier and credit limit (None: no limit), announced as customer_terms_changed for
    the order service's review. The same terms again change nothing and announce nothing."""
    _check_terms(tier, credit_limit)
    return _set_terms(uow, customer_id, tier, credit_limit)


def set_buyer_terms(uow: UnitOfWork, channel: str, external_id: str, tier: str, credit_limit: Decimal | None) -> dict:
    """set_terms for the channel's buyer id, whether or not the buyer has ordered yet: a buyer not seen
    before is created (no orders, no contact; their first order finds them by the same identity and
    sets their currency), so a business customer's credit limit is in force before their first order."""
    customer_id, _ = _buyer_terms(uow, channel, external_id, tier, credit_limit)
    return get_customer_in(uow.session, customer_id)


def _buyer_terms(uow: UnitOfWork, channel: str, external_id: str, tier: str, credit_limit: Decimal | None,
                 errors: FieldErrors | None = None) -> tuple[str, bool]:
    """(the buyer's customer id, whether its terms changed); `errors` may hold the caller's own already."""
    errors = errors or FieldErrors()
    if not domain.CHANNEL.match(channel or ""):
        errors.add("channel", f"required: 1-{domain.CHANNEL_LEN} letters, digits, '.', '_' or '-'")
    external_id = (external_id or "").strip()
    if not external_id or len(external_id) > domain.EXTERNAL_ID_LEN:
        errors.add("external_id", f"required: the channel's buyer id, at most {domain.EXTERNAL_ID_LEN} characters")
    errors.raise_if_any("the customer terms are invalid")
    _check_terms(tier, credit_limit)
    now = clock.now()
    customer_id = _customer_id(uow.session, domain.Identity(channel, external_id, external_id), "", uow.actor, now)
    return customer_id, _apply_terms(uow, customer_id, tier, credit_limit)


def import_customers(uow: UnitOfWork, rows: list[dict], phone_key: bytes, dry_run: bool) -> imports.Outcome:
    """A file's buyers ({"row", "channel", "external_id", "tier", "credit_limit" (text), "name", "phone"}),
    their terms set as set_buyer_terms sets one and their name and phone (when given) as an order's
    buyer sets them, the phone with its keyed hash; all in one transaction or none (hubkit.imports).
    A buyer already as the row says is unchanged."""
    s = uow.session

    def one(r: dict) -> bool:
        errors = FieldErrors()
        limit = None
        if r["credit_limit"]:
            try:
                limit = Decimal(r["credit_limit"])
            except ArithmeticError:
                errors.add("credit_limit", "a decimal amount such as 5000.00")
        name, phone = (r["name"] or "").strip(), domain.normalize_phone(r["phone"])
        if len(name) > domain.NAME_LEN:
            errors.add("name", f"at most {domain.NAME_LEN} characters")
        if (r["phone"] or "").strip() and not phone:
            errors.add("phone", "must contain digits")
        if len(phone) > domain.PHONE_LEN:
            errors.add("phone", f"at most {domain.PHONE_LEN} digits")
        existed = s.execute(_CUSTOMER_ID, {"channel": r["channel"],
                                           "identity_key": (r["external_id"] or "").strip()}).first() is not None
        customer_id, changed_terms = _buyer_terms(uow, r["channel"], r["external_id"], r["tier"], limit, errors)
        contact = {k: v for k, v in (("name", name), ("phone", phone)) if v}
        row = s.execute(select(customers.c.name, customers.c.phone).where(customers.c.id == customer_id)).one()
        contact = {k: v for k, v in contact.items() if getattr(row, k) != v}
        if contact:
            now = clock.now()
            values = {**contact, **{f"{k}_at": now for k in contact}, "updated_by": uow.actor, "updated_at": now}
            if "phone" in contact:
                values["phone_hash"] = domain.phone_hash(phone_key, phone)
            s.execute(update(customers).where(customers.c.id == customer_id).values(**values))
        return not existed or changed_terms or bool(contact)
    return imports.apply_rows(uow, ((r["row"], r) for r in rows), one, dry_run, "external_id")


def _check_terms(tier: str, credit_limit: Decimal | None) -> None:
    errors = FieldErrors()
    if not TIER.match(tier or ""):
        errors.add("tier", "required: 1-32 letters, digits, '.', '_' or '-' (e.g. vip, standard)")
    if credit_limit is not None and (not credit_limit.is_finite() or credit_limit < 0
                                     or credit_limit != credit_limit.quantize(Decimal("0.01"))
                                     or credit_limit >= Decimal("1e16")):
        errors.add("credit_limit", "an amount >= 0 with at most two decimals")
    errors.raise_if_any("the customer terms are invalid")


def _set_terms(uow: UnitOfWork, customer_id: str, tier: str, credit_limit: Decimal | None) -> dict:
    _apply_terms(uow, customer_id, tier, credit_limit)
    return get_customer_in(uow.session, customer_id)


def _apply_terms(uow: UnitOfWork, customer_id: str, tier: str, credit_limit: Decimal | None) -> bool:
    """The terms are the customer's: set on the root of a merged customer, announced for each of its
    channel buyers; a tier set by hand is kept in the tier history. Whether they changed."""
    s, now = uow.session, clock.now()
    row = profiles.root_of(s, customer_id, lock=True)
    if (row.tier, row.credit_limit) == (tier, credit_limit):
        return False
    s.execute(update(customers).where(customers.c.id == row.id).values(
        tier=tier, credit_limit=credit_limit, updated_by=uow.actor, updated_at=now))
    if row.tier != tier:
        profiles.record_operator_tier(uow, row.id, row.tier, tier)
    profiles.announce_terms(uow, profiles.root_of(s, row.id), profiles.members(s, row.id))
    return True


# -- queries ---------------------------------------------------------------
def _customer_dict(row) -> dict:
    data = dict(row._mapping)
    for key in ("name_at", "phone_at", "email_at", "identity_key", "phone_hash"):
        data.pop(key, None)
    return data


def get_customer(db: Database, customer_id: str, window_days: int = 30) -> dict:
    """The customer (the one a merged row belongs to) with the orders of every channel, newest first
    (at most MAX_ORDERS), and what the merchant knows of them."""
    if not customer_id:
        errors = FieldErrors()
        errors.add("id", "required")
        errors.raise_if_any("a customer id is required")
    with db.reader() as s:
        return get_customer_in(s, customer_id, window_days)


def get_customer_in(s, customer_id: str, window_days: int = 30) -> dict:
    """get_customer as this session sees it: the root's row, its counters the group's (orders in the
    customer's currency add to the lifetime value)."""
    root = profiles.root_of(s, customer_id)
    rows = profiles.members(s, root.id)
    ids = [r.id for r in rows]
    orders = s.execute(select(customer_orders).where(customer_orders.c.customer_id.in_(ids))
                       .order_by(customer_orders.c.placed_at.desc(), customer_orders.c.order_id.desc())
                       .limit(MAX_ORDERS)).all()
    customer = _customer_dict(root)
    currency = profiles.root_currency(rows)
    customer.update(
        currency=currency, order_count=sum(r.order_count for r in rows),
        lifetime_value=sum((r.lifetime_value for r in rows if r.currency == currency), Decimal("0.00")),
        first_order_at=min((r.first_order_at for r in rows if r.first_order_at), default=None),
        last_order_at=max((r.last_order_at for r in rows if r.last_order_at), default=None),
        merged_ids=ids[1:], channels=sorted({r.channel for r in rows}))
    customer["orders"] = [dict(o._mapping) for o in orders]
    by_order: dict[str, list[dict]] = {}
    if orders:
        for a in s.execute(select(after_sales).where(after_sales.c.order_id.in_([o.order_id for o in orders]))
                           .order_by(after_sales.c.at, after_sales.c.id)).all():
            by_order.setdefault(a.order_id, []).append(dict(a._mapping))
    for order in customer["orders"]:
        order["after_sales"] = by_order.get(order["order_id"], [])
        order["refunded"] = sum((a["amount"] for a in order["after_sales"] if a["amount"] is not None),
                                Decimal("0.00"))
    customer.update(profiles.standing(s, root, rows, window_days, clock.now()))
    customer.update(profiles.profile(s, root, rows))
    return customer


def find_customers(db: Database, channel: str = "", external_id: str = "", phone: str = "",
                   order_id: str = "", limit: int = 0) -> list[dict]:
    """Customers matching every criterion given, most recent buyers first, without orders."""
    crit = domain.check_criteria(channel, external_id, phone, order_id, limit)
    query = select(customers)
    if crit.channel:
        query = query.where(customers.c.channel == crit.channel, customers.c.external_id == crit.external_id)
    if crit.phone:
        query = query.where(customers.c.phone == crit.phone)
    if crit.order_id:
        query = query.where(customers.c.id.in_(select(customer_orders.c.customer_id)
                                                .where(customer_orders.c.order_id == crit.order_id)))
    query = query.order_by(customers.c.last_order_at.desc(), customers.c.id).limit(crit.limit)
    with db.reader() as s:
        return [_customer_dict(r) for r in s.execute(query).all()]


def count_by_tier(db: Database) -> dict[str, int]:
    """Customers per tier (standard, vip, ... - the merchant's few tiers)."""
    with db.reader() as s:
        return dict(s.execute(select(customers.c.tier, func.count()).group_by(customers.c.tier)).tuples().all())
