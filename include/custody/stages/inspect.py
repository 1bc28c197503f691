"""Classification and validation of a run's staged rows, in one decrypting pass per table.

Per table, every chunk is decrypted once and handed to the classifier (PI type, level, evidence;
free-text and minors scans read every row) and to validation (GX Core suites; failing rows to an
encrypted quarantine). Validation checks come from ``sources.yaml`` plus the checks the run's
own classification implies (an identifier column gets its format check in the run that first
finds it), so they are known only once the classifier has seen the column: they are derived as
soon as the classification has settled (``TableClassifier.settled``: every text column decided
from a full head sample, normally after the first chunk; asking earlier would decide on a partial
sample and change the classification) and compared with the final classification at the end of
the table. Chunks read before it settled, or every chunk when the final checks differ, are
validated in a second pass, so neither result depends on the shortcut (``docs/architecture.md``,
"Why one pass"); the stage returns the passes taken per table.

Chunks are authenticated by AES-GCM under a header that binds their row count and content hash
(``docs/format.md`` section 2), so this pass does not hash the rows again.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

from custody import hashing
from custody.documents import (
    ClassificationDocument,
    ColumnClassification,
    Drift,
    ObjectEntry,
    PolicyRef,
    RunManifest,
    TableClassification,
    TableManifest,
    TableValidation,
    ValidationDocument,
    document_key,
    object_id,
)
from custody.stages.boundary import stage_boundary
from custody.stages.runtime import Runtime, StageError

log = logging.getLogger(__name__)


def _sha256(rt: Runtime, key: str) -> str:
    """SHA-256 (hex) of a staged document's bytes, for the audit log."""
    return hashlib.sha256(rt.staging.read_bytes(key)).hexdigest()


class _TableValidation:
    """Validation state of one table during a pass: tracker, chunk summaries, quarantine objects.

    Chunks are validated in batches of about ``BATCH_ROWS`` rows (one GX run per batch: a GX run
    costs a fixed few hundred milliseconds of suite and metric-graph set-up whatever the rows);
    the quarantine is still written per chunk. A full batch is validated in a worker thread while
    the caller classifies the next chunks (Arrow compute, on both sides, releases the GIL); one
    batch at a time and in table order, so the outcome depends neither on batching nor on the
    thread (uniqueness: first occurrence in the table wins). At most two batches are held: the one
    being validated and the one filling. :meth:`flush` validates what is buffered and waits.

    The first batch is the first chunk alone: validation, the longer of the two sides, then starts
    as soon as the classification has settled instead of after a whole batch was classified (one
    GX run more per table, against three chunks' classification of waiting). For the same reason
    a batch's quarantine objects (encrypted Parquet) are written by the caller's thread when it
    collects the batch, not by the worker.
    """

    #: Rows buffered before a GX run (about 4 chunks of the default 50,000 rows).
    BATCH_ROWS = 200_000

    def __init__(self, rules: Any, tm: TableManifest) -> None:
        from custody.validation import KeyTracker

        self.rules = rules
        self.tm = tm
        self.tracker = KeyTracker(tm.table)
        self.summaries: list[Any] = []
        self.reasons: dict[str, int] = dict(tm.quarantine_reasons)
        self.quarantine: list[ObjectEntry] = []
        self._pending: list[tuple[ObjectEntry, Any]] = []
        self._pending_rows = 0
        self._pool: Any = None
        self._running: Any = None
        self._batches = 0  # batches submitted
        self._rt: Any = None

    def step(self, rt: Runtime, entry: ObjectEntry, chunk: Any) -> None:
        """Buffer one chunk; once the buffer holds ``BATCH_ROWS`` rows it is validated in the
        background (after the batch before it: this waits while that one is still running)."""
        self._pending.append((entry, chunk))
        self._pending_rows += chunk.num_rows
        if self._pending_rows >= self.BATCH_ROWS or not self._batches:
            self._submit(rt)

    def flush(self, rt: Runtime) -> None:
        """Validate what is buffered and wait for every batch; a batch's error is raised here."""
        self._submit(rt)
        self._close(quiet=False)

    def discard(self) -> None:
        """Drop what is buffered (not validated) and wait for the batch in validation; its error
        is raised, as every validated batch's is (a second pass with other checks follows)."""
        self._pending, self._pending_rows = [], 0
        self._close(quiet=False)

    def abandon(self) -> None:
        """Drop what is buffered and wait for the batch in validation, whatever its outcome (the
        stage is failing already: its own error is the one to raise)."""
        self._pending, self._pending_rows = [], 0
        self._close(quiet=True)

    def _submit(self, rt: Runtime) -> None:
        batch, self._pending, self._pending_rows = self._pending, [], 0
        if not batch:
            return
        self._rt = rt  # the runtime the batches' quarantine objects are stored with
        done = self._collect()
        self._batches += 1
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="custody-validate")
        self._running = self._pool.submit(self.validate, rt, batch)
        self._store_all(done)  # while the worker validates the new batch

    def _collect(self) -> list[tuple[ObjectEntry, Any]]:
        """Wait for the batch in validation; its quarantine rows to store (its error is raised)."""
        running, self._running = self._running, None
        return running.result() if running is not None else []

    def _store_all(self, done: list[tuple[ObjectEntry, Any]]) -> None:
        for entry, q in done:
            self._store(self._rt, entry, q)

    def _wait(self) -> None:
        self._store_all(self._collect())

    def _close(self, quiet: bool) -> None:
        try:
            self._wait()
        except BaseException:
            if not quiet:
                raise
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None

    def validate(self, rt: Runtime, batch: list[tuple[ObjectEntry, Any]]) -> list[tuple[ObjectEntry, Any]]:
        """Validate ``batch`` (one GX run when the chunks' schemas agree); returns each chunk's
        quarantine rows to store, ``(entry, table)``, for the chunks that have any."""
        import numpy as np
        import pyarrow as pa

        from custody.validation import QUARANTINE_REASONS_COLUMN, validate_chunk

        tables = [c if isinstance(c, pa.Table) else pa.Table.from_batches([c]) for _, c in batch]
        if len(tables) > 1 and any(t.schema != tables[0].schema for t in tables[1:]):
            groups = [([e], [t]) for (e, _), t in zip(batch, tables, strict=True)]
        else:
            groups = [([e for e, _ in batch], tables)]
        stores: list[tuple[ObjectEntry, Any]] = []
        for entries, group in groups:
            combined = pa.concat_tables(group) if len(group) > 1 else group[0]
            outcome = validate_chunk(combined, self.rules, tracker=self.tracker)
            self.summaries.append(outcome.summary())
            q = outcome.quarantine
            if not q.num_rows:
                continue
            for row_reasons in q.column(QUARANTINE_REASONS_COLUMN).to_pylist():
                for reason in row_reasons:
                    self.reasons[reason] = self.reasons.get(reason, 0) + 1
            ends = np.cumsum([t.num_rows for t in group])
            owner = np.searchsorted(ends, outcome.quarantine_positions, side="right")
            for i, entry in enumerate(entries):
                rows = np.flatnonzero(owner == i)
                if rows.size:
                    stores.append((entry, q.take(pa.array(rows))))
        return stores

    def _store(self, rt: Runtime, entry: ObjectEntry, q: Any) -> None:
        oid = object_id("quarantine-validate", source=entry.source, run_key=entry.run_key, table=entry.table,
                        chunk=entry.chunk)
        qentry = ObjectEntry(object_id=oid, key=f"{oid}.cdy", kind="quarantine", source=entry.source,
                             run_key=entry.run_key, table=entry.table, chunk=entry.chunk, rows=q.num_rows,
                             content_hash=hashing.to_hex(hashing.table_hash(q)), scope=entry.scope)
        self.quarantine.append(rt.staging.put_table(qentry, q))


def _read_ahead(rt: Runtime, entries: list[ObjectEntry]) -> Iterator[tuple[ObjectEntry, Any]]:
    """``(entry, table)`` of every chunk in order, the next chunk read and decrypted in a thread
    while the caller works on this one (reading, AES-GCM and Parquet release the GIL): at most two
    chunks are held. A read's error is raised in the caller, at that chunk."""
    if len(entries) < 2:
        for entry in entries:
            yield entry, rt.staging.get_table(entry, check_content=False)
        return
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="custody-read")
    try:
        pending = pool.submit(rt.staging.get_table, entries[0], check_content=False)
        for i, entry in enumerate(entries):
            chunk = pending.result()
            if i + 1 < len(entries):
                pending = pool.submit(rt.staging.get_table, entries[i + 1], check_content=False)
            yield entry, chunk
            del chunk
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _clear_validation_quarantine(rt: Runtime, manifest: RunManifest, table: str) -> None:
    """Remove a table's validation quarantine objects (a rerun or a second pass writes them anew)."""
    probe = object_id("quarantine-validate", source=manifest.source, run_key=manifest.run_key, table=table, chunk=0)
    folder = probe.rpartition("/")[0]
    rt.staging.remove_unlisted(folder, "", set())


def _derive(cfg_checks: list[dict[str, Any]], columns: list[ColumnClassification], tm: TableManifest,
            share: float) -> Any:
    from custody.validation import derive_rules

    return derive_rules(cfg_checks, [c.model_dump(mode="json") for c in columns], tm.primary_key, share,
                        table=tm.table)


@stage_boundary("classify_and_validate")
def stage_classify_and_validate(rt: Runtime, source: str, run_key: str, as_of: str | None = None, *,
                                single_pass: bool = True) -> dict[str, Any]:
    """Classify every column and validate every row of a run, decrypting each chunk once.

    Writes ``classification.json`` (per table: columns with PI type, level, confidence and
    evidence; ``minors_under_<age>`` and ``minors``; at the top ``drift``), updates the inventory
    in the catalog (drift is computed against the previous inventory BEFORE the update), then
    writes ``validation.json`` (per table: counts, expectation results, quarantine reasons and
    objects) and the GX Data Docs. Ages for the minors count are as of ``as_of`` (ISO date;
    default the manifest's creation date, UTC).

    ``single_pass=False`` classifies every chunk first and validates every chunk afterwards (two
    decrypting passes, the former design; same documents), for ``bench/classify_validate.py``.

    Returns ``{"classification_key", "validation_key", "columns_by_level", "minors": {table: rows},
    "drift": {kind: n}, "valid_rows", "quarantined_rows", "passes": {table: 1|2}}``.
    Raises ``StageError`` when ``extracted != valid + quarantined`` or the manifest does not
    reconcile, and ``custody.validation.ValidationThresholdExceeded`` (after both documents are
    written) when a table's failing share passes its limit. Drift does not raise here.
    """
    from custody.validation import warm_up

    # GX's import and context (validation's fixed cost) in a thread of their own while the first
    # chunks are read and classified; the thread is joined before the stage ends, either way.
    with warm_up():
        return _classify_and_validate(rt, source, run_key, as_of, single_pass)


def _classify_and_validate(rt: Runtime, source: str, run_key: str, as_of: str | None,
                           single_pass: bool) -> dict[str, Any]:
    from custody.catalog import Catalog
    from custody.classification import TableClassifier, load_policy, record_drift
    from custody.classification.inventory import drift_counts
    from custody.validation import (
        ValidationThresholdExceeded,
        build_data_docs,
        enforce_threshold,
        summarize,
    )

    manifest = rt.manifest(source, run_key)
    src = rt.sources.source(manifest.source)
    by_name = {t.name: t for t in src.tables}
    policy = load_policy(rt.settings.config_dir / "policy.yaml")
    run_date = date.fromisoformat(as_of) if as_of else datetime.fromisoformat(manifest.created_at).date()

    classified: list[TableClassification] = []
    validated: list[TableValidation] = []
    rules_by_table: dict[str, Any] = {}
    failures: list[ValidationThresholdExceeded] = []
    passes: dict[str, int] = {}
    for tm in manifest.tables:
        if tm.source_rows != tm.extracted_rows + tm.quarantined_at_extract + tm.erased_rows:
            raise StageError(f"{tm.table}: source {tm.source_rows} != staged {tm.extracted_rows} "
                             f"+ quarantined at extraction {tm.quarantined_at_extract}"
                             + (f" + erased {tm.erased_rows}" if tm.erased_rows else ""))
        cfg = by_name[tm.table]
        cfg_checks = [c.model_dump() for c in cfg.checks]
        share = src.failing_share(cfg)
        classifier = TableClassifier(policy, source=manifest.source, table=tm.table, as_of=run_date)
        _clear_validation_quarantine(rt, manifest, tm.table)
        # Every column of the manifest, even of a table without rows (a header-only file): the
        # inventory keeps its columns (classified by their names) instead of losing them.
        classifier.observe(tm.schema().empty_table())
        state: _TableValidation | None = None
        unvalidated: list[ObjectEntry] = []  # chunks read before the classification settled
        reread = 0
        try:
            for entry, chunk in _read_ahead(rt, tm.chunks):
                classifier.observe(chunk)
                if single_pass and state is None and classifier.settled:
                    state = _TableValidation(_derive(cfg_checks, classifier.result(), tm, share), tm)
                    for early in unvalidated:  # normally none: the first chunk fills every sample
                        state.step(rt, early, rt.staging.get_table(early, check_content=False))
                    reread, unvalidated = reread + len(unvalidated), []
                if state is None:
                    unvalidated.append(entry)
                else:
                    state.step(rt, entry, chunk)
                del chunk
            columns = classifier.result()
            rules = _derive(cfg_checks, columns, tm, share)
            passes[tm.table] = 2 if reread else 1
            if state is None or state.rules != rules:
                # The checks derived from the settled classification differ from the final ones
                # (or it never settled): validate every chunk again with the final checks.
                passes[tm.table] = 2 if tm.chunks else 1
                if state is not None:
                    log.info("%s.%s: checks changed after the classification settled; validating in a "
                             "second pass", manifest.source, tm.table)
                    state.discard()  # its worker writes no quarantine object after the clearing
                    _clear_validation_quarantine(rt, manifest, tm.table)
                state = _TableValidation(rules, tm)
                for entry, chunk in _read_ahead(rt, tm.chunks):
                    state.step(rt, entry, chunk)
                    del chunk
            state.flush(rt)
        except BaseException:
            if state is not None:
                state.abandon()  # no validation left running behind the stage's failure
            raise
        rules_by_table[tm.table] = rules

        table_doc = TableClassification(table=tm.table, rows=tm.extracted_rows, columns=columns)
        counted = classifier.minors(columns)
        if counted is not None:
            table_doc = TableClassification.model_validate({**table_doc.model_dump(), **counted.document()})
        classified.append(table_doc)

        report = summarize(state.summaries, table=tm.table)
        if report.rows_in != tm.extracted_rows or report.rows_valid + report.rows_quarantined != tm.extracted_rows:
            raise StageError(f"{tm.table}: extracted {tm.extracted_rows} != valid {report.rows_valid} "
                             f"+ quarantined {report.rows_quarantined}")
        try:
            enforce_threshold(report, rules)
            passed = True
        except ValidationThresholdExceeded as exc:
            failures.append(exc)
            passed = False
        validated.append(TableValidation(
            table=tm.table, source_rows=tm.source_rows, extracted_rows=tm.extracted_rows,
            valid_rows=report.rows_valid, quarantined_rows=report.rows_quarantined,
            quarantined_at_extract=tm.quarantined_at_extract, failing_share=report.failing_share,
            max_failing_share=rules.max_failing_share, passed=passed,
            results=[c.model_dump(mode="json") for c in report.checks],
            quarantine_reasons=dict(sorted(state.reasons.items())), quarantine=state.quarantine,
        ))

    # Classification first: the inventory and its drift are recorded even when validation fails.
    catalog = Catalog(rt.settings.catalog_url)
    tables_json = [t.model_dump(mode="json") for t in classified]
    drift = record_drift(catalog.engine, manifest.source, manifest.run_key, tables_json,
                         policy_version=policy.version)
    cdoc = ClassificationDocument(source=manifest.source, run_key=manifest.run_key,
                                  policy=PolicyRef(standard=policy.standard, version=policy.version),
                                  as_of=run_date.isoformat(), tables=classified, drift=Drift.model_validate(drift))
    ckey = rt.staging.put(cdoc)
    catalog.record_inventory(manifest.source, manifest.run_key, tables_json)

    vdoc = ValidationDocument(source=manifest.source, run_key=manifest.run_key, tables=validated)
    # GX Data Docs from counts only (no unexpected values), linked from the run report.
    build_data_docs(vdoc.model_dump(mode="json"),
                    rt.settings.report_dir / manifest.source / manifest.run_key / "datadocs", rules=rules_by_table)
    vdoc.datadocs = "datadocs/index.html"
    vkey = rt.staging.put(vdoc)

    levels: dict[str, int] = {}
    for t in classified:
        for c in t.columns:
            levels[c.level] = levels.get(c.level, 0) + 1
    subject = {"source": manifest.source, "run_key": manifest.run_key}
    rt.record("classify", subject=subject, policy_version=str(policy.version),
              counts={**levels, **drift_counts(drift),
                      "minors": sum(t.minors.rows for t in classified if t.minors is not None)},
              hashes={"classification_sha256": _sha256(rt, ckey)})
    rt.record("validate", subject=subject, outcome="failure" if failures else "success",
              reason=type(failures[0]).__name__ if failures else None,
              counts={"tables": len(validated), "failed_tables": sum(not t.passed for t in validated),
                      "valid_rows": sum(t.valid_rows for t in validated),
                      "quarantined_rows": sum(t.quarantined_rows for t in validated)},
              hashes={"validation_sha256": _sha256(rt, vkey)})
    if failures:
        raise failures[0]
    return {
        "classification_key": ckey,
        "validation_key": vkey,
        "columns_by_level": levels,
        "minors": {t.table: t.minors.rows for t in classified if t.minors is not None},
        "drift": drift_counts(drift),
        "valid_rows": sum(t.valid_rows for t in validated),
        "quarantined_rows": sum(t.quarantined_rows for t in validated),
        "passes": passes,
    }


def stage_drift_alert(rt: Runtime, source: str, run_key: str) -> None:
    """Raise ``custody.classification.DriftDetected`` when the run's classification recorded drift
    (a new sensitive column, a level change, a vanished column); names and levels only."""
    from custody.classification import raise_for_drift

    from custody.classification import DriftDetected
    from custody.classification.inventory import drift_counts

    doc = rt.staging.get(document_key("classification", source=source, run_key=run_key), ClassificationDocument)
    drift = doc.drift.model_dump(mode="json") if doc.drift else None
    subject = {"source": doc.source, "run_key": doc.run_key}
    try:
        raise_for_drift(drift, source=doc.source, run_key=doc.run_key)
    except DriftDetected as exc:
        rt.record("drift.alert", subject=subject, outcome="failure", reason=type(exc).__name__,
                  counts=drift_counts(drift))
        raise
    rt.record("drift.alert", subject=subject, counts=drift_counts(drift))
