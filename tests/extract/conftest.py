"""Fixtures for extraction tests: a temporary encrypted staging area, catalog and file-drop runner."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from custody.config import SourceConfig, TableConfig
from custody.crypto.keyring import open_keyring
from custody.extract import commit_extract, extract_part, plan_extract
from custody.sources.landings import LocalLanding
from custody.staging import StagingStore
from custody.extract.watermarks import WatermarkStore


@pytest.fixture
def staging(tmp_path) -> StagingStore:
    return StagingStore(tmp_path / "staging", open_keyring(f"local:{tmp_path / 'keys' / 'kek.json'}"))


@pytest.fixture
def store(tmp_path) -> WatermarkStore:
    s = WatermarkStore(f"sqlite:///{tmp_path / 'catalog.db'}")
    yield s
    s.close()


def run_source(source: SourceConfig, staging: StagingStore, *, engine=None, landing=None, store=None,
               run_id: str = "run-1", interval_end=None, prefer_copy: bool = True):
    """Plan, extract every part and commit one run; returns the run manifest."""
    plan = plan_extract(engine, source=source, run_key=run_id, run_id=run_id, staging=staging, store=store,
                        interval_end=interval_end, landing=landing)
    for p in plan.part_refs():
        extract_part(engine, source=source, plan=plan, table=p.table, part=p.part, staging=staging,
                     landing=landing, prefer_copy=prefer_copy)
    return commit_extract(source=source, plan=plan, staging=staging, store=store)


class FileDrop:
    """Writes files into a landing folder and extracts them as one file-drop table."""

    def __init__(self, root: Path, staging: StagingStore) -> None:
        self.root = root / "landing"
        self.root.mkdir(parents=True, exist_ok=True)
        self.staging = staging

    def put(self, name: str, data: bytes) -> None:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def source(self, pattern: str = "*", **table) -> SourceConfig:
        return SourceConfig(name="drop", kind="files", landing=str(self.root), lawful_basis="contract",
                            retention_class="partner_drop", chunk_rows=1000,
                            tables=[TableConfig(name="t", files=pattern, **table)])

    def run(self, pattern: str = "*", store=None, run_id: str = "run-1", **table):
        source = self.source(pattern, **table)
        manifest = run_source(source, self.staging, landing=LocalLanding(self.root), store=store, run_id=run_id)
        return manifest.tables[0]

    def rows(self, tm) -> pa.Table:
        chunks = [self.staging.get_table(e) for e in tm.chunks]
        return pa.concat_tables(chunks) if chunks else pa.table({})

    def quarantine(self, tm) -> pa.Table:
        parts = [self.staging.get_table(e) for e in tm.quarantine]
        return pa.concat_tables(parts) if parts else pa.table({})


@pytest.fixture
def drop(tmp_path, staging) -> FileDrop:
    return FileDrop(tmp_path, staging)
