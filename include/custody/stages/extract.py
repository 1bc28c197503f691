"""The extraction stage: plan a run, extract its parts, commit the manifest (``custody.extract``)."""

from __future__ import annotations

import hashlib
from typing import Any

from custody.documents import ExtractPlan, PartRef, document_key, run_key_for
from custody.stages.boundary import stage_boundary
from custody.stages.runtime import Runtime


def _sha256(rt: Runtime, key: str) -> str:
    """SHA-256 (hex) of a staged document's bytes, for the audit log."""
    return hashlib.sha256(rt.staging.read_bytes(key)).hexdigest()


def _watermark_store(rt: Runtime) -> Any:
    from custody.extract.watermarks import WatermarkStore

    return WatermarkStore(rt.settings.catalog_url)


@stage_boundary("plan_extract")
def stage_plan_extract(
    rt: Runtime, engine: Any, source_name: str, run_id: str, *, landing: Any = None, interval_end: Any = None,
) -> dict[str, Any]:
    """Plan a run of ``source_name`` (schemas, incremental intervals, key ranges, files).

    ``engine``: SQLAlchemy engine of a SQL source (built by the caller from an Airflow
    connection); ``landing``: ``custody.sources.landings.Landing`` of a file-drop source;
    ``interval_end``: upper bound of timestamp watermarks (aware datetime or ISO text; default now).
    Returns ``{"source", "run_key", "plan_key", "parts": [{"plan_key", "table", "part"}]}``:
    small and value-free, for XCom and dynamic task mapping.
    """
    from custody.extract import plan_extract

    source = rt.sources.source(source_name)
    store = _watermark_store(rt)
    try:
        plan = plan_extract(engine, source=source, run_key=run_key_for(run_id), run_id=run_id,
                            staging=rt.staging, store=store, interval_end=interval_end, landing=landing)
    finally:
        store.close()
    parts = [p.model_dump() for p in plan.part_refs()]
    rt.record("extract.plan", subject={"source": source.name, "run_key": plan.run_key, "run_id": run_id},
              counts={"tables": len(plan.tables), "parts": len(parts)},
              hashes={"plan_id": plan.plan_id, "plan_sha256": _sha256(rt, plan.key())})
    return {"source": source.name, "run_key": plan.run_key, "plan_key": plan.key(), "parts": parts}


@stage_boundary("extract_part")
def stage_extract_part(rt: Runtime, engine: Any, part: dict[str, Any], *, landing: Any = None) -> dict[str, Any]:
    """Extract one planned part (``{"plan_key", "table", "part"}``); returns its key and counts."""
    from custody.extract import extract_part

    ref = PartRef.model_validate(part)
    plan = rt.staging.get(ref.plan_key, ExtractPlan)
    doc = extract_part(engine, source=rt.sources.source(plan.source), plan=plan, table=ref.table, part=ref.part,
                       staging=rt.staging, landing=landing)
    rt.record("extract.part", subject={"source": doc.source, "run_key": doc.run_key, "table": doc.table,
                                       "part": doc.part},
              counts={"source_rows": doc.source_rows, "extracted_rows": doc.extracted_rows,
                      "quarantined_rows": doc.quarantined_rows, "objects": len(doc.objects())},
              hashes={"content_hash": doc.content_hash, "part_sha256": _sha256(rt, doc.key())},
              key_ids=[o.kek_id for o in doc.objects() if o.kek_id])
    return {"part_key": doc.key(), "table": doc.table, "part": doc.part, "source_rows": doc.source_rows,
            "extracted_rows": doc.extracted_rows, "quarantined_rows": doc.quarantined_rows}


@stage_boundary("commit_extract")
def stage_commit_extract(rt: Runtime, source_name: str, run_key: str) -> dict[str, Any]:
    """Seal the run manifest from the extracted parts, then advance the watermarks (catalog).

    Returns ``{"source", "run_key", "manifest_key", "rows": {table: staged rows},
    "quarantined_at_extract": {table: n}}``.
    """
    from custody.extract import commit_extract

    plan = rt.staging.get(document_key("plan", source=source_name, run_key=run_key), ExtractPlan)
    store = _watermark_store(rt)
    try:
        manifest = commit_extract(source=rt.sources.source(plan.source), plan=plan, staging=rt.staging, store=store)
    finally:
        store.close()
    objects = manifest.objects()
    rt.record("extract.commit", subject={"source": manifest.source, "run_key": manifest.run_key},
              counts={"tables": len(manifest.tables), "objects": len(objects),
                      "extracted_rows": sum(t.extracted_rows for t in manifest.tables),
                      "quarantined_at_extract": sum(t.quarantined_at_extract for t in manifest.tables)},
              hashes={"manifest_sha256": _sha256(rt, manifest.key())}, key_ids=[o.kek_id for o in objects if o.kek_id])
    return {
        "source": manifest.source,
        "run_key": manifest.run_key,
        "manifest_key": manifest.key(),
        "rows": {t.table: t.extracted_rows for t in manifest.tables},
        "quarantined_at_extract": {t.table: t.quarantined_at_extract for t in manifest.tables},
    }


def stage_extract(
    rt: Runtime, engine: Any, source_name: str, run_id: str, *, landing: Any = None, interval_end: Any = None,
) -> dict[str, Any]:
    """Plan, extract every part and commit, in turn (the DAG runs these as separate tasks).

    Returns what ``stage_commit_extract`` returns.
    """
    plan = stage_plan_extract(rt, engine, source_name, run_id, landing=landing, interval_end=interval_end)
    for part in plan["parts"]:
        stage_extract_part(rt, engine, part, landing=landing)
    return stage_commit_extract(rt, plan["source"], plan["run_key"])
