"""Fast unit tests of the extract package: watermark protocol, the COPY stream, process tuning, the stage functions."""

from __future__ import annotations

import pyarrow as pa
import pytest
from custody.extract.watermarks import WatermarkConflict


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


def test_stage_functions_run_a_file_drop_source_end_to_end(tmp_path, monkeypatch, new_catalog, new_keyring):
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
    monkeypatch.setenv("CUSTODY_CATALOG_URL", new_catalog(tmp_path / "catalog.db"))
    rt = Runtime.from_env()
    new_keyring(rt.settings.keyring)
    out = stage_extract(rt, None, "drop", "manual__1", landing=LocalLanding(landing))
    assert out["rows"] == {"people": 2} and out["quarantined_at_extract"] == {"people": 1}
    v = stage_classify_and_validate(rt, "drop", out["run_key"])
    assert v["valid_rows"] + v["quarantined_rows"] == 2
    # The file is committed: the next run finds nothing new, a new file is picked up.
    assert stage_extract(rt, None, "drop", "manual__2", landing=LocalLanding(landing))["rows"] == {"people": 0}
    (landing / "b.csv").write_text("id,mobile\n4,13700137000\n", encoding="utf-8")
    assert stage_extract(rt, None, "drop", "manual__3", landing=LocalLanding(landing))["rows"] == {"people": 1}


def test_copy_stream_abandon_wakes_a_blocked_reader_and_writer():
    # Arrow's read-ahead thread may be blocked in read() when extraction gives up on the COPY
    # path; abandon() must wake it (Python's exit waits for Arrow's threads), and the writer too.
    import os
    import threading

    from custody.extract.copy_stream import CopyStream

    r, w = os.pipe()
    stream = CopyStream(block=16, depth=2)
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
    stream = CopyStream(block=16, depth=2)
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

    # the psycopg 3 side: put() blocked on a full queue wakes on abandon(), later blocks are dropped
    stream = CopyStream(block=16, depth=2)
    producer = threading.Thread(target=lambda: [stream.put(b"y" * 16) for _ in range(5)], daemon=True)
    producer.start()
    assert stream.read(16) == b"y" * 16
    producer.join(0.2)
    assert producer.is_alive()  # two queued, the next put waits
    stream.abandon()
    producer.join(3)
    stream.end()
    assert not producer.is_alive() and stream.read(16) == b"" and stream.abandoned


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
