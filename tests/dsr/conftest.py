"""Data-subject request fixtures: a migrated catalog, a scoped keyring in it, the regimes file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from custody.config import load_dsr
from custody.demo import generate_crm
from custody.demo.loaders import load_tables
from custody.settings import DEFAULT_CONFIG_DIR
from custody.stages import Runtime, stage_backup, stage_classify_and_validate, stage_extract
from dsr._runs import SOURCES

CONFIG = Path(__file__).resolve().parents[2] / "include" / "config" / "dsr.yaml"


@pytest.fixture
def dsr_config():
    return load_dsr(CONFIG)


@pytest.fixture
def scoped(tmp_path, catalog_url):
    """``(catalog URL, ScopedKeyring)`` in a fresh migrated SQLite catalog."""
    from custody.crypto import LocalKeyring
    from custody.crypto.scopes import ScopedKeyring

    base = LocalKeyring.create(tmp_path / "kek.key")
    return catalog_url, ScopedKeyring(base, catalog_url)




@pytest.fixture
def backed_up(tmp_path, monkeypatch, new_catalog, new_keyring):
    """A backed-up run of the demo CRM: ``(runtime, snapshot key, CRM data)``."""
    config = tmp_path / "config"
    config.mkdir()
    (config / "sources.yaml").write_text(SOURCES, encoding="utf-8")
    for name in ("policy.yaml", "dsr.yaml"):
        shutil.copy(DEFAULT_CONFIG_DIR / name, config / name)
    monkeypatch.setenv("CUSTODY_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CUSTODY_CONFIG_DIR", str(config))
    monkeypatch.setenv("CUSTODY_CATALOG_URL", new_catalog(tmp_path / "home" / "catalog.db"))
    monkeypatch.delenv("CUSTODY_KEYRING", raising=False)
    source = sa.create_engine(f"sqlite:///{tmp_path / 'crm.sqlite'}")
    crm = generate_crm(contacts=400)
    load_tables(source, dict(crm.tables))
    rt = Runtime.from_env()
    new_keyring(rt.settings.keyring)
    run_key = stage_extract(rt, source, "crm", "manual__dsr")["run_key"]
    stage_classify_and_validate(rt, "crm", run_key)
    snapshot = stage_backup(rt, "crm", run_key)["snapshot_key"]
    return rt, snapshot, crm, run_key
