"""The append-only log: sequence, head and tree; concurrent appenders on PostgreSQL and SQLite."""

from __future__ import annotations

import multiprocessing as mp
import uuid

import pytest
import sqlalchemy as sa

from custody.audit.log import AuditLog
from custody.audit.merkle import root
from custody.audit.verify import verify_log
from custody.catalog import migrate

from .conftest import fill


def test_appends_number_from_zero_and_move_the_head(log):
    fill(log, 5)
    rows = list(log.rows())
    assert [r.seq for r in rows] == [0, 1, 2, 3, 4]
    assert log.size() == 5 and root(log.leaf_hashes()) == root(log.stored_leaves())
    assert [r.leaf_hash for r in rows] == [h.hex() for h in log.leaf_hashes()]
    assert log.run_range("crm", "r1") == (0, 4) and log.run_range("crm", "other") is None


def test_find_filters_by_source_action_actor_and_time(log):
    fill(log, 3)
    log.append("backup", subject={"source": "hr", "store": "local:/b", "snapshot": "snapshots/hr/r.json"})
    assert [r.seq for r in log.find(source="hr")] == [3]
    assert [r.seq for r in log.find(actions=["extract."])] == [0, 1, 2]
    assert [r.seq for r in log.find(actions=["backup"], limit=1, newest_first=True)] == [3]
    assert len(log.find(actor="cli:")) == 4 and log.find(actor="airflow:") == []
    first = log.find()[0].recorded_at
    assert [r.seq for r in log.find(until=first)] == []


def test_a_refused_entry_writes_nothing(log):
    fill(log, 2)
    with pytest.raises(ValueError):
        log.append("extract.part", subject={"customer": "张三"})
    assert log.size() == 2 and [r.seq for r in log.rows()] == [0, 1]


def _writer(url: str, n: int, who: int) -> None:
    with AuditLog(url) as log:
        for i in range(n):
            log.append("task.success", subject={"dag_id": f"worker{who}", "task_id": f"t{i}"}, counts={"i": i})


def _concurrent(url: str, writers: int, each: int) -> None:
    ctx = mp.get_context("spawn")  # separate processes, as Celery workers are
    procs = [ctx.Process(target=_writer, args=(url, each, w)) for w in range(writers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(600)
    assert [p.exitcode for p in procs] == [0] * writers


def _assert_no_gap_duplicate_or_fork(url: str, writers: int, each: int) -> None:
    import json

    with AuditLog(url) as log:
        rows = list(log.rows())
        assert [r.seq for r in rows] == list(range(writers * each))  # no gap, no duplicate
        per_writer: dict[str, list[int]] = {}
        for r in rows:
            e = json.loads(r.data)
            per_writer.setdefault(e["subject"]["dag_id"], []).append(e["counts"]["i"])
        # every append of every writer is there once, in the order that writer made it
        assert per_writer == {f"worker{w}": list(range(each)) for w in range(writers)}
        report = verify_log(log, [])
        assert report.ok, [f.message for f in report.findings]
        assert log.size() == writers * each  # the head moved once per entry


@pytest.fixture
def pg_catalog(pg_server_url):
    name = f"custody_audit_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(pg_server_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.make_url(pg_server_url).set(database=name).render_as_string(hide_password=False)
    migrate(url)
    yield url
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.mark.postgres
def test_eight_concurrent_writers_on_postgres_leave_no_gap_duplicate_or_fork(pg_catalog):
    _concurrent(pg_catalog, 8, 1000)
    _assert_no_gap_duplicate_or_fork(pg_catalog, 8, 1000)


def test_concurrent_writers_on_sqlite_queue_on_the_write_lock(catalog_url):
    _concurrent(catalog_url, 4, 50)
    _assert_no_gap_duplicate_or_fork(catalog_url, 4, 50)
