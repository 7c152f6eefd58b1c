"""Many rows of a merchant's file applied by a service as ONE command (the gateway's /imports): each
row by the same rules as the service's single operation, in its own savepoint so that every refusal
is reported with its row, and the whole import undone when any row was refused or it is a dry run.
Idempotent by the command id the gateway derives from the file's kind and content (hubkit.commands):
the same file again answers the first reply and changes nothing. A refused import is not recorded,
so the same file is applied once what refused it is put right."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar, cast

from google.protobuf.message import Message

from hubapi.common.v1 import imports_pb2 as pb
from hubkit import commands
from hubkit.db import UnitOfWork
from hubkit.errors import HubError

Row = TypeVar("Row")
Reply = TypeVar("Reply", bound=Message)


@dataclass
class Outcome:
    errors: list[tuple[int, str, str]] = field(default_factory=list)  # (row, column, message)
    applied: int = 0
    unchanged: int = 0


def column(service_field: str) -> str:
    """The service's field ("supplier.name", "components[1]") as the file's column ("name", "components")."""
    name = service_field.rsplit(".", 1)[-1]
    return name.split("[", 1)[0]


def apply_rows(uow: UnitOfWork, rows: Iterable[tuple[int, Row]], apply_one: Callable[[Row], bool],
               dry_run: bool, key_column: str = "") -> Outcome:
    """`rows`: (row number, the row); `apply_one(row)` applies one and says whether it changed anything
    (raising HubError to refuse it). Everything is rolled back if a row was refused or on a dry run."""
    outcome, s = Outcome(), uow.session
    whole = s.begin_nested()
    for number, row in rows:
        step = s.begin_nested()
        try:
            changed = apply_one(row)
        except HubError as exc:
            step.rollback()
            for f in exc.fields or [{"field": key_column, "message": exc.message}]:
                outcome.errors.append((number, column(f["field"]) or key_column, f["message"]))
            continue
        step.commit()
        outcome.applied += int(changed)
        outcome.unchanged += int(not changed)
    if outcome.errors:
        outcome.applied = outcome.unchanged = 0  # nothing was (a dry run: nothing would be)
    if dry_run or outcome.errors:
        whole.rollback()
        uow.forget()  # what the rows gathered to announce was undone with them
    else:
        whole.commit()
    outcome.errors.sort()
    return outcome


class _Refused(Exception):
    def __init__(self, reply: Message):
        super().__init__("refused")
        self.reply = reply


def result(outcome: Outcome, dry_run: bool) -> pb.ImportResult:
    return pb.ImportResult(errors=[pb.ImportRowError(row=r, column=c, message=m) for r, c, m in outcome.errors],
                           applied=outcome.applied, unchanged=outcome.unchanged, dry_run=dry_run)


def once_unless_refused(uow: UnitOfWork, context, reply_type: type[Reply], build: Callable[[], Reply],
                        name: str | None = None) -> Reply:
    """commands.once for an import whose reply lists refused rows (`errors`): a refused import is
    answered but not recorded, so the same file is applied once what refused it is put right."""
    def checked() -> Reply:
        reply = build()
        if reply.errors:  # type: ignore[attr-defined]  # every import reply has its refused rows
            raise _Refused(reply)  # before commands.once records it
        return reply
    try:
        return commands.once(uow, context, reply_type, checked, command=name)
    except _Refused as refused:
        return cast(Reply, refused.reply)


def command(uow: UnitOfWork, context, dry_run: bool, apply: Callable[[], Outcome], name: str) -> pb.ImportResult:
    """Run `apply()` (apply_rows) inside `uow` as the import command `name`, once per command id; a dry
    run or a refused import is answered but never recorded as the command."""
    if dry_run:
        return result(apply(), True)
    return once_unless_refused(uow, context, pb.ImportResult, lambda: result(apply(), False), name)
