"""A restore into a database is all or nothing, on SQLite, PostgreSQL and MariaDB.

When a later table fails (here: its object was damaged in the store), no earlier table may stay
committed with PI in clear, and with ``replace`` the old tables must survive. A SQLite target
file the restore creates is owner-only.
"""

from __future__ import annotations

import os
import stat

import pytest
import sqlalchemy as sa

from custody.crypto.envelope import IntegrityError
from custody.demo.loaders import drop_database, ensure_database
from custody.restore import RestoreError, restore_to_sql
from custody.store import LocalStore, create_snapshot
from custody.store.snapshots import object_key
from store._runs import setup, stage_run

KEY = "snapshots/crm/r1.json"
DB = f"custody_restore_sql_{os.getpid()}"


@pytest.fixture
def snap(tmp_path):
    keyring, staging = setup(tmp_path)
    manifest = stage_run(staging, tables={"contacts": [40, 25], "accounts": [30]})
    store = LocalStore(tmp_path / "backups")
    create_snapshot([store], staging, manifest, None, keyring)
    return keyring, store, manifest


def _damage(store: LocalStore, manifest, table: str) -> None:
    """Flip one byte of the first object of ``table`` in the store (a later table than contacts)."""
    entry = manifest.table(table).chunks[0]
    path = store.root / object_key(entry.sha256)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def pg_url(pg_server_url):
    url = ensure_database(pg_server_url, DB)
    yield url
    drop_database(pg_server_url, DB)


@pytest.fixture(scope="module")
def mariadb_url(mariadb_server_url):
    url = ensure_database(mariadb_server_url, DB)
    yield url
    drop_database(mariadb_server_url, DB)


@pytest.fixture(params=["sqlite", "postgres", "mariadb"])
def target(request, tmp_path):
    """An empty target database: ``(engine, table names in it)``."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'target.db'}"
    else:
        url = request.getfixturevalue("pg_url" if request.param == "postgres" else "mariadb_url")
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool, hide_parameters=True)
    _drop_all(engine)
    yield engine
    _drop_all(engine)
    engine.dispose()


def _tables(engine) -> list[str]:
    return sorted(sa.inspect(engine).get_table_names())


def _drop_all(engine) -> None:
    meta = sa.MetaData()
    meta.reflect(engine)
    meta.drop_all(engine)


def _count(engine, table: str) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(sa.table(table))).scalar_one()


def test_a_later_table_failing_leaves_no_table_behind(snap, target):
    keyring, store, manifest = snap
    _damage(store, manifest, "accounts")  # contacts restores first, then accounts fails
    with pytest.raises(IntegrityError, match="SHA-256 differs"):
        restore_to_sql(store, KEY, keyring, target, batch_rows=16)
    assert _tables(target) == []  # contacts rolled back too, and no temporary table left


def test_replace_keeps_the_old_tables_when_a_later_table_fails(snap, target):
    keyring, store, manifest = snap
    restore_to_sql(store, KEY, keyring, target, keys={"contacts": [1, 2], "accounts": [3]})
    assert (_count(target, "contacts"), _count(target, "accounts")) == (2, 1)
    _damage(store, manifest, "accounts")
    with pytest.raises(IntegrityError):
        restore_to_sql(store, KEY, keyring, target, if_exists="replace")
    assert _tables(target) == ["accounts", "contacts"]
    assert (_count(target, "contacts"), _count(target, "accounts")) == (2, 1)


def test_a_whole_restore_and_a_replace_land_every_table(snap, target):
    keyring, store, manifest = snap
    res = restore_to_sql(store, KEY, keyring, target, batch_rows=16)
    assert {t: r["rows"] for t, r in res.items()} == {"contacts": 65, "accounts": 30}
    with pytest.raises(RestoreError, match="already exist") as refused:
        restore_to_sql(store, KEY, keyring, target)
    assert "客户" not in str(refused.value)
    restore_to_sql(store, KEY, keyring, target, if_exists="replace", keys={"contacts": [7], "accounts": [8, 9]})
    assert _tables(target) == ["accounts", "contacts"]
    assert (_count(target, "contacts"), _count(target, "accounts")) == (1, 2)


def test_a_sqlite_target_file_is_created_owner_only(snap, tmp_path):
    keyring, store, _ = snap
    path = tmp_path / "new" / "restored.db"
    path.parent.mkdir()
    engine = sa.create_engine(f"sqlite:///{path}")
    old = os.umask(0o022)  # the usual umask: the driver alone would create 0644
    try:
        restore_to_sql(store, KEY, keyring, engine, tables=["accounts"])
    finally:
        os.umask(old)
        engine.dispose()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert _count(sa.create_engine(f"sqlite:///{path}"), "accounts") == 30


def test_mariadb_drops_temporary_tables_a_killed_restore_left(snap, mariadb_url):
    keyring, store, _ = snap
    engine = sa.create_engine(mariadb_url, poolclass=sa.pool.NullPool)
    _drop_all(engine)
    with engine.begin() as conn:  # what a restore killed before its rename leaves: PI in clear
        conn.exec_driver_sql("CREATE TABLE _custody_restore_dead0001_0 (id BIGINT PRIMARY KEY, name TEXT)")
        conn.exec_driver_sql("INSERT INTO _custody_restore_dead0001_0 VALUES (1, '客户1')")
    restore_to_sql(store, KEY, keyring, engine, tables=["accounts"])
    assert _tables(engine) == ["accounts"]
    _drop_all(engine)
    engine.dispose()
