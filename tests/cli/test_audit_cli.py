"""``custody audit`` on a real run: show (filters, 80 columns, JSON), the run report's audit section."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from custody.crypto import init_keyring
from custody.cli import app
from custody.demo import generate_crm
from custody.demo.loaders import load_tables
from custody.stages import Runtime, stage_backup, stage_classify_and_validate, stage_extract, stage_report

runner = CliRunner()


@pytest.fixture(scope="module")
def run(tmp_path_factory, new_catalog):
    home = tmp_path_factory.mktemp("custody")
    mp = pytest.MonkeyPatch()
    mp.setenv("CUSTODY_HOME", str(home))
    for var in ("CUSTODY_KEYRING", "CUSTODY_CATALOG_URL", "CUSTODY_AUDIT_SIGNER", "CUSTODY_AUDIT_ORIGIN"):
        mp.delenv(var, raising=False)
    new_catalog(home / "catalog.db")
    engine = sa.create_engine(f"sqlite:///{home / 'crm.sqlite'}")
    load_tables(engine, generate_crm(contacts=200))
    rt = Runtime.from_env()
    init_keyring(rt.settings.keyring)
    run_key = stage_extract(rt, engine, "crm", "manual__audit_cli")["run_key"]
    stage_classify_and_validate(rt, "crm", run_key)
    stage_backup(rt, "crm", run_key)
    paths = stage_report(rt, "crm", run_key)
    engine.dispose()
    yield home, run_key, paths
    mp.undo()


@pytest.fixture
def env(run, monkeypatch):
    monkeypatch.setenv("CUSTODY_HOME", str(run[0]))
    for var in ("CUSTODY_KEYRING", "CUSTODY_CATALOG_URL", "CUSTODY_AUDIT_SIGNER", "CUSTODY_AUDIT_ORIGIN"):
        monkeypatch.delenv(var, raising=False)
    return run


def test_show_fits_80_columns_and_folds_rather_than_cuts(env, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    res = runner.invoke(app, ["audit", "show", "--source", "crm", "--limit", "100"])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "…" not in res.output  # every id whole, folded over lines if need be
    for action in ("extract.plan", "extract.part", "extract.commit", "classify", "validate", "backup", "report"):
        assert action in res.output
    assert lines[-1].endswith("entries")


def test_show_filters_and_json(env):
    _, run_key, _ = env
    res = runner.invoke(app, ["audit", "show", "--action", "extract.", "--run-key", run_key, "--json"])
    assert res.exit_code == 0
    entries = [json.loads(line) for line in res.output.splitlines()]
    assert entries and {e["action"] for e in entries} == {"extract.plan", "extract.part", "extract.commit"}
    assert all(e["subject"]["run_key"] == run_key for e in entries)
    assert [e["seq"] for e in entries] == sorted(e["seq"] for e in entries)
    none = runner.invoke(app, ["audit", "show", "--actor", "airflow:", "--json"])
    assert none.exit_code == 0 and none.output == ""  # run from the CLI process: cli:user@host
    later = runner.invoke(app, ["audit", "show", "--since", "2999-01-01", "--json"])
    assert later.output == ""


def test_the_run_report_states_the_audit_range_checkpoint_and_verification(env):
    home, run_key, paths = env
    report = json.loads(open(paths["json"], encoding="utf-8").read())
    audit = report["audit"]
    assert audit["range"]["first"] == 0 and audit["range"]["last"] >= 6
    assert audit["checkpoint"]["size"] == audit["log_size"] > audit["range"]["last"]
    verified = audit["verified"]
    # the backup's checkpoint and the report's (one, when both were signed in the same second)
    assert verified.pop("checkpoints") in (1, 2)
    assert verified == {"ok": True, "entries": audit["log_size"], "first_bad_entry": None, "findings": [],
                        "stores": [f"local:{home / 'backups'}"]}
    en = open(paths["html"], encoding="utf-8").read()
    zh = open(paths["html_zh"], encoding="utf-8").read()
    assert "Audit log" in en and "the log matches every checkpoint" in en and audit["checkpoint"]["root"] in en
    assert "审计日志" in zh and "日志与所有检查点一致" in zh and audit["checkpoint"]["root"] in zh
    shown = runner.invoke(app, ["audit", "show", "--action", "report", "--json"]).output
    written = json.loads(shown.splitlines()[-1])
    import hashlib

    assert written["hashes"]["json_sha256"] == hashlib.sha256(open(paths["json"], "rb").read()).hexdigest()


def test_verify_with_a_key_from_a_file_and_with_a_wrong_key(env, tmp_path):
    key = runner.invoke(app, ["audit", "key"]).output.strip()
    (tmp_path / "trusted.keys").write_text(key + "\n")
    ok = runner.invoke(app, ["audit", "verify", "--key", str(tmp_path / "trusted.keys")])
    assert ok.exit_code == 0 and "checkpoint(s) verified" in ok.output
    from custody.audit.signing import Ed25519Signer

    stranger = Ed25519Signer("custody/audit", bytes(32)).verifier().vkey()
    bad = runner.invoke(app, ["audit", "verify", "--key", stranger])
    assert bad.exit_code == 1 and "no signature by a trusted key" in bad.output
