"""No push stays `pushing` for ever: after a bounded number of rounds without a certain answer the
voucher is set aside for a person (listed with the reason), and a re-push is resolved first (a
look-up, or for a ledger with an idempotency key the same key again)."""
from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

from sqlalchemy import select, update

from connectors.ledgers import pusher, runner, store
from connectors.ledgers.clients import Unavailable, ambiguous, confirmed, rejected
from contracts import VoucherRefused
from hub import components
from hubkit import clock
from hubkit.db import Database

VOUCHER = {"id": "v1", "number": "记-2026-11-0001", "period": "2026-11", "lines": []}


class Silent:
    """A ledger that never answers a save for certain and never finds the voucher."""

    idempotent_save = False

    def __init__(self, finds=None, lookups_fail=False):
        self.saves, self.finds, self.lookups_fail = 0, finds, lookups_fail

    def push(self, voucher, accounts):
        self.saves += 1
        return ambiguous("timed out")

    def find(self, external_number):
        if self.lookups_fail:
            raise Unavailable("ledger down")
        return self.finds


def _db(tmp_path) -> Database:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    components.migrate("ledger", url)
    db = Database(url, store.metadata)
    now = clock.now()
    with db.session() as s:
        s.execute(store.vouchers.insert().values(voucher_id="v1", number=VOUCHER["number"], period="2026-11",
                                                 body='{"id": "v1", "number": "n", "period": "2026-11", "lines": []}',
                                                 received_at=now))
        s.execute(store.pushes.insert().values(ledger="kingdee", voucher_id="v1", external_number="HUB-202611-JZ-0001",
                                               status=store.PENDING, next_attempt_at=now, created_at=now, updated_at=now))
    return db


def _run(p: pusher.Pusher, db: Database, rounds: int) -> None:
    for _ in range(rounds):
        with db.session() as s:  # every attempt is due at once
            s.execute(update(store.pushes).values(next_attempt_at=clock.now() - timedelta(seconds=1)))
        p.tick()


def _row(db):
    with db.reader() as s:
        return s.execute(select(store.pushes)).one()


def test_a_voucher_without_a_certain_answer_is_set_aside_for_a_person(tmp_path):
    db, ledger = _db(tmp_path), Silent()
    p = pusher.Pusher("kingdee", ledger, db, parallel=1)
    _run(p, db, pusher.MAX_UNCERTAIN + 5)
    row = _row(db)
    assert row.status == store.REJECTED
    assert "no certain answer" in row.last_error and "HUB-202611-JZ-0001" in row.last_error
    assert ledger.saves == pusher.MAX_UNCERTAIN  # bounded: no push after it was set aside
    assert pusher.status(db, "kingdee")["rejected"] == 1
    [refusal] = p.take_refusals()  # announced (voucher_refused) as a refusal is
    assert "no certain answer" in refusal["error"]


def test_a_ledger_that_cannot_be_asked_is_set_aside_too(tmp_path):
    db, ledger = _db(tmp_path), Silent(lookups_fail=True)
    p = pusher.Pusher("kingdee", ledger, db, parallel=1)
    _run(p, db, pusher.MAX_UNCERTAIN + 5)
    assert _row(db).status == store.REJECTED and ledger.saves == 1


def test_a_re_push_looks_the_voucher_up_first_and_has_a_fresh_budget(tmp_path):
    db, ledger = _db(tmp_path), Silent()
    p = pusher.Pusher("kingdee", ledger, db, parallel=1)
    _run(p, db, pusher.MAX_UNCERTAIN + 1)
    pusher.retry_rejected(db, "kingdee", "v1")
    ledger.finds, saves = "42/JZ-0001", ledger.saves  # it had landed after all
    _run(p, db, 1)
    row = _row(db)
    assert row.status == store.CONFIRMED and row.ledger_ref == "42/JZ-0001"
    assert ledger.saves == saves  # found by the look-up: not sent again


def test_a_confirmed_push_is_untouched(tmp_path):
    db = _db(tmp_path)

    class Answers(Silent):
        def push(self, voucher, accounts):
            return confirmed("7/JZ-0001")
    p = pusher.Pusher("kingdee", Answers(), db, parallel=1)
    _run(p, db, 3)
    assert _row(db).status == store.CONFIRMED


class SilentWithKey:
    """A ledger with an idempotency key (U8 biz_id) and no documented look-up, never answering."""

    idempotent_save = True

    def __init__(self):
        self.saves = 0

    def push(self, voucher, accounts):
        self.saves += 1
        return ambiguous("timed out")


def test_a_ledger_with_an_idempotency_key_is_sent_again_and_set_aside_after_the_budget(tmp_path):
    db, ledger = _db(tmp_path), SilentWithKey()  # no find(): a look-up would fail every round
    p = pusher.Pusher("kingdee", ledger, db, parallel=1)
    _run(p, db, pusher.MAX_UNCERTAIN + 5)
    row = _row(db)
    assert row.status == store.REJECTED and "no certain answer" in row.last_error
    assert ledger.saves == row.save_calls == pusher.MAX_UNCERTAIN
    pusher.retry_rejected(db, "kingdee", "v1")
    _run(p, db, 1)
    assert ledger.saves == pusher.MAX_UNCERTAIN + 1  # a re-push sends it again under the same key


def test_the_connector_loop_learns_when_the_next_push_is_due(tmp_path):
    db, ledger = _db(tmp_path), Silent()
    p = pusher.Pusher("kingdee", ledger, db, parallel=1)
    assert p.due_in() == 0  # owed now
    p.tick()  # no certain answer: looked at again after the first retry delay
    assert 0 < p.due_in() <= pusher.RETRY_DELAYS[1]
    with db.session() as s:
        s.execute(update(store.pushes).values(status=store.CONFIRMED))
    assert p.due_in() is None  # nothing owed: only the loop's idle look


def test_a_refused_or_set_aside_voucher_is_announced_once_and_kept_while_the_broker_refuses(tmp_path):
    db = _db(tmp_path)

    class Refuses(Silent):
        def push(self, voucher, accounts):
            return rejected("科目 6001 不存在")
    p = pusher.Pusher("kingdee", Refuses(), db, parallel=1)
    _run(p, db, 2)  # refused once: a rejected voucher is not pushed again
    [refusal] = p.take_refusals()
    assert (refusal["voucher_id"], refusal["external_number"], refusal["error"]) == (
        "v1", "HUB-202611-JZ-0001", "科目 6001 不存在")
    assert p.take_refusals() == []

    class Broker:  # refuses the first publish (the broker away), confirms the next
        def __init__(self):
            self.sent, self.calls = [], 0

        def publish(self, envelope, mandatory=True):
            self.calls += 1
            if self.calls == 1:
                raise ConnectionError("broker away")
            assert mandatory is False  # a hub without a notifier routes it nowhere
            self.sent.append(envelope)
    p.refusals.append(refusal)
    connector = SimpleNamespace(pushers=[p], unannounced=[], publisher=Broker())
    runner.Connector._announce_refusals(connector)  # type: ignore[arg-type]
    assert connector.unannounced == [refusal] and connector.publisher.sent == []
    runner.Connector._announce_refusals(connector)  # type: ignore[arg-type]
    [sent] = connector.publisher.sent
    event = VoucherRefused.model_validate(sent.payload)
    assert (sent.type, sent.event_id, event.ledger, event.voucher_id) == (
        "voucher_refused", refusal["event_id"], "kingdee", "v1")
    assert connector.unannounced == []


def test_the_gauges_count_what_is_unsettled_and_the_status_adds_the_confirmed(tmp_path):
    db, now = _db(tmp_path), clock.now()
    states = {"v2": store.CONFIRMED, "v3": store.CONFIRMED, "v4": store.REJECTED, "v5": store.PUSHING}
    with db.session() as s:
        for voucher_id, state in states.items():
            s.execute(store.pushes.insert().values(
                ledger="kingdee", voucher_id=voucher_id, external_number=f"HUB-{voucher_id}", status=state,
                save_calls=2 if voucher_id == "v2" else 1, next_attempt_at=now,
                created_at=now - timedelta(seconds=30), updated_at=now))
    gauges = pusher.Pusher("kingdee", Silent(), db, parallel=1).update_gauges()
    assert (gauges["pending"], gauges["pushing"], gauges["rejected"]) == (1, 1, 1)
    assert store.CONFIRMED not in gauges
    assert gauges["oldest_unposted_seconds"] >= 30  # v5, pushing, is older than v1, pending
    counted = pusher.status(db, "kingdee")
    assert {k: counted[k] for k in ("pending", "pushing", "rejected", "confirmed", "duplicate_pushes")} == {
        "pending": 1, "pushing": 1, "rejected": 1, "confirmed": 2, "duplicate_pushes": 1}
