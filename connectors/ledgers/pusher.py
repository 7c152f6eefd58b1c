"""Effectively once into a ledger. For each (ledger, voucher) the push state is stored before
the first attempt and after every answer:

  pending --claim--> pushing --confirmed--> confirmed   (never sent again)
                        |  \\--refused-----> rejected    (listed; re-pushed only by a person)
                        |   \\--retry-------> pending    (nothing was stored)
                        \\--no answer--> stays pushing: before it is sent again, a ledger without an
                                        idempotency key (Kingdee) is asked for the voucher by its
                                        external number; a ledger with one (U8 biz_id) is simply sent
                                        it again under the same key, and answers with what it holds.

A crash between claim and answer leaves `pushing`, which is treated the same way. A voucher still
without a certain answer after MAX_UNCERTAIN such rounds is set aside as rejected with the reason,
for a person to see; re-pushing it resolves it the same way (look-up or same key) with a fresh budget."""
from __future__ import annotations

import json
import logging
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from prometheus_client import Counter, Gauge
from sqlalchemy import bindparam, func, or_, select, text, update

from connectors.ledgers import store
from connectors.ledgers.clients import Unavailable
from hubkit import clock
from hubkit.db import Database, as_utc
from hubkit.errors import Conflict, NotFound

log = logging.getLogger(__name__)

PUSH_OUTCOMES = Counter("hub_ledger_push_attempts_total", "Save calls by outcome", ["ledger", "outcome"])
DUPLICATE_PUSHES = Counter("hub_ledger_duplicate_pushes_total",
                           "Save calls beyond the first for one voucher (after an ambiguous failure)", ["ledger"])
LOOKUPS = Counter("hub_ledger_lookups_total", "Look-ups before a retry, by result", ["ledger", "found"])
UNPOSTED = Gauge("hub_ledger_unposted_vouchers", "Vouchers not yet confirmed by the ledger", ["ledger"])
REJECTED = Gauge("hub_ledger_rejected_vouchers", "Vouchers the ledger refused, waiting for a fix", ["ledger"])
OLDEST = Gauge("hub_ledger_oldest_unposted_age_seconds", "Age of the oldest unconfirmed voucher", ["ledger"])

BATCH = 64
PARALLEL = 8  # vouchers pushed at once per ledger (threads)
RETRY_DELAYS = (0.5, 1, 2, 5, 10, 30, 60)  # seconds, by attempts so far
MAX_UNCERTAIN = 10  # rounds without a certain answer (after no answer) before a person is asked

# A push's state changes, built once (the columns to set given at execute with their values, the key as
# p_* parameters): building an UPDATE per voucher and its cache key cost more than running it.
_p = store.pushes
_PUSH = update(_p).where(_p.c.ledger == bindparam("p_ledger"), _p.c.voucher_id == bindparam("p_voucher_id"))
_SUMMED = update(_p).where(_p.c.ledger == bindparam("p_ledger"), _p.c.summary_id == bindparam("p_summary_id"))
# a round's claim: every voucher about to be sent, with one statement (each row counted on its own)
_CLAIM = (update(_p).where(_p.c.ledger == bindparam("p_ledger"), _p.c.voucher_id.in_(bindparam("p_ids", expanding=True)))
          .values(status=store.PUSHING, save_calls=_p.c.save_calls + 1, updated_at=bindparam("p_now")))
# a batch answer's confirmations, each with its own ledger reference: on PostgreSQL one statement for the
# lot (the ids and references as two arrays; psycopg2 would send an executemany row by row), on SQLite
# an executemany of _PUSH (in process: nothing to save)
_CONFIRM_MANY_PG = text(
    "UPDATE ledger_pushes SET status = :p_status, ledger_ref = v.ref, last_error = NULL, updated_at = :p_now"
    " FROM unnest(CAST(:p_ids AS VARCHAR[]), CAST(:p_refs AS VARCHAR[])) AS v(voucher_id, ref)"
    " WHERE ledger_pushes.ledger = :p_ledger AND ledger_pushes.voucher_id = v.voucher_id")



class Pusher:
    """Pushes one ledger's due vouchers. With a batch save (client.batch_size) the vouchers of a
    round go in calls of up to batch_size, each voucher still claimed, counted and settled on its
    own row; in summary mode (summariser) the hub vouchers are summed into summary vouchers
    first, and only those are pushed."""

    def __init__(self, ledger: str, client, db: Database, parallel: int = PARALLEL, summariser=None):
        self.ledger, self.client, self.db, self.summariser = ledger, client, db, summariser
        self.batch_size = getattr(client, "batch_size", 0)
        self.per_round = max(BATCH, self.batch_size)
        self.pool = ThreadPoolExecutor(parallel, thread_name_prefix=f"push-{ledger}")
        self.lock = threading.Lock()
        self.refusals: list[dict] = []  # refused since the runner last announced (voucher_refused)
        # a round's reads, built once (the time given at execute): building them each round cost more than running them
        p, v, m = store.pushes, store.vouchers, store.account_mappings
        self._due = (select(p, v.c.body).join(v, v.c.voucher_id == p.c.voucher_id)
                     .where(*self._owed(), p.c.next_attempt_at <= bindparam("p_now"))
                     .order_by(p.c.next_attempt_at).limit(self.per_round))
        self._first_due = select(func.min(p.c.next_attempt_at)).where(*self._owed())
        self._accounts = select(m.c.hub_account, m.c.ledger_account).where(m.c.ledger == self.ledger)

    def tick(self) -> int:
        """Push (or look up) every voucher that is due; returns how many were handled."""
        if self.summariser is not None:
            try:
                self.summariser.compose_due()
            except Exception:  # nothing was composed (one transaction); the pushes go on
                log.exception("%s: composing summary vouchers failed", self.ledger)
        with self.db.reader() as s:
            due = s.execute(self._due, {"p_now": clock.now()}).all()
            accounts = dict(s.execute(self._accounts).all()) if due else {}
        if due:
            if self.batch_size:
                self._push_batched(due, accounts)
            else:
                list(self.pool.map(lambda row: self._handle(row, accounts), due))
        return len(due)

    def due_in(self) -> float | None:
        """Seconds until the next push is due (0 when one is due now); None when nothing is owed."""
        with self.db.reader() as s:
            first = s.execute(self._first_due).scalar()
        return None if first is None else max(0.0, (as_utc(first) - clock.now()).total_seconds())

    def _owed(self) -> tuple:
        """What selects the pushes this ledger is still owed (due now or later)."""
        p = store.pushes
        # a hub voucher summed into a summary voucher is never pushed on its own
        own = p.c.is_summary if self.summariser is not None else or_(p.c.is_summary, p.c.summary_id.is_(None))
        return p.c.ledger == self.ledger, store.status_in(store.OWED), own

    def _handle(self, row, accounts: dict) -> None:
        try:
            if self._may_send(row):
                self._claim([row])
                self._settle(row, self.client.push(json.loads(row.body), accounts))
        except Exception:  # one voucher's trouble must not stop the others
            log.exception("%s: pushing voucher %s failed unexpectedly", self.ledger, row.voucher_id)
            self._set(row, next_attempt_at=clock.now() + timedelta(seconds=30))

    def _push_batched(self, due: list, accounts: dict) -> None:
        """Uncertain pushes are resolved first, each by its own look-up; then what may be sent
        goes in batch calls, and each voucher is settled by its item in the answer."""
        uncertain = [row for row in due if row.status == store.PUSHING]
        cleared = list(self.pool.map(self._may_send_safely, uncertain))
        sendable = [row for row in due if row.status == store.PENDING] + [
            row for row, ok in zip(uncertain, cleared, strict=True) if ok]
        for start in range(0, len(sendable), self.batch_size):
            chunk = sendable[start:start + self.batch_size]
            try:
                self._claim(chunk)
                outcomes = self.client.push_many([json.loads(row.body) for row in chunk], accounts)
                with self.db.session() as s:  # the whole answer is recorded at once
                    self._settle_many(chunk, outcomes, s)
            except Exception:
                log.exception("%s: pushing a batch of %d vouchers failed unexpectedly", self.ledger, len(chunk))
                with self.db.session() as s:
                    for row in chunk:
                        self._set(row, s, next_attempt_at=clock.now() + timedelta(seconds=30))

    def _may_send_safely(self, row) -> bool:
        try:
            return self._may_send(row)
        except Exception:
            log.exception("%s: resolving voucher %s failed unexpectedly", self.ledger, row.voucher_id)
            self._set(row, next_attempt_at=clock.now() + timedelta(seconds=30))
            return False

    def _may_send(self, row) -> bool:
        """True when the voucher may be sent now. After a push without a certain answer it is
        looked up first (a ledger without an idempotency key), or set aside after too many rounds."""
        if row.status != store.PUSHING:
            return True
        uncertain = row.lookups + 1  # rounds without a certain answer since the last person's decision
        if not self.client.idempotent_save and self._looked_up(row, uncertain):
            return False
        if uncertain >= MAX_UNCERTAIN:
            self._give_up(row, row.last_error or "no answer", lookups=uncertain)
            return False
        self._set(row, lookups=uncertain)
        return True

    def _claim(self, rows: list) -> None:
        """Claimed and counted before the call, so a crash during it leaves `pushing` behind."""
        with self.db.session() as s:
            s.execute(_CLAIM, {"p_ledger": self.ledger, "p_ids": [row.voucher_id for row in rows], "p_now": clock.now()})
        duplicates = sum(1 for row in rows if row.save_calls)
        if duplicates:
            DUPLICATE_PUSHES.labels(self.ledger).inc(duplicates)

    def _settle_many(self, rows: list, outcomes: list, session) -> None:
        """`_settle` for each voucher of a batch answer; the confirmed hub vouchers (the usual answer)
        with one statement."""
        confirmed = []
        for row, outcome in zip(rows, outcomes, strict=True):
            if outcome.kind == "confirmed" and not row.is_summary:
                PUSH_OUTCOMES.labels(self.ledger, outcome.kind).inc()
                confirmed.append((row.voucher_id, outcome.ref))
            else:
                self._settle(row, outcome, session)
        if not confirmed:
            return
        now = clock.now()
        if session.get_bind().dialect.name == "postgresql":
            session.execute(_CONFIRM_MANY_PG, {"p_ledger": self.ledger, "p_status": store.CONFIRMED, "p_now": now,
                                               "p_ids": [i for i, _ in confirmed], "p_refs": [r for _, r in confirmed]})
        else:
            session.execute(_PUSH, [{"p_ledger": self.ledger, "p_voucher_id": voucher_id, "status": store.CONFIRMED,
                                     "ledger_ref": ref, "last_error": None, "updated_at": now}
                                    for voucher_id, ref in confirmed])

    def _settle(self, row, outcome, session=None) -> None:
        PUSH_OUTCOMES.labels(self.ledger, outcome.kind).inc()
        if outcome.kind == "confirmed":
            self._set(row, session, status=store.CONFIRMED, ledger_ref=outcome.ref, last_error=None)
        elif outcome.kind == "rejected":
            log.warning("%s refused voucher %s (%s): %s", self.ledger, row.voucher_id, row.external_number,
                        outcome.message)
            self._set(row, session, status=store.REJECTED, last_error=outcome.message)
            self._refused(row, outcome.message)
        elif outcome.kind == "retry":
            self._set(row, session, status=store.PENDING, last_error=outcome.message,
                      next_attempt_at=self._later(row.save_calls + 1))
        else:  # ambiguous: stays pushing; resolved first next time (look-up or the same key)
            self._set(row, session, last_error=outcome.message, next_attempt_at=self._later(row.save_calls + 1))

    def _looked_up(self, row, uncertain: int) -> bool:
        """Asks the ledger for the voucher of an uncertain push: True when that settled this round
        (found: confirmed; the ledger could not be asked: later, or set aside), False when the
        ledger says it does not hold it, so it may be sent."""
        try:
            ref = self.client.find(row.external_number)
        except Unavailable as exc:
            if uncertain >= MAX_UNCERTAIN:
                self._give_up(row, f"look-up failed: {exc}", lookups=uncertain)
            else:
                self._set(row, lookups=uncertain, last_error=f"look-up failed: {exc}",
                          next_attempt_at=self._later(row.save_calls))
            return True
        LOOKUPS.labels(self.ledger, str(ref is not None).lower()).inc()
        if ref is not None:
            self._set(row, status=store.CONFIRMED, ledger_ref=ref, lookups=uncertain)
        return ref is not None

    def _give_up(self, row, last: str, **values) -> None:
        """No certain answer for too long: a person decides (the voucher may be in the ledger)."""
        message = (f"no certain answer after {MAX_UNCERTAIN} attempts (last: {last}); check the ledger for "
                   f"{row.external_number} - a re-push cannot store it twice")
        log.error("%s: voucher %s set aside: %s", self.ledger, row.voucher_id, message)
        self._set(row, status=store.REJECTED, last_error=message[:500], **values)
        self._refused(row, message)

    def _refused(self, row, message: str) -> None:
        """Kept for the runner to announce (voucher_refused, for the notifier), from any pushing thread."""
        with self.lock:
            self.refusals.append(dict(event_id=uuid.uuid4().hex, ledger=self.ledger, voucher_id=row.voucher_id,
                                      external_number=row.external_number, error=(message or "")[:500],
                                      refused_at=clock.now()))

    def take_refusals(self) -> list[dict]:
        """The refusals since the last call (the runner announces them)."""
        with self.lock:
            taken, self.refusals = self.refusals, []
        return taken

    @staticmethod
    def _later(attempts: int) -> datetime:
        return clock.now() + timedelta(seconds=RETRY_DELAYS[min(attempts, len(RETRY_DELAYS) - 1)])

    def _set(self, row, session=None, **values) -> None:
        """Writes a push's state (in `session` when given); a summary voucher's status, ledger
        reference and message are mirrored on the hub vouchers it sums."""
        if session is None:
            with self.db.session() as s:
                return self._set(row, s, **values)
        now = clock.now()
        session.execute(_PUSH, {"p_ledger": self.ledger, "p_voucher_id": row.voucher_id, "updated_at": now, **values})
        mirrored = {k: v for k, v in values.items() if k in ("status", "ledger_ref", "last_error")}
        if row.is_summary and mirrored:
            session.execute(_SUMMED, {"p_ledger": self.ledger, "p_summary_id": row.voucher_id, "updated_at": now,
                                      **mirrored})
        return None

    def update_gauges(self) -> dict:
        counts = unsettled(self.db, self.ledger, self.summariser is not None)
        UNPOSTED.labels(self.ledger).set(counts["pending"] + counts["pushing"])
        REJECTED.labels(self.ledger).set(counts["rejected"])
        OLDEST.labels(self.ledger).set(counts["oldest_unposted_seconds"])
        return counts


def unsettled(db: Database, ledger: str, summary_mode: bool = False, session=None) -> dict:
    """The gauges' counts: hub vouchers pending, pushing and rejected (in summary mode each mirrors
    its summary voucher's, and those waiting for their day to be summed are pending), and the age of
    the oldest unconfirmed voucher the ledger is to receive (in summary mode a summary voucher).
    Read every second while busy, so only through the unsettled pushes' index (store.status_in):
    confirmed pushes, nearly all of the table and ever more of them, are not counted here."""
    if session is None:
        with db.reader() as s:
            return unsettled(db, ledger, summary_mode, s)
    p = store.pushes
    by_status = dict(session.execute(select(p.c.status, func.count()).where(
        p.c.ledger == ledger, ~p.c.is_summary, store.status_in(store.UNSETTLED)).group_by(p.c.status)).all())
    oldest = session.execute(select(func.min(p.c.created_at)).where(
        p.c.ledger == ledger, p.c.is_summary if summary_mode else ~p.c.is_summary,
        store.status_in(store.OWED))).scalar()
    age = (clock.now() - as_utc(oldest)).total_seconds() if oldest else 0.0
    return {"ledger": ledger, **{k: int(by_status.get(k, 0)) for k in store.UNSETTLED},
            "oldest_unposted_seconds": max(age, 0.0)}


def status(db: Database, ledger: str, summary_mode: bool = False) -> dict:
    """unsettled's counts, with the confirmed pushes and the duplicate pushes (for a person asking)."""
    p = store.pushes
    with db.reader() as s:
        counts = unsettled(db, ledger, summary_mode, s)
        confirmed = s.execute(select(func.count()).where(p.c.ledger == ledger, ~p.c.is_summary,
                                                         p.c.status == store.CONFIRMED)).scalar()
        duplicates = s.execute(select(func.coalesce(func.sum(p.c.save_calls - 1), 0))
                               .where(p.c.ledger == ledger, p.c.save_calls > 1)).scalar()
    return {**counts, store.CONFIRMED: int(confirmed or 0), "duplicate_pushes": int(duplicates or 0)}


def retry_rejected(db: Database, ledger: str, voucher_id: str) -> None:
    """A person fixed the cause (for example an account mapping): send the voucher again. For a
    hub voucher summed into a summary voucher, that summary voucher is sent again."""
    p = store.pushes
    with db.session() as s:
        row = s.execute(select(p.c.status, p.c.summary_id).where(p.c.ledger == ledger,
                                                                 p.c.voucher_id == voucher_id)).first()
        if row is None:
            raise NotFound(f"no voucher {voucher_id} for ledger {ledger}")
        if row.summary_id:
            voucher_id = row.summary_id
            row = s.execute(select(p.c.status, p.c.summary_id).where(p.c.ledger == ledger,
                                                                     p.c.voucher_id == voucher_id)).one()
        if row.status != store.REJECTED:
            raise Conflict(f"voucher {voucher_id} is {row.status} in {ledger}; only a rejected voucher is re-pushed")
        # as `pushing`, so the next attempt is resolved as after no answer (look-up, or the same
        # idempotency key): one set aside without a certain answer may be in the ledger already
        s.execute(update(p).where(p.c.ledger == ledger, p.c.voucher_id == voucher_id)
                  .values(status=store.PUSHING, lookups=0, next_attempt_at=clock.now(), updated_at=clock.now()))
        s.execute(update(p).where(p.c.ledger == ledger, p.c.summary_id == voucher_id)
                  .values(status=store.PUSHING, updated_at=clock.now()))
