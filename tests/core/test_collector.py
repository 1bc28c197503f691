"""``custody.collector.paused``: the cyclic collector held off for a block, then as it was."""

from __future__ import annotations

import gc

import pytest
import sqlalchemy as sa

from custody.collector import paused
from custody.config import SourceConfig, TableConfig
from custody.extract import extract_table


@pytest.fixture
def collector_enabled():
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


def test_paused_holds_off_the_collector_and_restores_it(collector_enabled):
    with paused():
        assert not gc.isenabled()
        with paused():  # nested: the inner pause leaves it to the outer one
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), paused():
        raise RuntimeError("restored on the way out too")
    assert gc.isenabled()


def test_a_collector_switched_off_by_the_caller_stays_off(collector_enabled):
    gc.disable()
    with paused():
        assert not gc.isenabled()
    assert not gc.isenabled()


def test_cursor_path_partitions_do_not_set_off_the_collector(tmp_path, staging, collector_enabled):
    """Rows of a partition are objects the collector tracks; fetched and converted in a pause,
    they no longer make it run a few times per partition over the whole heap."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'src.db'}")
    rows = 40_000
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, amount NUMERIC(10, 2))")
        conn.exec_driver_sql("WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < ?) "
                             "INSERT INTO t SELECT i, 'name ' || i, i * 1.25 FROM g", (rows,))
    source = SourceConfig(name="s", conn_id="s", lawful_basis="contract", retention_class="c", chunk_rows=10_000,
                          tables=[TableConfig(name="t")])
    collections = {"n": 0}

    def count(phase: str, info: dict) -> None:
        if phase == "start" and info["generation"] >= 1:
            collections["n"] += 1

    gc.callbacks.append(count)
    try:
        tm = extract_table(engine, source=source, table_cfg=source.tables[0], run_key="r", staging=staging,
                           prefer_copy=False)
    finally:
        gc.callbacks.remove(count)
        engine.dispose()
    assert tm.extracted_rows == rows and tm.extraction.path == "cursor"
    # Without the pause: one generation 1 or 2 collection per 7,000 rows kept alive (about 20).
    assert collections["n"] <= 4, collections
