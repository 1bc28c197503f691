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
def stage_extract(rt: Runtime, engine: Any, source_name: str, run_id: str) -> dict[str, Any]:
    """Extract every configured table of ``source_name`` into encrypted staging.

    ``engine`` is a SQLAlchemy engine for the source (built by the caller from an Airflow
    connection). Returns ``{"source", "run_key", "manifest_key", "rows": {table: n}}``.
    """
    from custody.extract import extract_table

    source = rt.sources.source(source_name)
    run_key = run_key_for(run_id)
    tables = [
        extract_table(engine, source=source, table_cfg=t, run_key=run_key, staging=rt.staging)
        for t in source.tables
    ]
    manifest = RunManifest(
        source=source.name, run_key=run_key, run_id=run_id, dialect=engine.dialect.name, tables=tables
    )
    key = rt.staging.put_doc(_doc_key(source.name, run_key, "manifest"), manifest.model_dump(mode="json"))
    return {
        "source": source.name,
        "run_key": run_key,
        "manifest_key": key,
        "rows": {t.table: t.extracted_rows for t in tables},
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
        KeyTracker,
        TableRules,
        ValidationThresholdExceeded,
        enforce_threshold,
        summarize,
        validate_chunk,
    )

    manifest = rt.manifest(manifest_key)
    source = rt.sources.source(manifest.source)
    by_name = {t.name: t for t in source.tables}
    tables_doc = []
    failures: list[ValidationThresholdExceeded] = []
    for tm in manifest.tables:
        cfg = by_name[tm.table]
        rules = TableRules(
            table=tm.table,
            checks=[c.model_dump() for c in cfg.checks],
            key_columns=tm.primary_key,
            max_failing_share=source.failing_share(cfg),
        )
        tracker = KeyTracker(tm.table)
        summaries = []
        reasons: dict[str, int] = {}
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
    key = rt.staging.put_doc(_doc_key(manifest.source, manifest.run_key, "validation"), doc)
    if failures:
        raise failures[0]
    return {
        "validation_key": key,
        "valid_rows": sum(t["valid_rows"] for t in tables_doc),
        "quarantined_rows": sum(t["quarantined_rows"] for t in tables_doc),
    }


# -- classify --------------------------------------------------------------------------------------
def stage_classify(rt: Runtime, manifest_key: str) -> dict[str, Any]:
    """Classify every column of every table (PI type, level, confidence, evidence) and update the inventory.

    Samples come from the decrypted chunks; free-text columns are scanned in full. Writes
    ``classification.json``; returns counts of columns per level.
    """
    from custody.catalog import Catalog
    from custody.classification import TableClassifier, load_policy

    manifest = rt.manifest(manifest_key)
    policy = load_policy(rt.settings.config_dir / "policy.yaml")
    tables_doc = []
    levels: dict[str, int] = {}
    for tm in manifest.tables:
        classifier = TableClassifier(policy, source=manifest.source, table=tm.table)
        for entry in tm.chunks:
            classifier.observe(rt.staging.get_table(entry, check_content=False))
        columns = [c.model_dump(mode="json") if hasattr(c, "model_dump") else dict(c) for c in classifier.result()]
        for c in columns:
            levels[c["level"]] = levels.get(c["level"], 0) + 1
        tables_doc.append({"table": tm.table, "rows": tm.extracted_rows, "columns": columns})
    doc = {"format": "custody-classification", "source": manifest.source, "run_key": manifest.run_key,
           "policy": {"standard": policy.standard, "version": policy.version}, "tables": tables_doc}
    key = rt.staging.put_doc(_doc_key(manifest.source, manifest.run_key, "classification"), doc)
    Catalog(rt.settings.catalog_url).record_inventory(manifest.source, manifest.run_key, tables_doc)
    return {"classification_key": key, "columns_by_level": levels}


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
