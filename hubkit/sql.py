"""SQL that differs between the two dialects the hub runs on (PostgreSQL and SQLite).

SQLAlchemy 2.0 gives neither dialect's INSERT … ON CONFLICT a cache key (`inherit_cache = False`), so
every such statement was compiled afresh on each call, and they are on every hot path (orders,
outbox sequences, inbox, stock). The classes below add the key: the ON CONFLICT clause's target,
its SET list and its WHERE are part of it, so two different clauses never share a compiled form."""
from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

from sqlalchemy import BigInteger, ClauseElement, bindparam, cast, func
from sqlalchemy.dialects.postgresql import dml as pg_dml
from sqlalchemy.dialects.sqlite import dml as sqlite_dml
from sqlalchemy.engine import Connection
from sqlalchemy.sql.visitors import InternalTraversal as T

_TARGET = [("inferred_target_elements", T.dp_multi_list), ("inferred_target_whereclause", T.dp_clauseelement)]
_NAMED = [("constraint_target", T.dp_string)]  # PostgreSQL only: ON CONFLICT ON CONSTRAINT name
_SET = [("update_values_to_set", T.dp_dml_ordered_values), ("update_whereclause", T.dp_clauseelement)]


def _cacheable(dml, target):
    """An Insert class of dialect module `dml` whose ON CONFLICT statements are cached; `target`: what
    the dialect's clause names its conflict target with."""

    class DoNothing(dml.OnConflictDoNothing):
        _traverse_internals = target

    class DoUpdate(dml.OnConflictDoUpdate):
        _traverse_internals = target + _SET

    class Insert(dml.Insert):
        inherit_cache = True  # Insert's own traversal covers _post_values_clause, keyed by the classes above

        def on_conflict_do_nothing(self, *args, **kwargs):
            statement = super().on_conflict_do_nothing(*args, **kwargs)
            statement._post_values_clause.__class__ = DoNothing
            return statement

        def on_conflict_do_update(self, *args, **kwargs):
            statement = super().on_conflict_do_update(*args, **kwargs)
            clause = statement._post_values_clause
            clause.__class__ = DoUpdate
            # a plain value in SET becomes a bound parameter now (the compiler would bake it into the
            # cached SQL): each call's value travels as a parameter
            clause.update_values_to_set = [(key, value if isinstance(value, ClauseElement) or
                                            hasattr(value, "__clause_element__") else bindparam(None, value))
                                           for key, value in clause.update_values_to_set]
            return statement

    return Insert


_INSERT = {"postgresql": _cacheable(pg_dml, _NAMED + _TARGET), "sqlite": _cacheable(sqlite_dml, _TARGET)}


def core(session) -> Connection:
    """The Connection of a Session's transaction (or the Connection given), for the kernel's own Core
    statements run on every event: the ORM session's execute in front of it was about a third of such a
    statement's CPU, for nothing (the hub maps no classes: there is nothing to flush)."""
    return session if isinstance(session, Connection) else session.connection()


def dialect_insert(session, table):
    """INSERT with the dialect's ON CONFLICT support (and compiled once per statement shape)."""
    return insert_for(session.get_bind().dialect.name, table)


def insert_for(dialect: str, table):
    """dialect_insert for a dialect named (where no session is at hand)."""
    return _INSERT["postgresql" if dialect == "postgresql" else "sqlite"](table)


def many_rows(upsert):
    """`upsert` (an INSERT … ON CONFLICT), sent as one multi-row statement when executed with many rows.
    SQLAlchemy 2.0 sends such a statement row by row unless it has RETURNING (its issue 13130: a
    multi-row DO UPDATE that meets the same key twice fails), so it is given one, of the primary key.
    For DO UPDATE, only where the rows' conflict keys are distinct; DO NOTHING takes any rows."""
    return upsert.returning(*upsert.table.primary_key.columns)


Statement = TypeVar("Statement")


def once_per_dialect(build: Callable[..., Statement]) -> Callable[..., Statement]:
    """Decorate `build(session, *keys)`, which makes a statement with bound parameters (given at
    execute): it runs once per dialect and keys (hashable: e.g. the Table it is for) and the statement
    is reused. SQLAlchemy keeps a statement object's cache key, so a reused statement skips both
    building its clauses and computing the key on every call (what an `insert(...).values(literals)`
    spends most of its time on)."""
    built: dict[tuple, Statement] = {}

    @functools.wraps(build)
    def statement(session, *keys) -> Statement:
        key = (session.get_bind().dialect.name, *keys)
        found = built.get(key)
        if found is None:
            found = built[key] = build(session, *keys)
        return found
    return statement


def cents_sum(column):
    """SUM of a money column as whole cents, an integer on both dialects (SQLite's NUMERIC is binary)."""
    return func.coalesce(func.sum(cast(func.round(column * 100), BigInteger)), 0)


Value = TypeVar("Value")
IN_LIST = 1000  # values per IN (...) list: well inside SQLite's bound on parameters per statement


def chunks(values: Sequence[Value], size: int = IN_LIST) -> Iterator[Sequence[Value]]:
    """`values` in slices of at most `size`: IN lists that would otherwise grow with the input, or a
    platform's calls that take a bounded number each."""
    for start in range(0, len(values), size):
        yield values[start:start + size]
