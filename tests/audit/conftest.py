"""Audit-log fixtures: a migrated catalog with its log, a deterministic signer, a local store."""

from __future__ import annotations

import pytest

from custody.audit.log import AuditLog
from custody.audit.signing import Ed25519Signer
from custody.store import LocalStore

ORIGIN = "custody.test/audit"


@pytest.fixture
def log(catalog_url):
    with AuditLog(catalog_url) as audit:
        yield audit


@pytest.fixture
def signer():
    return Ed25519Signer(ORIGIN, bytes(range(32)))


@pytest.fixture
def store(tmp_path):
    return LocalStore(tmp_path / "backups")


def fill(log: AuditLog, n: int, *, source: str = "crm", start: int = 0) -> None:
    """Append ``n`` extract.part entries with counts that differ per entry."""
    for i in range(start, start + n):
        log.append("extract.part", subject={"source": source, "run_key": "r1", "table": "contacts", "part": i},
                   counts={"extracted_rows": 100 + i}, hashes={"content_hash": f"{i:064x}"})
