"""Snapshot rollback (issue 10, finding 3): the audit log's backup entries are the record of the
snapshots that must exist, and ``verify``, ``verify --all``, ``latest`` and ``restore`` hold the
store to it."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from custody.crypto import init_keyring
from custody.audit.log import AuditLog
from custody.audit.snapshots import recorded_snapshots
from custody.cli import app
from custody.demo import generate_crm
from custody.demo.loaders import load_tables
from custody.stages import Runtime, stage_backup, stage_classify_and_validate, stage_extract
from custody.store import LocalStore

runner = CliRunner()


@pytest.fixture
def runs(tmp_path, monkeypatch, new_catalog):
    """Two backed-up runs of the CRM; returns (runtime, store, snapshot key of run 1, of run 2)."""
    monkeypatch.setenv("CUSTODY_HOME", str(tmp_path / "custody"))
    monkeypatch.delenv("CUSTODY_KEYRING", raising=False)
    monkeypatch.delenv("CUSTODY_CATALOG_URL", raising=False)
    rt = Runtime.from_env()
    new_catalog(rt.settings.home / "catalog.db")
    init_keyring(rt.settings.keyring)
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'crm.sqlite'}")
    load_tables(engine, generate_crm(contacts=200))
    keys = []
    for run_id in ("manual__r1", "manual__r2"):
        run_key = stage_extract(rt, engine, "crm", run_id)["run_key"]
        stage_classify_and_validate(rt, "crm", run_key)
        keys.append(stage_backup(rt, "crm", run_key)["snapshot_key"])
    engine.dispose()
    return rt, LocalStore(rt.settings.backup_dir), keys[0], keys[1]


def test_backups_are_recorded_per_store_with_the_document_hash(runs):
    import hashlib

    rt, store, first, second = runs
    with AuditLog(rt.settings.catalog_url) as log:
        record = recorded_snapshots(log, store.location)
        assert [r.key for r in record] == [first, second]
        assert recorded_snapshots(log, "s3://elsewhere/custody") == []
    assert [r.sha256 for r in record] == [hashlib.sha256(store.get_bytes(k)).hexdigest() for k in (first, second)]
    ok = runner.invoke(app, ["verify", "--all"])
    assert ok.exit_code == 0, ok.output


def test_an_older_document_written_back_and_a_deleted_newest_snapshot_are_named(runs):
    rt, store, first, second = runs
    older = store.get_bytes(first)
    # Snapshot documents are dated to the second: a re-run within the second of the first backup
    # would write the very same bytes, so the re-run starts in a later second.
    stamped = json.loads(older)["created_at"]
    while datetime.now(UTC).isoformat(timespec="seconds") <= stamped:
        time.sleep(0.05)
    stage_backup(rt, "crm", first.removeprefix("snapshots/crm/").removesuffix(".json"))  # a legitimate re-run
    assert store.get_bytes(first) != older  # a newer sealed document of the same run, and its own entry
    store.put_bytes(first, older)  # rolled back: sealed, and at its own key, so seal and place checks pass
    store.delete(second)

    res = runner.invoke(app, ["verify", "--all"])
    assert res.exit_code == 1
    named = {line.strip() for line in res.output.splitlines()}
    # each by name: the first in the summary line ("first: <key> (<reason>)"), the others one per line
    assert any(f"{first}: replaced" in n or f"{first} (replaced" in n for n in named), res.output
    assert any(f"{second}: missing" in n or f"{second} (missing" in n for n in named), res.output

    latest = runner.invoke(app, ["verify", "latest", "--source", "crm"])
    assert latest.exit_code == 1
    # run 1's re-run is the newest backup recorded, and it was replaced
    assert f"the newest recorded snapshot {first} is replaced" in latest.output
    assert "refusing to fall back" in latest.output

    one = runner.invoke(app, ["verify", first.removeprefix("snapshots/").removesuffix(".json")])
    assert one.exit_code == 1 and "replaced" in one.output

    restore = runner.invoke(app, ["restore", first.removeprefix("snapshots/").removesuffix(".json"), "--out",
                                  str(rt.settings.home / "restored")])
    assert restore.exit_code == 1 and "replaced" in restore.output
    assert not (rt.settings.home / "restored").exists()

    with AuditLog(rt.settings.catalog_url) as log:
        failures = [r for r in log.find(actions=["verify", "restore.files"]) if r.outcome == "failure"]
    assert [r.action for r in failures] == ["verify", "verify", "verify", "restore.files"]


def test_latest_refuses_to_fall_back_when_the_newest_snapshot_is_deleted(runs):
    rt, store, first, second = runs
    assert runner.invoke(app, ["verify", "latest", "--source", "crm"]).exit_code == 0
    store.delete(second)
    for command in (["verify", "latest", "--source", "crm"], ["restore", "latest", "--source", "crm"]):
        res = runner.invoke(app, command)
        assert res.exit_code == 1, command
        assert f"the newest recorded snapshot {second} is missing" in res.output
        assert "refusing to fall back to an older one" in res.output
    assert store.size(first) is not None  # the older snapshot is there: it was not silently used


def test_a_snapshot_forgotten_by_retention_leaves_the_record(runs):
    rt, store, first, second = runs
    res = runner.invoke(app, ["forget", "--keep-last", "1"])
    assert res.exit_code == 0, res.output
    assert store.size(first) is None and store.size(second) is not None
    with AuditLog(rt.settings.catalog_url) as log:
        assert [r.key for r in recorded_snapshots(log, store.location)] == [second]
        forget = log.find(actions=["forget"])[-1]
    assert first.encode() in forget.data
    assert runner.invoke(app, ["verify", "--all"]).exit_code == 0
