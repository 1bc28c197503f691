"""Fixtures for reader tests: file drops written into a landing folder and run through extraction."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from custody.config import SourceConfig, TableConfig
from custody.sources.landings import LocalLanding
from custody.staging import StagingStore
from extract.conftest import run_source


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
