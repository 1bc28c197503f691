"""One table in one call: a full snapshot planned, extracted and merged without the catalog."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from custody.config import SourceConfig, TableConfig
from custody.documents import PartDocument, TableManifest
from custody.extract.commit import merge_table
from custody.extract.errors import ExtractError
from custody.extract.parts import extract_sql_part
from custody.extract.planning import plan_sql_table
from custody.staging import StagingStore


def extract_table(
    engine: sa.Engine,
    *,
    source: SourceConfig,
    table_cfg: TableConfig,
    run_key: str,
    staging: StagingStore,
    prefer_copy: bool = True,
) -> TableManifest:
    """Full snapshot of one table as a single range (no catalog needed); returns its manifest entry.

    Memory is bounded by about two chunks (``source.chunk_rows`` rows). Raises ``ExtractError``
    when the table is missing, has no key, or the rows read differ from ``COUNT(*)``.
    """
    if table_cfg.mode != "full":
        raise ExtractError(f"{table_cfg.name}: extract_table does full snapshots; use plan/part/commit")
    tplan = plan_sql_table(engine, source, table_cfg.model_copy(update={"split_rows": 1 << 62}), run_key=run_key,
                           run_id=run_key, store=None, interval_end=dt.datetime.now(dt.UTC))
    body = extract_sql_part(engine, source, tplan, tplan.parts[0], run_key, staging, prefer_copy=prefer_copy)
    doc = PartDocument(source=source.name, run_key=run_key, plan_id="", table=tplan.table, part=0, **body)
    return merge_table(tplan, [doc])
