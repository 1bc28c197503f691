"""Fixtures for the classification tests (policy, a generated CRM contacts table)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from custody.classification import Policy, load_policy

from ._gen import crm_contacts

CONFIG_DIR = Path(__file__).resolve().parents[2] / "include" / "config"


@pytest.fixture(scope="session")
def policy() -> Policy:
    return load_policy(CONFIG_DIR / "policy.yaml")


@pytest.fixture(scope="session")
def crm() -> tuple[pa.Table, dict]:
    return crm_contacts()
