"""The backup archive's checks: a damaged, foreign, newer or mismatched archive is refused with a
clear message before anything changes, and a hub that runs is never restored under its feet."""
from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from hub import backup, components, supervisor
from hub.backup import BackupError

NAMES = ("order", "gateway")


def _archive(path: Path, files: dict[str, bytes], *, heads=None, manifest=None, extra: dict | None = None) -> Path:
    """A backup archive holding `files` (database name -> content) with a manifest that describes
    them (or `manifest` as given)."""
    if manifest is None:
        manifest = {"format": backup.FORMAT, "hub_version": "0.1.0", "started_at": "2026-12-06T10:00:00+00:00",
                    "databases": {name: {"dialect": "sqlite", "file": f"databases/{name}.sqlite",
                                         "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data),
                                         "heads": (heads or {}).get(name, backup.code_heads(name)),
                                         "copied_at": "2026-12-06T10:00:01+00:00"}
                                  for name, data in files.items()}}
    members = {backup.MANIFEST: manifest if isinstance(manifest, bytes) else json.dumps(manifest).encode(),
               **{f"databases/{name}.sqlite": data for name, data in files.items()}, **(extra or {})}
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _read(tmp_path: Path, archive: Path):
    into = tmp_path / "unpacked"
    into.mkdir()
    return backup.read_archive(archive, into)


def test_an_intact_archive_is_read_with_its_entries(tmp_path):
    manifest, entries = _read(tmp_path, _archive(tmp_path / "b.tar.gz", {"order": b"o" * 100, "gateway": b"g"}))
    assert set(entries) == {"order", "gateway"}
    assert entries["order"].bytes == 100 and entries["order"].heads == backup.code_heads("order")
    assert manifest["hub_version"] == "0.1.0"


def test_a_database_file_changed_after_the_backup_is_refused_as_damaged(tmp_path):
    archive = _archive(tmp_path / "b.tar.gz", {"order": b"o" * 100},
                       manifest=None)
    # the same archive, the file's content one byte different from what the manifest's checksum says
    good = json.loads(tarfile.open(archive).extractfile(backup.MANIFEST).read())
    damaged = _archive(tmp_path / "d.tar.gz", {"order": b"o" * 99 + b"x"}, manifest=good)
    with pytest.raises(BackupError, match=r"database order: its file databases/order.sqlite is damaged"):
        _read(tmp_path, damaged)


def test_a_database_file_missing_from_the_archive_is_refused(tmp_path):
    manifest = json.loads(tarfile.open(_archive(tmp_path / "b.tar.gz", {"order": b"o"})).extractfile(
        backup.MANIFEST).read())
    manifest["databases"]["gateway"] = {**manifest["databases"]["order"], "file": "databases/gateway.sqlite"}
    with pytest.raises(BackupError, match="database gateway: its file databases/gateway.sqlite is missing"):
        _read(tmp_path, _archive(tmp_path / "m.tar.gz", {"order": b"o"}, manifest=manifest))


def test_a_manifest_that_points_outside_the_archive_is_refused(tmp_path):
    manifest = json.loads(tarfile.open(_archive(tmp_path / "b.tar.gz", {"order": b"o"})).extractfile(
        backup.MANIFEST).read())
    manifest["databases"]["order"]["file"] = "../../etc/passwd"
    with pytest.raises(BackupError, match="is missing from the archive"):
        _read(tmp_path, _archive(tmp_path / "m.tar.gz", {"order": b"o"}, manifest=manifest))


def test_a_member_that_would_land_outside_the_folder_is_refused(tmp_path):
    archive = _archive(tmp_path / "b.tar.gz", {"order": b"o"}, extra={"../escaped": b"x"})
    with pytest.raises(BackupError, match="not a readable backup archive"):
        _read(tmp_path, archive)
    assert not (tmp_path / "escaped").exists()


@pytest.mark.parametrize("content, message", [
    (None, "no manifest.json in the archive"),
    (b"{not json", "its manifest.json is damaged"),
])
def test_an_archive_without_a_readable_manifest_is_refused(tmp_path, content, message):
    path = tmp_path / "b.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        if content is not None:
            info = tarfile.TarInfo(backup.MANIFEST)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    with pytest.raises(BackupError, match=message):
        _read(tmp_path, path)


def test_a_truncated_archive_is_refused(tmp_path):
    archive = _archive(tmp_path / "b.tar.gz", {"order": os.urandom(50_000)})
    archive.write_bytes(archive.read_bytes()[:20_000])
    with pytest.raises(BackupError, match="not a readable backup archive"):
        _read(tmp_path, archive)


def test_a_backup_of_another_format_is_refused(tmp_path):
    with pytest.raises(BackupError, match="backup format 2, this hub reads format 1"):
        _read(tmp_path, _archive(tmp_path / "b.tar.gz", {}, manifest={"format": 2, "databases": {}}))


def test_a_database_at_a_migration_this_code_does_not_know_is_refused(tmp_path):
    archive = _archive(tmp_path / "b.tar.gz", {"order": b"o"}, heads={"order": ["9999_from_the_future"]})
    with pytest.raises(BackupError, match=r"database order of the backup is at migration 9999_from_the_future, "
                                          r"which this code does not know"):
        _read(tmp_path, archive)


def test_an_older_migration_head_is_accepted(tmp_path):
    """An older hub's backup is restored and then migrated to head."""
    oldest = sorted(backup.code_revisions("order"))[0]
    _, entries = _read(tmp_path, _archive(tmp_path / "b.tar.gz", {"order": b"o"}, heads={"order": [oldest]}))
    assert entries["order"].heads == [oldest]


def test_a_backup_must_hold_every_configured_database_of_its_dialect(tmp_path):
    _, entries = _read(tmp_path, _archive(tmp_path / "b.tar.gz", {"order": b"o"}))
    with pytest.raises(BackupError, match="no copy of database.s. gateway"):
        backup.check_matches(entries, {"order": "sqlite:///x.db", "gateway": "sqlite:///g.db"})
    with pytest.raises(BackupError, match="database order of the backup is sqlite, but HUB_ORDER_DB_URL names "
                                          "postgresql"):
        backup.check_matches(entries, {"order": "postgresql+psycopg2://postgres@127.0.0.1/order"})
    backup.check_matches(entries, {"order": "sqlite:///x.db"})


@pytest.fixture
def hub_dir(tmp_path):
    """A hub's settings on SQLite files in a folder of their own, each a database with a table `live`;
    `.before` holds each file's bytes."""
    import sqlite3
    settings = components.settings({"HUB_VAR_DIR": str(tmp_path / "var")})
    before = {}
    for url in components.database_urls(settings).values():
        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(path) as c:
            c.execute("CREATE TABLE live (x)")
        before[path] = path.read_bytes()
    settings.before = before
    return settings


def _untouched(settings) -> bool:
    leftovers = [p.name for p in Path(settings.var_dir).iterdir() if not p.name.endswith(".db")]
    return leftovers == [] and all(p.read_bytes() == data for p, data in settings.before.items())


def test_restore_refuses_a_damaged_archive_and_changes_nothing(tmp_path, hub_dir):
    names = components.database_urls(hub_dir)
    archive = _archive(tmp_path / "b.tar.gz", {n: b"copy" for n in names})
    manifest = json.loads(tarfile.open(archive).extractfile(backup.MANIFEST).read())
    damaged = _archive(tmp_path / "d.tar.gz", {n: b"copz" if n == "ledger" else b"copy" for n in names},
                       manifest=manifest)
    with pytest.raises(BackupError, match="database ledger: its file databases/ledger.sqlite is damaged"):
        backup.restore(hub_dir, damaged, purge_queues=False)
    assert _untouched(hub_dir)


def test_restore_refuses_while_hub_up_runs(tmp_path, hub_dir):
    names = components.database_urls(hub_dir)
    archive = _archive(tmp_path / "b.tar.gz", {n: b"copy" for n in names})
    status = Path(hub_dir.var_dir) / supervisor.STATUS_FILE
    status.write_text(json.dumps({"supervisor": os.getpid(), "processes": []}))
    with pytest.raises(BackupError, match=rf"the hub is running \(`hub up`, pid {os.getpid()}\): stop it first"):
        backup.restore(hub_dir, archive, purge_queues=False)
    status.unlink()
    assert _untouched(hub_dir)


def test_restore_refuses_while_a_process_has_a_database_open(tmp_path, hub_dir):
    names = components.database_urls(hub_dir)
    archive = _archive(tmp_path / "b.tar.gz", {n: b"copy" for n in names})
    held = Path(hub_dir.var_dir) / "inventory.db"
    holder = subprocess.Popen([sys.executable, "-c", f"f = open({str(held)!r}); print('open', flush=True); "
                                                     "import time; time.sleep(30)"], stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline() == b"open\n"
        with pytest.raises(BackupError, match=rf"database inventory is in use by process\(es\) {holder.pid}"):
            backup.restore(hub_dir, archive, purge_queues=False)
    finally:
        holder.kill()
        holder.wait()
    assert _untouched(hub_dir)


def test_restore_check_only_reads_the_archive(tmp_path, hub_dir):
    names = components.database_urls(hub_dir)
    manifest = backup.restore(hub_dir, _archive(tmp_path / "b.tar.gz", {n: b"copy" for n in names}),
                              check_only=True)
    assert set(manifest["databases"]) == set(names)
    assert _untouched(hub_dir)


def test_restore_puts_every_database_back_migrated_with_its_leases_free(tmp_path):
    """A stopped hub's databases back from copies: the relay lease a copy holds is freed and a voucher
    push the ledger may have received since is looked up before it is sent again."""
    import sqlite3
    settings = components.settings({"HUB_VAR_DIR": str(tmp_path / "var")})
    urls = components.database_urls(settings)
    components.migrate_all(settings)
    path = {n: Path(u.removeprefix("sqlite:///")) for n, u in urls.items()}
    with sqlite3.connect(path["order"]) as c:
        c.execute("INSERT INTO relay_lease VALUES ('outbox', 'hub-backup:1', '2999-01-01 00:00:00')")
    with sqlite3.connect(path["ledger"]) as c:
        c.execute("INSERT INTO ledger_pushes (ledger, voucher_id, external_number, status, next_attempt_at, "
                  "created_at, updated_at) VALUES ('kingdee', 'v1', 'HUB-1', 'pending', '2026-01-01', '2026-01-01', "
                  "'2026-01-01'), ('kingdee', 'v2', 'HUB-2', 'confirmed', '2026-01-01', '2026-01-01', '2026-01-01')")
    copies = tmp_path / "copies"
    copies.mkdir()
    for n, url in urls.items():  # the online backup, with what the write-ahead log holds
        backup.copy_database(url, copies / n)
    files = {n: (copies / n).read_bytes() for n in urls}
    archive = _archive(tmp_path / "b.tar.gz", files)
    with sqlite3.connect(path["order"]) as c:  # what happened after the backup
        c.execute("DELETE FROM relay_lease")
        c.execute("CREATE TABLE after_the_backup (x)")
    time.sleep(0.01)
    backup.restore(settings, archive, purge_queues=False, say=lambda _: None)
    with sqlite3.connect(path["order"]) as c:
        assert c.execute("SELECT count(*) FROM sqlite_master WHERE name = 'after_the_backup'").fetchone() == (0,)
        assert c.execute("SELECT count(*) FROM relay_lease").fetchone() == (0,)
        assert c.execute("SELECT version_num FROM alembic_version").fetchone()[0] in backup.code_heads("order")
    with sqlite3.connect(path["ledger"]) as c:
        assert dict(c.execute("SELECT voucher_id, status FROM ledger_pushes")) == {"v1": "pushing", "v2": "confirmed"}
    assert not list(Path(settings.var_dir).glob("*.restoring"))


def test_the_cli_says_why_a_restore_is_refused_and_exits_non_zero(tmp_path, hub_dir, monkeypatch, capsys):
    from hub import cli
    names = components.database_urls(hub_dir)
    manifest = json.loads(tarfile.open(_archive(tmp_path / "b.tar.gz", {n: b"copy" for n in names})).extractfile(
        backup.MANIFEST).read())
    damaged = _archive(tmp_path / "d.tar.gz", {n: b"copz" if n == "order" else b"copy" for n in names},
                       manifest=manifest)
    monkeypatch.setattr(cli, "_settings", lambda: hub_dir)
    with pytest.raises(SystemExit, match="^error: database order: its file databases/order.sqlite is damaged"):
        cli.main(["restore", str(damaged)])
    cli.main(["restore", "--check", str(tmp_path / "b.tar.gz")])
    assert f"{tmp_path / 'b.tar.gz'}: intact, {len(names)} databases of hub 0.1.0" in capsys.readouterr().out
    assert _untouched(hub_dir)


def test_a_backup_pauses_a_live_relay_by_its_lease_and_hands_it_back(tmp_path, monkeypatch):
    """The relay's own lease statement is refused while the backup holds the lease (so it publishes
    nothing), the backup waits a third of the lease for the relay's last round, and after the backup
    the relay takes its lease at once."""
    from hubkit.db import Database
    from hubkit.relay import OutboxStatements
    settings = components.settings({"HUB_VAR_DIR": str(tmp_path), "HUB_RELAY_LEASE_SECONDS": "6"})
    url = settings.db_url("order")
    components.migrate("order", url)
    db = Database(url, components.metadata("order"))
    relay = OutboxStatements(db)
    now = backup.clock.now()
    assert relay.take_lease("relay-1", now, 6)
    waited = []
    monkeypatch.setattr(backup.time, "sleep", waited.append)
    quiet = backup.Quiesce(settings, {"order": url}, say=lambda _: None)
    try:
        quiet.pause()
        assert waited == [pytest.approx(6 / 3 + 0.2)]
        assert not relay.take_lease("relay-1", backup.clock.now(), 6)
    finally:
        quiet.resume()
    assert relay.take_lease("relay-1", backup.clock.now(), 6)
    relay.close()
    db.dispose()
