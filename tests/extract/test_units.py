"""Fast unit tests: bulk hashing, config rules, watermark protocol, XLSX export, the stage functions."""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal

import pyarrow as pa
import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from custody import hashing, rowkeys
from custody.config import SourceConfig, TableConfig
from custody.extract.watermarks import WatermarkConflict, metadata


def sample_table() -> pa.Table:
    return pa.table({
        "id": pa.array([1, None, 3], pa.int64()),
        "bin": pa.array([b"\x00\xff", None, b""], pa.binary()),
        "money": pa.array([Decimal("1.10"), None, Decimal("-2.00")], pa.decimal128(5, 2)),
        "ts": pa.array([None, dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
                        dt.datetime(1960, 1, 1, 1, 1, 1, 5, tzinfo=dt.UTC)],
                       pa.timestamp("us", tz="UTC")),
        "text": pa.array(["", "x,y:z", "中文"]),
    })


def test_bulk_hashing_follows_the_format_spec():
    # docs/format.md section 3, rendered by hand: length-prefixed fields, N for null, hex binary,
    # decimals with their scale, UTC timestamps with Z, lengths in characters.
    t = sample_table()
    expected = [
        "1:1,4:00ff,4:1.10,N,0:",
        "N,N,N,27:2020-01-01 00:00:00.000000Z,5:x,y:z",
        "1:3,0:,5:-2.00,27:1960-01-01 01:01:01.000005Z,2:中文",
    ]
    assert hashing.canonical_rows(t).to_pylist() == expected
    digests = [hashlib.sha256(r.encode()).digest() for r in expected]
    assert hashing.row_hashes(t) == digests
    assert hashing.table_hash(t) == sum(int.from_bytes(d, "big") for d in digests) % 2**256
    assert rowkeys.row_digests(t) == b"".join(digests)
    worker = rowkeys.HashWorker()
    try:
        assert rowkeys.row_digests(t, worker) == rowkeys.row_digests(t)
    finally:
        worker.close()


def test_packed_row_keys_unpack_per_row():
    t = sample_table()
    packed, content = rowkeys.change_capture(t, ["id"], source="crm", table_name="t")
    assert content == hashing.table_hash(t) and packed.num_rows == 1
    rows = rowkeys.unpack(packed).to_pylist()
    assert [r["_custody_row_hash"] for r in rows] == [h.hex() for h in hashing.row_hashes(t)]
    key = hashing.canonical_rows(t.select(["id"])).to_pylist()[0]
    import hashlib

    assert rows[0]["_custody_row_key"] == hashlib.sha256(f"3:crm,1:t,{key}".encode()).hexdigest()


def test_config_rules_for_extraction():
    with pytest.raises(ValidationError, match="incremental tables need watermark_column"):
        SourceConfig(name="a", conn_id="c", lawful_basis="contract", retention_class="r",
                     tables=[TableConfig(name="t", mode="incremental")])
    with pytest.raises(ValidationError, match="needs landing"):
        SourceConfig(name="a", kind="files", lawful_basis="contract", retention_class="r",
                     tables=[TableConfig(name="t", files="*.csv")])
    with pytest.raises(ValidationError, match="unknown IANA time zone"):
        SourceConfig(name="a", conn_id="c", lawful_basis="contract", retention_class="r", timezone="Mars/Base",
                     tables=[TableConfig(name="t")])
    s = SourceConfig(name="a", conn_id="c", lawful_basis="contract", retention_class="r",
                     tables=[TableConfig(name="t")])
    assert s.pool_name == "custody_a"
    from custody.config import load_sources

    assert load_sources().pools() == {"custody_crm": 2, "custody_chinook": 2}


def test_watermark_protocol(store):
    iv = store.plan("s", "t", "r1", "run-1", kind="integer", column="id", high="10", columns=["id:int64"])
    assert (iv.low, iv.high) == (None, "10")
    assert store.current("s", "t") is None
    assert store.commit("s", "t", "r1", columns=["id:int64"]) is True
    assert store.commit("s", "t", "r1") is False  # idempotent
    again = store.plan("s", "t", "r1", "run-1", kind="integer", column="id", high="99")
    assert (again.low, again.high) == (None, "10")  # a rerun keeps its interval
    a = store.plan("s", "t", "r2", "run-2", kind="integer", column="id", high="20", columns=["id:int64"])
    b = store.plan("s", "t", "r3", "run-3", kind="integer", column="id", high="15", columns=["id:int64"])
    assert a.low == b.low == "10"
    store.commit("s", "t", "r3", columns=["id:int64"])
    with pytest.raises(WatermarkConflict):
        store.commit("s", "t", "r2")  # (10, 20] overlaps the committed (10, 15]
    replanned = store.plan("s", "t", "r2", "run-2", kind="integer", column="id", high="30", columns=["id:int64"])
    assert (replanned.low, replanned.high) == ("15", "30")
    store.commit("s", "t", "r2", columns=["id:int64"])
    late = store.plan("s", "t", "r5", "run-5", kind="integer", column="id", high="28", columns=["id:int64"])
    assert late.low == "30" and store.commit("s", "t", "r5") is False  # empty interval: never backwards
    assert store.current("s", "t")["value"] == "30"
    with pytest.raises(Exception, match="schema drift"):
        store.plan("s", "t", "r4", "run-4", kind="integer", column="id", high="40", columns=["id:int64", "x:string"])


def test_watermark_tables_match_the_migration(store):
    insp = sa.inspect(store.engine)
    for table in metadata.sorted_tables:
        assert {c["name"] for c in insp.get_columns(table.name)} == {c.name for c in table.columns}


def test_xlsx_export_neutralises_formulas_and_keeps_long_numbers(tmp_path):
    import openpyxl

    from custody.exports import write_tables

    t = pa.table({"text": ["=1+1", "+86 138", "-x", "@SUM(A1)", "\tx", "ok"],
                  "n": pa.array([1, 12345678901234567, -3, None, 0, 5], pa.int64()),
                  "m": pa.array([Decimal("1.10")] * 6, pa.decimal128(20, 2))})
    path = tmp_path / "out.xlsx"
    assert write_tables([t], path, "xlsx", t.schema) == 6
    rows = list(openpyxl.load_workbook(path).active.iter_rows(values_only=True))
    assert rows[0] == ("text", "n", "m")
    assert [r[0] for r in rows[1:]] == ["'=1+1", "'+86 138", "'-x", "'@SUM(A1)", "'\tx", "ok"]
    assert rows[2][1] == "12345678901234567" and rows[1][1] == 1 and rows[3][1] == -3
    cells = list(openpyxl.load_workbook(path).active.iter_rows())
    assert all(c[0].data_type == "s" for c in cells)


def test_stage_functions_run_a_file_drop_source_end_to_end(tmp_path, monkeypatch):
    import shutil

    from custody.settings import DEFAULT_CONFIG_DIR
    from custody.sources.landings import LocalLanding
    from custody.stages import Runtime, stage_classify_and_validate, stage_extract

    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "a.csv").write_text("id,mobile\n1,13800138000\n2,1.38001E+10\n3,1390013\n", encoding="utf-8")
    config = tmp_path / "config"
    config.mkdir()
    shutil.copy(DEFAULT_CONFIG_DIR / "policy.yaml", config / "policy.yaml")
    (config / "sources.yaml").write_text(
        "version: 1\nsources:\n  - name: drop\n    kind: files\n    landing: " + str(landing) + "\n"
        "    lawful_basis: contract\n    retention_class: partner_drop\n    tables:\n"
        "      - name: people\n        files: '*.csv'\n        mode: incremental\n        primary_key: [id]\n"
        "        max_failing_share: 1\n"
        "        identifiers: [{column: mobile}]\n"
        "        checks: [{column: mobile, check: cn_mobile}]\n", encoding="utf-8")
    monkeypatch.setenv("CUSTODY_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CUSTODY_CONFIG_DIR", str(config))
    rt = Runtime.from_env()
    out = stage_extract(rt, None, "drop", "manual__1", landing=LocalLanding(landing))
    assert out["rows"] == {"people": 2} and out["quarantined_at_extract"] == {"people": 1}
    v = stage_classify_and_validate(rt, "drop", out["run_key"])
    assert v["valid_rows"] + v["quarantined_rows"] == 2
    # The file is committed: the next run finds nothing new, a new file is picked up.
    assert stage_extract(rt, None, "drop", "manual__2", landing=LocalLanding(landing))["rows"] == {"people": 0}
    (landing / "b.csv").write_text("id,mobile\n4,13700137000\n", encoding="utf-8")
    assert stage_extract(rt, None, "drop", "manual__3", landing=LocalLanding(landing))["rows"] == {"people": 1}


def test_s3_landing_streams_files(s3_client, staging):
    from custody.sources.landings import S3Landing
    from extract.conftest import run_source

    s3_client.create_bucket(Bucket="landing")
    s3_client.put_object(Bucket="landing", Key="drop/2026/a.csv", Body="id,name\n1,张三\n".encode("gbk"))
    s3_client.put_object(Bucket="landing", Key="drop/2026/skip.txt", Body=b"x")
    src = SourceConfig(name="s3drop", kind="files", landing="s3://landing/drop", lawful_basis="contract",
                       retention_class="r", tables=[TableConfig(name="t", files="2026/*.csv")])
    m = run_source(src, staging, landing=S3Landing(s3_client, "landing", "drop"))
    tm = m.tables[0]
    assert (tm.source_rows, tm.extracted_rows) == (1, 1)
    assert tm.extraction.files[0].name == "2026/a.csv" and tm.extraction.files[0].encoding == "gbk"


def test_canonical_rows_long_fields_slices_and_wide_offsets(monkeypatch):
    # Fields longer than the prefix lookup table, sliced input, all-null columns, and the
    # 64-bit-offset path (forced by lowering its threshold) render exactly as the spec says.
    t = pa.table({"a": pa.array([1, None, 3]), "b": pa.array(["x" * 70_000, None, "中文"]),
                  "c": pa.array([None, None, None], pa.string()), "d": pa.array([b"\x00\xff", None, b""])})
    expected = [f"1:1,70000:{'x' * 70_000},N,4:00ff", "N,N,N,N", "1:3,2:中文,N,0:"]
    assert hashing.canonical_rows(t).to_pylist() == expected
    assert hashing.canonical_rows(t.slice(1, 2)).to_pylist() == expected[1:]
    assert hashing.canonical_rows(t.slice(0, 0)).to_pylist() == []
    monkeypatch.setattr(hashing, "_LARGE_TEXT", 10)
    wide = hashing.canonical_rows(t)
    assert wide.type == pa.large_string() and wide.to_pylist() == expected
    assert hashing.digest_strings(wide) == b"".join(hashlib.sha256(r.encode()).digest() for r in expected)


def test_copy_stream_abandon_wakes_a_blocked_reader_and_writer():
    # Arrow's read-ahead thread may be blocked in read() when extraction gives up on the COPY
    # path; abandon() must wake it (Python's exit waits for Arrow's threads), and the writer too.
    import os
    import threading

    from custody.extract.copy_path import _CopyStream

    r, w = os.pipe()
    stream = _CopyStream(block=16, depth=2)
    filler = threading.Thread(target=stream.fill, args=(os.fdopen(r, "rb", buffering=0),), daemon=True)
    filler.start()
    os.write(w, b"x" * 16 * 4)  # fills the queue: the writer blocks on put
    got = [stream.read(16), stream.read(16)]
    reader = threading.Thread(target=lambda: got.append(stream.read(16)), daemon=True)
    stream.abandon()
    reader.start()
    os.close(w)
    filler.join(3)
    reader.join(3)
    assert not filler.is_alive() and not reader.is_alive()
    assert got[:2] == [bytearray(b"x" * 16)] * 2 and got[2] == b""

    # a reader already waiting on an empty queue when abandon() comes
    r, w = os.pipe()
    stream = _CopyStream(block=16, depth=2)
    filler = threading.Thread(target=stream.fill, args=(os.fdopen(r, "rb", buffering=0),), daemon=True)
    filler.start()
    waiting: list = []
    reader = threading.Thread(target=lambda: waiting.append(stream.read(16)), daemon=True)
    reader.start()
    reader.join(0.2)
    assert reader.is_alive()
    stream.abandon()
    reader.join(3)
    os.close(w)
    filler.join(3)
    assert not reader.is_alive() and waiting == [b""] and not filler.is_alive()


def test_prepare_process_switches_arrow_to_jemalloc_once():
    import gc

    from custody.extract import prepare_process

    backend = prepare_process()
    assert backend == pa.default_memory_pool().backend_name
    try:
        pa.jemalloc_memory_pool()
    except NotImplementedError:  # a pyarrow build without jemalloc keeps its default pool
        assert backend in ("mimalloc", "system")
    else:
        assert backend == "jemalloc"
    assert gc.get_freeze_count() > 0 and prepare_process() == backend
