"""Fixtures for extraction tests: a temporary catalog (watermark store) and a run helper.

The encrypted staging area (``staging``) is shared with the reader tests: see ``tests/conftest.py``.
"""

from __future__ import annotations

import pytest

from custody.config import SourceConfig
from custody.extract import commit_extract, extract_part, plan_extract
from custody.extract.watermarks import WatermarkStore
from custody.staging import StagingStore


@pytest.fixture
def store(catalog_url) -> WatermarkStore:
    s = WatermarkStore(catalog_url)
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
