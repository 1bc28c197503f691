"""The ``custody`` command line on a real pipeline run (stages called directly, SQLite source)."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from custody import hashing
from custody.cli import app
from custody.store.snapshots import object_key

runner = CliRunner()


def test_restore_latest_returns_exactly_the_source_rows(env, tmp_path):
    home, engine, crm, manifest = env
    res = runner.invoke(app, ["restore", "latest", "--source", "crm", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    for tm in manifest.tables:
        restored = pq.read_table(tmp_path / "crm" / f"{tm.table}.parquet")
        assert restored.num_rows == crm[tm.table].num_rows == tm.source_rows
        assert hashing.to_hex(hashing.table_hash(restored)) == tm.content_hash
    contacts = pq.read_table(tmp_path / "crm" / "contacts.parquet")
    assert (sorted(contacts.column("resident_id").to_pylist())
            == sorted(crm["contacts"].column("resident_id").to_pylist()))


def test_restore_one_table_as_csv(env, tmp_path):
    res = runner.invoke(app, ["restore", "--source", "crm", "--table", "contracts", "--format", "csv",
                              "--out", str(tmp_path)])
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

    other = LocalKeyring.create(tmp_path / "other-keys" / "kek.json")
    monkeypatch.setenv("CUSTODY_KEYRING", f"local:{other.path}")
    out = tmp_path / "restored"
    res = runner.invoke(app, ["restore", "latest", "--source", "crm", "--out", str(out)])
    assert res.exit_code == 1
    assert "restore failed" in res.output and ("seal" in res.output or "key-encryption key" in res.output)
    assert not out.exists() or not any(p.is_file() for p in out.rglob("*"))


def test_snapshots_lists_the_run(env, monkeypatch):
    # Even on a narrow terminal the id (an argument of verify/restore) is printed whole.
    from custody.cli import common as cli

    monkeypatch.setattr(cli.out, "width", 30)
    res = runner.invoke(app, ["snapshots"])
    assert res.exit_code == 0 and "crm/manual__cli" in res.output


def test_manifest_holds_no_values(env):
    home, _, crm, _ = env
    text = "\n".join(p.read_text() for p in (home / "staging").rglob("*.json"))
    ids = crm["contacts"].column("resident_id").to_pylist()[:50]
    assert not [i for i in ids if i in text]
    doc = json.loads(next((home / "staging").rglob("classification.json")).read_text())
    assert {c["column"] for t in doc["tables"] for c in t["columns"]} >= {"resident_id", "notes"}


def test_restore_only_given_customer_keys(env, tmp_path):
    _, _, crm, _ = env
    wanted = crm["contacts"].column("contact_id").to_pylist()[:3]
    args = ["restore", "--source", "crm", "--table", "contacts", "--out", str(tmp_path)]
    for k in wanted:
        args += ["--key", f"contacts={k}"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    restored = pq.read_table(tmp_path / "crm" / "contacts.parquet")
    assert sorted(restored.column("contact_id").to_pylist()) == sorted(wanted)


def test_restore_into_a_sql_database(env, tmp_path):
    _, engine, crm, manifest = env
    target = f"sqlite:///{tmp_path / 'restored.sqlite'}"
    res = runner.invoke(app, ["restore", "--source", "crm", "--table", "contracts", "--to-db", target])
    assert res.exit_code == 0, res.output
    out = sa.create_engine(target)
    with out.connect() as conn:
        n = conn.execute(sa.text("SELECT COUNT(*) FROM contracts")).scalar_one()
        total = conn.execute(sa.text("SELECT SUM(CAST(amount AS TEXT) != '') FROM contracts")).scalar_one()
    assert n == crm["contracts"].num_rows == total


def test_verify_sampled_share(env):
    res = runner.invoke(app, ["verify", "latest", "--source", "crm", "--sample", "0.5", "--seed", "3"])
    assert res.exit_code == 0, res.output
    checked = int(res.output.split(": ")[1].split(" objects")[0])
    total = len(env[3].objects())
    assert 0 < checked < total + 1 and checked <= total


def test_forget_dry_run_prints_plan_and_deletes_nothing(env):
    home = env[0]
    before = sorted(p.name for p in (home / "backups").rglob("*") if p.is_file())
    res = runner.invoke(app, ["forget", "--keep-last", "1", "--dry-run"])
    assert res.exit_code == 0, res.output
    assert "keep" in res.output.lower()
    after = sorted(p.name for p in (home / "backups").rglob("*") if p.is_file())
    assert before == after


def test_file_restore_is_all_or_nothing_private_and_never_overwrites_silently(env, tmp_path):
    home, _, _, manifest = env
    out = tmp_path / "restored"
    # A damaged chunk in the last table: the tables before it checked out, yet nothing is left.
    victim = manifest.tables[-1].chunks[0]
    path = home / "backups" / object_key(victim.sha256)
    original = path.read_bytes()
    flipped = bytearray(original)
    flipped[len(flipped) // 2] ^= 0x01
    path.write_bytes(bytes(flipped))
    try:
        bad = runner.invoke(app, ["restore", "latest", "--source", "crm", "--out", str(out)])
    finally:
        path.write_bytes(original)
    assert bad.exit_code == 1 and "restore failed" in bad.output
    assert [p for p in out.rglob("*") if p.is_file() or p.name.startswith(".tmp-")] == []
    # Then a good restore: owner-only folder; a second one refuses to overwrite without --replace.
    good = runner.invoke(app, ["restore", "latest", "--source", "crm", "--out", str(out)])
    assert good.exit_code == 0, good.output
    assert (out / "crm").stat().st_mode & 0o777 == 0o700
    contacts = out / "crm" / "contacts.parquet"
    rows = pq.read_table(contacts).num_rows
    again = runner.invoke(app, ["restore", "--key", "contacts=42", "--out", str(out)])
    assert again.exit_code == 1 and "is not empty" in again.output and "--replace" in again.output
    assert pq.read_table(contacts).num_rows == rows
    forced = runner.invoke(app, ["restore", "--key", "contacts=42", "--out", str(out), "--replace"])
    assert forced.exit_code == 0, forced.output
    assert pq.read_table(contacts).num_rows == 1


def test_console_script_prints_custody_errors_in_one_line(tmp_path, monkeypatch, capsys, catalog_url):
    # No credentials, no reachable endpoint: a StoreError, shown as one line with exit code 1.
    from custody.cli import main

    monkeypatch.setenv("CUSTODY_HOME", str(tmp_path))
    monkeypatch.setenv("CUSTODY_CATALOG_URL", catalog_url)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setattr("sys.argv", ["custody", "cleanup-uploads", "--endpoint-url", "http://127.0.0.1:9"])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert "failed: StoreError" in err and "Traceback" not in err


def test_restore_refuses_unkeyed_tables_with_keys_a_busy_folder_and_a_folder_in_the_way(env, tmp_path):
    import fcntl
    import os

    out = tmp_path / "r"
    mixed = runner.invoke(app, ["restore", "--table", "bank_accounts", "--key", "contacts=1", "--out", str(out)])
    assert mixed.exit_code == 1 and "has no --key" in mixed.output and not list(out.rglob("*.parquet"))
    (out / "crm").mkdir(parents=True)
    stale = out / "crm" / ".tmp-restore-dead"
    stale.mkdir()
    (stale / "contacts.parquet").write_bytes(b"left by a killed restore")
    lock = os.open(out / "crm", os.O_RDONLY)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        busy = runner.invoke(app, ["restore", "--key", "contacts=1", "--out", str(out), "--replace"])
    finally:
        os.close(lock)
    assert busy.exit_code == 1 and "another restore" in busy.output
    (out / "crm" / "contracts.parquet").mkdir()
    blocked = runner.invoke(app, ["restore", "--out", str(out), "--replace"])
    assert blocked.exit_code == 1 and "is a folder" in blocked.output
    assert not stale.exists() and sorted(p.name for p in (out / "crm").iterdir()) == ["contracts.parquet"]
    keyed = runner.invoke(app, ["restore", "--key", "contacts=1", "--key", "contacts=99999999", "--out", str(out),
                                "--replace"])
    assert keyed.exit_code == 0 and "1 of 2 requested keys found" in keyed.output


def test_console_script_one_line_for_file_system_errors_and_sigterm_exits_143(env, tmp_path, monkeypatch, capsys):
    import signal

    from custody.cli import main

    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    monkeypatch.setattr("sys.argv", ["custody", "restore", "--key", "contacts=1", "--out", str(not_a_folder)])
    before = signal.getsignal(signal.SIGTERM)
    try:
        with pytest.raises(SystemExit) as exited:
            main()
        assert exited.value.code == 1
        err = capsys.readouterr().err
        assert "failed: NotADirectoryError" in err and "Traceback" not in err
        with pytest.raises(SystemExit) as terminated:
            signal.getsignal(signal.SIGTERM)(signal.SIGTERM, None)
        assert terminated.value.code == 143
    finally:
        signal.signal(signal.SIGTERM, before)


@pytest.mark.parametrize("command", [["snapshots"], ["verify", "latest"], ["restore", "latest"],
                                     ["forget", "--keep-last", "1", "--dry-run"]])
def test_a_source_name_never_walks_outside_the_store(env, tmp_path, command):
    home = env[0]
    (home / "outside.json").write_text("{}")  # a JSON file outside the store that a walk would find
    res = runner.invoke(app, [*command, "--source", "../.."] + (["--out", str(tmp_path)] if "restore" in command
                                                                   else []))
    assert res.exit_code == 2, res.output
    assert "unknown source '../..'" in res.output and "outside.json" not in res.output
    assert list(tmp_path.iterdir()) == []
