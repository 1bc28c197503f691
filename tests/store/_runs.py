"""Staged runs for store, restore and drill tests: real encrypted staging objects and sealed manifests."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow as pa

from custody import hashing
from custody.crypto import LocalKeyring
from custody.documents import ObjectEntry, RunManifest, TableManifest
from custody.staging import StagingStore

COLUMNS = [
    ("id", "int64", False),
    ("name", "string", True),
    ("amount", "decimal128(14, 2)", True),
    ("born", "date32[day]", True),
    ("updated", "timestamp[us, tz=UTC]", True),
    ("active", "bool", True),
    ("score", "double", True),
]


def rows_table(start: int, n: int) -> pa.Table:
    """Rows ``start .. start+n-1`` with every manifest type, Chinese text and some nulls."""
    ids = range(start, start + n)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "name": pa.array([None if i % 17 == 5 else f"客户{i}" for i in ids], pa.string()),
            "amount": pa.array([Decimal(f"{i}.{i % 100:02d}") for i in ids], pa.decimal128(14, 2)),
            "born": pa.array([date(1970, 1, 1) + timedelta(days=i * 37 % 20000) for i in ids], pa.date32()),
            "updated": pa.array(
                [t0 + timedelta(seconds=i * 61, microseconds=i % 999) for i in ids],
                pa.timestamp("us", tz="UTC"),
            ),
            "active": pa.array([i % 3 == 0 for i in ids], pa.bool_()),
            "score": pa.array([i / 7 for i in ids], pa.float64()),
        }
    )


def stage_run(
    staging: StagingStore,
    *,
    source: str = "crm",
    run_key: str = "r1",
    tables: dict[str, list[int]] | None = None,
    offset: int = 0,
    extra: dict[str, pa.Table] | None = None,
) -> RunManifest:
    """Stage a run: per table, chunks of the given row counts; ``extra`` adds single-chunk tables
    (no primary key checks). Returns the sealed-on-disk manifest."""
    tables = {"contacts": [40, 25]} if tables is None else tables
    tms = []
    for name, sizes in tables.items():
        chunks, digest, start = [], 0, offset
        for i, n in enumerate(sizes):
            t = rows_table(start, n)
            start += n
            chunks.append(_put(staging, source, run_key, name, i, t))
            digest = hashing.combine(digest, hashing.table_hash(t))
        tms.append(
            TableManifest(
                table=name,
                source_table=name,
                primary_key=["id"],
                columns=[{"name": c, "arrow_type": a, "nullable": nl} for c, a, nl in COLUMNS],
                source_rows=sum(sizes),
                extracted_rows=sum(sizes),
                content_hash=hashing.to_hex(digest),
                chunks=chunks,
            )
        )
    for name, t in (extra or {}).items():
        entry = _put(staging, source, run_key, name, 0, t)
        tms.append(
            TableManifest(
                table=name,
                source_table=name,
                primary_key=[t.schema.names[0]],
                columns=[{"name": f.name, "arrow_type": str(f.type), "nullable": True} for f in t.schema],
                source_rows=t.num_rows,
                extracted_rows=t.num_rows,
                content_hash=entry.content_hash,
                chunks=[entry],
            )
        )
    manifest = RunManifest(source=source, run_key=run_key, dialect="sqlite", tables=tms)
    staging.put(manifest)
    return manifest


def _put(staging, source, run_key, table, i, t) -> ObjectEntry:
    entry = ObjectEntry(
        object_id=f"{source}/{run_key}/{table}/chunk-{i:05d}",
        key=f"{source}/{run_key}/{table}/chunk-{i:05d}.cdy",
        kind="chunk",
        source=source,
        run_key=run_key,
        table=table,
        chunk=i,
        rows=t.num_rows,
        content_hash=hashing.to_hex(hashing.table_hash(t)),
        scope=f"{source}/customer_contract",
    )
    return staging.put_table(entry, t)


def big_table(nbytes: int, seed: int = 1) -> pa.Table:
    """One row per MiB of incompressible bytes: an object of about ``nbytes`` after zstd."""
    mib = 1 << 20
    n = max(1, nbytes // mib)
    rnd = os.urandom if seed is None else __import__("random").Random(seed).randbytes
    return pa.table(
        {
            "blob_id": pa.array(range(n), pa.int64()),
            "blob": pa.array([rnd(mib) for _ in range(n)], pa.binary()),
        }
    )


def setup(tmp: Path) -> tuple[LocalKeyring, StagingStore]:
    """A keyring and staging area under ``tmp``."""
    keyring = LocalKeyring.create(tmp / "keys" / "kek.json")
    return keyring, StagingStore(tmp / "staging", keyring)
