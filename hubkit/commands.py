"""Producer-side idempotency of gRPC commands: a command sent with an id (the gateway derives it
from the user's Idempotency-Key) is recorded with its reply in the transaction of its effect, and
the same command again answers that reply and changes nothing. So a retry whose first answer was
lost (a 5xx, a gateway that died after the service committed) ends with the original outcome."""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import TypeVar

from google.protobuf.message import Message
from sqlalchemy import Column, DateTime, LargeBinary, MetaData, String, Table, insert, select

from hubkit import clock
from hubkit.db import UnitOfWork

COMMAND_KEY = "x-hub-command-id"  # gRPC metadata
# with COMMAND_KEY: only answer the recorded reply, or an empty one when the command was not applied
# (the gateway asks this before its pre-checks, which a command already applied may no longer pass)
REPLAY_ONLY_KEY = "x-hub-command-replay-only"

Reply = TypeVar("Reply", bound=Message)


def add_tables(metadata: MetaData) -> None:
    Table("commands", metadata,
          Column("command_id", String(64), primary_key=True),
          Column("reply_type", String(128), primary_key=True),  # one command id may drive several commands
          Column("reply", LargeBinary, nullable=False),
          Column("applied_at", DateTime(timezone=True), nullable=False))


def command_id(user: str, key: str) -> str:
    """The id of the command a user's Idempotency-Key stands for (keys belong to their user)."""
    return hashlib.sha256(f"{user}\n{key}".encode()).hexdigest()


def once(uow: UnitOfWork, context, reply_type: type[Reply], build: Callable[[], Reply],
         command: str | None = None) -> Reply:
    """`build()` (apply the command, return its reply) once per command id, inside `uow`; a repeat
    answers the reply recorded the first time. Without a command id, simply `build()`; asked for
    the replay only, an empty reply when the command was not applied (nothing is built). `command`
    names it where two commands answer the same reply type (default: the reply type)."""
    metadata = dict(context.invocation_metadata())
    wanted = metadata.get(COMMAND_KEY)
    if not wanted:
        return build()
    table, name = uow.db.metadata.tables["commands"], command or reply_type.DESCRIPTOR.full_name
    recorded = uow.session.execute(select(table.c.reply).where(table.c.command_id == wanted,
                                                               table.c.reply_type == name)).scalar()
    if recorded is not None:
        return reply_type.FromString(recorded)
    if metadata.get(REPLAY_ONLY_KEY):
        return reply_type()
    reply = build()
    # a second copy racing this one fails on the key and rolls back (the gateway's key makes it wait)
    uow.session.execute(insert(table).values(command_id=wanted, reply_type=name, reply=reply.SerializeToString(),
                                             applied_at=clock.now()))
    return reply
