"""Which tables stage ``rowkeys`` objects (``TableConfig.row_keys``), and what the plan records."""

from __future__ import annotations

import pyarrow as pa
import pytest
import sqlalchemy as sa

from custody import hashing, rowkeys
from custody.config import SourceConfig, TableConfig
from custody.documents import ExtractPlan, PartDocument, document_key
from custody.extract import plan_extract
from extract.conftest import run_source
from sources.conftest import FileDrop


@pytest.mark.parametrize(("settings", "expected"), [
    ({}, False),
    ({"mode": "incremental", "watermark_column": "updated_at"}, True),
    ({"row_keys": True}, True),
    ({"mode": "incremental", "watermark_column": "updated_at", "row_keys": False}, False),
])
def test_row_keys_default_to_incremental_tables(settings, expected):
    assert TableConfig(name="t", **settings).stages_row_keys is expected


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


def test_a_plan_written_before_the_setting_stages_row_keys(tmp_path, staging, store):
    engine = _sqlite(tmp_path, 5)
    src = _source([TableConfig(name="u")])
    plan = plan_extract(engine, source=src, run_key="r", run_id="r", staging=staging, store=store)
    body = plan.model_dump(mode="json")
    for t in body["tables"]:
        del t["row_keys"]
    assert ExtractPlan.model_validate(body).tables[0].row_keys is True


@pytest.mark.parametrize("row_keys", [True, None])
def test_file_drops_stage_row_keys_when_asked(tmp_path, staging, row_keys):
    drop = FileDrop(tmp_path, staging)
    drop.put("a.csv", "name,city\n张三,北京\n李四,上海\n王五,广州\n".encode("utf-8"))
    tm = drop.run("*.csv", row_keys=row_keys)
    assert tm.extracted_rows == 3
    if not row_keys:
        assert tm.row_keys == []
        return
    (chunk_entry,), (rk_entry,) = tm.chunks, tm.row_keys
    chunk = staging.get_table(chunk_entry)
    unpacked = rowkeys.unpack(staging.get_table(rk_entry))
    assert unpacked.column(rowkeys.ROW_HASH).to_pylist() == rowkeys.hex_digests(rowkeys.row_digests(chunk)).to_pylist()
    keys = unpacked.column(rowkeys.ROW_KEY).to_pylist()
    assert len(set(keys)) == 3  # positional keys of one file: distinct per line
