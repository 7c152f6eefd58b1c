"""`hub backup` and `hub restore` on PostgreSQL: a pg_dump -Fc per database in the archive, restored with
pg_restore into a fresh database that then takes the old one's name; refused while another session
uses a database. The order and ledger databases are on PostgreSQL here, the rest on SQLite (a hub may
mix them, as the test hub keeps the notifier's on SQLite)."""
from __future__ import annotations

import tarfile

import psycopg2
import pytest
from sqlalchemy import text

from hub import backup, components
from hubkit.db import make_engine
from tests.support import infra

pytestmark = pytest.mark.integration
ON_POSTGRES = ("order", "ledger")


@pytest.fixture(scope="module")
def mixed_hub(session_name, tmp_path_factory):
    prefix, vhost = f"{session_name}_bkp", f"{session_name}_bkp"
    urls = infra.create_databases(prefix, ON_POSTGRES)
    env = {"HUB_VAR_DIR": str(tmp_path_factory.mktemp("mixed") / "var"), "HUB_AMQP_URI": infra.create_vhost(vhost),
           **{f"HUB_{name.upper()}_DB_URL": url for name, url in urls.items()}}
    settings = components.settings(env)
    components.migrate_all(settings)
    try:
        yield settings
    finally:
        infra.delete_vhost(vhost, wait=False)
        infra.drop_databases(prefix, ON_POSTGRES)
        infra.drop_databases(prefix, [f"{name}__{kept}" for name in ON_POSTGRES for kept in ("restore", "before_restore")])


def _inbox(url: str, *rows: str) -> set[str]:
    engine = make_engine(url, pool_size=1)
    try:
        with engine.begin() as c:
            for row in rows:
                c.execute(text("INSERT INTO inbox (consumer, event_id, processed_at) VALUES ('t', :e, now())"),
                          {"e": row})
            return set(c.execute(text("SELECT event_id FROM inbox")).scalars())
    finally:
        engine.dispose()


def test_postgres_databases_are_dumped_and_restored_into_fresh_databases(mixed_hub, tmp_path):
    url = mixed_hub.db_url("order")
    _inbox(url, "before")
    archive = tmp_path / "hub.tar.gz"
    manifest = backup.backup(mixed_hub, archive, say=lambda _: None, calm=0.2)
    order = manifest["databases"]["order"]
    assert (order["dialect"], order["file"], order["heads"]) == ("postgresql", "databases/order.dump",
                                                                 backup.code_heads("order"))
    assert manifest["databases"]["gateway"]["dialect"] == "sqlite"
    with tarfile.open(archive) as tar:
        assert tar.extractfile("databases/order.dump").read(5) == b"PGDMP"  # pg_dump's custom format

    assert _inbox(url, "after") == {"before", "after"}
    backup.restore(mixed_hub, archive, say=lambda _: None)
    assert _inbox(url) == {"before"}
    assert backup.heads_of(url) == backup.code_heads("order")
    assert _inbox(url + "__before_restore") == {"before", "after"}  # kept as it was, for a person
    with psycopg2.connect(infra.PG_DSN) as c, c.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (url.rsplit("/", 1)[1] + "__restore",))
        assert cur.fetchone() == (0,)  # the fresh database took the old one's name


def test_restore_is_refused_while_another_session_uses_a_postgres_database(mixed_hub, tmp_path):
    url = mixed_hub.db_url("ledger")
    archive = tmp_path / "hub.tar.gz"
    backup.backup(mixed_hub, archive, say=lambda _: None, calm=0.2)
    _inbox(url, "after")
    other = psycopg2.connect(url.replace("postgresql+psycopg2", "postgresql"))
    try:
        with pytest.raises(backup.BackupError, match=r"database ledger has 1 other session\(s\): stop the hub first"):
            backup.restore(mixed_hub, archive, say=lambda _: None)
    finally:
        other.close()
    assert "after" in _inbox(url)  # nothing changed
