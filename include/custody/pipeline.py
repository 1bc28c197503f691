"""The stages of the main job, each a plain function over manifests and object keys.

The DAG (``dags/custody_pipeline.py``) calls one function per task; tests and the CLI call them
directly. Every function takes small JSON-able arguments and returns a small dict (what goes into
XCom): keys of sealed documents in staging and counts, never data.

Stage documents in ``staging/<source>/<run_key>/``: ``manifest.json`` (extract),
``validation.json``, ``classification.json``, ``backup.json``; the report goes to
``CUSTODY_HOME/reports/<source>/<run_key>/``.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from custody.config import SourcesFile, load_sources
from custody.crypto.keyring import Keyring, open_keyring
from custody.manifest import ObjectEntry, RunManifest
from custody.settings import Settings
from custody.staging import StagingStore

log = logging.getLogger(__name__)


class StageError(Exception):
    """A stage cannot proceed (reconciliation mismatch, missing upstream document)."""


@dataclass
class Runtime:
    """Settings, config, keyring and staging of one process, built lazily from the environment."""

    settings: Settings

    @classmethod
    def from_env(cls) -> Runtime:
        """Runtime for the current environment (``CUSTODY_*`` variables)."""
        return cls(Settings.from_env())

    @cached_property
    def sources(self) -> SourcesFile:
        """Validated ``sources.yaml``."""
        return load_sources(settings=self.settings)

    @cached_property
    def keyring(self) -> Keyring:
        """Scope keys in the catalog, wrapped by the KEK named by ``CUSTODY_KEYRING``.

        Data keys are wrapped per crypto-shredding scope (``<source>/<retention_class>``), so one
        scope can be destroyed without touching the others (``docs/format.md`` section 1).
        """
        return open_keyring(self.settings.keyring, key_store=self.settings.catalog_url)

    @cached_property
    def staging(self) -> StagingStore:
        """Encrypted staging under ``CUSTODY_HOME/staging``."""
        return StagingStore(self.settings.staging_dir, self.keyring)

    def manifest(self, manifest_key: str) -> RunManifest:
        """Read and verify a sealed run manifest."""
        return RunManifest.model_validate(self.staging.get_doc(manifest_key))


def run_key_for(run_id: str) -> str:
    """A path-safe key for an Airflow run id: safe characters kept, plus 8 hex of its SHA-256.

    ``manual__2026-11-30T10:00:00+00:00`` -> ``manual__2026-11-30T10_00_00_00_00-3f2a…``.
    """
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", run_id)[:80]
    return f"{safe}-{hashlib.sha256(run_id.encode()).hexdigest()[:8]}"


def _doc_key(source: str, run_key: str, name: str) -> str:
    return f"{source}/{run_key}/{name}.json"


# -- extract ---------------------------------------------------------------------------------------
def stage_extract(
    rt: Runtime, engine: Any, source_name: str, run_id: str, *, landing: Any = None,
    interval_end: Any = None,
) -> dict[str, Any]:
    """Extract every configured table of ``source_name`` into encrypted staging (plan, parts, commit).

    ``engine``: SQLAlchemy engine of a SQL source (built by the caller from an Airflow
    connection); ``landing``: ``custody.sources.files.Landing`` of a file-drop source;
    ``interval_end``: upper bound of timestamp watermarks (aware datetime or ISO text; default
    now). The DAG runs the three steps as separate tasks; this runs them in turn.
    Returns ``{"source", "run_key", "manifest_key", "rows": {table: n}, "quarantined_at_extract": {table: n}}``.
    """
    plan = stage_plan_extract(rt, engine, source_name, run_id, landing=landing, interval_end=interval_end)
    for part in plan["parts"]:
        stage_extract_part(rt, engine, part, landing=landing)
    return stage_commit_extract(rt, plan["plan_key"])


def plan_key_for(source_name: str, run_id: str) -> str:
    """Staging key of the extraction plan of one run of one source."""
    return f"{source_name}/{run_key_for(run_id)}/plan.json"


def _watermark_store(rt: Runtime) -> Any:
    from custody.watermarks import WatermarkStore

    return WatermarkStore(rt.settings.catalog_url)


def stage_plan_extract(
    rt: Runtime, engine: Any, source_name: str, run_id: str, *, landing: Any = None,
    interval_end: Any = None,
) -> dict[str, Any]:
    """Plan a run of ``source_name`` (schemas, incremental intervals, key ranges, files).

    Returns ``{"source", "run_key", "plan_key", "parts": [{"plan_key", "table", "part"}]}``:
    small and value-free, for XCom and dynamic task mapping.
    """
    from custody.extract import plan_extract, plan_parts

    source = rt.sources.source(source_name)
    run_key = run_key_for(run_id)
    store = _watermark_store(rt)
    try:
        plan = plan_extract(engine, source=source, run_key=run_key, run_id=run_id, staging=rt.staging,
                            store=store, interval_end=interval_end, landing=landing)
    finally:
        store.close()
    return {"source": source.name, "run_key": run_key, "plan_key": plan["plan_key"], "parts": plan_parts(plan)}


def stage_extract_part(rt: Runtime, engine: Any, part: dict[str, Any], *, landing: Any = None) -> dict[str, Any]:
    """Extract one planned part (``{"plan_key", "table", "part"}``); returns its counts and part key."""
    from custody.extract import extract_part

    plan = rt.staging.get_doc(part["plan_key"])
    source = rt.sources.source(plan["source"])
    plan["plan_key"] = part["plan_key"]
    return extract_part(engine, source=source, plan=plan, table=part["table"], part=part["part"],
                        staging=rt.staging, landing=landing)


def stage_commit_extract(rt: Runtime, plan_key: str) -> dict[str, Any]:
    """Seal the run manifest from the extracted parts, then advance the watermarks (catalog).

    Returns ``{"source", "run_key", "manifest_key", "rows": {table: staged rows},
    "quarantined_at_extract": {table: n}}``.
    """
    from custody.extract import commit_extract

    plan = rt.staging.get_doc(plan_key)
    plan["plan_key"] = plan_key
    source = rt.sources.source(plan["source"])
    store = _watermark_store(rt)
    try:
        manifest, key = commit_extract(source=source, plan=plan, staging=rt.staging, store=store)
    finally:
        store.close()
    return {
        "source": source.name,
        "run_key": manifest.run_key,
        "manifest_key": key,
        "rows": {t.table: t.extracted_rows for t in manifest.tables},
        "quarantined_at_extract": {t.table: t.quarantined_at_extract for t in manifest.tables},
    }


# -- validate --------------------------------------------------------------------------------------
def stage_validate(rt: Runtime, manifest_key: str) -> dict[str, Any]:
    """Validate every chunk with its table's GX suite; quarantine failing rows, encrypted.

    Writes ``validation.json`` (per table: counts, expectation results, quarantine reasons and
    quarantine objects) before enforcing thresholds, so the report can show a failed validation.
    Raises ``custody.validation.ValidationThresholdExceeded`` when a table's failing share passes
    its limit, and ``StageError`` if extracted != valid + quarantined.
    """
    from custody import hashing
    from custody.validation import (
        QUARANTINE_REASONS_COLUMN,
        build_data_docs,
        derive_rules,
        KeyTracker,
        ValidationThresholdExceeded,
        enforce_threshold,
        summarize,
        validate_chunk,
    )

    manifest = rt.manifest(manifest_key)
    source = rt.sources.source(manifest.source)
    by_name = {t.name: t for t in source.tables}
    # This run's classification (classify runs first) derives identifier checks from the inventory.
    cls_key = _doc_key(manifest.source, manifest.run_key, "classification")
    inventory: dict[str, list[dict[str, Any]]] = {}
    if rt.staging.path(cls_key).exists():
        inventory = {t["table"]: t["columns"] for t in rt.staging.get_doc(cls_key)["tables"]}
    rules_by_table = {}
    tables_doc = []
    failures: list[ValidationThresholdExceeded] = []
    for tm in manifest.tables:
        cfg = by_name[tm.table]
        if tm.source_rows != tm.extracted_rows + tm.quarantined_at_extract:
            raise StageError(
                f"{tm.table}: source {tm.source_rows} != staged {tm.extracted_rows} "
                f"+ quarantined at extraction {tm.quarantined_at_extract}"
            )
        rules = derive_rules([c.model_dump() for c in cfg.checks], inventory.get(tm.table, []),
                             tm.primary_key, source.failing_share(cfg), table=tm.table)
        rules_by_table[tm.table] = rules
        tracker = KeyTracker(tm.table)
        summaries = []
        reasons: dict[str, int] = dict(tm.quarantine_reasons)
        quarantine: list[dict[str, Any]] = []
        for entry in tm.chunks:
            outcome = validate_chunk(rt.staging.get_table(entry), rules, tracker=tracker)
            summaries.append(outcome.summary())
            q = outcome.quarantine
            if q.num_rows:
                for row_reasons in q.column(QUARANTINE_REASONS_COLUMN).to_pylist():
                    for reason in row_reasons:
                        reasons[reason] = reasons.get(reason, 0) + 1
                qentry = ObjectEntry(
                    object_id=entry.object_id.replace("/chunk-", "/quarantine-"),
                    key=entry.key.replace("/chunk-", "/quarantine-"),
                    kind="quarantine", source=entry.source, run_key=entry.run_key, table=entry.table,
                    chunk=entry.chunk, rows=q.num_rows, content_hash=hashing.to_hex(hashing.table_hash(q)),
                    scope=entry.scope,
                )
                quarantine.append(rt.staging.put_table(qentry, q).model_dump(mode="json"))
        report = summarize(summaries, table=tm.table)
        if report.rows_in != tm.extracted_rows or report.rows_valid + report.rows_quarantined != tm.extracted_rows:
            raise StageError(
                f"{tm.table}: extracted {tm.extracted_rows} != valid {report.rows_valid} "
                f"+ quarantined {report.rows_quarantined}"
            )
        try:
            enforce_threshold(report, rules)
            passed = True
        except ValidationThresholdExceeded as exc:
            failures.append(exc)
            passed = False
        tables_doc.append(
            {
                "table": tm.table,
                "source_rows": tm.source_rows,
                "extracted_rows": tm.extracted_rows,
                "valid_rows": report.rows_valid,
                "quarantined_rows": report.rows_quarantined,
                "quarantined_at_extract": tm.quarantined_at_extract,
                "failing_share": report.failing_share,
                "max_failing_share": rules.max_failing_share,
                "passed": passed,
                "results": [c.model_dump(mode="json") for c in report.checks],
                "quarantine_reasons": dict(sorted(reasons.items())),
                "quarantine": quarantine,
            }
        )
    doc = {"format": "custody-validation", "source": manifest.source, "run_key": manifest.run_key,
           "engine": "great_expectations", "tables": tables_doc}
    # GX Data Docs from counts only (no unexpected values), linked from the run report.
    build_data_docs(doc, rt.settings.report_dir / manifest.source / manifest.run_key / "datadocs",
                    rules=rules_by_table)
    doc["datadocs"] = "datadocs/index.html"
    key = rt.staging.put_doc(_doc_key(manifest.source, manifest.run_key, "validation"), doc)
    if failures:
        raise failures[0]
    return {
        "validation_key": key,
        "valid_rows": sum(t["valid_rows"] for t in tables_doc),
        "quarantined_rows": sum(t["quarantined_rows"] for t in tables_doc),
    }


# -- classify --------------------------------------------------------------------------------------
def stage_classify(rt: Runtime, manifest_key: str, as_of: str | None = None) -> dict[str, Any]:
    """Classify every column of every table (PI type, level, confidence, evidence) and update the inventory.

    Samples come from the decrypted chunks; free-text columns are scanned in full, and so are the
    birth-date and resident-ID columns for the records of minors (PIPL Art 28, 31), with ages as of
    ``as_of`` (ISO date; default the manifest's creation date, UTC). Compares the classification
    with the source's previous inventory (``custody.classification.inventory``) BEFORE updating it,
    and writes ``classification.json`` with, per table, ``minors_under_<age>`` and ``minors``, and
    at the top ``drift`` (new sensitive / level changes / vanished, names and levels only).
    Returns ``{"classification_key", "columns_by_level", "minors": {table: rows},
    "drift": {"new_sensitive": n, "level_changes": n, "vanished": n}}``; the DAG's drift alert
    task raises on drift (``custody.classification.raise_for_drift``), this stage does not.
    """
    from datetime import date, datetime

    from custody.catalog import Catalog
    from custody.classification import TableClassifier, load_policy, record_drift
    from custody.classification.inventory import drift_counts

    manifest = rt.manifest(manifest_key)
    policy = load_policy(rt.settings.config_dir / "policy.yaml")
    run_date = date.fromisoformat(as_of) if as_of else datetime.fromisoformat(manifest.created_at).date()
    tables_doc = []
    levels: dict[str, int] = {}
    minors: dict[str, int] = {}
    for tm in manifest.tables:
        classifier = TableClassifier(policy, source=manifest.source, table=tm.table, as_of=run_date)
        for entry in tm.chunks:
            classifier.observe(rt.staging.get_table(entry, check_content=False))
        results = classifier.result()
        columns = [c.model_dump(mode="json") for c in results]
        for c in columns:
            levels[c["level"]] = levels.get(c["level"], 0) + 1
        table_doc = {"table": tm.table, "rows": tm.extracted_rows, "columns": columns}
        counted = classifier.minors(results)
        if counted is not None:
            table_doc.update(counted.document())
            minors[tm.table] = counted.rows
        tables_doc.append(table_doc)
    catalog = Catalog(rt.settings.catalog_url)
    drift = record_drift(catalog.engine, manifest.source, manifest.run_key, tables_doc,
                         policy_version=policy.version)
    doc = {"format": "custody-classification", "source": manifest.source, "run_key": manifest.run_key,
           "policy": {"standard": policy.standard, "version": policy.version}, "as_of": run_date.isoformat(),
           "tables": tables_doc, "drift": drift}
    key = rt.staging.put_doc(_doc_key(manifest.source, manifest.run_key, "classification"), doc)
    catalog.record_inventory(manifest.source, manifest.run_key, tables_doc)
    return {"classification_key": key, "columns_by_level": levels, "minors": minors, "drift": drift_counts(drift)}


# -- back up ---------------------------------------------------------------------------------------
def stage_backup(rt: Runtime, manifest_key: str, s3_client: Any | None = None) -> dict[str, Any]:
    """Copy the run's encrypted objects and documents to the local store and to S3, verified.

    ``s3_client`` is a boto3 S3 client (None: local store only). Returns the snapshot key and,
    per store, objects uploaded or reused and the snapshot document's SHA-256.
    """
    from custody.store import LocalStore, S3Store, create_snapshot

    manifest = rt.manifest(manifest_key)
    documents = {}
    for name in ("validation", "classification"):
        key = _doc_key(manifest.source, manifest.run_key, name)
        if rt.staging.path(key).exists():
            documents[name] = rt.staging.get_doc(key)
    stores: list[Any] = []
    if rt.sources.backup.local:
        stores.append(LocalStore(rt.settings.backup_dir))
    if s3_client is not None:
        s3 = S3Store(s3_client, rt.settings.s3_bucket, rt.settings.s3_prefix)
        s3.ensure_bucket()
        stores.append(s3)
    summary = create_snapshot(stores, rt.staging, manifest, documents, rt.keyring)
    # The key store travels with the data but expires sooner, so a destroyed scope key is gone
    # from every copy within the key-store retention (docs/format.md, key-store backups).
    from custody.crypto.keystore import backup_key_store, prune_key_store_backups

    summary["key_store"] = backup_key_store(stores, rt.keyring)
    summary["key_store"]["pruned"] = [prune_key_store_backups(s, rt.keyring) for s in stores]
    key = rt.staging.put_doc(_doc_key(manifest.source, manifest.run_key, "backup"), summary)
    return {"backup_key": key, "snapshot_key": summary["snapshot_key"],
            "stores": [s["location"] for s in summary["stores"]]}


# -- report ----------------------------------------------------------------------------------------
def stage_report(rt: Runtime, manifest_key: str) -> dict[str, Any]:
    """Render the run report (HTML in English and Chinese, and JSON) from the stage documents."""
    from custody.reports import build_run_report, write_run_report

    manifest = rt.manifest(manifest_key)
    docs: dict[str, Any] = {}
    for name in ("validation", "classification", "backup"):
        key = _doc_key(manifest.source, manifest.run_key, name)
        if rt.staging.path(key).exists():
            docs[name] = rt.staging.get_doc(key)
    report = build_run_report(manifest, docs)
    paths = write_run_report(report, rt.settings.report_dir / manifest.source / manifest.run_key)
    return {k: str(v) for k, v in paths.items()}
