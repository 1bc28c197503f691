"""Committing a run: the parts of a plan joined into the sealed run manifest, then watermarks.

Every planned part must have its part document from this plan; per table the parts' counts must
reconcile (source rows = staged + quarantined). The manifest is written before any watermark
moves, so a watermark never passes rows that no manifest holds; a rerun of the same run reuses
its interval, and the commit is a compare-and-set (``custody.extract.watermarks``).
"""

from __future__ import annotations

from typing import Any

from custody import hashing
from custody.config import SourceConfig
from custody.documents import (
    ExtractionInfo,
    ExtractPlan,
    PartDocument,
    RunManifest,
    TableManifest,
    TablePlan,
    document_key,
)
from custody.extract.errors import ExtractError, SchemaError
from custody.staging import StagingStore


def merge_table(tplan: TablePlan, docs: list[PartDocument]) -> TableManifest:
    """The manifest entry of a table from its part documents: counts, content hash (combined),
    objects and quarantine reasons. Raises ``ExtractError`` when source rows differ from staged +
    quarantined, ``SchemaError`` when parts have different columns."""
    source_rows = sum(d.source_rows for d in docs)
    extracted = sum(d.extracted_rows for d in docs)
    quarantined = sum(d.quarantined_rows for d in docs)
    erased = sum(d.erased_rows for d in docs)  # removed by data-subject deletions (custody.dsr.staging)
    if source_rows != extracted + quarantined + erased:
        raise ExtractError(f"{tplan.table}: source {source_rows} != staged {extracted} + quarantined {quarantined}"
                           + (f" + erased {erased}" if erased else ""))
    digest = hashing.combine(*[int(d.content_hash, 16) for d in docs]) if docs else 0
    reasons: dict[str, int] = {}
    for d in docs:
        for k, v in d.quarantine_reasons.items():
            reasons[k] = reasons.get(k, 0) + v
    columns = docs[0].columns if docs else tplan.column_schemas
    for d in docs[1:]:
        if [c.name for c in d.columns] != [c.name for c in columns]:
            raise SchemaError(f"{tplan.table}: parts have different columns")
    wm = tplan.watermark
    info = ExtractionInfo(
        mode=tplan.mode, path=",".join(sorted({d.path for d in docs})),
        watermark_column=wm.column if wm else None, watermark_kind=wm.kind if wm else None,
        watermark_from=wm.low if wm else None, watermark_to=wm.high if wm else None, parts=len(tplan.parts),
        files=[f for d in docs for f in d.files],
    )
    return TableManifest(
        table=tplan.table, source_table=tplan.source_table, primary_key=tplan.primary_key,
        columns=columns, source_rows=source_rows, extracted_rows=extracted, content_hash=hashing.to_hex(digest),
        chunks=[e for d in docs for e in d.chunks], row_keys=[e for d in docs for e in d.row_keys],
        quarantine=[e for d in docs for e in d.quarantine],
        quarantined_at_extract=quarantined, quarantine_reasons=dict(sorted(reasons.items())), extraction=info,
        erased_rows=erased,
    )


def commit_extract(*, source: SourceConfig, plan: ExtractPlan, staging: StagingStore, store: Any = None) -> RunManifest:
    """Assemble the parts of a plan into the run manifest, seal and write it, then advance watermarks.

    Every planned part must have a part document from this plan (``plan_id``). The watermark of an
    incremental table (and the file list of a file-drop table) is committed only after
    ``manifest.json`` is written. Returns the manifest as written. Raises ``ExtractError``
    (missing part, reconciliation mismatch), ``custody.extract.watermarks.WatermarkConflict``.
    """
    tables = []
    for tplan in plan.tables:
        docs = []
        for p in tplan.parts:
            key = document_key("part", source=source.name, run_key=plan.run_key, table=tplan.table, part=p.part)
            if not staging.exists(key):
                raise ExtractError(f"{tplan.table}: part {p.part} was not extracted")
            doc = staging.get(key, PartDocument)
            if doc.plan_id != plan.plan_id:
                raise ExtractError(f"{tplan.table}: part {p.part} belongs to an earlier plan; rerun it")
            docs.append(doc)
        tables.append(merge_table(tplan, docs))
    manifest = RunManifest(source=source.name, run_key=plan.run_key, run_id=plan.run_id, dialect=plan.dialect,
                           tables=tables)
    staging.put(manifest)
    if store is not None:
        for tplan, tm in zip(plan.tables, tables):
            if tplan.watermark:
                store.commit(source.name, tplan.table, plan.run_key, columns=tplan.columns)
            elif tplan.kind == "files" and tplan.mode == "incremental":
                store.commit(source.name, tplan.table, plan.run_key,
                             files=[{"name": f.name, "sha256": f.sha256, "bytes": f.bytes}
                                    for f in tm.extraction.files if f.sheet in (None, tm.extraction.files[0].sheet)])
    return manifest
