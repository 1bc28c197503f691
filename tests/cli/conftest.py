"""Fixtures of the command-line tests: one real pipeline run (stages called directly, SQLite
source) per test module, and consoles held to a fixed width."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from custody.demo import generate_crm
from custody.demo.loaders import load_tables
from custody.stages import Runtime, stage_backup, stage_classify_and_validate, stage_extract


@pytest.fixture(scope="module")
def run(tmp_path_factory, new_catalog, new_keyring):
    home = tmp_path_factory.mktemp("custody")
    mp = pytest.MonkeyPatch()
    mp.setenv("CUSTODY_HOME", str(home))
    mp.delenv("CUSTODY_KEYRING", raising=False)
    mp.delenv("CUSTODY_CATALOG_URL", raising=False)
    new_catalog(home / "catalog.db")
    new_keyring(f"local:{home / 'keys' / 'kek.json'}")
    engine = sa.create_engine(f"sqlite:///{home / 'crm.sqlite'}")
    crm = generate_crm(contacts=800)
    load_tables(engine, crm)
    rt = Runtime.from_env()
    extracted = stage_extract(rt, engine, "crm", "manual__cli")
    stage_classify_and_validate(rt, "crm", extracted["run_key"])
    stage_backup(rt, "crm", extracted["run_key"])
    yield home, engine, crm, rt.manifest("crm", extracted["run_key"])
    mp.undo()


@pytest.fixture
def env(run, monkeypatch):
    monkeypatch.setenv("CUSTODY_HOME", str(run[0]))
    monkeypatch.delenv("CUSTODY_KEYRING", raising=False)
    return run


@pytest.fixture
def width80(monkeypatch):
    """Both CLI consoles (stdout and stderr) at exactly 80 columns, as on a plain terminal."""
    from custody.cli import common

    for c in (common.out, common.console):
        monkeypatch.setattr(c, "width", 80)
    return 80
