"""Which tables stage ``rowkeys`` objects (``TableConfig.row_keys``), and what the plan records."""

from __future__ import annotations

import pyarrow as pa
import pytest
import sqlalchemy as sa

from custody import hashing, rowkeys
from custody.config import SourceConfig, TableConfig
from custody.documents import ExtractPlan, PartDocument, document_key
from custody.extract import extract_part, plan_extract
from extract.conftest import run_source
from sources.conftest import FileDrop


@pytest.mark.parametrize(("settings", "keyed", "expected"), [
    ({}, True, False),
    ({"mode": "incremental", "watermark_column": "updated_at"}, True, True),
    ({"mode": "incremental"}, False, False),  # a file drop without a key: positional keys only
    ({"row_keys": True}, True, True),
    ({"row_keys": True}, False, True),
    ({"mode": "incremental", "watermark_column": "updated_at", "row_keys": False}, True, False),
])
def test_row_keys_default_to_keyed_incremental_tables(settings, keyed, expected):
    assert TableConfig(name="t", **settings).stages_row_keys(keyed=keyed) is expected


def _sqlite(tmp_path, rows: int) -> sa.Engine:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'src.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, updated_at INTEGER)")
        conn.exec_driver_sql("CREATE TABLE u (id INTEGER PRIMARY KEY, v TEXT)")
        values = ", ".join(f"({i}, 'v{i}', {i})" for i in range(rows))
        conn.exec_driver_sql(f"INSERT INTO t VALUES {values}")
        conn.exec_driver_sql("INSERT INTO u SELECT id, v FROM t")
    return engine


def _source(tables) -> SourceConfig:
    return SourceConfig(name="crm", conn_id="c", lawful_basis="contract", retention_class="customer_contract",
                        chunk_rows=10, tables=tables)


def test_the_plan_records_the_setting_and_parts_follow_it(tmp_path, staging, store):
    engine = _sqlite(tmp_path, 25)
    src = _source([TableConfig(name="t", mode="incremental", watermark_column="updated_at"),
                   TableConfig(name="u")])
    plan = plan_extract(engine, source=src, run_key="r", run_id="r", staging=staging, store=store)
    assert {t.table: t.row_keys for t in plan.tables} == {"t": True, "u": False}
    manifest = run_source(src, staging, engine=engine, store=store, run_id="r")
    inc, full = manifest.table("t"), manifest.table("u")
    assert [len(inc.chunks), len(inc.row_keys), len(full.chunks), len(full.row_keys)] == [3, 3, 3, 0]
    # Without row keys the content hash is still the sum of the rows' hashes, and the part's
    # folder holds its chunks only.
    data = pa.concat_tables([staging.get_table(e) for e in full.chunks])
    assert data.num_rows == 25 and full.content_hash == hashing.to_hex(hashing.table_hash(data))
    assert sorted(staging.list_keys("crm/r/tables/u/p0000/")) == sorted(e.key for e in full.chunks)
    part = staging.get(document_key("part", source="crm", run_key="r", table="u", part=0), PartDocument)
    assert part.row_keys == [] and part.chunks == full.chunks


def test_a_version_1_plan_stages_row_keys(tmp_path, staging, store):
    # A plan written before the setting existed (schema version 1, no row_keys): its parts stage
    # row keys, as every part did then, even for a full snapshot.
    engine = _sqlite(tmp_path, 5)
    src = _source([TableConfig(name="u")])
    plan = plan_extract(engine, source=src, run_key="r", run_id="r", staging=staging, store=store)
    assert plan.version == 2 and plan.tables[0].row_keys is False
    body = plan.model_dump(mode="json")
    body["version"] = 1
    for t in body["tables"]:
        del t["row_keys"]
    old = ExtractPlan.model_validate(body)
    assert old.tables[0].row_keys is True
    doc = extract_part(engine, source=src, plan=old, table="u", part=0, staging=staging)
    assert [e.chunk for e in doc.row_keys] == [e.chunk for e in doc.chunks] and doc.extracted_rows == 5


def test_an_incremental_table_can_turn_row_keys_off(tmp_path, staging, store):
    engine = _sqlite(tmp_path, 25)
    src = _source([TableConfig(name="t", mode="incremental", watermark_column="updated_at", row_keys=False)])
    manifest = run_source(src, staging, engine=engine, store=store, run_id="r")
    tm = manifest.table("t")
    assert (tm.extracted_rows, len(tm.chunks), tm.row_keys) == (25, 3, [])
    assert not [k for k in staging.list_keys("crm/r/tables/t/") if "/rowkeys-" in k]


@pytest.mark.parametrize("row_keys", [True, None])
def test_file_drops_without_a_key_stage_row_keys_only_when_asked(tmp_path, staging, store, row_keys):
    drop = FileDrop(tmp_path, staging)
    drop.put("a.csv", "name,city\n张三,北京\n李四,上海\n王五,广州\n".encode("utf-8"))
    # Incremental, yet without a primary key: positional keys only, so none unless asked.
    tm = drop.run("*.csv", store=store, mode="incremental", row_keys=row_keys)
    assert tm.extracted_rows == 3
    if not row_keys:
        assert tm.row_keys == []
        return
    (chunk_entry,), (rk_entry,) = tm.chunks, tm.row_keys
    chunk = staging.get_table(chunk_entry)
    unpacked = rowkeys.unpack(staging.get_table(rk_entry))
    assert unpacked.column(rowkeys.ROW_HASH).to_pylist() == rowkeys.hex_digests(rowkeys.row_digests(chunk)).to_pylist()
    # Positional keys (docs/format.md 3.4): the file name and the record's line number.
    keyed = pa.table({"_custody_file": ["a.csv"] * 3, "_custody_position": pa.array([2, 3, 4], pa.int64())})
    expected = rowkeys.key_digests(keyed, ["_custody_file", "_custody_position"], source="drop", table_name="t")
    assert unpacked.column(rowkeys.ROW_KEY).to_pylist() == rowkeys.hex_digests(expected).to_pylist()


def test_an_incremental_file_drop_with_a_key_stages_row_keys_of_that_key(tmp_path, staging, store):
    drop = FileDrop(tmp_path, staging)
    drop.put("a.csv", "id,name\n7,张三\n9,李四\n".encode("utf-8"))
    tm = drop.run("*.csv", store=store, mode="incremental", primary_key=["id"])
    (chunk_entry,), (rk_entry,) = tm.chunks, tm.row_keys
    chunk = staging.get_table(chunk_entry)
    expected = rowkeys.key_digests(chunk, ["id"], source="drop", table_name="t")
    unpacked = rowkeys.unpack(staging.get_table(rk_entry))
    assert unpacked.column(rowkeys.ROW_KEY).to_pylist() == rowkeys.hex_digests(expected).to_pylist()
