"""Data-subject request fixtures: a migrated catalog, a scoped keyring in it, the regimes file."""

from __future__ import annotations

from pathlib import Path

import pytest

from custody.config import load_dsr

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
