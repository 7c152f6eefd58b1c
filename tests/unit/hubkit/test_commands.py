"""A command sent with an id is applied once: the repeat answers the first reply, in the service's
own database (hubkit.commands)."""
from __future__ import annotations

from sqlalchemy import MetaData

from hubapi.inventory.v1 import inventory_service_pb2 as pb
from hubkit import commands
from hubkit.db import Database, UnitOfWork


class Call:
    def __init__(self, metadata):
        self.metadata = metadata

    def invocation_metadata(self):
        return self.metadata


def service(tmp_path):
    """A service's database with the commands table, and its receive command (counted in `applied`)."""
    metadata = MetaData()
    commands.add_tables(metadata)
    db = Database(f"sqlite:///{tmp_path / 'svc.db'}", metadata)
    metadata.create_all(db.engine)
    applied: list[int] = []

    def receive(call):
        with UnitOfWork(db, "inventory", "alice", "c1") as uow:
            return commands.once(uow, call, pb.ReceiveStockResponse, lambda: (
                applied.append(1), pb.ReceiveStockResponse(movement_id=len(applied), document_id=f"d{len(applied)}"))[1])
    return db, receive, applied


def test_a_command_with_an_id_is_applied_once_and_its_repeat_answers_the_first_reply(tmp_path):
    db, receive, applied = service(tmp_path)
    command = Call([(commands.COMMAND_KEY, commands.command_id("alice", "key-1"))])
    first, again = receive(command), receive(command)
    other = receive(Call([(commands.COMMAND_KEY, commands.command_id("bob", "key-1"))]))  # keys are per user
    plain = receive(Call([]))
    assert applied == [1, 1, 1]
    assert again == first and (first.movement_id, first.document_id) == (1, "d1")
    assert other.movement_id == 2 and plain.movement_id == 3
    db.dispose()


def test_asked_for_the_replay_only_a_command_answers_its_first_reply_or_an_empty_one(tmp_path):
    db, receive, applied = service(tmp_path)
    command_id = (commands.COMMAND_KEY, commands.command_id("alice", "key-1"))
    replay_only = Call([command_id, (commands.REPLAY_ONLY_KEY, "1")])
    before = receive(replay_only)
    first = receive(Call([command_id]))
    after = receive(replay_only)
    assert before == pb.ReceiveStockResponse() and applied == [1]  # not applied by the question
    assert after == first and first.document_id == "d1"
    db.dispose()
