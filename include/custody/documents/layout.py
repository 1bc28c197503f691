"""Where every document and object lives: the one place that builds staging and store keys.

Staging (relative to ``CUSTODY_HOME/staging``; S3 staging uses the same keys)::

    <source>/<run_key>/plan.json                                  extraction plan
    <source>/<run_key>/parts/<table>/part-<NNNN>.json             one extracted part (key range or file)
    <source>/<run_key>/manifest.json                              run manifest (all parts committed)
    <source>/<run_key>/classification.json                        classification of every column
    <source>/<run_key>/validation.json                            validation results
    <source>/<run_key>/backup.json                                where the snapshot went
    <source>/<run_key>/tables/<table>/p<NNNN>/chunk-<NNNNN>.cdy   staged rows (encrypted Parquet)
    <source>/<run_key>/tables/<table>/p<NNNN>/rowkeys-<NNNNN>.cdy row keys and row hashes of that chunk
    <source>/<run_key>/quarantine/<table>/extract/p<NNNN>-<NNNNN>.cdy   rows held back at extraction
    <source>/<run_key>/quarantine/<table>/validate/c<NNNNNNNNN>.cdy     rows held back by validation
                                                                        (named by the chunk they came from)
    purge/<plan_id>/plan.json | approval.json | execution.json | certificate.json   a purge's documents

Store (local disk or S3, under the store's prefix)::

    objects/<sha256[0:2]>/<sha256>.cdy     content-addressed ciphertext
    snapshots/<source>/<run_key>.json      snapshot document
    retention/<plan_id>.json               retention plan
    purge/<plan_id>/certificate.json       destruction certificate of a purge (also in staging)
    audit/checkpoints/<size:012d>-<UTC time>-<8 hex>.note   signed checkpoint of the audit log
    audit/leaves/<start:012d>-<end:012d>.bin                leaf hashes of entries start..end-1
    audit/keys/<key id>.vkey                                verifier key of a checkpoint signer

Each stage owns its folders: extraction writes only ``parts/``, ``tables/`` and
``quarantine/<table>/extract/``, so a rerun of a part can clear what it wrote before without
knowing any other stage's names. Runs written before this layout (chunks under
``<table>/p<NNNN>/``, ``xquarantine-*`` and ``quarantine-*`` beside them) stay readable: readers
follow the keys their manifests list.
"""

from __future__ import annotations

import hashlib
import re
from typing import Literal

DocumentKind = Literal["plan", "part", "manifest", "classification", "validation", "backup", "snapshot",
                       "retention-plan", "purge-plan", "purge-approval", "purge-execution", "purge-certificate"]
ObjectKind = Literal["chunk", "rowkeys", "quarantine-extract", "quarantine-validate"]

CHUNKS_PER_PART = 100_000
"""Chunk numbers are ``part * CHUNKS_PER_PART + n``: unique within a table across parts."""

_RUN_DOCS = {"plan", "manifest", "classification", "validation", "backup"}
_SAFE = re.compile(r"^\w[\w.$-]*$")  # word characters (CJK included); never "/" or ".."


def run_key_for(run_id: str) -> str:
    """A path-safe key for an Airflow run id: safe characters kept, plus 8 hex of its SHA-256.

    ``manual__2026-11-30T10:00:00+00:00`` -> ``manual__2026-11-30T10_00_00_00_00-3f2a…``.
    """
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", run_id)[:80]
    return f"{safe}-{hashlib.sha256(run_id.encode()).hexdigest()[:8]}"


def _segment(value: str, what: str) -> str:
    if not _SAFE.match(value or "") or value in (".", ".."):
        raise ValueError(f"{what} {value!r} is not a safe key segment")
    return value


def document_key(
    kind: DocumentKind,
    *,
    source: str | None = None,
    run_key: str | None = None,
    table: str | None = None,
    part: int | None = None,
    plan_id: str | None = None,
) -> str:
    """Key of a sealed document of ``kind``.

    ``plan``, ``manifest``, ``classification``, ``validation``, ``backup``: per run
    (``source``, ``run_key``); ``part``: per run, ``table`` and ``part``; ``snapshot``: the store
    key of a run's snapshot; ``retention-plan``: the store key of a retention plan (``plan_id``);
    ``purge-plan`` / ``-approval`` / ``-execution`` / ``-certificate``: ``purge/<plan_id>/<name>.json``.
    Raises ``ValueError`` for a missing identity field or one that is not a safe key segment.
    """
    if kind == "retention-plan":
        return f"retention/{_segment(plan_id or '', 'plan id')}.json"
    if kind.startswith("purge-"):
        return f"purge/{_segment(plan_id or '', 'plan id')}/{kind.removeprefix('purge-')}.json"
    s, r = _segment(source or "", "source"), _segment(run_key or "", "run key")
    if kind in _RUN_DOCS:
        return f"{s}/{r}/{kind}.json"
    if kind == "part":
        if part is None or part < 0:
            raise ValueError("a part document needs a part number")
        return f"{s}/{r}/parts/{_segment(table or '', 'table')}/part-{part:04d}.json"
    if kind == "snapshot":
        return f"snapshots/{s}/{r}.json"
    raise ValueError(f"unknown document kind {kind!r}")


def object_id(
    kind: ObjectKind, *, source: str, run_key: str, table: str, part: int = 0, n: int = 0, chunk: int | None = None
) -> str:
    """Id of a staged object (its staging key without ``.cdy``).

    ``chunk``/``rowkeys``/``quarantine-extract``: the ``n``-th object of that kind in ``part``;
    ``quarantine-validate``: the rows validation held back from chunk number ``chunk``.
    """
    s, r, t = _segment(source, "source"), _segment(run_key, "run key"), _segment(table, "table")
    if kind in ("chunk", "rowkeys"):
        return f"{s}/{r}/tables/{t}/p{part:04d}/{kind}-{n:05d}"
    if kind == "quarantine-extract":
        return f"{s}/{r}/quarantine/{t}/extract/p{part:04d}-{n:05d}"
    if kind == "quarantine-validate":
        if chunk is None:
            raise ValueError("a validation quarantine object needs its chunk number")
        return f"{s}/{r}/quarantine/{t}/validate/c{chunk:09d}"
    raise ValueError(f"unknown object kind {kind!r}")


def chunk_number(part: int, n: int) -> int:
    """Table-wide number of the ``n``-th chunk of ``part``."""
    return part * CHUNKS_PER_PART + n


def extraction_prefixes(source: str, run_key: str, table: str, part: int) -> tuple[str, str]:
    """``(folder, name prefix)`` pairs' strings that only extraction of this part writes:
    the part's chunk folder and its extraction-quarantine name prefix (for sweeping a rerun)."""
    folder = f"{source}/{run_key}/tables/{table}/p{part:04d}/"
    quarantine = f"{source}/{run_key}/quarantine/{table}/extract/p{part:04d}-"
    return folder, quarantine


def run_prefix(source: str, run_key: str) -> str:
    """Staging prefix of everything one run wrote."""
    return f"{_segment(source, 'source')}/{_segment(run_key, 'run key')}/"


def snapshot_prefix(source: str | None = None) -> str:
    """Store prefix of the snapshot documents of every source (``snapshots/``) or of one
    (``snapshots/<source>/``). Raises ``ValueError`` for a source that is not a safe key segment
    (``..``, a ``/``, ...), so a listing never walks outside the store's snapshots."""
    return f"snapshots/{_segment(source, 'source')}/" if source is not None else "snapshots/"


AUDIT_PREFIX = "audit/"


def audit_key(kind: Literal["checkpoint", "leaves", "vkey"], *, size: int = 0, signed_at: str = "",
              digest: str = "", start: int = 0, end: int = 0, key_id: str = "") -> str:
    """Store key of an audit-log object (``docs/format.md`` section 8.5).

    ``checkpoint``: ``size`` entries, ``signed_at`` (``YYYYMMDDTHHMMSSZ``) and the first 8 hex of
    the note's SHA-256 (``digest``); ``leaves``: the leaf hashes of entries ``start`` to ``end - 1``;
    ``vkey``: the verifier key with 8-hex ``key_id``. Zero-padded numbers sort in log order.
    """
    if kind == "checkpoint":
        if not re.fullmatch(r"\d{8}T\d{6}Z", signed_at) or not re.fullmatch(r"[0-9a-f]{8}", digest):
            raise ValueError("a checkpoint key needs signed_at YYYYMMDDTHHMMSSZ and 8 hex of its digest")
        return f"{AUDIT_PREFIX}checkpoints/{size:012d}-{signed_at}-{digest}.note"
    if kind == "leaves":
        if not 0 <= start < end:
            raise ValueError("a leaves object covers start < end")
        return f"{AUDIT_PREFIX}leaves/{start:012d}-{end:012d}.bin"
    if kind == "vkey":
        if not re.fullmatch(r"[0-9a-f]{8}", key_id):
            raise ValueError("a verifier key is named by its 8-hex key id")
        return f"{AUDIT_PREFIX}keys/{key_id}.vkey"
    raise ValueError(f"unknown audit object kind {kind!r}")
