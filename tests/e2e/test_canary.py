"""Canary: one seeded value driven through every failure path, searched for everywhere it must not be.

The value (resident-ID shaped, ``_canary.CANARY``) sits in a SQLite TIME, BOOLEAN, INTEGER, DATE
and NUMERIC cell, in text with a NUL byte, in a failing e-mail check, in a file without its
header row, in a line of another encoding, in an unterminated quote, in a header, in a workbook
sheet's first row, in a bad JSON line and a JSON key, and in a PostgreSQL value the driver
refuses (``_canary.CanaryWorld``). Libraries that raise with the value in their message are
simulated too (a reader, a converter, the classifier). Searched, value and fragments:

- the stage calls themselves: exception messages and tracebacks (with their chains), what they
  return (what XCom carries), every log record down to DEBUG, stdout and stderr;
- ``dag.test()`` runs of each source's DAG: the Airflow log folder, the captured output, the
  Airflow metadata database (XCom, task instances, notes), Custody's home (staging documents,
  catalog, backups, reports, Data Docs);
- a real scheduler run (scheduler, DAG processor and API server as processes, LocalExecutor,
  PostgreSQL metadata database): the task logs, the processes' output, the metadata database,
  Custody's home;
- the command line: ``snapshots``, ``verify``, ``restore`` (a failing one too) and an unexpected
  error's traceback.

Every path also asserts its outcome (the error class and message, or the quarantine reason), so
a path that stops failing cannot make the search pass vacuously.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import traceback
from pathlib import Path

import pyarrow as pa
import pytest
import sqlalchemy as sa

from e2e._canary import (CANARY, DROP_FAILURES, DROP_QUARANTINE, SQL_QUARANTINE, CanaryWorld, database_dump,
                     files_bytes, find)
from custody.documents import PartDocument, ValidationDocument, document_key, run_key_for
from custody.errors import ValueFreeError
from custody.settings import Settings
from custody.crypto import init_keyring
from custody.stages import (Runtime, stage_backup, stage_classify_and_validate, stage_commit_extract,
                            stage_extract_part, stage_plan_extract, stage_report)

ROOT = Path(__file__).resolve().parents[2]
PG_DB = f"custody_canary_{os.getpid()}"


def _text(exc: BaseException) -> bytes:
    """Everything Python or Airflow would print of ``exc``: message, repr, traceback and chain."""
    return ("".join(traceback.format_exception(exc)) + repr(exc) + str(exc)).encode()


def _world(tmp_path: Path, new_catalog, pg: str | None) -> tuple[CanaryWorld, Runtime]:
    url = sa.make_url(pg).set(database=PG_DB) if pg else None
    world = CanaryWorld(tmp_path, url)
    if pg:
        world.make_pg(pg)
    settings = Settings.from_env(world.env())
    new_catalog(settings.home / "catalog.db")
    init_keyring(settings.keyring)
    return world, Runtime(settings)


def _engine(world: CanaryWorld, source: str):
    if source == "canary_sql":
        return sa.create_engine(f"sqlite:///{world.sqlite}")
    if source == "canary_pg":
        return sa.create_engine(world.pg_url.set(drivername="postgresql+psycopg2"))
    return None


def _landing(world: CanaryWorld, source: str):
    from custody.sources.landings import LocalLanding

    return {"canary_drop": LocalLanding(world.drop), "canary_plan": LocalLanding(world.plan_drop)}.get(source)


@pytest.fixture
def pg_or_none(request):
    try:
        return request.getfixturevalue("pg_server_url")
    except pytest.skip.Exception:
        return None


# -- the stage calls ---------------------------------------------------------------------------------------
def test_the_canary_never_leaves_a_stage(tmp_path, new_catalog, pg_or_none, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    world, rt = _world(tmp_path, new_catalog, pg_or_none)
    seen: list[bytes] = []
    errors: dict[tuple[str, str], BaseException] = {}
    run_keys = {s: run_key_for(f"manual__{s}") for s in world.sources}
    try:
        for source in world.sources:
            engine, landing = _engine(world, source), _landing(world, source)
            try:
                plan = stage_plan_extract(rt, engine, source, f"manual__{source}", landing=landing)
            except Exception as exc:  # noqa: BLE001 - every failure is examined below
                errors[(source, "plan")] = exc
                continue
            seen.append(json.dumps(plan, ensure_ascii=False).encode())
            failed = False
            for part in plan["parts"]:
                try:
                    result = stage_extract_part(rt, engine, part, landing=landing)
                    seen.append(json.dumps(result, ensure_ascii=False).encode())
                except Exception as exc:  # noqa: BLE001
                    errors[(source, part["table"])] = exc
                    failed = True
            if failed:
                continue
            seen.append(json.dumps(stage_commit_extract(rt, source, plan["run_key"])).encode())
            seen.append(json.dumps(stage_classify_and_validate(rt, source, plan["run_key"])).encode())
            seen.append(json.dumps(stage_backup(rt, source, plan["run_key"])).encode())
            seen.append(json.dumps(stage_report(rt, source, plan["run_key"])).encode())
    finally:
        world.drop_pg(pg_or_none) if pg_or_none else None

    # Each path ended as it must: these errors, these quarantines.
    failures = dict(errors)
    assert type(errors.pop(("canary_plan", "plan"))).__name__ == "SchemaError"
    for table, (kind, message) in DROP_FAILURES.items():
        exc = errors.pop(("canary_drop", table))
        assert type(exc).__name__ == kind and message in str(exc), (table, str(exc))
    if pg_or_none:
        exc = errors.pop(("canary_pg", "t"))
        assert type(exc).__name__ == "ExtractError" and "the database refused the read" in str(exc)
    assert errors == {}
    for table, reasons in DROP_QUARANTINE.items():
        key = document_key("part", source="canary_drop", run_key=run_keys["canary_drop"], table=table, part=0)
        assert rt.staging.get(key, PartDocument).quarantine_reasons == reasons
    manifest = rt.manifest("canary_sql", run_keys["canary_sql"])
    assert manifest.tables[0].quarantine_reasons == SQL_QUARANTINE
    validation = rt.staging.get(document_key("validation", source="canary_sql", run_key=run_keys["canary_sql"]),
                                ValidationDocument)
    assert validation.tables[0].quarantined_rows == 1

    blobs = {"returned": b"\n".join(seen), "logs": caplog.text.encode(), "output": "".join(capfd.readouterr()).encode(),
             "custody home": files_bytes(world.home)}
    blobs.update({f"error {source}/{where}": _text(exc) for (source, where), exc in failures.items()})
    assert {k: find(v) for k, v in blobs.items() if find(v)} == {}
    assert find(files_bytes(world.drop)) and find(world.sqlite.read_bytes())  # the canary is in the sources


# -- libraries that quote the value in their errors ---------------------------------------------------------
def _quoting(*args, **kwargs):
    raise ValueError(f"cannot handle {args!r}")


@pytest.mark.parametrize("where,target", [
    ("reader", "custody.sources.rows.RowBuilder.add"),
    ("converter", "custody.sources.sqlvalues.RowConverter.convert"),
    ("classifier", "custody.classification.TableClassifier.observe"),
])
def test_a_library_error_that_quotes_the_value_leaves_the_stage_value_free(tmp_path, new_catalog, monkeypatch,
                                                                           caplog, where, target):
    caplog.set_level(logging.DEBUG)
    world, rt = _world(tmp_path, new_catalog, None)
    source = "canary_sql" if where != "reader" else "canary_drop"
    engine, landing = _engine(world, source), _landing(world, source)
    plan = stage_plan_extract(rt, engine, source, "manual__lib", landing=landing)
    if where == "classifier":
        for part in plan["parts"]:
            stage_extract_part(rt, engine, part, landing=landing)
        stage_commit_extract(rt, source, plan["run_key"])
    module, _, attr = target.rpartition(".")
    owner, _, name = module.rpartition(".")
    import importlib

    monkeypatch.setattr(getattr(importlib.import_module(owner), name), attr, _quoting)
    part = next(p for p in plan["parts"] if p["table"] in ("nul", "typed"))
    with pytest.raises(ValueFreeError) as info:
        if where == "classifier":
            stage_classify_and_validate(rt, source, plan["run_key"])
        else:
            stage_extract_part(rt, engine, part, landing=landing)
    exc = info.value
    assert exc.error == "ValueError" and exc.source == source and "message is withheld" in str(exc)
    if where == "reader":
        assert (exc.table, exc.part, exc.row) == ("nul", 0, 2)  # the record on line 2 was in hand
    assert exc.__cause__ is None and exc.__context__ is None
    assert find(_text(exc) + caplog.text.encode()) == []


# -- dag.test -------------------------------------------------------------------------------------------------
# The DAG runs leave out canary_pg: its driver error is retried (a database error may be
# transient), which would add minutes of retry delay; the stage test above covers that path.
@pytest.mark.slow
def test_the_canary_is_nowhere_after_dag_test_runs(airflow_env, tmp_path, new_catalog, monkeypatch, capfd):
    from airflow import settings as af
    from airflow.dag_processing.dagbag import DagBag

    world, _ = _world(tmp_path, new_catalog, None)
    for key, value in world.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("CUSTODY_KEYRING", raising=False)
    monkeypatch.delenv("CUSTODY_CATALOG_URL", raising=False)
    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert bag.import_errors == {}
    states = {s: str(bag.get_dag(f"custody_pipeline_{s}").test().state).rpartition(".")[2] for s in world.sources}
    assert states == {s: "success" if s == "canary_sql" else "failed" for s in world.sources}
    report = json.loads(next((world.home / "reports" / "canary_sql").glob("*/report.json")).read_text())
    assert report["reconciliation"][0]["quarantined_at_extract"] == len(SQL_QUARANTINE)

    blobs = {"airflow home": files_bytes(airflow_env), "output": "".join(capfd.readouterr()).encode(),
             "metadata database": database_dump(af.engine.url), "custody home": files_bytes(world.home)}
    assert {k: find(v) for k, v in blobs.items() if find(v)} == {}


# -- a real scheduler ---------------------------------------------------------------------------------------
@pytest.mark.slow
def test_the_canary_is_nowhere_after_a_real_scheduler_run(tmp_path, new_catalog, pg_server_url):
    from e2e._scheduler import AirflowServices

    world, _ = _world(tmp_path / "world", new_catalog, None)
    with AirflowServices(tmp_path / "airflow", pg_server_url, dags=ROOT / "dags", plugins=ROOT / "plugins",
                         env=world.env(), pools=[f"custody_{s}" for s in world.sources]) as services:
        services.run([f"custody_pipeline_{s}" for s in world.sources], timeout=420)
        states = services.states()
        logs = files_bytes(services.home)
        outputs = services.outputs()
        metadata = database_dump(services.db_url)
    assert states == {f"custody_pipeline_{s}": "success" if s == "canary_sql" else "failed" for s in world.sources}
    assert b"the first row looks like data" in logs  # the failures reached the task logs, value-free
    blobs = {"task and process logs": logs + outputs, "metadata database": metadata,
             "custody home": files_bytes(world.home)}
    assert {k: find(v) for k, v in blobs.items() if find(v)} == {}


# -- the command line -------------------------------------------------------------------------------------
def test_the_canary_is_not_in_command_line_output(tmp_path, new_catalog, monkeypatch, capsys):
    world, rt = _world(tmp_path, new_catalog, None)
    engine = _engine(world, "canary_sql")
    plan = stage_plan_extract(rt, engine, "canary_sql", "manual__cli")
    for part in plan["parts"]:
        stage_extract_part(rt, engine, part)
    stage_commit_extract(rt, "canary_sql", plan["run_key"])
    stage_backup(rt, "canary_sql", plan["run_key"])
    taken = sa.create_engine(f"sqlite:///{tmp_path / 'taken.db'}")
    with taken.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE typed (id INTEGER)")
    taken.dispose()

    env = {**os.environ, **world.env(), "PYTHONPATH": os.pathsep.join([str(ROOT / "include"),
                                                                       os.environ.get("PYTHONPATH", "")]),
           "COLUMNS": "200"}
    env.pop("CUSTODY_KEYRING", None)
    env.pop("CUSTODY_CATALOG_URL", None)
    runs = {
        "snapshots": (["snapshots"], 0),
        "verify": (["verify", "latest", "--source", "canary_sql"], 0),
        "restore": (["restore", "latest", "--source", "canary_sql", "--format", "csv", "--out",
                     str(tmp_path / "restored")], 0),
        "restore onto a taken table": (["restore", "latest", "--source", "canary_sql", "--to-db",
                                        f"sqlite:///{tmp_path / 'taken.db'}"], 1),
        "restore by a canary key": (["restore", "latest", "--source", "canary_sql", "--key", f"typed={CANARY}",
                                     "--out", str(tmp_path / "by-key")], 0),
    }
    outputs = {}
    for name, (args, code) in runs.items():
        res = subprocess.run([sys.executable, "-m", "custody.cli", *args], env=env, capture_output=True, timeout=120)
        assert res.returncode == code, (name, res.stdout[-2000:], res.stderr[-2000:])
        outputs[name] = res.stdout + res.stderr
    assert b"already exists" in outputs["restore onto a taken table"]
    restored = (tmp_path / "restored" / "canary_sql" / "typed.csv").read_bytes()
    assert find(restored)  # the restored file holds the value: that is what a restore is for
    assert b"0 of 1 requested keys found" in outputs["restore by a canary key"]

    # An unexpected error (a bug) keeps its traceback but not its message.
    from custody import cli
    from custody.cli import snapshots

    def broken(*args, **kwargs):
        raise pa.ArrowInvalid(f"Could not convert '{CANARY}' with type str")

    monkeypatch.setattr(snapshots, "_open", broken)
    monkeypatch.setattr(sys, "argv", ["custody", "snapshots"])
    with pytest.raises(SystemExit) as code:
        cli.main()
    captured = capsys.readouterr()
    outputs["unexpected error"] = (captured.out + captured.err).encode()
    assert code.value.code == 1 and b"ArrowInvalid (message withheld" in outputs["unexpected error"]
    assert b"Traceback" in outputs["unexpected error"]
    assert {k: find(v) for k, v in outputs.items() if find(v)} == {}
