"""Reading a snapshot back: every chunk checked (SHA-256, authenticated decryption, row hash), rows
filtered by customer keys, table totals checked against the manifest."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from custody import hashing
from custody.crypto.envelope import IntegrityError, decrypt_stream
from custody.crypto.keyring import Keyring
from custody.fsio import atomic_writer
from custody.documents import ObjectEntry, RunManifest, TableManifest
from custody.staging import open_table
from custody.store.backends import ObjectStore
from custody.store.snapshots import load_snapshot, object_key

log = logging.getLogger(__name__)

KeyValues = Sequence[Any]
"""Primary-key values of one table: scalars for a one-column key, tuples for a composite key.
Strings are cast to the key column's Arrow type (``"42"`` -> int64 42)."""


class RestoreError(Exception):
    """A restore cannot complete: unknown table, bad keys, target exists, or restored rows disagree
    with the manifest (the message gives counts and hash prefixes, never values)."""


def iter_table(
    store: ObjectStore, table: TableManifest, keyring: Keyring, on_chunk: Callable[[int], None] | None = None
) -> Iterator[pa.Table]:
    """Yield the decrypted chunks of one table, each checked by SHA-256, authentication and row hash.

    ``on_chunk(rows)`` is called after each chunk with its row count. Raises ``IntegrityError``,
    ``StoreError``, keyring errors.
    """
    for entry in table.chunks:
        blob = store.get_bytes(object_key(entry.sha256))
        if hashlib.sha256(blob).hexdigest() != entry.sha256:
            raise IntegrityError(f"object {entry.object_id}: SHA-256 differs from the manifest")
        chunk = open_table(blob, entry, keyring)
        del blob
        if on_chunk:
            on_chunk(chunk.num_rows)
        yield chunk


def manifest_schema(tm: TableManifest) -> pa.Schema:
    """Arrow schema of a table as recorded in its manifest (column order, types, nullability)."""
    return tm.schema()


def _empty(tm: TableManifest) -> pa.Table:
    return manifest_schema(tm).empty_table()


class KeyFilter:
    """Keeps the rows of one table whose primary key is among ``values``; counts keys found.

    Raises ``RestoreError`` for a table without a primary key, a composite key given as scalars,
    or values that do not cast to the key column types.
    """

    def __init__(self, tm: TableManifest, values: KeyValues) -> None:
        schema = manifest_schema(tm)
        self.pk = list(tm.primary_key)
        if not self.pk:
            raise RestoreError(f"table {tm.table} has no primary key to filter on")
        rows = [v if isinstance(v, (tuple, list)) else (v,) for v in values]
        if any(len(r) != len(self.pk) for r in rows):
            raise RestoreError(
                f"table {tm.table}: key values must have {len(self.pk)} part(s) ({', '.join(self.pk)})"
            )
        cols = {}
        for i, name in enumerate(self.pk):
            target = schema.field(name).type
            vals = [r[i] for r in rows]
            try:
                try:
                    cols[name] = pa.array(vals, type=target)
                except (pa.ArrowInvalid, pa.ArrowTypeError):  # text from the CLI: Arrow's own cast
                    cols[name] = pa.array([None if v is None else str(v) for v in vals], pa.string()).cast(
                        target
                    )
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
                raise RestoreError(f"table {tm.table}: key values do not cast to {name} ({target})") from None
        self.keys = pa.table(cols).group_by(self.pk).aggregate([])  # distinct
        self.requested = self.keys.num_rows
        self._found: set[tuple] = set()

    def __call__(self, chunk: pa.Table) -> pa.Table:
        if len(self.pk) == 1:
            name = self.pk[0]
            out = chunk.filter(pc.is_in(chunk[name], value_set=self.keys[name].combine_chunks()))
        else:
            out = chunk.join(self.keys, keys=self.pk, join_type="left semi")
        if out.num_rows:
            self._found.update(zip(*(out[c].to_pylist() for c in self.pk)))
        return out

    @property
    def found(self) -> int:
        """Distinct requested keys seen so far."""
        return len(self._found)


LEDGER = "ledger"
"""Default of every restore's ``ledger`` argument: apply the deletion ledger of the catalog that
holds the keyring's key store (``custody.dsr.ledger.ledger_filter``)."""


def erasure_for(store: ObjectStore, doc: Any, keyring: Keyring, ledger: Any = LEDGER) -> Any:
    """The prepared ``custody.dsr.ledger.ErasureFilter`` for snapshot ``doc``, or None (empty ledger).

    ``ledger``: ``LEDGER`` (the key store's catalog), an ``ErasureFilter`` or None (no ledger:
    only for keyrings without a catalog). The pre-pass reads the tables that hold identifier
    columns, and those that hold keys of matched rows, through ``iter_table`` (checked chunks).
    Raises ``CatalogNotMigrated`` when the ledger cannot be read.
    """
    from custody.dsr.ledger import ledger_filter

    erasure = ledger_filter(keyring, doc.source) if ledger == LEDGER else ledger
    if erasure is None:
        return None
    manifest = doc.manifest
    erasure.prepare([(tm.table, tm.schema(), list(tm.primary_key)) for tm in manifest.tables],
                    doc.documents.classification, lambda name: iter_table(store, manifest.table(name), keyring))
    return erasure


class _Scan:
    """Decrypted, checked chunks of one table, optionally filtered by keys and by the deletion
    ledger (``erasure``); totals checked at the end, against what was read, before any filter."""

    def __init__(self, store, tm: TableManifest, keyring, on_chunk, key_filter: KeyFilter | None,
                 erasure: Any = None) -> None:
        self.store, self.tm, self.keyring, self.on_chunk, self.key_filter = (
            store,
            tm,
            keyring,
            on_chunk,
            key_filter,
        )
        self.erasure = erasure
        self.erased = 0
        self.scanned = 0
        self.digest = 0
        self.rows = 0
        self.out_digest = 0

    def __iter__(self) -> Iterator[pa.Table]:
        for chunk in iter_table(self.store, self.tm, self.keyring, self.on_chunk):
            self.scanned += chunk.num_rows
            h = hashing.table_hash(chunk)
            self.digest = hashing.combine(self.digest, h)
            if self.key_filter is not None:
                chunk = self.key_filter(chunk)
                h = hashing.table_hash(chunk)
            if self.erasure is not None:
                chunk, dropped = self.erasure.apply(self.tm.table, chunk)
                if dropped:
                    self.erased += dropped
                    h = hashing.table_hash(chunk)
            self.rows += chunk.num_rows
            self.out_digest = hashing.combine(self.out_digest, h)
            yield chunk
        # Raised inside the writer / transaction: nothing partial remains.
        _check_totals(self.tm, self.scanned, self.digest)

    def result(self, **extra: Any) -> dict[str, Any]:
        out = {
            "rows": self.rows,
            "scanned_rows": self.scanned,
            "content_hash": hashing.to_hex(self.out_digest),
            "verified": True,
            "erased_rows": self.erased,
            **extra,
        }
        if self.key_filter is not None:
            out["keys_requested"] = self.key_filter.requested
            out["keys_found"] = self.key_filter.found
        return out


def _wanted(
    manifest: RunManifest, tables: list[str] | None, keys: dict[str, KeyValues] | None
) -> list[TableManifest]:
    names = list(tables or [])
    if keys:
        outside = sorted(set(names) - set(keys)) if names else []
        if outside:
            # Restoring those tables whole would put far more PI in clear than a key request asks.
            raise RestoreError(f"--table {', '.join(outside)} has no --key; with --key, restore only keyed tables")
        names = list(keys)
    return [_table(manifest, t) for t in names] if names else list(manifest.tables)


def _filters(manifest: RunManifest, keys: dict[str, KeyValues] | None) -> dict[str, KeyFilter]:
    return {t: KeyFilter(_table(manifest, t), v) for t, v in (keys or {}).items()}


def restore_table(
    store: ObjectStore, snapshot_key: str, table: str, keyring: Keyring, *, keys: KeyValues | None = None,
    ledger: Any = LEDGER,
) -> pa.Table:
    """Restore one table of a snapshot into memory (optionally only the rows of ``keys``).

    The whole table is authenticated and checked against the manifest totals. Rows of subjects
    in the deletion ledger are dropped (``ledger``: see ``erasure_for``).
    Raises ``RestoreError``, ``IntegrityError``, ``SnapshotError``, keyring errors.
    """
    doc = load_snapshot(store, snapshot_key, keyring)
    manifest = doc.manifest
    tm = _table(manifest, table)
    scan = _Scan(store, tm, keyring, None, KeyFilter(tm, keys) if keys is not None else None,
                 erasure_for(store, doc, keyring, ledger))
    chunks = list(scan)
    return pa.concat_tables(chunks) if chunks else _empty(tm)

def restore_object(store: ObjectStore, entry: ObjectEntry, keyring: Keyring, dst: Path) -> int:
    """Decrypt one object of a snapshot straight to the file ``dst`` (streaming, memory O(segment)).

    The ciphertext is hashed while it is decrypted; ``dst`` appears (atomically) only if the
    SHA-256 matches ``entry.sha256`` and every segment authenticates. Returns plaintext bytes.
    The object's bytes cannot be filtered row by row, so while the deletion ledger of the
    keyring's catalog names anyone for the object's source, this refuses (``RestoreError``):
    restore the table with ``restore_snapshot`` / ``restore_to_sql``, which leave them out.
    Raises ``IntegrityError``, ``StoreError``, keyring errors.
    """
    from custody.dsr.ledger import ledger_filter
    from custody.store.snapshots import _HashingReader

    if ledger_filter(keyring, entry.source) is not None:
        raise RestoreError(f"object {entry.object_id}: the deletion ledger names data subjects of source "
                           f"{entry.source}; a whole object would release their rows: restore its table instead")

    with (
        store.open_read(object_key(entry.sha256)) as fh,
        atomic_writer(Path(dst)) as out,
        _HashingReader(fh) as reader,
    ):
        decrypt_stream(reader, out, keyring=keyring, object_id=entry.object_id, binding=entry.binding())
        while reader.read(1 << 20):
            pass
        if reader.hexdigest() != entry.sha256:
            raise IntegrityError(f"object {entry.object_id}: SHA-256 differs from the manifest")
        return out.tell()


def _table(manifest: RunManifest, name: str) -> TableManifest:
    try:
        return manifest.table(name)
    except KeyError:
        known = ", ".join(t.table for t in manifest.tables)
        raise RestoreError(
            f"table {name!r} is not in snapshot {manifest.source}/{manifest.run_key} ({known})"
        ) from None


def _check_totals(tm: TableManifest, rows: int, digest: int) -> None:
    if rows != tm.extracted_rows or hashing.to_hex(digest) != tm.content_hash:
        raise RestoreError(
            f"table {tm.table}: restored {rows} rows / hash {hashing.to_hex(digest)[:12]}…, "
            f"manifest says {tm.extracted_rows} rows / {tm.content_hash[:12]}…"
        )


def parse_keys(specs: Iterable[str]) -> dict[str, list[Any]]:
    """Parse CLI key specs ``table=value`` or ``table=v1,v2`` (composite key parts, in key order).

    ``--key contacts=42 --key contacts=43`` -> ``{"contacts": ["42", "43"]}``; composite parts
    become tuples. Values stay strings and are cast by ``KeyFilter``. Raises ``RestoreError``.
    """
    out: dict[str, list[Any]] = {}
    for spec in specs:
        table, sep, value = spec.partition("=")
        if not sep or not table or value == "":
            raise RestoreError("a key is given as <table>=<value>[,<value>...] for composite keys")
        parts = value.split(",")
        out.setdefault(table, []).append(parts[0] if len(parts) == 1 else tuple(parts))
    return out
