"""Accounting use cases: post the voucher each business event calls for; read vouchers and
the trial balance."""
from __future__ import annotations

import re
import uuid
import weakref
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import String, bindparam, case, exists, func, literal, select, union_all

from contracts import VoucherPosted
from hubkit import clock
from hubkit.counters import next_in_sequence
from hubkit.db import Database, UnitOfWork, as_utc, dialect_insert, once_per_transaction
from hubkit.envelope import Envelope
from hubkit.errors import Conflict, FieldErrors, InvalidArgument, NotFound
from hubkit.inbox import PredecessorMissing, on_behalf_of
from hubkit.money import CURRENCIES, cents, exchange_rate, to_decimal
from services.accounting import domain, facts, kpis
from services.accounting.models import accounts, exchange_rates, periods, voucher_counters, voucher_lines, vouchers

ZERO = domain.ZERO


def ensure_chart(db: Database, chart) -> None:
    """Add the chart's accounts that are missing (existing ones are left as they are)."""
    with db.session() as s:
        for a in chart:
            s.execute(dialect_insert(s, accounts).values(code=a.code, name=a.name, category=a.category,
                                                         normal_balance=a.normal_balance).on_conflict_do_nothing())


def post(uow: UnitOfWork, kind: str, envelope: Envelope, source_id: str, occurred_at: str,
         lines: list[domain.Line], rules: domain.Rules, conversion: tuple[str, Decimal] | None = None,
         reverses: str | None = None, breakdown: list[facts.Fact] | None = None) -> dict | None:
    """Post the voucher a business event calls for. Its period is the event's, in the merchant's
    time zone; an event that belongs to a closed period is posted on the first day of the next
    open one (the books of a closed period never change). `conversion`: the document's currency and
    the rate its amounts were converted at, recorded on the voucher. `breakdown`: its sales facts (see
    services.accounting.facts). None: nothing to post, or posted already."""
    period, day = domain.business_day(occurred_at, rules.timezone)
    s, posted = uow.session, None
    batch = s.info.get(_BATCH)
    if batch is not None and lines and reverses is None:  # written with the batch's others (posting_batch)
        batch.append(_prepare(uow, kind, envelope, source_id, period, day, lines, conversion,
                              facts.reconcile(breakdown if breakdown is not None else facts.from_lines(lines, rules.accounts),
                                              lines, rules.accounts)))
        return None
    if lines:  # one statement: is the voucher posted already, is its period closed (kept for the transaction)
        posted, closed = s.execute(_POSTED_AND_CLOSED, {"p_kind": kind, "p_source_id": source_id,
                                                        "p_period": period}).one()
        once_per_transaction(s, f"closed:{period}", lambda: bool(closed))
    period, day = _first_open(s, period, day)
    return _write(uow, kind, envelope.type, source_id, period, day, lines, envelope.actor, reverses,
                  conversion=conversion, breakdown=breakdown, roles=rules.accounts, posted=posted)


def document_conversion(s, payload: dict, occurred_at: str, rules: domain.Rules,
                        look_up: bool) -> tuple[str, Decimal] | None:
    """(currency, rate) a document's amounts are converted to the books' currency at: the rate it was
    accepted at (inventory valued a purchase's goods at the same). One in another currency accepted
    without a rate (before rates were kept) takes, if `look_up`, the latest rate of its currency on or
    before its date; a purchase does not, its goods having entered stock at face value. None: no
    conversion."""
    currency = payload.get("currency") or rules.base_currency
    if payload.get("exchange_rate"):
        return currency, exchange_rate(payload["exchange_rate"])
    if currency == rules.base_currency or not look_up:
        return None
    _, day = domain.business_day(occurred_at, rules.timezone)
    rate = rate_on(s, currency, day)
    if rate is None:  # a retry (or a replay from the dead letters) posts it once the rate is entered
        raise NotFound(f"no exchange rate for {currency} on or before {day}; enter one (POST /accounting/exchange-rates)")
    return currency, rate


def post_manual(uow: UnitOfWork, kind: str, source_id: str, day: date, lines: list[domain.Line],
                reverses: str | None = None, conversion: tuple[str, Decimal] | None = None,
                named_by: str | None = None, breakdown: list[facts.Fact] | None = None,
                roles: dict | None = None) -> dict:
    """Post a voucher someone asked for (payment, settlement, opening balances, reversal). A closed
    period refuses it. The same source id again returns the voucher already posted; with `named_by`
    (the request field the source id comes from) only when its day and lines are the same, else it is
    another document under a name already taken (409)."""
    period = day.strftime("%Y-%m")
    if named_by:
        _refuse_another_under(uow.session, kind, source_id, day, lines, named_by)
    if _is_closed(uow.session, period):
        raise domain.PeriodClosed(f"period {period} is closed; post into an open period",
                                  [{"field": "business_date", "message": f"period {period} is closed"}])
    written = _write(uow, kind, kind, source_id, period, day, lines, uow.actor, reverses, conversion,
                     breakdown=breakdown, roles=roles)
    return written or _find(uow.session, kind, source_id)


def _refuse_another_under(s, kind: str, source_id: str, day: date, lines: list[domain.Line], field: str) -> None:
    posted = s.execute(select(vouchers).where(vouchers.c.kind == kind, vouchers.c.source_id == source_id)).first()
    if posted is None:
        return
    def shape(rows) -> list[tuple]:
        return sorted((r.account, cents(r.debit), cents(r.credit), r.aux, r.cost_centre) for r in rows if r.debit or r.credit)
    if posted.business_date == day and shape(_lines_of(s, posted.id)) == shape(lines):
        return
    raise Conflict(f"{kind} {source_id} is already posted as voucher {posted.number} ({posted.business_date}, "
                   f"total {cents(posted.total)}) with other lines or another day; reverse it to post another",
                   [{"field": field, "message": f"already posted as voucher {posted.number}"}])


def _first_open(s, period: str, day: date) -> tuple[str, date]:
    """Where a posting of `day` lands: its own period, or the first day of the next open one."""
    while _is_closed(s, period):
        day = (date(day.year, day.month, 28) + timedelta(days=4)).replace(day=1)
        period = day.strftime("%Y-%m")
    return period, day


def _is_closed(s, period: str) -> bool:
    return once_per_transaction(s, f"closed:{period}", lambda: s.execute(
        select(periods.c.period).where(periods.c.period == period)).first() is not None)


def _find(s, kind: str, source_id: str) -> dict:
    row = s.execute(select(vouchers).where(vouchers.c.kind == kind, vouchers.c.source_id == source_id)).one()
    return dict(row._mapping)


# what every posting runs, built once (values at execute): building them per voucher cost more than running them
_POSTED = select(vouchers.c.id).where(vouchers.c.kind == bindparam("p_kind"), vouchers.c.source_id == bindparam("p_source_id"))
_POSTED_AND_CLOSED = select(
    exists().where(vouchers.c.kind == bindparam("p_kind"), vouchers.c.source_id == bindparam("p_source_id")),
    exists().where(periods.c.period == bindparam("p_period")))
_INSERT_VOUCHER, _INSERT_LINES = vouchers.insert(), voucher_lines.insert()
# the chart's codes per database, as last read: accounts are only ever added (ensure_chart at the start),
# so a code seen once stays valid; a code not in it makes the posting read the chart again
_KNOWN_ACCOUNTS: weakref.WeakKeyDictionary[Database, frozenset[str]] = weakref.WeakKeyDictionary()


_BATCH = "accounting.posting_batch"  # the session's info key of the batch being gathered


@dataclass
class _Pending:
    """A voucher of a batch, ready but for its number (and its period, should that close meanwhile)."""
    voucher: dict
    rows: list[dict]
    breakdown: list[facts.Fact]
    envelope: Envelope


@contextmanager
def posting_batch(uow: UnitOfWork):
    """Within it, the vouchers `post` is asked for are gathered and written together when it ends:
    whether they are posted already and whether their periods are closed asked with one statement,
    their numbers taken with one counter step per period (in the order they were asked for), the
    vouchers, their lines and their sales facts written with one statement each, and each announced
    (voucher_posted) on behalf of its own event. Yields a list that holds, once it has ended,
    (voucher with its lines, envelope) of each voucher written (not those posted already)."""
    s = uow.session
    written: list[tuple[dict, Envelope]] = []
    pending: list[_Pending] = []
    s.info[_BATCH] = pending
    try:
        yield written
    finally:
        s.info.pop(_BATCH, None)
    written.extend(_write_batch(uow, pending))


def _prepare(uow: UnitOfWork, kind: str, envelope: Envelope, source_id: str, period: str, day: date,
             lines: list[domain.Line], conversion: tuple[str, Decimal] | None, breakdown: list[facts.Fact]) -> _Pending:
    total = domain.check_balanced(lines)
    _check_accounts(uow, lines)
    voucher = _voucher(kind, envelope.type, source_id, period, day, total, envelope.actor, None, conversion)
    return _Pending(voucher, _line_rows(voucher["id"], lines), breakdown, envelope)


def _voucher(kind: str, source_type: str, source_id: str, period: str, day: date, total: Decimal, actor: str,
             reverses: str | None, conversion: tuple[str, Decimal] | None) -> dict:
    """A voucher's row, but for its number."""
    voucher: dict = {"id": uuid.uuid4().hex, "number": "", "voucher_type": domain.GENERAL, "period": period,
                     "kind": kind, "source_type": source_type, "source_id": source_id, "business_date": day,
                     "total": total, "posted_at": clock.now(), "posted_by": actor, "export_status": "pending",
                     "reverses": reverses}
    if conversion:
        voucher["currency"], voucher["exchange_rate"] = conversion
    return voucher


def _write_batch(uow: UnitOfWork, pending: list[_Pending]) -> list[tuple[dict, Envelope]]:
    if not pending:
        return []
    s = uow.session
    posted, closed = set(), set()
    for kind, key in s.execute(_POSTED_OR_CLOSED, {"p_sources": sorted({p.voucher["source_id"] for p in pending}),
                                                   "p_periods": sorted({p.voucher["period"] for p in pending})}):
        if kind:
            posted.add((kind, key))
        else:
            closed.add(key)
    for period in {p.voucher["period"] for p in pending}:
        once_per_transaction(s, f"closed:{period}", lambda period=period: period in closed)
    todo: list[_Pending] = []
    counts: dict[str, int] = {}
    for p in pending:
        v = p.voucher
        if (v["kind"], v["source_id"]) in posted:
            continue  # posted already (or twice in this batch: the first one)
        posted.add((v["kind"], v["source_id"]))
        v["period"], v["business_date"] = _first_open(s, v["period"], v["business_date"])
        todo.append(p)
        counts[v["period"]] = counts.get(v["period"], 0) + 1
    if not todo:
        return []
    first = {}
    for period, n in sorted(counts.items()):  # the counters' rows locked in one order
        first[period] = next_in_sequence(s, voucher_counters, f"{period}/{domain.GENERAL}", n) - n + 1
    for p in todo:
        v = p.voucher
        v["number"] = f"{domain.GENERAL}-{v['period']}-{first[v['period']]:04d}"
        first[v["period"]] += 1
    s.execute(_INSERT_VOUCHER, [{"currency": None, "exchange_rate": None, **p.voucher} for p in todo])
    s.execute(_INSERT_LINES, [row for p in todo for row in p.rows])
    kpis.record_many(s, [(p.voucher["id"], p.voucher["business_date"], p.breakdown) for p in todo])
    for p in todo:
        with on_behalf_of(uow, p.envelope):
            uow.emit(VoucherPosted(**p.voucher, lines=[{k: v for k, v in r.items() if k != "voucher_id"}
                                                       for r in p.rows]), p.voucher["id"])
    return [({**p.voucher, "lines": p.rows}, p.envelope) for p in todo]


# a batch's "posted already?" (kind, source id) and "closed?" ("", period) in one statement
_POSTED_OR_CLOSED = union_all(
    select(vouchers.c.kind, vouchers.c.source_id).where(vouchers.c.source_id.in_(bindparam("p_sources", expanding=True))),
    select(literal("", String), periods.c.period).where(periods.c.period.in_(bindparam("p_periods", expanding=True))))


def _line_rows(voucher_id: str, lines: list[domain.Line]) -> list[dict]:
    return [{"voucher_id": voucher_id, "line_no": i + 1, "account": l.account, "summary": l.summary[:200],
             "debit": l.debit, "credit": l.credit, "aux": l.aux[:128], "cost_centre": l.cost_centre[:64]}
            for i, l in enumerate(lines)]


def _check_accounts(uow: UnitOfWork, lines: list[domain.Line]) -> None:
    unknown = {l.account for l in lines} - _KNOWN_ACCOUNTS.get(uow.db, frozenset())
    if unknown:  # read again: one added since (the chart only grows, and a line's account is a foreign key)
        s = uow.session
        known = _KNOWN_ACCOUNTS[uow.db] = once_per_transaction(
            s, "accounts", lambda: frozenset(s.execute(select(accounts.c.code)).scalars()))
        unknown -= known
    if unknown:
        raise NotFound(f"accounts {sorted(unknown)} are not in the chart of accounts")


def _write(uow: UnitOfWork, kind: str, source_type: str, source_id: str, period: str, day: date,
           lines: list[domain.Line], actor: str, reverses: str | None = None,
           conversion: tuple[str, Decimal] | None = None, breakdown: list[facts.Fact] | None = None,
           roles: dict | None = None, posted: bool | None = None) -> dict | None:
    """Number, write and announce one balanced voucher (voucher_posted, for the ledger connectors), and
    its sales facts in the same transaction: the `breakdown` a posting rule gives, a reversal's the
    negated facts of what it reverses, any other voucher's lines on the revenue, cost of goods and
    platform fees accounts unattributed (`roles`: the posting roles' account codes). `posted`: whether
    the voucher is posted already, when the caller has just asked (None: ask)."""
    if not lines:
        return None
    total = domain.check_balanced(lines)
    s = uow.session
    if posted if posted is not None else s.execute(_POSTED, {"p_kind": kind, "p_source_id": source_id}).first():
        return None
    _check_accounts(uow, lines)
    seq = next_in_sequence(s, voucher_counters, f"{period}/{domain.GENERAL}")
    voucher = _voucher(kind, source_type, source_id, period, day, total, actor, reverses, conversion)
    voucher["number"] = f"{domain.GENERAL}-{period}-{seq:04d}"
    rows = _line_rows(str(voucher["id"]), lines)
    s.execute(_INSERT_VOUCHER, voucher)
    s.execute(_INSERT_LINES, rows)
    voucher_id = str(voucher["id"])
    if reverses and breakdown is None:
        kpis.record_reversal(s, voucher_id, day, reverses)
    elif roles is not None:
        kpis.record(s, voucher_id, day, facts.reconcile(breakdown if breakdown is not None
                                                           else facts.from_lines(lines, roles), lines, roles))
    uow.emit(VoucherPosted(**voucher, lines=[{k: v for k, v in r.items() if k != "voucher_id"} for r in rows]),
             str(voucher["id"]))
    return {**voucher, "lines": rows}


def _post_document(uow, kind: str, envelope, source_id: str, occurred_at: str, rule, rules, look_up: bool,
                   fact_rule=None):
    """Post a document that names its currency (orders, purchases): converted to the books' currency
    at its rate when it is in another; `fact_rule` breaks it down into sales facts the same way."""
    p = envelope.payload
    conversion = document_conversion(uow.session, p, occurred_at, rules, look_up)
    rate = conversion[1] if conversion else None
    lines = rule(p, rules, rate)
    return post(uow, kind, envelope, source_id, occurred_at, lines, rules, conversion,
                breakdown=fact_rule(p, rules, rate) if fact_rule else None)


def post_sale(uow, envelope, rules):
    p = envelope.payload
    # a parcel of a partial shipment posts under its own key (`<order id>-P<n>`), a whole shipment under the order
    return _post_document(uow, "sale", envelope, p.get("shipment_id") or p["order_id"], p["shipped_at"], domain.sale,
                          rules, True, facts.sale)


def post_cost_of_goods(uow, envelope, rules):
    p = envelope.payload
    return post(uow, "cost_of_goods", envelope, p.get("shipment_id") or p["order_id"], p["issued_at"],
                domain.cost_of_goods(p, rules), rules, breakdown=facts.cost_of_goods(p))


def post_purchase(uow, envelope, rules):
    p = envelope.payload
    return _post_document(uow, "purchase", envelope, p["receipt_id"], p["received_at"], domain.purchase, rules,
                          False)


def post_purchase_cost(uow, envelope, rules):
    """purchase_cost_adjusted: a supplier invoice for goods received before it, or a landed cost."""
    p = envelope.payload
    return post(uow, p["kind"], envelope, p["document_id"], p["billed_at"], domain.purchase_cost(p, rules), rules)


def reverse_refused_purchase(uow, envelope, rules):
    """purchase_receipt_refused: inventory never took the goods into stock, so the purchase voucher
    posted for the receipt is reversed (dated when inventory refused). The refusal may arrive before
    the purchase itself was posted: it then waits for it, so stock and the books agree either way."""
    p = envelope.payload
    purchase = uow.session.execute(select(vouchers).where(vouchers.c.kind == "purchase",
                                                          vouchers.c.source_id == p["receipt_id"])).first()
    if purchase is None:
        raise PredecessorMissing(f"receipt {p['receipt_id']} was refused before its purchase voucher was posted")
    return post(uow, "reversal", envelope, purchase.id, p["refused_at"],
                domain.reversal(_lines_of(uow.session, purchase.id), purchase.number), rules,
                conversion=_conversion_of(purchase), reverses=purchase.id)


def post_sales_return(uow, envelope, rules):
    p = envelope.payload
    return _post_document(uow, "sales_return", envelope, p["return_id"], p["returned_at"], domain.sales_return,
                          rules, True, facts.sales_return)


def post_sales_refund(uow, envelope, rules):
    """order_refunded: money given back after shipment without goods (仅退款): the credit voucher."""
    p = envelope.payload
    return _post_document(uow, "sales_refund", envelope, p["refund_id"], p["refunded_at"], domain.sales_refund,
                          rules, True, facts.sales_refund)


def post_return_cost(uow, envelope, rules):
    p = envelope.payload
    return post(uow, "return_cost", envelope, p["return_id"], p["returned_at"], domain.return_cost(p, rules), rules,
                breakdown=facts.cost_of_goods(p, -1, "return_cost"))


def post_purchase_return(uow, envelope, rules):
    p = envelope.payload
    return _post_document(uow, "purchase_return", envelope, p["return_id"], p["returned_at"],
                          domain.purchase_return, rules, False)


def post_stock_adjustment(uow, envelope, rules):
    p = envelope.payload
    return post(uow, "stock_adjustment", envelope, p["adjustment_id"], p["occurred_at"],
                domain.stock_adjustment(p, rules), rules)


def post_stock_transfer(uow, envelope, rules):
    """One voucher per stage: the source id names the stage, so shipped and received are each posted once."""
    p = envelope.payload
    return post(uow, "stock_transfer", envelope, f"{p['transfer_id']}:{p['stage']}", p["occurred_at"],
                domain.stock_transfer(p, rules), rules)


def post_stock_receipt(uow, envelope, rules):
    """Goods received outside a purchase; a receipt worth nothing posts nothing."""
    p = envelope.payload
    return post(uow, "stock_receipt", envelope, p["document_id"], p["occurred_at"],
                domain.stock_receipt(p, rules), rules)


def post_kit_change(uow, envelope, rules):
    """A kit assembled or taken apart; all-zero values (free components) post nothing (post() skips empty lines)."""
    p = envelope.payload
    return post(uow, "kit_change", envelope, f"{p['document_id']}:{p['action']}", p["occurred_at"],
                domain.kit_change(p, rules), rules)


# -- commands --------------------------------------------------------------
def _amount(errors: FieldErrors, field: str, value: str, allow_zero: bool = False) -> Decimal:
    try:
        amount = to_decimal(value)
    except ValueError:
        errors.add(field, "must be a decimal amount such as \"12.50\"")
        return ZERO
    if amount < 0 or (amount == 0 and not allow_zero) or cents(amount) != amount:
        errors.add(field, "must be " + (">= 0" if allow_zero else "> 0") + " with at most two decimals")
    return amount


def _day(errors: FieldErrors, value: str) -> date:
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        errors.add("business_date", "expected YYYY-MM-DD")
        return clock.today()  # a placeholder: the errors refuse the request


COUNTERPARTY = re.compile(r"^(customer|platform|supplier):[^\s]{1,120}$")


def record_payment(uow, direction: str, counterparty: str, amount: str, business_date: str, reference: str,
                   rules) -> dict:
    errors = FieldErrors()
    if direction not in ("received", "paid"):
        errors.add("direction", "received or paid")
    if not COUNTERPARTY.match(counterparty or "") or \
            (direction == "paid") != counterparty.startswith("supplier:"):
        errors.add("counterparty", "customer:<channel>:<buyer> or platform:<channel>/<shop> for money received, "
                                   "supplier:<code> for money paid")
    if not reference or len(reference) > 64:
        errors.add("reference", "required, at most 64 characters (the bank reference)")
    value, day = _amount(errors, "amount", amount), _day(errors, business_date)
    errors.raise_if_any("the payment is invalid")
    _refuse_another_payment_under(uow.session, reference, counterparty, value, day)
    return post_manual(uow, "payment", reference, day, domain.payment(direction, counterparty, value, reference, rules))


def _refuse_another_payment_under(s, reference: str, counterparty: str, amount: Decimal, day: date) -> None:
    """The bank reference makes a payment one: the same reference, counterparty, amount and day again
    is a retry (answered with the voucher already posted); under the same reference anything else is a
    different payment, refused naming what differs."""
    posted = s.execute(select(vouchers.c.total, vouchers.c.business_date, voucher_lines.c.aux)
                       .join(voucher_lines, voucher_lines.c.voucher_id == vouchers.c.id)
                       .where(vouchers.c.kind == "payment", vouchers.c.source_id == reference,
                              voucher_lines.c.aux != "")).first()
    if posted is None:
        return
    differences = [(field, str(was), str(now)) for field, was, now in (
        ("counterparty", posted.aux, counterparty), ("amount", cents(posted.total), cents(amount)),
        ("business_date", posted.business_date, day)) if was != now]
    if differences:
        raise Conflict(f"bank reference {reference} is already posted as another payment: "
                       + "; ".join(f"{field} {was}, not {now}" for field, was, now in differences),
                       [{"field": field, "message": f"posted {was} under this reference; this request says {now}"}
                        for field, was, now in differences])


def record_settlement(uow, channel: str, shop: str, reference: str, business_date: str, gross: str,
                      commission: str, fees: str, rules) -> dict:
    errors = FieldErrors()
    if channel not in rules.marketplaces:
        errors.add("channel", f"one of the marketplaces {', '.join(rules.marketplaces)}")
    if not shop:
        errors.add("shop", "required")
    if not reference or len(reference) > 64:
        errors.add("reference", "required, at most 64 characters (the platform's settlement number)")
    gross_v, commission_v = _amount(errors, "gross", gross), _amount(errors, "commission", commission, True)
    fees_v, day = _amount(errors, "fees", fees, True), _day(errors, business_date)
    if gross_v and commission_v + fees_v > gross_v:
        errors.add("commission", "commission and fees exceed what the platform collected")
    errors.raise_if_any("the settlement is invalid")
    return post_manual(uow, "settlement", f"{channel}/{shop}/{reference}", day,
                       domain.settlement(channel, shop, reference, gross_v, commission_v, fees_v, rules),
                       named_by="reference", breakdown=facts.settlement(channel, shop, commission_v, fees_v),
                       roles=rules.accounts)


def import_opening_balances(uow, business_date: str, rows: list[dict], rules) -> dict:
    """Opening balances as one voucher: rows of account, debit, credit, aux; they must balance.
    The inventory accounts are left out: their opening balance is the opening stock, received into
    its warehouses (stock_received, reason opening) so that the books keep equal to the stock."""
    errors = FieldErrors()
    day, lines = _day(errors, business_date), []
    if not rows:
        errors.add("lines", "at least one balance")
    stock_accounts = {rules.accounts["inventory"], rules.accounts["goods_in_transit"]}
    for i, row in enumerate(rows):
        if str(row.get("account", "")) in stock_accounts:
            errors.add(f"lines[{i}].account", "the inventory account opens with the opening stock: receive it into "
                                              "its warehouse (POST /stock/receipts, reason opening), which books it")
        debit = _amount(errors, f"lines[{i}].debit", row.get("debit") or "0", True)
        credit = _amount(errors, f"lines[{i}].credit", row.get("credit") or "0", True)
        if bool(debit) == bool(credit):
            errors.add(f"lines[{i}]", "exactly one of debit and credit")
        lines.append(domain.Line(str(row.get("account", "")), "Opening balance", debit=debit, credit=credit,
                                 aux=row.get("aux") or ""))
    errors.raise_if_any("the opening balances are invalid")
    return post_manual(uow, "opening", f"opening:{day.isoformat()}", day, lines, named_by="business_date",
                       roles=rules.accounts)


def reverse_voucher(uow, voucher_id: str, business_date: str) -> dict:
    errors = FieldErrors()
    day = _day(errors, business_date)
    errors.raise_if_any("the reversal is invalid")
    s = uow.session
    original = s.execute(select(vouchers).where(vouchers.c.id == voucher_id)).first()
    if original is None:
        raise NotFound(f"voucher {voucher_id} not found")
    if original.kind == "reversal":
        raise Conflict("a reversal is not reversed again; post the correct voucher instead")
    return post_manual(uow, "reversal", voucher_id, day, domain.reversal(_lines_of(s, voucher_id), original.number),
                       reverses=voucher_id, conversion=_conversion_of(original))


def _lines_of(s, voucher_id: str) -> list[domain.Line]:
    return [domain.Line(l.account, l.summary, debit=l.debit, credit=l.credit, aux=l.aux, cost_centre=l.cost_centre)
            for l in s.execute(select(voucher_lines).where(voucher_lines.c.voucher_id == voucher_id)
                               .order_by(voucher_lines.c.line_no)).all()]


def _conversion_of(voucher) -> tuple[str, Decimal] | None:
    """A reversal records the currency and rate of the voucher it reverses."""
    return (voucher.currency, voucher.exchange_rate) if voucher.currency else None


def close_period(uow, period: str) -> None:
    """Close a period: nothing posts into it afterwards. A month after the current one (the merchant's
    calendar, the one clock) has not happened yet and is refused."""
    domain.check_period(period)
    current = clock.today().strftime("%Y-%m")
    if period > current:
        raise InvalidArgument(f"period {period} is in the future; the current period is {current}",
                              [{"field": "period", "message": f"after the current period {current}"}])
    if _is_closed(uow.session, period):
        raise Conflict(f"period {period} is already closed")
    uow.session.execute(periods.insert().values(period=period, status="closed", closed_by=uow.actor,
                                                closed_at=clock.now()))


def closed_periods(db: Database) -> list[dict]:
    with db.reader() as s:
        return [dict(r._mapping) for r in s.execute(select(periods).order_by(periods.c.period)).all()]


# -- exchange rates -----------------------------------------------------------
def _rate_row(errors: FieldErrors, prefix: str, currency: str, valid_from: str, rate: str,
              rules: domain.Rules) -> dict:
    if currency not in CURRENCIES:
        errors.add(f"{prefix}currency", "an ISO 4217 currency code such as USD")
    elif currency == rules.base_currency:
        errors.add(f"{prefix}currency", f"{currency} is the books' currency: it needs no rate")
    try:
        day = date.fromisoformat(valid_from)
    except (TypeError, ValueError):
        errors.add(f"{prefix}valid_from", "expected YYYY-MM-DD")
        day = clock.today()  # a placeholder: the errors refuse the request
    try:
        value = exchange_rate(rate)
    except ValueError as exc:
        errors.add(f"{prefix}rate", f"{exc} (units of {rules.base_currency} per unit of the currency)")
        value = Decimal(1)
    return {"currency": currency, "valid_from": day, "rate": value}


def _store_rates(uow: UnitOfWork, rows: list[dict]) -> None:
    """A rate entered again for the same currency and day replaces the earlier one; documents
    already accepted keep the rate they were accepted at."""
    s, now = uow.session, clock.now()
    for row in rows:
        insert = dialect_insert(s, exchange_rates).values(**row, entered_by=uow.actor, entered_at=now)
        s.execute(insert.on_conflict_do_update(index_elements=["currency", "valid_from"],
                                               set_={"rate": row["rate"], "entered_by": uow.actor, "entered_at": now}))


def set_exchange_rate(uow: UnitOfWork, currency: str, valid_from: str, rate: str, rules: domain.Rules) -> dict:
    """One rate of a currency to the books' currency, valid from a day until the next rate."""
    errors = FieldErrors()
    row = _rate_row(errors, "", currency, valid_from, rate, rules)
    errors.raise_if_any("the exchange rate is invalid")
    _store_rates(uow, [row])
    return row


def import_exchange_rates(uow: UnitOfWork, rows: list[dict], rules: domain.Rules) -> int:
    """Rates from a file (currency, valid_from, rate per row): all of them, or none when any row is bad."""
    errors = FieldErrors()
    if not rows:
        errors.add("rates", "at least one rate")
    parsed = [_rate_row(errors, f"rates[{i}].", r.get("currency", ""), r.get("valid_from", ""),
                        r.get("rate", ""), rules)
              for i, r in enumerate(rows)]
    seen = [(r["currency"], r["valid_from"]) for r in parsed]
    for i, key in enumerate(seen):
        if key in seen[:i]:
            errors.add(f"rates[{i}]", f"{key[0]} on {key[1]} appears twice")
    errors.raise_if_any("the exchange rates are invalid")
    _store_rates(uow, parsed)
    return len(parsed)


def rate_on(s, currency: str, day: date) -> Decimal | None:
    """The latest rate of `currency` dated on or before `day`."""
    return s.execute(select(exchange_rates.c.rate)
                     .where(exchange_rates.c.currency == currency, exchange_rates.c.valid_from <= day)
                     .order_by(exchange_rates.c.valid_from.desc()).limit(1)).scalar()


def applicable_rate(db: Database, currency: str, on: str, rules: domain.Rules) -> dict:
    """The rate a document in `currency` dated `on` (default: today, the merchant's) is accepted at;
    refused, naming the currency, when the hub has none. The books' own currency is at 1."""
    errors, day = FieldErrors(), clock.today()
    try:
        day = date.fromisoformat(on) if on else day
    except ValueError:
        errors.add("date", "expected YYYY-MM-DD")
    if currency not in CURRENCIES:
        errors.add("currency", "an ISO 4217 currency code such as USD")
    errors.raise_if_any("invalid currency")
    if currency == rules.base_currency:
        return {"currency": currency, "valid_from": None, "rate": Decimal(1)}
    with db.reader() as s:
        row = s.execute(select(exchange_rates.c.valid_from, exchange_rates.c.rate)
                        .where(exchange_rates.c.currency == currency, exchange_rates.c.valid_from <= day)
                        .order_by(exchange_rates.c.valid_from.desc()).limit(1)).first()
    if row is None:
        raise InvalidArgument(f"no exchange rate for {currency} on or before {day}",
                              [{"field": "currency", "message": f"the hub has no rate of {currency} to "
                                                               f"{rules.base_currency} on or before {day}; "
                                                               "finance enters one at POST /accounting/exchange-rates"}])
    return {"currency": currency, "valid_from": row.valid_from, "rate": row.rate}


def list_exchange_rates(db: Database, currency: str = "") -> list[dict]:
    query = select(exchange_rates).order_by(exchange_rates.c.currency, exchange_rates.c.valid_from.desc())
    if currency:
        query = query.where(exchange_rates.c.currency == currency)
    with db.reader() as s:
        return [dict(r._mapping) for r in s.execute(query.limit(1000)).all()]


# -- queries ---------------------------------------------------------------


def list_accounts(db: Database) -> list[dict]:
    with db.reader() as s:
        return [dict(r._mapping) for r in s.execute(select(accounts).order_by(accounts.c.code)).all()]


def list_vouchers(db: Database, source_id: str = "", period: str = "", limit: int = 100,
                  offset: int = 0) -> list[dict]:
    if period:
        domain.check_period(period)
    limit = max(1, min(limit or 100, 1000))
    query = select(vouchers).order_by(vouchers.c.period, vouchers.c.number).limit(limit).offset(max(offset, 0))
    if source_id:
        query = query.where(vouchers.c.source_id == source_id)
    if period:
        query = query.where(vouchers.c.period == period)
    with db.reader() as s:
        found = [dict(r._mapping) for r in s.execute(query).all()]
        ids = [v["id"] for v in found]
        lines = s.execute(select(voucher_lines).where(voucher_lines.c.voucher_id.in_(ids))
                          .order_by(voucher_lines.c.line_no)).all() if ids else []
    for v in found:
        v["posted_at"] = as_utc(v["posted_at"])
        v["lines"] = [dict(l._mapping) for l in lines if l.voucher_id == v["id"]]
    return found


def trial_balance(db: Database, period: str) -> dict:
    """Per account: opening balance (debit-positive), the period's debits and credits, closing."""
    domain.check_period(period)
    l, v = voucher_lines, vouchers
    before, within = v.c.period < period, v.c.period == period
    query = (select(l.c.account, accounts.c.name,
                    func.sum(case((before, l.c.debit - l.c.credit), else_=0)),
                    func.sum(case((within, l.c.debit), else_=0)),
                    func.sum(case((within, l.c.credit), else_=0)))
             .join(v, v.c.id == l.c.voucher_id).join(accounts, accounts.c.code == l.c.account)
             .where(v.c.period <= period).group_by(l.c.account, accounts.c.name).order_by(l.c.account))
    rows = []
    with db.reader() as s:
        for account, name, opening, debit, credit in s.execute(query).all():
            opening, debit, credit = (Decimal(str(x or 0)).quantize(Decimal("0.01")) for x in (opening, debit, credit))
            rows.append({"account": account, "name": name, "opening": opening, "debit": debit, "credit": credit,
                         "closing": opening + debit - credit})
    total_debit = sum((r["debit"] for r in rows), ZERO)
    total_credit = sum((r["credit"] for r in rows), ZERO)
    balanced = (total_debit == total_credit and sum((r["opening"] for r in rows), ZERO) == 0
                and sum((r["closing"] for r in rows), ZERO) == 0)
    return {"period": period, "rows": rows, "total_debit": total_debit, "total_credit": total_credit,
            "balanced": balanced}
