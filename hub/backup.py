"""`hub backup` and `hub restore`: every database of the hub in one archive, taken while it runs.

Why the set is consistent although the databases are copied one after another: the only way a
change in one database reaches another is an event, and an event leaves its service only through
the outbox relay. The backup first takes every relay's lease (the relays stop publishing at their
next look at it, at most a third of HUB_RELAY_LEASE_SECONDS later), then waits until the hub's
queues are empty and the consumers' inboxes have stopped growing (every published event applied),
and only then copies the databases. While they are copied, the hub keeps taking requests; what they
cause waits unpublished in the outboxes. So every event a consumer's copy has applied is in its
publisher's copy, and every event a publisher's copy holds unpublished is published after a
restore; nothing is in flight between them. The shop connectors publish without an outbox: their
database is copied first, so after a restore they pull again from an earlier watermark and the
order service drops the versions it already has. The gateway's database (idempotency keys) comes
next, before the services: a key it holds names a document the services' later copies hold.

Each database is copied by its own consistent means: SQLite's online backup API
(`sqlite3.Connection.backup`), `pg_dump -Fc` for PostgreSQL. The archive (a .tar.gz) holds them with
a manifest: the hub's version, per database its dialect, migration heads, size, SHA-256 and when it
was copied. `restore` refuses a damaged archive, one whose databases this code's migrations do not
know (a newer hub's), or one that does not match the configured databases, before it changes
anything; it refuses while any process of the hub runs. It then puts every database back, migrates
each to head, frees the relay leases, makes every voucher push the ledger may have received since
uncertain (looked up before it is sent again) and purges the hub's queues (their messages belong to
the time after the backup; what the restored hub owes is in its outboxes)."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from importlib import metadata as dist_metadata
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, delete, inspect, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from hub import components
from hubkit import broker, clock, outbox
from hubkit.db import as_utc, make_engine, new_metadata

FORMAT = 1
MANIFEST = "manifest.json"
HOLDER = "hub-backup"   # the relay-lease holder while a backup runs (with its pid)
HOLD_SECONDS = 30.0     # how long a backup's hold outlives a backup process that died
FIRST = ("shops", "gateway")  # copied before the rest (see the module's docstring)

Say = Callable[[str], None]


class BackupError(Exception):
    """Why a backup or a restore was refused (one line for the operator); nothing was changed."""


def hub_version() -> str:
    try:
        return dist_metadata.version("commerce-hub")
    except dist_metadata.PackageNotFoundError:  # a checkout that was never installed
        return "unknown"


def _now() -> str:
    return clock.now().isoformat()


def dialect(url: str) -> str:
    return make_url(url).get_backend_name()


def _sqlite_path(url: str) -> Path:
    return Path(make_url(url).database or "")


# -- what the code's migrations know -------------------------------------------------------------
def _scripts(name: str):
    from alembic.script import ScriptDirectory

    from hubkit import migrations
    return ScriptDirectory.from_config(migrations.config(name, components.PROJECT_ROOT /
                                                         components.MIGRATION_TREES[name], ""))


def code_revisions(name: str) -> set[str]:
    """Every revision of database `name`'s migration tree in this code."""
    return {rev.revision for rev in _scripts(name).walk_revisions()}


def code_heads(name: str) -> list[str]:
    return sorted(_scripts(name).get_heads())


def heads_of(url: str) -> list[str]:
    """The migration heads a database is at (none before its first migration)."""
    engine = make_engine(url)
    try:
        with engine.connect() as c:
            if not inspect(c).has_table("alembic_version"):
                return []
            return sorted(c.execute(text("SELECT version_num FROM alembic_version")).scalars())
    finally:
        engine.dispose()


# -- the archive -----------------------------------------------------------------------------------
@dataclass
class Entry:
    name: str
    dialect: str
    file: str            # its member in the archive
    sha256: str
    bytes: int
    heads: list[str]
    copied_at: str

    @classmethod
    def of(cls, name: str, data: dict) -> Entry:
        try:
            return cls(name=name, dialect=str(data["dialect"]), file=str(data["file"]), sha256=str(data["sha256"]),
                       bytes=int(data["bytes"]), heads=[str(h) for h in data["heads"]],
                       copied_at=str(data["copied_at"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise BackupError(f"the manifest's entry for database {name} is malformed ({exc})") from None


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_archive(archive: Path, into: Path) -> tuple[dict, dict[str, Entry]]:
    """Unpack `archive` into the folder `into` and check it: a readable archive with a manifest of
    this format, every database file present with its size and checksum, every migration head one
    this code knows. Returns (manifest, entries by database); BackupError says what is wrong."""
    try:
        with tarfile.open(archive, "r:*") as tar:
            tar.extractall(into, filter="data")
    except FileNotFoundError:
        raise BackupError(f"{archive}: no such file") from None
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise BackupError(f"{archive}: not a readable backup archive ({exc})") from None
    try:
        manifest = json.loads((into / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BackupError(f"{archive}: no {MANIFEST} in the archive (not a hub backup)") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise BackupError(f"{archive}: its {MANIFEST} is damaged ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise BackupError(f"{archive}: backup format {found!r}, this hub reads format {FORMAT}")
    databases = manifest.get("databases")
    if not isinstance(databases, dict) or not databases:
        raise BackupError(f"{archive}: the manifest lists no databases")
    entries = {name: Entry.of(name, data if isinstance(data, dict) else {}) for name, data in databases.items()}
    for e in entries.values():
        if e.name not in components.MIGRATION_TREES:
            raise BackupError(f"database {e.name} of the backup is no database of this hub")
        path = (into / e.file).resolve()
        if not path.is_relative_to(into.resolve()) or not path.is_file():
            raise BackupError(f"database {e.name}: its file {e.file} is missing from the archive")
        if path.stat().st_size != e.bytes or sha256(path) != e.sha256:
            raise BackupError(f"database {e.name}: its file {e.file} is damaged (size or SHA-256 differs "
                              "from the manifest)")
        unknown = sorted(set(e.heads) - code_revisions(e.name))
        if unknown:
            raise BackupError(f"database {e.name} of the backup is at migration {', '.join(unknown)}, which this "
                              f"code does not know (a backup of a newer hub, {manifest.get('hub_version')}; this is "
                              f"{hub_version()}): restore it with that version")
    return manifest, entries


def check_matches(entries: dict[str, Entry], urls: dict[str, str]) -> None:
    """The backup holds every database this hub is configured with, each of the same dialect."""
    missing = sorted(set(urls) - set(entries))
    if missing:
        raise BackupError(f"the backup holds no copy of database(s) {', '.join(missing)} that this hub is "
                          "configured with")
    for name, url in urls.items():
        if entries[name].dialect != dialect(url):
            raise BackupError(f"database {name} of the backup is {entries[name].dialect}, but "
                              f"HUB_{name.upper()}_DB_URL names {dialect(url)}")


# -- copying one database ---------------------------------------------------------------------------
def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A PostgreSQL URL as pg_dump and pg_restore take it, and the password in their environment
    (never on a command line that `ps` shows)."""
    u = make_url(url)
    env = {**os.environ, **({"PGPASSWORD": u.password} if u.password else {})}
    return u.set(drivername="postgresql", password=None).render_as_string(hide_password=False), env


def _run(argv: list[str], env: dict[str, str], what: str) -> None:
    done = subprocess.run(argv, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise BackupError(f"{what} failed: {(done.stderr or done.stdout).strip()[-500:]}")


def copy_database(url: str, dest: Path) -> None:
    """A consistent copy of one database: SQLite's online backup (readers and writers go on), or
    pg_dump's custom format (one snapshot of the database)."""
    if dialect(url) == "sqlite":
        source = sqlite3.connect(f"file:{_sqlite_path(url)}?mode=ro", uri=True, timeout=30)
        target = sqlite3.connect(dest)
        try:
            # in one step: a read transaction, which in WAL mode holds up no writer (a backup in steps
            # starts over whenever another connection writes between them)
            source.backup(target)
            target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        finally:
            target.close()
            source.close()
    elif dialect(url) == "postgresql":
        uri, env = _libpq(url)
        _run(["pg_dump", "-Fc", "--no-owner", "--no-privileges", "-f", str(dest), uri], env, "pg_dump")
    else:
        raise BackupError(f"cannot back up a {dialect(url)} database")


# -- quiescing the running hub ----------------------------------------------------------------------
_lease_metadata = new_metadata()
outbox.add_tables(_lease_metadata)
LEASE = _lease_metadata.tables["relay_lease"]


class Quiesce:
    """Stops every relay publishing (by holding its lease), then waits until every published event is
    applied; `resume` gives the leases back. A backup that dies lets them expire (HOLD_SECONDS)."""

    def __init__(self, settings, urls: dict[str, str], say: Say):
        self.settings, self.say = settings, say
        self.holder = f"{HOLDER}:{os.getpid()}"
        self.relayed = {svc: url for svc, url in urls.items() if svc in components.SERVICES and components.has_relay(svc)}
        self.engines = {name: make_engine(url, pool_size=1) for name, url in urls.items()}
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def _hold(self) -> float:
        """Hold every relay's lease; how long the relays that held one may still publish."""
        now = clock.now()
        until, last_round = now + timedelta(seconds=HOLD_SECONDS), 0.0
        for svc in self.relayed:
            with self.engines[svc].begin() as c:
                # locked (PostgreSQL; SQLite's BEGIN IMMEDIATE already is): no relay renews between the look and the take
                before = c.execute(select(LEASE.c.holder, LEASE.c.expires_at).where(LEASE.c.name == "outbox")
                                   .with_for_update()).first()
                if before is None:
                    c.execute(LEASE.insert().values(name="outbox", holder=self.holder, expires_at=until))
                    continue
                c.execute(update(LEASE).where(LEASE.c.name == "outbox").values(holder=self.holder, expires_at=until))
                if before.holder != self.holder and as_utc(before.expires_at) > now:
                    # a live relay looks at its lease again at most a third of its length after renewing it
                    # (the whole third, not reckoned from expires_at: that is the relay's clock)
                    last_round = max(last_round, self.settings[svc].relay_lease_seconds / 3)
        return last_round

    def pause(self) -> None:
        wait = self._hold()
        self._renewer = threading.Thread(target=self._renew, name="backup-lease", daemon=True)
        self._renewer.start()
        if wait > 0:
            self.say(f"relays paused (their leases held); waiting {wait + 0.2:.1f}s for their last round")
            time.sleep(wait + 0.2)

    def _renew(self) -> None:
        while not self._stop.wait(HOLD_SECONDS / 3):
            try:
                self._hold()
            except Exception:  # the next try, or the hold lapses: the relays go on, never lost
                pass

    def _inboxes(self) -> dict[str, int]:
        """How many events each consumer has taken (its inbox; the notifier's delivery log): it grows
        while anything is being applied."""
        counts = {}
        for name, engine in self.engines.items():
            with engine.connect() as c:
                table = next((t for t in ("inbox", "notify_deliveries") if inspect(c).has_table(t)), None)
                if table is not None:
                    counts[name] = c.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
        return counts

    def drain(self, timeout: float, calm: float) -> None:
        """Until the queues (and retry queues) of every configured subscription are empty and the
        inboxes have not grown for `calm` seconds: every published event applied."""
        subs = components.configured_subscriptions(self.settings)
        try:
            connection = broker.connect(self.settings.amqp_uri)
        except broker.CONNECTION_ERRORS as exc:
            raise BackupError(f"the broker is not reachable ({exc or type(exc).__name__}): a backup waits "
                              "until every event published is applied, which it asks the broker") from None
        deadline = time.monotonic() + timeout
        try:
            queues, channel = _existing_queues(connection, _flowing(subs))

            def count() -> dict[str, int]:
                return {q: n for q in queues if (n := channel.queue_declare(q, passive=True).method.message_count)}
            waiting: dict[str, int] = {}
            while time.monotonic() < deadline:
                waiting = count()
                if waiting:
                    time.sleep(0.1)
                    continue
                before, calm_until = self._inboxes(), time.monotonic() + calm
                while time.monotonic() < calm_until and not waiting:
                    time.sleep(0.1)
                    waiting = count()
                if not waiting and self._inboxes() == before:
                    return
            shown = ", ".join(f"{q} {n}" for q, n in sorted(waiting.items())[:5]) or "inboxes still growing"
            raise BackupError(f"the hub did not drain within {timeout:.0f}s ({shown}); nothing was written. "
                              "A hub that is stopped with messages in its queues must run until they are "
                              "applied; a retrying message may need a longer --drain-timeout")
        finally:
            try:
                connection.close()
            except broker.CONNECTION_ERRORS:
                pass

    def resume(self) -> None:
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(5)
        for svc in self.relayed:
            with self.engines[svc].begin() as c:  # the relays take their leases back at their next round
                c.execute(delete(LEASE).where(LEASE.c.holder == self.holder))
        for engine in self.engines.values():
            engine.dispose()


def _existing_queues(connection, names: list[str]) -> tuple[list[str], Any]:
    """Those of the queues `names` the broker has (one it lacks holds nothing: a broker the hub was
    never migrated on), and an open channel."""
    channel, queues = connection.channel(), []
    for queue in names:
        try:
            channel.queue_declare(queue, passive=True)
            queues.append(queue)
        except broker.CONNECTION_ERRORS:  # the broker closes the channel on a missing queue
            channel = connection.channel()
            if not queues:  # not even the first: no topology of the hub here, none to ask for one by one
                return [], channel
    return queues, channel


def _flowing(subs) -> list[str]:
    """The main and retry queues of subscriptions (their messages are on their way)."""
    return [q for sub in subs for q in (sub.queue, sub.retry_queue)]


def backup(settings, dest: Path, say: Say = print, drain_timeout: float = 60.0, calm: float = 1.0) -> dict:
    """Back up every database of the hub (running or not) into the archive `dest`; the manifest."""
    urls = components.database_urls(settings)
    for name, url in urls.items():
        if dialect(url) not in ("sqlite", "postgresql"):
            raise BackupError(f"database {name}: cannot back up a {dialect(url)} database")
        if dialect(url) == "postgresql" and shutil.which("pg_dump") is None:
            raise BackupError("pg_dump is not installed (the PostgreSQL client tools)")
        if dialect(url) == "sqlite" and not _sqlite_path(url).is_file():
            raise BackupError(f"database {name}: {_sqlite_path(url)} does not exist (run `hub migrate`)")
    order = [n for n in FIRST if n in urls] + [n for n in urls if n not in FIRST]
    manifest: dict = {"format": FORMAT, "hub_version": hub_version(), "started_at": _now(), "copy_order": order,
                      "databases": {}}
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".backup-") as tmp:
        (Path(tmp) / "databases").mkdir()
        quiet = Quiesce(settings, urls, say)
        try:
            quiet.pause()
            manifest["relays_paused_at"] = _now()
            quiet.drain(drain_timeout, calm)
            manifest["drained_at"] = _now()
            say("every published event applied; copying the databases")
            for name in order:
                member = f"databases/{name}.{'sqlite' if dialect(urls[name]) == 'sqlite' else 'dump'}"
                copied_at = _now()
                copy_database(urls[name], Path(tmp) / member)
                path = Path(tmp) / member
                manifest["databases"][name] = {
                    "dialect": dialect(urls[name]), "file": member, "sha256": sha256(path),
                    "bytes": path.stat().st_size, "heads": heads_of(urls[name]), "copied_at": copied_at}
        finally:
            quiet.resume()
        manifest["finished_at"] = _now()
        (Path(tmp) / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        partial = dest.with_name(dest.name + ".partial")
        with tarfile.open(partial, "w:gz") as tar:
            tar.add(Path(tmp) / MANIFEST, MANIFEST)
            tar.add(Path(tmp) / "databases", "databases")
        partial.replace(dest)  # a reader never finds half an archive under the name
    return manifest


# -- restoring --------------------------------------------------------------------------------------
def _holders_of(path: Path) -> list[int]:
    """Other processes (of this user) that have the SQLite file or its WAL open (Linux /proc)."""
    wanted = {str(path.resolve()), f"{path.resolve()}-wal"}
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc") if os.path.isdir("/proc") else []):
        if int(pid) == os.getpid():
            continue
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
            if any(os.readlink(f"/proc/{pid}/fd/{fd}") in wanted for fd in fds):
                found.append(int(pid))
        except OSError:  # gone, or another user's
            continue
    return found


def _read_only(url: str):
    """An engine that looks without changing a thing (the hub's own sets a SQLite file's journal mode)."""
    if dialect(url) == "sqlite":
        path = _sqlite_path(url)
        return create_engine("sqlite://", creator=lambda: sqlite3.connect(f"file:{path}?mode=ro", uri=True),
                             poolclass=NullPool)
    return make_engine(url, pool_size=1)


def check_stopped(settings, urls: dict[str, str]) -> None:
    """Refuse while any process of the hub runs: `hub up`'s status, a process with a SQLite file open,
    another session on a PostgreSQL database. (A relay's lease is no sign: a relay killed keeps it until
    it expires.)"""
    from hub import supervisor
    status = supervisor.read_status(settings.var_dir / supervisor.STATUS_FILE)
    if status is not None:
        raise BackupError(f"the hub is running (`hub up`, pid {status['supervisor']}): stop it first")
    for name, url in urls.items():
        if dialect(url) == "sqlite":
            path = _sqlite_path(url)
            if not path.exists():
                continue
            pids = _holders_of(path)
            if pids:
                raise BackupError(f"database {name} is in use by process(es) {', '.join(map(str, pids[:5]))}: "
                                  "stop the hub first")
        engine = _read_only(url)
        try:
            with engine.connect() as c:
                if dialect(url) == "postgresql":
                    others = c.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                                            "current_database() AND pid <> pg_backend_pid()")).scalar_one()
                    if others:
                        raise BackupError(f"database {name} has {others} other session(s): stop the hub first")
                c.execute(text("SELECT 1")).scalar_one()  # a damaged file fails here, before anything changed
        except BackupError:
            raise
        except Exception as exc:  # noqa: BLE001 - a database that is not there yet is restored, not in use
            if dialect(url) == "sqlite" or "does not exist" not in str(exc):
                raise BackupError(f"database {name} cannot be read ({str(exc).splitlines()[0]})") from None
        finally:
            engine.dispose()


def _pg_admin(url: str):
    """An AUTOCOMMIT engine on the server's maintenance database, and the database's name."""
    u = make_url(url)
    engine = make_engine(u.set(database="postgres").render_as_string(hide_password=False), pool_size=1)
    return engine.execution_options(isolation_level="AUTOCOMMIT"), u.database


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _stage(name: str, url: str, copy: Path) -> Callable[[], None]:
    """Put the copy beside the database, changing nothing of it; returns what swaps it in."""
    if dialect(url) == "sqlite":
        target = _sqlite_path(url)
        target.parent.mkdir(parents=True, exist_ok=True)
        staged = target.with_name(target.name + ".restoring")
        shutil.copyfile(copy, staged)

        def swap() -> None:
            for stale in (f"{target}-wal", f"{target}-shm"):  # never to be replayed into the copy
                Path(stale).unlink(missing_ok=True)
            staged.replace(target)
        return swap
    admin, db = _pg_admin(url)
    fresh = f"{db}__restore"
    try:
        with admin.connect() as c:
            c.execute(text(f"DROP DATABASE IF EXISTS {_quoted(fresh)}"))
            c.execute(text(f"CREATE DATABASE {_quoted(fresh)}"))
        uri, env = _libpq(make_url(url).set(database=fresh).render_as_string(hide_password=False))
        _run(["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", "-d", uri, str(copy)], env,
             f"pg_restore of database {name}")
    finally:
        admin.engine.dispose()

    def swap_pg() -> None:
        """The database as it was is kept as <name>__before_restore (until the next restore) for a person
        to look into or drop; the fresh one takes its name."""
        admin, _ = _pg_admin(url)
        kept = f"{db}__before_restore"
        try:
            with admin.connect() as c:
                exists = c.execute(text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": db}).first()
                if exists:
                    c.execute(text(f"DROP DATABASE IF EXISTS {_quoted(kept)}"))
                    c.execute(text(f"ALTER DATABASE {_quoted(db)} RENAME TO {_quoted(kept)}"))
                c.execute(text(f"ALTER DATABASE {_quoted(fresh)} RENAME TO {_quoted(db)}"))
        finally:
            admin.engine.dispose()
    return swap_pg


def _unstage(url: str) -> None:
    if dialect(url) == "sqlite":
        _sqlite_path(url).with_name(_sqlite_path(url).name + ".restoring").unlink(missing_ok=True)
        return
    admin, db = _pg_admin(url)
    try:
        with admin.connect() as c:
            c.execute(text(f"DROP DATABASE IF EXISTS {_quoted(db + '__restore')}"))
    finally:
        admin.engine.dispose()


def _after_restore(name: str, url: str) -> None:
    """Free the relay lease the copy may hold; a voucher push not known to be confirmed is looked up
    before it is sent again (the ledger may have received it after the backup)."""
    engine = make_engine(url, pool_size=1)
    try:
        with engine.begin() as c:
            if inspect(c).has_table("relay_lease"):
                c.execute(delete(LEASE))
            if name == "ledger":
                from connectors.ledgers import store
                c.execute(update(store.pushes).where(store.pushes.c.status == store.PENDING)
                          .values(status=store.PUSHING, lookups=0))
    finally:
        engine.dispose()


def restore(settings, archive: Path, say: Say = print, purge_queues: bool = True, check_only: bool = False) -> dict:
    """Check `archive`, then (the hub stopped) put every configured database back from it, migrate each
    to head and purge the hub's queues; the manifest. Refused, with nothing changed, when the archive
    is damaged, newer than this code or does not match the configured databases, or the hub runs."""
    urls = components.database_urls(settings)
    with tempfile.TemporaryDirectory(prefix="hub-restore-") as tmp:  # TMPDIR: a container's code is read-only
        manifest, entries = read_archive(archive, Path(tmp))
        check_matches(entries, urls)
        if check_only:
            return manifest
        if any(dialect(u) == "postgresql" for u in urls.values()) and shutil.which("pg_restore") is None:
            raise BackupError("pg_restore is not installed (the PostgreSQL client tools)")
        check_stopped(settings, urls)
        subs = components.configured_subscriptions(settings)
        if purge_queues:
            try:
                broker.connect(settings.amqp_uri).close()
            except broker.CONNECTION_ERRORS as exc:
                raise BackupError(f"the broker is not reachable ({exc or type(exc).__name__}): a restore empties "
                                  "the hub's queues (their messages are from after the backup); start it, or "
                                  "pass --keep-queues for a broker that holds none") from None
        swaps = {}
        try:
            for name, url in urls.items():
                swaps[name] = _stage(name, url, Path(tmp) / entries[name].file)
        except BaseException:
            for name in swaps:
                _unstage(urls[name])
            raise
        for swap in swaps.values():  # from here on the databases are the backup's
            swap()
        for name, url in urls.items():
            components.migrate(name, url)
            _after_restore(name, url)
        left_out = sorted(set(entries) - set(urls))
        say(f"restored {', '.join(urls)} from {archive} (taken {manifest.get('drained_at') or manifest.get('started_at')}, "
            f"hub {manifest.get('hub_version')}); migrated to head"
            + (f"; not configured here, left out: {', '.join(left_out)}" if left_out else ""))
        if purge_queues:
            _purge(settings.amqp_uri, subs, say)
    return manifest


def _purge(amqp_uri: str, subs, say: Say) -> None:
    """Empty the main and retry queues (dead letters stay for a person, `hub dlq list`)."""
    connection = broker.connect(amqp_uri)
    purged = kept = 0
    try:
        queues, channel = _existing_queues(connection, _flowing(subs))  # a new broker has none: `hub migrate`
        for queue in queues:
            purged += channel.queue_purge(queue).method.message_count
        dead, channel = _existing_queues(connection, [sub.dead_letter_queue for sub in subs])
        kept = sum(channel.queue_declare(q, passive=True).method.message_count for q in dead)
    finally:
        connection.close()
    say(f"purged {purged} message(s) from the hub's queues"
        + (f"; {kept} dead letter(s) kept: those from after the backup belong to a time the restored hub "
           "does not have, check them (`hub dlq list`) before a replay" if kept else ""))

