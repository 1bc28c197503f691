"""The ``custody`` command line on a real pipeline run (stages called directly, SQLite source)."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from custody import hashing
from custody.cli import app
from custody.pipeline import Runtime, stage_backup, stage_classify, stage_extract, stage_validate
from custody.sources import generate_crm
from custody.sources.loaders import load_tables
from custody.store.snapshots import object_key

runner = CliRunner()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    home = tmp_path_factory.mktemp("custody")
    mp = pytest.MonkeyPatch()
    mp.setenv("CUSTODY_HOME", str(home))
    mp.delenv("CUSTODY_KEYRING", raising=False)
    engine = sa.create_engine(f"sqlite:///{home / 'crm.sqlite'}")
    crm = generate_crm(contacts=800)
    load_tables(engine, crm)
    rt = Runtime.from_env()
    extracted = stage_extract(rt, engine, "crm", "manual__cli")
    stage_validate(rt, extracted["manifest_key"])
    stage_classify(rt, extracted["manifest_key"])
    stage_backup(rt, extracted["manifest_key"])
    yield home, engine, crm, rt.manifest(extracted["manifest_key"])
    mp.undo()


@pytest.fixture
def env(run, monkeypatch):
    monkeypatch.setenv("CUSTODY_HOME", str(run[0]))
    monkeypatch.delenv("CUSTODY_KEYRING", raising=False)
    return run


def test_restore_latest_returns_exactly_the_source_rows(env, tmp_path):
    home, engine, crm, manifest = env
    res = runner.invoke(app, ["restore", "latest", "--source", "crm", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    for tm in manifest.tables:
        restored = pq.read_table(tmp_path / "crm" / f"{tm.table}.parquet")
        assert restored.num_rows == crm[tm.table].num_rows == tm.source_rows
        assert hashing.to_hex(hashing.table_hash(restored)) == tm.content_hash
    contacts = pq.read_table(tmp_path / "crm" / "contacts.parquet")
    assert sorted(contacts.column("resident_id").to_pylist()) == sorted(crm["contacts"].column("resident_id").to_pylist())


def test_restore_one_table_as_csv(env, tmp_path):
    res = runner.invoke(app, ["restore", "--source", "crm", "--table", "contracts", "--format", "csv", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    files = sorted(p.name for p in (tmp_path / "crm").iterdir())
    assert files == ["contracts.csv"]
    lines = (tmp_path / "crm" / "contracts.csv").read_text(encoding="utf-8-sig").splitlines()
    assert len(lines) == env[2]["contracts"].num_rows + 1


def test_verify_ok_then_flipped_byte_names_the_object(env, tmp_path):
    home, _, _, manifest = env
    ok = runner.invoke(app, ["verify", "latest", "--source", "crm"])
    assert ok.exit_code == 0 and "OK" in ok.output
    victim = manifest.table("contacts").chunks[0]
    path = home / "backups" / object_key(victim.sha256)
    original = path.read_bytes()
    flipped = bytearray(original)
    flipped[len(flipped) // 3] ^= 0x04
    path.write_bytes(bytes(flipped))
    try:
        bad = runner.invoke(app, ["verify", "latest", "--source", "crm"])
        assert bad.exit_code == 1
        assert victim.object_id in bad.output and "SHA-256" in bad.output
    finally:
        path.write_bytes(original)


def test_wrong_key_encryption_key_gives_clear_error_and_no_plaintext(env, tmp_path, monkeypatch):
    from custody.crypto import LocalKeyring

    other = LocalKeyring(tmp_path / "other-keys" / "kek.json")
    monkeypatch.setenv("CUSTODY_KEYRING", f"local:{other.path}")
    out = tmp_path / "restored"
    res = runner.invoke(app, ["restore", "latest", "--source", "crm", "--out", str(out)])
    assert res.exit_code == 1
    assert "restore failed" in res.output and ("seal" in res.output or "key-encryption key" in res.output)
    assert not out.exists() or not any(p.is_file() for p in out.rglob("*"))


def test_snapshots_lists_the_run(env):
    res = runner.invoke(app, ["snapshots"])
    assert res.exit_code == 0 and "crm/manual__cli" in res.output


def test_manifest_holds_no_values(env):
    home, _, crm, _ = env
    text = "\n".join(p.read_text() for p in (home / "staging").rglob("*.json"))
    ids = crm["contacts"].column("resident_id").to_pylist()[:50]
    assert not [i for i in ids if i in text]
    doc = json.loads(next((home / "staging").rglob("classification.json")).read_text())
    assert {c["column"] for t in doc["tables"] for c in t["columns"]} >= {"resident_id", "notes"}
