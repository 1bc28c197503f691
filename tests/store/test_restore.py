"""Restore by customer keys, to files and into SQL databases (SQLite here, PostgreSQL in tests/drill)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from custody import hashing
from custody.restore import (
    RestoreError,
    parse_keys,
    restore_object,
    restore_snapshot,
    restore_table,
    restore_to_sql,
)
from custody.staging import parquet_to_table
from custody.store import LocalStore, create_snapshot
from store._runs import rows_table, setup, stage_run

KEY = "snapshots/crm/r1.json"


@pytest.fixture
def snap(tmp_path):
    keyring, staging = setup(tmp_path)
    manifest = stage_run(staging, tables={"contacts": [40, 25], "accounts": [30]})
    store = LocalStore(tmp_path / "backups")
    create_snapshot([store], staging, manifest, None, keyring)
    return keyring, store, manifest


def test_restore_only_the_rows_of_given_keys(snap, tmp_path):
    keyring, store, manifest = snap
    got = restore_table(store, KEY, "contacts", keyring, keys=["3", 41, 64, 9999])
    assert sorted(got.column("id").to_pylist()) == [3, 41, 64]
    expected = rows_table(0, 65).filter(pa.compute.is_in(rows_table(0, 65)["id"], pa.array([3, 41, 64])))
    assert hashing.table_hash(got) == hashing.table_hash(expected)
    res = restore_snapshot(
        store, KEY, keyring, tmp_path / "out", keys=parse_keys(["contacts=3", "contacts=64"]), fmt="csv"
    )
    assert list(res) == ["contacts"]  # only the tables given keys
    info = res["contacts"]
    assert (info["rows"], info["scanned_rows"], info["keys_requested"], info["keys_found"]) == (2, 65, 2, 2)
    text = open(info["path"], encoding="utf-8-sig").read()
    assert text.count("\n") == 3 and "客户64" in text and "客户12" not in text
    with pytest.raises(RestoreError, match="do not cast"):
        restore_table(store, KEY, "contacts", keyring, keys=["abc"])
    with pytest.raises(RestoreError, match="<table>=<value>"):
        parse_keys(["contacts"])


def test_restore_into_sql_with_types_batches_and_progress(snap, tmp_path):
    keyring, store, manifest = snap
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'target.db'}")
    seen = []
    res = restore_to_sql(store, KEY, keyring, engine, batch_rows=16, on_chunk=seen.append)
    assert seen == [40, 25, 30] and res["contacts"]["rows"] == 65 and res["accounts"]["rows"] == 30
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM contacts")).scalar_one() == 65
        cols = {c["name"]: c for c in sa.inspect(conn).get_columns("contacts")}
        assert isinstance(cols["amount"]["type"], sa.Numeric) and cols["amount"]["type"].scale == 2
        assert sa.inspect(conn).get_pk_constraint("contacts")["constrained_columns"] == ["id"]
    with pytest.raises(RestoreError, match="already exists"):
        restore_to_sql(store, KEY, keyring, engine, tables=["contacts"])
    res = restore_to_sql(
        store, KEY, keyring, engine, tables=["contacts"], if_exists="replace", keys={"contacts": [7]}
    )
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT id FROM contacts")).scalars().all() == [7]


def test_a_failed_sql_restore_leaves_no_table_and_no_values_in_the_error(snap, tmp_path, monkeypatch):
    keyring, store, manifest = snap
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'target.db'}")
    import custody.restore.reading as restore

    def wrong_totals(tm, rows, digest):
        raise RestoreError(f"table {tm.table}: restored {rows} rows")

    monkeypatch.setattr(restore, "_check_totals", wrong_totals)
    with pytest.raises(RestoreError, match="restored 65 rows"):
        restore_to_sql(store, KEY, keyring, engine, tables=["contacts"])
    assert not sa.inspect(engine).has_table("contacts")
    monkeypatch.undo()
    with engine.begin() as conn:  # a conflicting row: the database refuses, its message is not passed on
        conn.execute(sa.text("CREATE TABLE accounts (id BIGINT PRIMARY KEY, name TEXT NOT NULL)"))
    with pytest.raises(RestoreError, match=r"already exists"):
        restore_to_sql(store, KEY, keyring, engine, tables=["accounts"])


def test_restore_object_streams_to_a_file(snap, tmp_path):
    keyring, store, manifest = snap
    entry = manifest.tables[0].chunks[0]
    dst = tmp_path / "chunk.parquet"
    n = restore_object(store, entry, keyring, dst)
    assert n == entry.plaintext_bytes and parquet_to_table(dst.read_bytes()).num_rows == 40
    assert pq.read_metadata(dst).num_rows == 40
