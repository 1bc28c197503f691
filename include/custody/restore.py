"""Restore snapshots from a store: whole snapshots or single tables, to Arrow or to files."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from custody import hashing
from custody.crypto.envelope import IntegrityError
from custody.crypto.keyring import Keyring
from custody.exports import write_tables
from custody.manifest import RunManifest, TableManifest
from custody.staging import open_table
from custody.store.backends import ObjectStore
from custody.store.snapshots import load_snapshot, object_key


class RestoreError(Exception):
    """A restore cannot complete: unknown table, or restored rows disagree with the manifest."""


def iter_table(
    store: ObjectStore, table: TableManifest, keyring: Keyring, on_chunk: Callable[[int], None] | None = None
) -> Iterator[pa.Table]:
    """Yield the decrypted chunks of one table, each checked by SHA-256, authentication and row hash."""
    for entry in table.chunks:
        blob = store.get_bytes(object_key(entry.sha256))
        if hashlib.sha256(blob).hexdigest() != entry.sha256:
            raise IntegrityError(f"object {entry.object_id}: SHA-256 differs from the manifest")
        chunk = open_table(blob, entry, keyring)
        if on_chunk:
            on_chunk(chunk.num_rows)
        yield chunk


def restore_table(store: ObjectStore, snapshot_key: str, table: str, keyring: Keyring) -> pa.Table:
    """Restore one table of a snapshot into memory and check it against the manifest totals."""
    manifest = RunManifest.model_validate(load_snapshot(store, snapshot_key, keyring)["manifest"])
    tm = _table(manifest, table)
    chunks = list(iter_table(store, tm, keyring))
    result = pa.concat_tables(chunks) if chunks else _empty(tm)
    _check_totals(tm, result.num_rows, hashing.table_hash(result))
    return result


def restore_snapshot(
    store: ObjectStore,
    snapshot_key: str,
    keyring: Keyring,
    out_dir: Path,
    *,
    fmt: str = "parquet",
    tables: list[str] | None = None,
    on_chunk: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Write the tables of a snapshot to ``out_dir/<source>/<table>.<fmt>``, chunk by chunk.

    Memory is bounded by one chunk. Each file is written atomically and only after its rows and
    row-content hash match the manifest; returns ``{table: {"rows", "path", "content_hash"}}``.
    Raises ``RestoreError``, ``IntegrityError``, ``WrongKeyError``.
    """
    manifest = RunManifest.model_validate(load_snapshot(store, snapshot_key, keyring)["manifest"])
    wanted = [_table(manifest, t) for t in tables] if tables else manifest.tables
    out: dict[str, Any] = {}
    for tm in wanted:
        path = Path(out_dir) / manifest.source / f"{tm.table}.{fmt}"
        state = {"rows": 0, "hash": 0}

        def checked(tm: TableManifest = tm, state: dict = state) -> Iterator[pa.Table]:
            for chunk in iter_table(store, tm, keyring, on_chunk):
                state["rows"] += chunk.num_rows
                state["hash"] = hashing.combine(state["hash"], hashing.table_hash(chunk))
                yield chunk
            # Raised inside the writer: the temporary file is discarded, nothing partial remains.
            _check_totals(tm, state["rows"], state["hash"])

        write_tables(checked(), path, fmt, _empty(tm).schema)
        out[tm.table] = {"rows": state["rows"], "path": str(path), "content_hash": hashing.to_hex(state["hash"])}
    return out


def _table(manifest: RunManifest, name: str) -> TableManifest:
    try:
        return manifest.table(name)
    except KeyError:
        known = ", ".join(t.table for t in manifest.tables)
        raise RestoreError(f"table {name!r} is not in snapshot {manifest.source}/{manifest.run_key} ({known})") from None


def _empty(tm: TableManifest) -> pa.Table:
    from custody.extract import arrow_type_from_string

    return pa.schema([pa.field(c.name, arrow_type_from_string(c.arrow_type), nullable=c.nullable) for c in tm.columns]).empty_table()


def _check_totals(tm: TableManifest, rows: int, digest: int) -> None:
    if rows != tm.extracted_rows or hashing.to_hex(digest) != tm.content_hash:
        raise RestoreError(
            f"table {tm.table}: restored {rows} rows / hash {hashing.to_hex(digest)[:12]}…, "
            f"manifest says {tm.extracted_rows} rows / {tm.content_hash[:12]}…"
        )
