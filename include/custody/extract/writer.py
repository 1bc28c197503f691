"""Staging one part: ``PartWriter`` cuts rows into chunks, hashes them, and writes them.

Every chunk of at most ``chunk_rows`` rows is hashed (its content hash: the sum of its rows'
SHA-256, ``custody.hashing``), encrypted and written atomically (``custody.staging``) under the
keys of ``custody.documents.layout``; for tables that stage row keys (``TableConfig.row_keys``,
by default the incremental ones with a primary key) one row key and row hash per row go into a ``rowkeys`` side
object (``custody.rowkeys``). Reruns of the same run write the same keys (atomic overwrite).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from custody import hashing, rowkeys
from custody.config import SourceConfig
from custody.crypto.scope_names import period_of, scope_name
from custody.documents import ObjectEntry, chunk_number, object_id
from custody.extract.process import prepare_process
from custody.sources.quarantine import POSITION, ROW_KEY, count_reasons
from custody.staging import StagingStore

STAGE_THREADS = 3  # chunks hashed, encrypted and written in parallel (Arrow, Parquet and AES-GCM release the GIL)
_OBJECT_KINDS = {"chunk": "chunk", "rowkeys": "rowkeys", "quarantine": "quarantine-extract"}


@dataclass
class PartWriter:
    """Cuts a stream of Arrow tables into chunks of exactly ``chunk_rows`` rows and stages them.

    Good rows go to ``chunk`` objects (plus, when ``stage_row_keys``, their ``rowkeys``
    companions), quarantined rows to ``quarantine`` objects. ``key_columns``: columns of the row
    key (quarantined rows always carry theirs); ``None`` keys rows by ``(key_prefix,
    _custody_position)`` (file drops without a primary key; the position column is dropped before
    staging).
    """

    staging: StagingStore
    source: SourceConfig
    run_key: str
    table: str
    part: int
    key_columns: list[str] | None
    key_prefix: str = ""
    stage_row_keys: bool = True
    period: str = field(default_factory=lambda: period_of(datetime.now(UTC)))
    chunks: list[ObjectEntry] = field(default_factory=list)
    row_keys: list[ObjectEntry] = field(default_factory=list)
    quarantine: list[ObjectEntry] = field(default_factory=list)
    reasons: dict[str, int] = field(default_factory=dict)
    extracted: int = 0
    quarantined: int = 0
    digest: int = 0
    _pending: list[pa.Table] = field(default_factory=list)
    _pending_rows: int = 0
    _qpending: list[pa.Table] = field(default_factory=list)
    _qrows: int = 0
    _submitted: int = 0
    _futures: list[Any] = field(default_factory=list)
    _pool: Any = None

    def __post_init__(self) -> None:
        prepare_process()  # every extraction (SQL range or file) stages through a PartWriter

    @property
    def _scope(self) -> str:
        # Rolling retention: one key per source x retention class x month staged (docs/format.md 1.10).
        return scope_name(self.source.name, self.source.retention_class, self.period)

    def _entry(self, kind: str, n: int, rows: int, content_hash: int) -> ObjectEntry:
        oid = object_id(_OBJECT_KINDS[kind], source=self.source.name, run_key=self.run_key, table=self.table,
                        part=self.part, n=n)
        return ObjectEntry(object_id=oid, key=f"{oid}.cdy", kind=kind, source=self.source.name,
                           run_key=self.run_key, table=self.table, chunk=chunk_number(self.part, n),
                           rows=rows, content_hash=hashing.to_hex(content_hash), scope=self._scope)

    def add(self, table: pa.Table) -> None:
        """Queue good rows; full chunks are staged (hashed, encrypted, written) in the background."""
        if table.num_rows == 0:
            return
        self._pending.append(table)
        self._pending_rows += table.num_rows
        while self._pending_rows >= self.source.chunk_rows:
            self._flush(self.source.chunk_rows)

    def add_quarantine(self, table: pa.Table | None, reasons: list[list[str]]) -> None:
        """Queue quarantined rows (``quarantine_schema``) with their reason labels."""
        if table is None or table.num_rows == 0:
            return
        count_reasons(reasons, self.reasons)
        self._qpending.append(table)
        self._qrows += table.num_rows
        if self._qrows >= self.source.chunk_rows:
            self._flush_quarantine()

    def close(self) -> None:
        """Stage what is left (a last short chunk) and wait for every background write."""
        while self._pending_rows:
            self._flush(min(self._pending_rows, self.source.chunk_rows))
        if self._qrows:
            self._flush_quarantine()
        self._drain(0)
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def discard(self) -> None:
        """Delete everything staged so far (a failed fast path about to be retried)."""
        try:
            self._drain(0)
        except Exception:  # the failure being handled is the caller's; staged files go anyway
            pass
        for entry in (*self.chunks, *self.row_keys, *self.quarantine):
            self.staging.delete(entry.key)
        self.chunks, self.row_keys, self.quarantine = [], [], []
        self.reasons, self.extracted, self.quarantined, self.digest = {}, 0, 0, 0
        self._pending, self._pending_rows, self._qpending, self._qrows = [], 0, [], 0
        self._submitted = 0

    def _keys_for(self, table: pa.Table) -> tuple[pa.Table, list[str]]:
        if self.key_columns is not None:
            return table, self.key_columns
        keyed = table.append_column("_custody_file", pa.array([self.key_prefix] * table.num_rows, pa.string()))
        return keyed, ["_custody_file", POSITION]

    def _flush(self, n: int) -> None:
        merged = pa.concat_tables(self._pending) if len(self._pending) > 1 else self._pending[0]
        chunk, rest = merged.slice(0, n), merged.slice(n)
        self._pending = [rest] if rest.num_rows else []
        self._pending_rows = rest.num_rows
        index = self._submitted
        self._submitted += 1
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(max_workers=STAGE_THREADS, thread_name_prefix="custody-stage")
        # Chunks are staged in the background while the next one is read: Arrow compute, Parquet
        # and AES-GCM release the GIL. At most STAGE_THREADS chunks are in flight, so memory stays
        # bounded.
        self._drain(STAGE_THREADS)
        self._futures.append(self._pool.submit(self._stage, chunk, index))

    def _drain(self, keep: int) -> None:
        while len(self._futures) > keep:
            chunk_entry, rk_entry, rows, content = self._futures.pop(0).result()
            self.chunks.append(chunk_entry)
            if rk_entry is not None:
                self.row_keys.append(rk_entry)
            self.extracted += rows
            self.digest = hashing.combine(self.digest, content)

    def _stage(self, chunk: pa.Table, index: int) -> tuple[ObjectEntry, ObjectEntry | None, int, int]:
        chunk = chunk.combine_chunks()
        keyed = self._keys_for(chunk) if self.stage_row_keys else None  # before POSITION goes
        if POSITION in chunk.column_names:
            chunk = chunk.drop_columns([POSITION])
        pool = rowkeys.hash_pool() if chunk.num_rows >= 10_000 else None
        digests = rowkeys.row_digests(chunk, pool)
        content = rowkeys.sum_digests(digests)
        keys = None if keyed is None else rowkeys.key_digests(
            *keyed, source=self.source.name, table_name=self.table, pool=pool)
        chunk_entry = self.staging.put_table(self._entry("chunk", index, chunk.num_rows, content), chunk)
        if keys is None:
            return chunk_entry, None, chunk.num_rows, content
        rk = rowkeys.pack(keys, digests)
        rk_entry = self.staging.put_table(
            self._entry("rowkeys", index, rk.num_rows, hashing.table_hash(rk)), rk)
        return chunk_entry, rk_entry, chunk.num_rows, content

    def _flush_quarantine(self) -> None:
        q = pa.concat_tables(self._qpending).combine_chunks() if len(self._qpending) > 1 else self._qpending[0]
        self._qpending, self._qrows = [], 0
        keyed, key_cols = self._keys_for(q)
        if all(c in keyed.column_names for c in key_cols):
            keys = rowkeys.hex_digests(rowkeys.key_digests(keyed, key_cols, source=self.source.name,
                                                           table_name=self.table))
            q = q.set_column(q.schema.get_field_index(ROW_KEY), ROW_KEY, keys)
        index = len(self.quarantine)
        entry = self._entry("quarantine", index, q.num_rows, hashing.table_hash(q))
        self.quarantine.append(self.staging.put_table(entry, q))
        self.quarantined += q.num_rows

    def result(self) -> dict[str, Any]:
        """The part's figures and object entries (``PartDocument`` fields)."""
        return {
            "extracted_rows": self.extracted, "quarantined_rows": self.quarantined,
            "content_hash": hashing.to_hex(self.digest), "quarantine_reasons": dict(sorted(self.reasons.items())),
            "chunks": list(self.chunks), "row_keys": list(self.row_keys), "quarantine": list(self.quarantine),
        }
