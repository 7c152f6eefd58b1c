"""Server-side prepared statements on PostgreSQL, under SQLAlchemy and psycopg2, for every statement.

psycopg2 sends each statement as text, so PostgreSQL parses, analyses and plans it every time: about
a quarter of its CPU per order went to planning the same few dozen statements again and again. A
connection made here runs a statement it has seen often enough (`PREPARE_AFTER`) as `EXECUTE` of a
statement it prepared once on that connection (PostgreSQL plans it once, generically, when that
costs no more than planning each call).

It is done in the cursor, below SQLAlchemy: its events, logs and tests see the statement they wrote.

PostgreSQL infers each parameter's type when it prepares, where plain text gives each literal its
own: `quantity * $1` takes an integer, and 2.5 would be rounded into it. So each call is checked
against the types the server reported for its statement, and a value of another kind (a fraction
for an integer, a number for text...) runs that call as plain text: nothing changes its meaning. A
statement that cannot be prepared (a parameter whose type cannot be inferred) is found once per
process, inside a savepoint, and runs as plain text from then on. A prepared statement whose table a
migration has changed since fails its transaction once (as a plain one would fail on a lock or a
conflict: the work is retried), and is prepared anew by the next.

A generic plan is made once, for the tables as they were then, and PostgreSQL keeps it until the
tables' statistics change. Without autovacuum they never do: a plan made while `outbox` held ten
rows scanned it whole when it held a hundred thousand. So a connection prepares its statements anew
as it ages (`REPLAN_FIRST`, then each interval twice the one before, at most `REPLAN_MAX`): a plan is
never made on tables much smaller than the ones it runs on.

Off (`HUB_DB_PREPARED_STATEMENTS=false`) behind a pooler that hands one session's statements to
another connection (PgBouncer in transaction mode)."""
from __future__ import annotations

import datetime
import decimal
import hashlib
import re
import threading
import time
import uuid
from dataclasses import dataclass

import psycopg2.errors
import psycopg2.extensions
import psycopg2.extras

PREPARE_AFTER = 5  # sightings in a process before a statement is prepared: one-offs are never
PER_CONNECTION = 256  # prepared statements a connection keeps at most (each holds a plan in the server)
MAX_STATEMENTS = 4096  # distinct statements a process keeps track of
MAX_CHARACTERS = 8_000_000  # and their texts' characters at most (a batch of each size is a statement of its own)
MAX_LENGTH = 16_000  # longer statements (many-row VALUES) are run as text, and not kept track of
REPLAN_FIRST = 10.0  # seconds after its first PREPARE that a connection prepares its statements anew
REPLAN_MAX = 600.0  # and the longest it keeps a plan (the interval doubles each time up to this)

_PLACEHOLDER = re.compile(r"%\((\w+)\)s|%%")
# an upsert onto a partial unique index: the planner matches the index by the WHERE's values, which a
# prepared statement has only as parameters (it would find no index at EXECUTE)
_PARTIAL_ARBITER = re.compile(r"ON CONFLICT\s*\([^)]*\)\s*WHERE", re.IGNORECASE)
_PREPARABLE = ("SELECT", "INSERT", "UPDATE", "DELETE", "WITH")

_NONE = type(None)
_INTEGER = frozenset({int, _NONE})
_NUMBER = frozenset({int, decimal.Decimal, float, _NONE})
_TEXT = frozenset({str, _NONE})
_JSON = frozenset({str, psycopg2.extras.Json, _NONE})
_SEQUENCE = frozenset({list, _NONE})
# the Python values each server type takes as the same literal would have been read in plain text
ACCEPTS: dict[str, frozenset] = {
    "smallint": _INTEGER, "integer": _INTEGER, "bigint": _INTEGER,
    "numeric": _NUMBER, "real": _NUMBER, "double precision": _NUMBER,
    "text": _TEXT, "character varying": _TEXT, "character": _TEXT, "name": _TEXT,
    "boolean": frozenset({bool, _NONE}),
    "timestamp with time zone": frozenset({datetime.datetime, _NONE}),
    "timestamp without time zone": frozenset({datetime.datetime, _NONE}),
    "date": frozenset({datetime.date, _NONE}),
    "interval": frozenset({datetime.timedelta, _NONE}),
    "json": _JSON, "jsonb": _JSON,
    "uuid": frozenset({str, uuid.UUID, _NONE}),
    "bytea": frozenset({bytes, memoryview, _NONE}),
}


@dataclass
class Shape:
    """A statement as the process knows it: its name on the server, the text to prepare, and the
    EXECUTE that runs it with the same parameters."""
    name: str
    prepare: str
    execute: str
    params: tuple[str, ...]
    seen: int = 0
    refused: bool = False  # the server could not prepare it: always plain text


@dataclass
class _Prepared:
    checks: tuple[tuple[str, frozenset], ...]  # each parameter and what it takes

    def takes(self, values: dict) -> bool:
        """Whether every value is of a kind its parameter reads as plain text would read it."""
        for param, accepts in self.checks:
            if type(values[param]) not in accepts:
                return False
        return True


_shapes: dict[str, Shape | None] = {}
_characters = 0  # of the texts _shapes holds (each statement's, its PREPARE's and its EXECUTE's)
_lock = threading.Lock()


def shape_of(query: str) -> Shape | None:
    """The shape of a statement in psycopg2's named style, or None when it is not to be prepared."""
    if (len(query) > MAX_LENGTH or not query.lstrip()[:6].upper().startswith(_PREPARABLE)
            or _PARTIAL_ARBITER.search(query)):
        return None
    params: dict[str, str] = {}  # each name and its number (a many-row VALUES has thousands)

    def positional(match: re.Match) -> str:
        name = match.group(1)
        if name is None:
            return "%"
        number = params.get(name)
        if number is None:
            number = params[name] = f"${len(params) + 1}"
        return number

    text = _PLACEHOLDER.sub(positional, query)
    name = "hub_" + hashlib.blake2b(query.encode(), digest_size=10).hexdigest()
    arguments = ", ".join(f"%({p})s" for p in params)
    return Shape(name, f"PREPARE {name} AS {text}", f"EXECUTE {name}({arguments})" if params
                 else f"EXECUTE {name}", tuple(params))


def _known(query: str) -> Shape | None:
    global _characters
    if len(query) > MAX_LENGTH:  # never prepared: not kept either (a many-row VALUES of each size grew the memory)
        return None
    shape = _shapes.get(query, False)
    if shape is False:
        # a statement not kept is never seen often enough to be prepared: once full, not even read
        if len(_shapes) >= MAX_STATEMENTS or _characters >= MAX_CHARACTERS:
            return None
        shape = shape_of(query)
        size = len(query) + (len(shape.prepare) + len(shape.execute) if shape is not None else 0)
        with _lock:
            if len(_shapes) >= MAX_STATEMENTS or _characters + size > MAX_CHARACTERS:
                return None
            _shapes[query] = shape
            _characters += size
    return shape  # type: ignore[return-value]


class PreparingConnection(psycopg2.extensions.connection):
    """A psycopg2 connection that remembers what it has prepared (lost with it, as on the server)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.prepared: dict[str, _Prepared] = {}
        # prepared here, for a table that has changed since or with a plan now due: deallocated first
        self.stale: set[str] = set()
        self.replan_every = REPLAN_FIRST
        self.replan_at: float | None = None  # when its statements are prepared anew (from its first PREPARE)
        self.cursor_factory = PreparingCursor

    def age_plans(self) -> None:
        """The connection's plans are due: every statement it prepared is prepared anew at its next use
        (deallocated first), so that the server plans it for the tables as they are now."""
        self.stale.update(self.prepared)
        self.prepared.clear()
        self.replan_every = min(self.replan_every * 2, REPLAN_MAX)
        self.replan_at = time.monotonic() + self.replan_every


class PreparingCursor(psycopg2.extensions.cursor):
    def execute(self, query, vars=None):
        # not for a statement without parameters, with positional ones, in bytes, or a named cursor's
        if type(vars) is dict and type(query) is str and self.name is None:
            ready = self._ready(query, sightings=1)
            if ready is not None and ready[1].takes(vars):
                return self._run(ready[0], vars, many=False)
        return super().execute(query, vars)

    def executemany(self, query, vars_list):
        """An executemany (SQLAlchemy's for an UPDATE or DELETE of many rows) runs the prepared statement
        once per row when every row's values pass; each row counts as a sighting."""
        if type(query) is str and self.name is None:
            vars_list = list(vars_list)
            if vars_list and all(type(row) is dict for row in vars_list):
                ready = self._ready(query, sightings=len(vars_list))
                if ready is not None and all(ready[1].takes(row) for row in vars_list):
                    return self._run(ready[0], vars_list, many=True)
        return super().executemany(query, vars_list)

    def _ready(self, query: str, sightings: int) -> tuple[Shape, _Prepared] | None:
        """The shape of `query` and its statement prepared on this connection, prepared now if the process
        has seen it often enough; None: it runs as plain text."""
        shape = _known(query)
        if shape is None or shape.refused:
            return None
        connection = self.connection
        if connection.replan_at is not None and time.monotonic() >= connection.replan_at:
            connection.age_plans()
        prepared = connection.prepared.get(shape.name)
        if prepared is None:
            shape.seen += sightings
            # the server holds the stale ones too, until each is prepared anew under its own name
            held = len(connection.prepared) + len(connection.stale)
            if shape.seen < PREPARE_AFTER or (held >= PER_CONNECTION and shape.name not in connection.stale):
                return None
            prepared = self._prepare(shape)
            if prepared is None:
                return None
        return shape, prepared

    def _run(self, shape: Shape, vars, many: bool):
        try:
            return super().executemany(shape.execute, vars) if many else super().execute(shape.execute, vars)
        except psycopg2.errors.FeatureNotSupported:
            # "cached plan must not change result type": a migration changed a table under the plan. This
            # transaction fails (its work is retried as any failed one); the next one prepares anew
            self.connection.prepared.pop(shape.name, None)
            self.connection.stale.add(shape.name)
            raise
        except psycopg2.errors.InvalidSqlStatementName:  # gone from the server (DISCARD ALL): the same
            self.connection.prepared.pop(shape.name, None)
            raise

    def _prepare(self, shape: Shape) -> _Prepared | None:
        """Prepare `shape` on this connection and read the types the server gave its parameters; in a
        transaction inside a savepoint, so that a refusal does not abort the caller's transaction."""
        read_types = f"SELECT parameter_types::text[] FROM pg_prepared_statements WHERE name = '{shape.name}'"
        prepare = (f"DEALLOCATE {shape.name}; " if shape.name in self.connection.stale else "") + shape.prepare
        guarded = not self.connection.autocommit
        try:
            super().execute(f"SAVEPOINT hub_prepare; {prepare}; RELEASE SAVEPOINT hub_prepare; {read_types}"
                            if guarded else f"{prepare}; {read_types}")
        except psycopg2.Error:  # a parameter whose type cannot be inferred, and the like
            if guarded:
                super().execute("ROLLBACK TO SAVEPOINT hub_prepare; RELEASE SAVEPOINT hub_prepare")
            shape.refused = True
            return None
        types = self.fetchone()[0]
        self.connection.stale.discard(shape.name)
        checks = []
        for param, server_type in zip(shape.params, types):
            accepts = ACCEPTS.get(server_type)
            if accepts is None and server_type.endswith("[]"):
                accepts = _SEQUENCE  # an array takes a list
            if accepts is None:  # another type (an enum, a range...): not prepared, whatever the values
                shape.refused = True
                super().execute(f"DEALLOCATE {shape.name}")
                return None
            checks.append((param, accepts))
        prepared = self.connection.prepared[shape.name] = _Prepared(tuple(checks))
        if self.connection.replan_at is None:  # the schedule starts with the first statement prepared
            self.connection.replan_at = time.monotonic() + self.connection.replan_every
        return prepared


def connect_args() -> dict:
    """`create_engine(connect_args=...)` for a PostgreSQL engine whose connections prepare."""
    return {"connection_factory": PreparingConnection}


__all__ = ["ACCEPTS", "PreparingConnection", "PreparingCursor", "Shape", "connect_args", "shape_of"]
