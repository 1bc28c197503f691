"""A missing key-encryption key is never replaced: only `custody keys init` (and the demo's first
run) creates one; every other path refuses and says where the key was expected."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from custody.cli import app
from custody.crypto import KeyMissingError, LocalKeyring, init_keyring, open_keyring
from custody.crypto.keyring import KeyringError

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]


def _assert_refusal(message: str, path: Path) -> None:
    assert str(path) in message
    assert "offline copy" in message and "custody keys init" in message


def test_opening_a_missing_key_file_refuses_and_creates_nothing(tmp_path, catalog_url):
    path = tmp_path / "keys" / "kek.json"
    with pytest.raises(KeyMissingError) as plain:
        LocalKeyring(path)
    _assert_refusal(str(plain.value), path)
    with pytest.raises(KeyMissingError) as scoped:
        open_keyring(f"local:{path}", key_store=catalog_url)
    _assert_refusal(str(scoped.value), path)
    assert not path.exists() and not path.parent.exists()


def test_keys_init_creates_an_owner_only_key_once_and_never_replaces_it(tmp_path, monkeypatch):
    path = tmp_path / "keys" / "kek.json"
    monkeypatch.setenv("CUSTODY_HOME", str(tmp_path))
    monkeypatch.delenv("CUSTODY_KEYRING", raising=False)
    first = runner.invoke(app, ["keys", "init"])
    assert first.exit_code == 0, first.output
    kek_id = json.loads(path.read_text())["active"]
    assert kek_id in first.output and "offline copy" in first.output
    assert oct(path.stat().st_mode & 0o777) == "0o600" and oct(path.parent.stat().st_mode & 0o777) == "0o700"
    before = path.read_bytes()
    again = runner.invoke(app, ["keys", "init"])
    assert again.exit_code == 1 and "already exists" in again.output
    assert path.read_bytes() == before
    with pytest.raises(KeyringError, match="AWS KMS"):
        init_keyring("kms:alias/custody")


def test_verify_and_restore_refuse_without_the_key_and_name_its_place(tmp_path, monkeypatch, capsys, catalog_url,
                                                                      new_keyring):
    from custody.cli import main

    path = tmp_path / "keys" / "kek.json"
    monkeypatch.setenv("CUSTODY_HOME", str(tmp_path))
    monkeypatch.setenv("CUSTODY_CATALOG_URL", catalog_url)
    monkeypatch.delenv("CUSTODY_KEYRING", raising=False)
    for argv in (["custody", "verify", "latest"], ["custody", "restore", "latest", "--out", str(tmp_path / "o")],
                 ["custody", "snapshots"], ["custody", "forget", "--keep-last", "1"]):
        monkeypatch.setattr("sys.argv", argv)
        with pytest.raises(SystemExit) as exited:
            main()
        assert exited.value.code == 1, argv
        err = " ".join(capsys.readouterr().err.split())
        assert err.startswith("failed: KeyMissingError:"), err
        _assert_refusal(err, path)
        assert not path.exists(), argv


def test_stages_refuse_without_the_key(tmp_path, monkeypatch, new_catalog):
    from custody.stages import Runtime

    monkeypatch.setenv("CUSTODY_HOME", str(tmp_path))
    monkeypatch.delenv("CUSTODY_KEYRING", raising=False)
    monkeypatch.delenv("CUSTODY_CATALOG_URL", raising=False)
    rt = Runtime.from_env()
    new_catalog(rt.settings.home / "catalog.db")
    with pytest.raises(KeyMissingError) as refused:
        rt.staging  # noqa: B018 - every stage opens staging through the keyring first
    _assert_refusal(str(refused.value), rt.settings.home / "keys" / "kek.json")
    assert not (rt.settings.home / "keys" / "kek.json").exists()


def _demo():
    spec = importlib.util.spec_from_file_location("custody_demo_script", ROOT / "scripts" / "demo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_demo_creates_the_key_on_its_first_run_only(tmp_path, monkeypatch, new_catalog, capsys):
    from custody.crypto.scopes import ScopedKeyring
    from custody.settings import Settings

    monkeypatch.setenv("CUSTODY_HOME", str(tmp_path))
    monkeypatch.delenv("CUSTODY_KEYRING", raising=False)
    monkeypatch.delenv("CUSTODY_CATALOG_URL", raising=False)
    settings = Settings.from_env()
    new_catalog(settings.home / "catalog.db")
    path = settings.home / "keys" / "kek.json"
    demo = _demo()
    demo._first_run_key(settings)  # a fresh home: the demo's first run makes the key
    assert path.is_file() and "first run" in capsys.readouterr().out
    ScopedKeyring(LocalKeyring(path), settings.catalog_url).mac(b"a document")  # the key store holds a seal key
    path.unlink()
    demo._first_run_key(settings)  # data wrapped by the lost key exists: no new key
    assert not path.exists()
    message = " ".join(capsys.readouterr().err.split())
    assert "offline copy" in message and str(path) in message


def test_keys_init_refuses_a_deployment_whose_key_store_holds_keys(tmp_path, monkeypatch, new_catalog):
    from custody.crypto.scopes import ScopedKeyring

    monkeypatch.setenv("CUSTODY_HOME", str(tmp_path))
    monkeypatch.delenv("CUSTODY_KEYRING", raising=False)
    monkeypatch.delenv("CUSTODY_CATALOG_URL", raising=False)
    url = new_catalog(tmp_path / "catalog.db")
    path = tmp_path / "keys" / "kek.json"
    ScopedKeyring(LocalKeyring.create(path), url).mac(b"a document")  # data sealed under this key
    path.unlink()  # ... and then the key file is lost
    res = runner.invoke(app, ["keys", "init"])
    assert res.exit_code == 1 and "restore its key file from the offline copy" in " ".join(res.output.split())
    assert not path.exists()
