"""Per-session RabbitMQ vhosts and PostgreSQL databases, removed afterwards; leftovers of
sessions that were cut off (their pid is gone) are removed at the start of the next."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import psycopg2

from hubkit import broker

PG_DSN = os.environ.get("HUB_TEST_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
PG_URL = os.environ.get("HUB_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432")
AMQP_BASE = os.environ.get("HUB_TEST_AMQP_BASE", "amqp://guest:guest@127.0.0.1:5672")
PREFIX = "hubtest_"
_NAME = re.compile(rf"^{PREFIX}(\d+)_[0-9a-f]+")


def session_name() -> str:
    return f"{PREFIX}{os.getpid()}_{uuid.uuid4().hex[:6]}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _stale(name: str) -> bool:
    m = _NAME.match(name)
    return bool(m) and not _alive(int(m.group(1)))


def _rabbitmqctl(*args) -> str:
    return subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, text=True).stdout


def _remove_leftover(*args) -> None:
    """Remove a cut-off session's vhost or user; another session starting now may be removing it too."""
    subprocess.run(["rabbitmqctl", "-q", *args], check=False, capture_output=True, text=True)


_swept = False  # leftovers of cut-off sessions are looked for once per session


def _sweep_leftovers() -> None:
    global _swept
    if _swept:
        return
    for line in _rabbitmqctl("list_vhosts").split():
        if _stale(line):
            _remove_leftover("delete_vhost", line)
    for line in _rabbitmqctl("list_users").splitlines():  # the components' users, `<name>@<vhost>`
        user = line.split("\t")[0]
        if "@" in user and _stale(user.rpartition("@")[2]):
            _remove_leftover("delete_user", user)
    _swept = True


def remove_session_leftovers(pid: int) -> None:
    """A test session that was killed (pid gone) leaves its vhosts, with every quorum queue's file
    descriptors, until the next session's sweep: a test that kills one removes them at once."""
    for line in _rabbitmqctl("list_vhosts").split():
        m = _NAME.match(line)
        if m and int(m.group(1)) == pid:
            delete_vhost(line)


def create_vhost(name: str) -> str:
    _sweep_leftovers()
    # every vhost still being removed, not only this name's: on a broker with the default 1024 file
    # descriptors a new hub's quorum queues must not meet a thrown-away hub's
    _removed([thing for thing in list(_removing) if thing.startswith("vhost ")])
    # one rabbitmqctl call (each starts a VM: a second and more) instead of two; the commands if the
    # broker's internals differ
    vhost = broker.erlang_binary(name)
    if not broker.ctl_eval(f"V = {vhost}, By = <<\"hubtest\">>, ok = rabbit_vhost:add(V, By), "
                           "ok = rabbit_auth_backend_internal:set_permissions(<<\"guest\">>, V, <<\".*\">>, "
                           "<<\".*\">>, <<\".*\">>, By)."):
        _rabbitmqctl("add_vhost", name)
        _rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
    return f"{AMQP_BASE}/{name}"


def delete_vhost(name: str, wait: bool = True) -> None:
    """The vhost, its queues and the components' users `hub migrate` made for it; unless `wait`, by
    the thread that drops databases (the broker takes seconds to delete a hub's quorum queues)."""
    _removing[f"vhost {name}"] = _remover.submit(broker.delete_local_vhost, name)
    if wait:
        _removed([f"vhost {name}"])


def _pg():
    conn = psycopg2.connect(PG_DSN)
    conn.autocommit = True
    return conn


def create_databases(prefix: str, names) -> dict[str, str]:
    conn = _pg()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", (PREFIX + "%",))
            for (db,) in cur.fetchall():
                if _stale(db):
                    cur.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
            urls = {}
            _removed(f"{prefix}_{name}" for name in names)
            for name in names:
                cur.execute(f'CREATE DATABASE "{prefix}_{name}"')
                urls[name] = f"{PG_URL}/{prefix}_{name}"
            return urls
    finally:
        conn.close()


@contextmanager
def fresh_databases(backend: str, prefix: str, names) -> Iterator[dict[str, str]]:
    """URLs of new, empty databases `names` for `backend` (postgresql: `<prefix>_<name>`; sqlite: files
    in a folder of their own), removed on leaving."""
    if backend == "postgresql":
        urls = create_databases(prefix, names)
        try:
            yield urls
        finally:
            drop_databases(prefix, names)
    else:
        with tempfile.TemporaryDirectory(prefix="hub-") as folder:
            yield {name: f"sqlite:///{Path(folder) / name}.db" for name in names}


# a DROP DATABASE waits on the disk, 0.5-2 s each, and a vhost's deletion on the broker: done by a
# thread of their own while the tests go on (the interpreter waits for it at exit; what a cut-off
# session leaves, the next one removes)
_remover = ThreadPoolExecutor(max_workers=1, thread_name_prefix="remove-leftovers")
_removing: dict[str, Future] = {}  # database or "vhost <name>" -> its removal, while queued or running


def drop_databases(prefix: str, names) -> None:
    dropped = _remover.submit(_drop, prefix, tuple(names))
    for name in names:
        _removing[f"{prefix}_{name}"] = dropped


def _removed(things) -> None:
    """Once the removals of these databases or vhosts (made again under the same names) are done."""
    for thing in things:
        removing = _removing.pop(thing, None)
        if removing is not None:
            removing.result()


def _drop(prefix: str, names: tuple) -> None:
    try:
        conn = _pg()
        try:
            with conn.cursor() as cur:
                for name in names:
                    cur.execute(f'DROP DATABASE IF EXISTS "{prefix}_{name}" WITH (FORCE)')
        finally:
            conn.close()
    except psycopg2.Error as exc:
        print(f"tests: could not drop the databases {prefix}_*: {exc}", file=sys.stderr)
