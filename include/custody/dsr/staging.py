"""Removing data subjects from the encrypted staging area at once (PIPL Art 47, GDPR Art 17).

Staging holds the runs in progress: encrypted Parquet chunks, their ``rowkeys`` companions (for
tables that stage row keys), quarantine objects, and sealed documents that list them with rows
and hashes. For every run of the request's source(s) found in staging, ``erase_from_staging``:

1. prepares an ``ErasureFilter`` (``custody.dsr.ledger``) over the run's tables, from the part
   documents (chunks authenticated as they are read) and the run's classification if any;
2. per part document, rewrites each chunk holding a subject's row **under a new object id**
   (``<original id>.erased-<tag><6 random hex>``): the kept rows re-encrypted under a new data
   key, the paired ``rowkeys`` object (if the table has them) cut to the same rows, extraction
   quarantine objects filtered by their identifier columns; then reseals the part document
   (``extracted_rows``, ``content_hash`` and ``erased_rows`` updated, so ``source_rows ==
   extracted + quarantined + erased`` still holds);
3. rebuilds the run manifest's tables from the part documents (``custody.extract.commit.merge_table``)
   and reseals it, then the validation document's quarantine objects likewise;
4. deletes the replaced object files.

Each file and document is replaced atomically (``custody.fsio``), new objects are written before
the document that names them and old ones deleted only after, so a crash leaves every sealed
document naming objects that exist; running it again finds nothing left to drop and finishes
the clean-up. Returns counts only.

Limits, stated plainly: a quarantined row whose identifier was itself unreadable (a mangled ID
number) cannot be matched by pseudonym; it is matched by the key of a matched row when it has
one, and otherwise leaves staging with the run (staging is cleaned by the pipeline and purge).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from custody import hashing
from custody.documents import (
    ClassificationDocument,
    ExtractPlan,
    ObjectEntry,
    PartDocument,
    RunManifest,
    ValidationDocument,
    document_key,
)
from custody.dsr.ledger import ErasureFilter
from custody.stages.boundary import stage_boundary
from custody.staging import StagingStore


def staged_runs(staging: StagingStore, source: str | None) -> list[tuple[str, str]]:
    """``(source, run_key)`` of every run with a plan in staging (of ``source``, or of every source)."""
    root = Path(staging.root)
    if not root.is_dir():
        return []
    out = []
    for plan in sorted(root.glob("*/*/plan.json")):
        run_key, src = plan.parent.name, plan.parent.parent.name
        if source is None or src == source:
            out.append((src, run_key))
    return out


def erase_from_staging(staging: StagingStore, pseudonyms: dict[str, set[str]], keyring: Any, *,
                       source: str | None, tag: str) -> dict[str, Any]:
    """Remove the subjects of ``pseudonyms`` from every staged run of ``source`` (None: all).

    ``tag``: short id (``[0-9a-z]``) naming the rewritten objects (the request's, or ``ledger``). Returns
    ``{"runs": n, "rows": rows erased, "objects": objects rewritten, "tables": {"<source>/<table>": rows}}``.
    """
    total: dict[str, Any] = {"runs": 0, "rows": 0, "objects": 0, "tables": {}}
    for src, run_key in staged_runs(staging, source):
        got = _erase_run(staging, src, run_key, ErasureFilter(pseudonyms, keyring), tag)
        total["runs"] += 1
        total["rows"] += got["rows"]
        total["objects"] += got["objects"]
        for t, n in got["tables"].items():
            if n:
                total["tables"][f"{src}/{t}"] = total["tables"].get(f"{src}/{t}", 0) + n
    return total


def _erase_run(staging: StagingStore, source: str, run_key: str, erasure: ErasureFilter, tag: str) -> dict[str, Any]:
    plan = staging.get(document_key("plan", source=source, run_key=run_key), ExtractPlan)
    parts: dict[str, list[PartDocument]] = {}
    for tp in plan.tables:
        for spec in tp.parts:
            key = document_key("part", source=source, run_key=run_key, table=tp.table, part=spec.part)
            doc = staging.find(key, PartDocument)
            if doc is not None and doc.plan_id == plan.plan_id:
                parts.setdefault(tp.table, []).append(doc)
    classification = staging.find(document_key("classification", source=source, run_key=run_key),
                                  ClassificationDocument)
    tables = []
    for name, docs in parts.items():
        if docs and docs[0].columns:
            schema = pa.schema([c.field() for c in docs[0].columns])
            tables.append((name, schema, list(plan.table(name).primary_key)))

    def read(name: str):
        for d in parts.get(name, []):
            for entry in d.chunks:
                yield staging.get_table(entry)

    erasure.prepare(tables, classification, read)
    replaced: list[ObjectEntry] = []
    counts: dict[str, int] = {}
    for name, docs in parts.items():
        for i, doc in enumerate(docs):
            new_doc, old, dropped = _erase_part(staging, doc, erasure, tag)
            if new_doc is not doc:
                staging.put(new_doc)
                docs[i] = new_doc
                replaced += old
            counts[name] = counts.get(name, 0) + dropped
    manifest = staging.find(document_key("manifest", source=source, run_key=run_key), RunManifest)
    if manifest is not None and replaced:
        from custody.extract.commit import merge_table

        tables_out = [merge_table(plan.table(tm.table), parts[tm.table]) if tm.table in parts else tm
                      for tm in manifest.tables]
        staging.put(manifest.model_copy(update={"tables": tables_out}))
    validation = staging.find(document_key("validation", source=source, run_key=run_key), ValidationDocument)
    if validation is not None:
        new_val, old = _erase_validation(staging, validation, erasure, tag, counts)
        if new_val is not validation:
            staging.put(new_val)
            replaced += old
    for entry in replaced:  # only once no sealed document names them
        with contextlib.suppress(FileNotFoundError):
            staging.path(entry.key).unlink()
    return {"rows": sum(counts.values()), "objects": len(replaced), "tables": counts}


def _rewrite(staging: StagingStore, entry: ObjectEntry, table: pa.Table, tag: str) -> ObjectEntry:
    # A fresh id per rewrite: the old object stays valid until the document naming the new one is sealed.
    import re
    import secrets

    base = re.sub(r"\.erased-[0-9a-z]+$", "", entry.object_id)
    object_id = f"{base}.erased-{tag}{secrets.token_hex(3)}"
    new = entry.model_copy(update={
        "object_id": object_id, "key": f"{object_id}.cdy", "rows": table.num_rows,
        "content_hash": hashing.to_hex(hashing.table_hash(table)), "plaintext_bytes": 0, "ciphertext_bytes": 0,
        "sha256": "", "kek_id": ""})
    return staging.put_table(new, table)


def _cut_rowkeys(packed: pa.Table, keep: list[int]) -> pa.Table:
    from custody.rowkeys import pack

    keys = b"".join(packed.column(1).to_pylist())
    digests = b"".join(packed.column(2).to_pylist())
    return pack(b"".join(keys[32 * i:32 * i + 32] for i in keep), b"".join(digests[32 * i:32 * i + 32] for i in keep))


def _erase_part(staging: StagingStore, doc: PartDocument, erasure: ErasureFilter, tag: str):
    chunks, row_keys, quarantine, old = [], [], [], []
    dropped = 0
    pairs = {e.chunk: e for e in doc.row_keys}
    new_pairs: dict[int, ObjectEntry] = {}
    for entry in doc.chunks:
        table = staging.get_table(entry)
        mask = erasure.matches_mask(doc.table, table)
        n = pc.sum(mask).as_py() or 0
        if not n:
            chunks.append(entry)
            continue
        keep = [i for i, hit in enumerate(mask.to_pylist()) if not hit]
        chunks.append(_rewrite(staging, entry, table.take(pa.array(keep, pa.int64())), tag))
        old.append(entry)
        dropped += n
        rk = pairs.get(entry.chunk)
        if rk is not None:
            new_pairs[entry.chunk] = _rewrite(staging, rk, _cut_rowkeys(staging.get_table(rk), keep), tag)
            old.append(rk)
    row_keys = [new_pairs.get(e.chunk, e) for e in doc.row_keys]
    q_dropped = 0
    for entry in doc.quarantine:
        table = staging.get_table(entry)
        kept, n = erasure.apply(doc.table, table)
        if n:
            quarantine.append(_rewrite(staging, entry, kept, tag))
            old.append(entry)
            q_dropped += n
        else:
            quarantine.append(entry)
    if not old:
        return doc, [], 0
    digest = hashing.combine(*[int(e.content_hash, 16) for e in chunks]) if chunks else 0
    new = doc.model_copy(update={
        "chunks": chunks, "row_keys": row_keys, "quarantine": quarantine,
        "extracted_rows": doc.extracted_rows - dropped, "quarantined_rows": doc.quarantined_rows - q_dropped,
        "erased_rows": doc.erased_rows + dropped + q_dropped, "content_hash": hashing.to_hex(digest)})
    return new, old, dropped + q_dropped


def _erase_validation(staging, doc: ValidationDocument, erasure: ErasureFilter, tag: str, counts: dict[str, int]):
    tables, old = [], []
    for tv in doc.tables:
        quarantine, q_dropped = [], 0
        for entry in tv.quarantine:
            kept, n = erasure.apply(tv.table, staging.get_table(entry))
            if n:
                quarantine.append(_rewrite(staging, entry, kept, tag))
                old.append(entry)
                q_dropped += n
            else:
                quarantine.append(entry)
        erased = counts.get(tv.table, 0)
        if q_dropped or erased:
            tv = tv.model_copy(update={
                "quarantine": quarantine, "quarantined_rows": tv.quarantined_rows - q_dropped,
                "valid_rows": max(0, tv.valid_rows - (erased - q_dropped)),
                "extracted_rows": max(0, tv.extracted_rows - erased)})
        tables.append(tv)
    if not old and not any(counts.values()):
        return doc, []
    return doc.model_copy(update={"tables": tables}), old


@stage_boundary("dsr.reapply_ledger")
def reapply_ledger(staging: StagingStore, ledger: Any, keyring: Any) -> dict[str, Any]:
    """Apply the whole deletion ledger to every staged run (``erase_from_staging`` per source).

    Runs extracted after a deletion read the source again, which may still hold the subject
    (deleting at the source is a separate, approved step); the ``custody_dsr`` DAG calls this daily
    so staging never keeps an erased subject for longer than a day. Idempotent. Returns the
    summed counts of ``erase_from_staging``.
    """
    total: dict[str, Any] = {"runs": 0, "rows": 0, "objects": 0, "tables": {}}
    for source in sorted({src for src, _ in staged_runs(staging, None)}):
        wanted = ledger.pseudonyms(source)
        if not wanted:
            continue
        got = erase_from_staging(staging, wanted, keyring, source=source, tag="ledger")
        for k in ("runs", "rows", "objects"):
            total[k] += got[k]
        total["tables"].update(got["tables"])
    return total
