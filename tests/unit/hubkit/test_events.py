"""The kernel's event contracts on SQLite: emit checks the event inside the transaction that
writes it, the nameko entry point parses and applies each event once, and a misfit is poison."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from nameko.testing.services import worker_factory
from pydantic import ValidationError
from sqlalchemy import Column, String, Table, func, select

from hubkit import delivery, events, inbox, outbox, topology
from hubkit.consumer import EventConsumer, each, handle_event, handle_events
from hubkit.db import Database, UnitOfWork, new_metadata
from hubkit.envelope import Envelope
from hubkit.nameko_deps import DatabaseProvider


class Part(events.Record):
    sku: str
    price: events.Money


class ThingMade(events.Event):
    type = "thing_made"
    schema_version = 2
    publisher = "maker"
    subscribers = ("user",)

    thing_id: str
    made_at: events.Timestamp
    note: str | None = None
    parts: list[Part]


metadata = new_metadata()
things = Table("things", metadata, Column("id", String(32), primary_key=True))
outbox.add_tables(metadata)
inbox.add_tables(metadata)


@pytest.fixture
def db(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'events.db'}", metadata, pool_size=1)
    metadata.create_all(database.engine)
    yield database
    database.dispose()


def _made(**overrides) -> ThingMade:
    return ThingMade(**{"thing_id": "t1", "made_at": "2026-03-01T08:30:00+00:00",
                        "parts": [{"sku": "A", "price": "168.00"}], **overrides})


def _count(db, table) -> int:
    with db.reader() as s:
        return s.execute(select(func.count()).select_from(table)).scalar()


def _make(db, event_factory, source="maker"):
    with UnitOfWork(db, source, "tester", "corr-1") as uow:
        uow.session.execute(things.insert().values(id="t1"))
        uow.emit(event_factory(), "thing:t1")


def test_emit_writes_the_contract_s_payload_and_schema_version(db):
    _make(db, _made)
    with db.reader() as s:
        [body] = s.execute(select(metadata.tables["outbox"].c.body)).scalars().all()
    envelope = Envelope.from_json(body)
    assert (envelope.type, envelope.source, envelope.schema_version) == ("thing_made", "maker", 2)
    # times stay isoformat() text, amounts decimal strings; a field left out stays out
    assert envelope.payload == {"thing_id": "t1", "made_at": "2026-03-01T08:30:00+00:00",
                                "parts": [{"sku": "A", "price": "168.00"}]}
    assert events.parse(ThingMade, envelope, versions=(2,)) == _made()


def test_emit_refuses_an_event_of_another_publisher_and_writes_nothing(db):
    with pytest.raises(events.ContractError, match="other emits thing_made, which maker publishes"):
        _make(db, _made, source="other")
    assert _count(db, things) == 0 and _count(db, metadata.tables["outbox"]) == 0


def test_emit_refuses_a_plain_dict(db):
    with pytest.raises(events.ContractError, match="contract instance"):
        _make(db, lambda: {"thing_id": "t1"})
    assert _count(db, things) == 0


@pytest.mark.parametrize("bad", [{"thing_id": None}, {"parts": [{"sku": "A"}]}, {"made_at": "yesterday"},
                                 {"colour": "red"}, {"parts": [{"sku": "A", "price": 1.1}]}])
def test_a_payload_that_does_not_fit_fails_the_change_that_emits_it(db, bad):
    with pytest.raises(ValidationError):
        _make(db, lambda: _made(**bad))
    assert _count(db, things) == 0 and _count(db, metadata.tables["outbox"]) == 0


def test_after_commit_runs_only_once_committed(db):
    ran = []
    with UnitOfWork(db, "maker", "tester", "c") as uow:
        uow.after_commit(lambda: ran.append("first"))
        assert ran == []
    assert ran == ["first"]
    with pytest.raises(RuntimeError):
        with UnitOfWork(db, "maker", "tester", "c") as uow:
            uow.after_commit(lambda: ran.append("rolled back"))
            raise RuntimeError("boom")
    assert ran == ["first"]


# -- the nameko entry point ----------------------------------------------------------------
class User:
    name = "user"
    db = DatabaseProvider(metadata)

    @handle_event(ThingMade, versions=(1, 2))
    def on_thing_made(self, uow, event, envelope):
        uow.session.execute(things.insert().values(id=event.thing_id))
        uow.after_commit(lambda: self.counted.append(event.parts[0].price))


def _envelope(payload=None, schema_version=2, event_id="e1") -> Envelope:
    return Envelope(type="thing_made", source="maker", aggregate_id="thing:t1", sequence=1,
                    payload=_made().payload() if payload is None else payload, correlation_id="c", actor="a",
                    event_id=event_id, schema_version=schema_version)


def test_the_handler_gets_the_parsed_event_once(db):
    worker = worker_factory(User, db=db)
    worker.counted = []
    assert worker.on_thing_made(_envelope()) is True
    assert worker.on_thing_made(_envelope()) is False  # redelivered: applied once, counted once
    assert _count(db, things) == 1 and [str(p) for p in worker.counted] == ["168.00"]
    with db.reader() as s:
        assert s.execute(select(metadata.tables["inbox"].c.consumer)).scalars().all() == ["user.thing_made"]


@pytest.mark.parametrize("envelope", [_envelope({"thing_id": "t1"}), _envelope(schema_version=3)])
def test_an_event_that_does_not_fit_is_poison(db, envelope):
    worker = worker_factory(User, db=db)
    with pytest.raises(events.InvalidEvent) as refused:
        worker.on_thing_made(envelope)
    assert _count(db, things) == 0 and _count(db, metadata.tables["inbox"]) == 0
    decision = delivery.after_failure(topology.Subscription("user", "thing_made"), {}, refused.value,
                                      delivery.Policy(max_attempts=5))
    assert decision.dead_letter and decision.attempts == 1 and decision.error.startswith("InvalidEvent: ")


def test_the_entry_point_refuses_a_service_the_contract_does_not_name():
    entry = EventConsumer(ThingMade)
    entry.container = SimpleNamespace(service_name="stranger", config={})
    with pytest.raises(events.ContractError, match="stranger handles thing_made"):
        entry.setup()


def test_a_batched_handler_may_gather_longer_than_the_config_says(monkeypatch):
    from nameko.messaging import Consumer

    class PatientUser:
        name = "user"

        @handle_events(ThingMade, consumer="user.patient", background=True)
        def on_things_made(self, uow, batch):
            pass

    monkeypatch.setattr(Consumer, "setup", lambda self: None)  # no queue consumer to register with
    waits = {}
    for name, method in (("own", PatientUser.on_things_made), ("config's", BatchUser.on_things_made)):
        [entry] = method.nameko_entrypoints
        entry.container = SimpleNamespace(service_name="user", config={"HUB": {"batch_wait_ms": 3,
                                                                                   "background_batch_wait_ms": 250}})
        entry.method_name = method.__name__
        entry.setup()
        waits[name] = entry.batch_wait
    assert waits == {"own": 0.25, "config's": 0.003}


def test_a_catalog_needs_a_publisher_and_a_subscriber_for_every_event():
    class Orphan(events.Event):
        type = "orphan_found"
        publisher = "maker"

    with pytest.raises(events.ContractError, match="at least one subscriber"):
        events.Catalog(ThingMade, Orphan)
    with pytest.raises(events.ContractError, match="two contracts for thing_made"):
        events.Catalog(ThingMade, ThingMade)
    catalog = events.Catalog(ThingMade)
    assert catalog.subscriptions() == [topology.Subscription("user", "thing_made")]
    assert catalog.publishers() == {"maker"} and catalog.subscribers() == {"user"}


class BatchUser:
    name = "user"
    db = DatabaseProvider(metadata)

    @handle_events(ThingMade, consumer="user.things", versions=(1, 2))
    def on_things_made(self, uow, batch):
        for event, _ in each(uow, batch):
            if event.note == "refuse":
                raise ValueError(f"{event.thing_id} is refused")
            uow.session.execute(things.insert().values(id=event.thing_id))
            recorded = (event.thing_id, uow.actor)
            uow.after_commit(lambda recorded=recorded: self.actors.append(recorded))


def _thing(thing_id: str, note=None, **kw) -> Envelope:
    return Envelope(type="thing_made", source="maker", aggregate_id=f"thing:{thing_id}", sequence=1,
                    payload=_made(thing_id=thing_id, note=note).payload(), correlation_id="c", actor=f"by-{thing_id}",
                    schema_version=2, **kw)


def test_a_batched_handler_answers_each_message_and_a_bad_one_fails_alone(db):
    worker = worker_factory(BatchUser, db=db)
    worker.actors = []
    misfit = _envelope({"thing_id": "t9"}, event_id="misfit")
    refused, applied_before = _thing("t3", note="refuse"), _thing("t0")
    worker.on_things_made([applied_before])
    outcomes = worker.on_things_made([_thing("t1"), misfit, applied_before, refused, _thing("t2")])
    assert outcomes[0] is True and outcomes[2] is False and outcomes[4] is True
    assert isinstance(outcomes[1], events.InvalidEvent) and isinstance(outcomes[3], ValueError)
    # the batch failed on t3 and was applied one event at a time: t1 and t2 once each, as their own actor
    assert worker.actors == [("t0", "by-t0"), ("t1", "by-t1"), ("t2", "by-t2")]
    assert _count(db, things) == 3
    decision = delivery.after_failure(topology.Subscription("user", "thing_made"), {}, outcomes[1],
                                      delivery.Policy(max_attempts=5))
    assert decision.dead_letter  # the misfit goes to the dead-letter queue at once, the refused one is retried
    assert not delivery.after_failure(topology.Subscription("user", "thing_made"), {}, outcomes[3],
                                      delivery.Policy(max_attempts=5)).dead_letter


class PickyUser:
    name = "user"
    db = DatabaseProvider(metadata)

    @handle_events(ThingMade, consumer="user.picky", wanted=lambda self, event: event.note != "skip")
    def on_things_made(self, uow, batch):
        for event, _ in each(uow, batch):
            uow.session.execute(things.insert().values(id=event.thing_id))


def test_an_event_the_handler_does_not_want_is_settled_without_a_transaction_or_an_inbox_record(db):
    worker = worker_factory(PickyUser, db=db)
    misfit = _envelope({"thing_id": "t9"}, event_id="misfit")
    outcomes = worker.on_things_made([_thing("t1"), _thing("t2", note="skip"), misfit])
    assert outcomes[0] is True and outcomes[1] is None  # None: handled (acked), nothing applied
    assert isinstance(outcomes[2], events.InvalidEvent)  # still parsed first: a misfit is dead-lettered
    assert _count(db, things) == 1
    inbox_rows = db.metadata.tables["inbox"]
    with db.reader() as s:
        recorded = s.execute(select(func.count()).select_from(inbox_rows)).scalar()
    assert recorded == 1


def test_a_batched_consumer_gathers_a_delivery_in_the_consume_loop_and_counts_it_in_hand(monkeypatch):
    from nameko.messaging import Consumer
    from prometheus_client import REGISTRY

    from hubkit.consumer import _QueueConsumer

    monkeypatch.setattr(Consumer, "setup", lambda self: None)  # no queue consumer to register with
    [entry] = BatchUser.on_things_made.nameko_entrypoints
    spawned: list = []
    entry.container = SimpleNamespace(service_name="user", config={"HUB": {"batch_max": 5}},
                                      spawn_managed_thread=lambda *a, **k: spawned.append(a))
    entry.method_name = "on_things_made"
    entry.setup()
    monkeypatch.setattr(entry, "_gathered", [])
    monkeypatch.setattr(entry, "_gather", lambda envelope, message: entry._gathered.append((envelope, message)))
    queue_consumer = _QueueConsumer()
    queue_consumer.container = entry.container
    def in_hand():
        return REGISTRY.get_sample_value("hub_messages_in_hand", {"service": "user"})

    before = in_hand()
    body = _made().envelope(aggregate_id="thing:t1", sequence=1, correlation_id="c", actor="a").to_dict()
    queue_consumer.handle_message(entry, body, "message-1")
    assert spawned == [] and [m for _, m in entry._gathered] == ["message-1"]  # no green thread of its own
    assert in_hand() == before + 1  # the gauge reads the tally when scraped
    queue_consumer.handle_message(entry, {"not": "an envelope"}, "message-2")
    assert len(spawned) == 1  # a misfit is set aside by a green thread of its own (publishing may wait)
