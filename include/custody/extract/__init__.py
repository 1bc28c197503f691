"""Extraction at scale: plan a run, extract key ranges in parallel, commit the manifest.

A run of one source is three steps, each a plain function (the DAG maps the middle one)::

    plan = plan_extract(...)              # per table: schema, interval, key ranges / files
    part = extract_part(..., table, i)    # one key range (or one file) -> encrypted chunks
    manifest = commit_extract(...)        # parts -> sealed manifest, then watermarks advance

Per table the run is a **full snapshot** or **incremental** (``low < watermark column <= high``,
``custody.extract.watermarks``). Tables above ``split_rows`` rows with a single-column integer primary
key are cut into key ranges ``(lo, hi]`` of about ``split_rows`` rows (exact boundaries from a
keyset walk over the key index); other tables are one range. Range bounds are surrogate integer
keys, the only values allowed in XCom (docs/contracts.md).

Each range streams from the source inside one REPEATABLE READ transaction that also takes the
range's ``COUNT(*)``, so ``source_rows == staged + quarantined`` compares one snapshot of the
range. Memory is bounded by about two chunks (``chunk_rows``) whatever the table size:

- PostgreSQL (psycopg2): ``COPY (SELECT ...) TO STDOUT (FORMAT csv)`` streamed through a pipe
  into Arrow's CSV reader with an explicit schema (decimals parsed exactly, NULL vs empty string
  kept, timestamps read in a UTC session). Any value Arrow cannot hold exactly makes the range
  fall back to the cursor path, which quarantines that value instead.
- Others: a server-side cursor (``stream_results``: psycopg2 named cursor, PyMySQL ``SSCursor``),
  rows converted by ``custody.sources.sqltypes`` (zero dates, invalid dates quarantined).

Every chunk of at most ``chunk_rows`` rows is hashed (``custody.rowkeys``: the content hash plus
one row key and row hash per row, in a ``rowkeys`` side object), encrypted and written atomically
(``custody.staging``). Reruns of the same run write the same keys (atomic overwrite).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy import types as st

from custody import hashing, rowkeys
from custody.config import SourceConfig, TableConfig
from custody.documents import (
    ColumnSchema,
    ExtractionInfo,
    ExtractPlan,
    ObjectEntry,
    PartDocument,
    PartSpec,
    RunManifest,
    TableManifest,
    TablePlan,
    WatermarkBounds,
    chunk_number,
    document_key,
    extraction_prefixes,
    object_id,
)
from custody.sources.quarantine import (
    POSITION,
    ROW_KEY,
    ExtractError,
    SchemaError,
    check_column_names,
    count_reasons,
)
from custody.sources.sqltypes import (
    UTC_TS,
    ColumnPlan,
    RowConverter,
    arrow_type,
    pg_special_value_casters,
    plan_columns,
    select_list,
)
from custody.staging import StagingStore

log = logging.getLogger(__name__)

__all__ = [
    "ExtractError",
    "SchemaError",
    "arrow_type",
    "commit_extract",
    "extract_part",
    "extract_table",
    "plan_extract",
    "reflect_table",
]

COPY_BLOCK_BYTES = 1 << 20  # 4 MiB parsed no faster and cost ~150 MiB more peak RSS (Arrow reads blocks ahead)
STAGE_THREADS = 3  # chunks hashed, encrypted and written in parallel (Arrow, Parquet and AES-GCM release the GIL)
ARROW_DECAY_MS = 5_000  # how long freed Arrow memory stays mapped for reuse (see prepare_process)


_PROCESS_READY = False


def prepare_process() -> str:
    """Tune this (task) process for extraction; idempotent. Returns the Arrow pool's backend name.

    1. Arrow's memory pool becomes jemalloc keeping freed pages for ``ARROW_DECAY_MS``.
       Extraction frees and reallocates the same few chunk-sized buffers many times a second;
       with Arrow's default pool the freed pages go back to the OS at once and come back
       zero-filled (as transparent huge pages): the kernel's page clearing was 13-17 % of all CPU
       time in bench/extract.py, about 2 % with the decay, and extraction used about 10 % less
       CPU. jemalloc reads the decay when it creates its arenas, so this runs before Arrow first
       allocates from it. Where jemalloc is not built in, the default pool stays.
    2. ``gc.freeze()``: objects alive now (imported modules, configuration) are left out of later
       collections; a full collection over them cost about 60 ms per million rows.
    """
    global _PROCESS_READY
    if not _PROCESS_READY:
        import gc

        _PROCESS_READY = True
        gc.freeze()
        try:
            pa.jemalloc_set_decay_ms(ARROW_DECAY_MS)
            pa.set_memory_pool(pa.jemalloc_memory_pool())
        except (NotImplementedError, pa.ArrowNotImplementedError, AttributeError):
            log.info("jemalloc is not built into this pyarrow; keeping the %s pool",
                     pa.default_memory_pool().backend_name)
    return pa.default_memory_pool().backend_name


# -- reflection -----------------------------------------------------------------------------------
def reflect_table(engine: sa.Engine | sa.Connection, table_cfg: TableConfig) -> sa.Table:
    """Reflect the source table named (case-insensitively) by ``table_cfg.name``.

    Raises ``ExtractError`` when no such table exists, or when two tables match case-insensitively.
    """
    names = sa.inspect(engine).get_table_names()
    matches = [n for n in names if n.lower() == table_cfg.name.lower()]
    if not matches:
        raise ExtractError(f"table {table_cfg.name!r} not found in the source ({len(names)} tables there)")
    if len(matches) > 1:
        raise SchemaError(f"table {table_cfg.name!r} matches {len(matches)} source tables that differ only in case")
    return sa.Table(matches[0], sa.MetaData(), autoload_with=engine)


def _primary_key(table: sa.Table, table_cfg: TableConfig) -> list[str]:
    if table_cfg.primary_key:
        by_lower = {c.name.lower(): c.name for c in table.columns}
        try:
            return [by_lower[k.lower()] for k in table_cfg.primary_key]
        except KeyError as exc:
            raise ExtractError(f"{table_cfg.name}: primary key column {exc.args[0]!r} not in table") from None
    pk = [c.name for c in table.primary_key.columns]
    if not pk:
        raise ExtractError(f"{table_cfg.name}: no primary key in the source; set primary_key in sources.yaml")
    return pk


def _column(table: sa.Table, name: str, what: str) -> sa.Column:
    by_lower = {c.name.lower(): c for c in table.columns}
    try:
        return by_lower[name.lower()]
    except KeyError:
        raise ExtractError(f"{table.name}: {what} column {name!r} not in table") from None


# -- sessions -------------------------------------------------------------------------------------
def _isolated(conn: sa.Connection) -> sa.Connection:
    if conn.dialect.name in ("postgresql", "mysql", "mariadb"):
        return conn.execution_options(isolation_level="REPEATABLE READ")
    return conn


def _prepare_session(conn: sa.Connection) -> tuple[str | None, Any]:
    """Pin the session settings that change how values are rendered; return (source zone, undo).

    PostgreSQL (transaction-local): UTC time zone, ISO dates, hex bytea, shortest exact floats,
    UTF-8. MySQL/MariaDB (session, restored by ``undo``): UTC time zone for TIMESTAMP columns.
    """
    name = conn.dialect.name
    if name == "postgresql":
        zone = conn.exec_driver_sql("SHOW TimeZone").scalar()
        for stmt in _PG_SETTINGS:
            conn.exec_driver_sql(stmt)
        return zone, None
    if name in ("mysql", "mariadb"):
        zone = conn.exec_driver_sql("SELECT @@session.time_zone").scalar()
        if zone == "SYSTEM":
            zone = conn.exec_driver_sql("SELECT @@system_time_zone").scalar()
        previous = conn.exec_driver_sql("SELECT @@session.time_zone").scalar()
        conn.exec_driver_sql("SET time_zone = '+00:00'")
        return zone, lambda: conn.exec_driver_sql("SET time_zone = %s", (previous,))
    return None, None


# -- planning -------------------------------------------------------------------------------------
def _interval_end(value: dt.datetime | str | None) -> dt.datetime:
    if value is None:
        return dt.datetime.now(dt.UTC)
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is None:
        raise ValueError("interval_end must be zone-aware")
    return value.astimezone(dt.UTC)


def _watermark_kind(col: sa.Column) -> str:
    if isinstance(col.type, st.DateTime):
        return "timestamp"
    if isinstance(col.type, st.Integer):
        return "integer"
    raise ExtractError(f"watermark column {col.name!r} must be a timestamp or an integer (it is {col.type})")


def _watermark_param(value: Any, plan: ColumnPlan | None, source_tz: str, dialect: str) -> Any:
    """A watermark bound as a query parameter in the column's own terms (naive local or aware)."""
    if not isinstance(value, dt.datetime):
        return value
    if plan is None or not plan.naive:
        return value if dialect == "postgresql" else value.astimezone(dt.UTC).replace(tzinfo=None)
    from zoneinfo import ZoneInfo

    return value.astimezone(ZoneInfo(source_tz)).replace(tzinfo=None)


def _conditions(table: sa.Table, tplan: TablePlan, part: PartSpec | None,
                plans: list[ColumnPlan], source_tz: str, dialect: str) -> list[sa.ColumnElement]:
    from custody.extract.watermarks import decode

    conds: list[sa.ColumnElement] = []
    wm = tplan.watermark
    if wm:
        col = table.c[wm.column]
        plan = next((p for p in plans if p.name == wm.column), None)
        low, high = decode(wm.kind, wm.low), decode(wm.kind, wm.high)
        if low is not None:
            conds.append(col > _watermark_param(low, plan, source_tz, dialect))
        if high is not None:
            conds.append(col <= _watermark_param(high, plan, source_tz, dialect))
        if wm.high is None and wm.kind == "integer":
            conds.append(sa.false())  # empty table at plan time: nothing to extract in this run
    if part is not None:
        key = table.c[tplan.primary_key[0]]
        if part.lo is not None:
            conds.append(key > part.lo)
        if part.hi is not None:
            conds.append(key <= part.hi)
    return conds


def _plan_ranges(conn: sa.Connection, table: sa.Table, pk: list[str], conds: list, split_rows: int,
                 rows: int) -> list[PartSpec]:
    """Key ranges of about ``split_rows`` rows: exact boundaries by walking the key index."""
    if rows <= split_rows or len(pk) != 1 or not isinstance(table.c[pk[0]].type, st.Integer):
        return [PartSpec(part=0)]
    key = table.c[pk[0]]
    bounds: list[int] = []
    last = None
    while True:
        stmt = sa.select(key).where(*conds).order_by(key).offset(split_rows - 1).limit(1)
        if last is not None:
            stmt = stmt.where(key > last)
        b = conn.execute(stmt).scalar()
        if b is None:
            break
        bounds.append(int(b))
        last = b
    edges = [None, *bounds, None]
    return [PartSpec(part=i, lo=lo, hi=hi) for i, (lo, hi) in enumerate(zip(edges[:-1], edges[1:]))]


def _schema_signature(plans: list[ColumnPlan]) -> list[str]:
    return [f"{p.name}:{p.arrow}" for p in plans]


def _plan_sql_table(engine: sa.Engine, source: SourceConfig, tcfg: TableConfig, *, run_key: str, run_id: str,
                    store: Any, interval_end: dt.datetime) -> TablePlan:
    table = reflect_table(engine, tcfg)
    check_column_names([c.name for c in table.columns], f"{source.name}.{tcfg.name}")
    pk = _primary_key(table, tcfg)
    dialect = engine.dialect.name
    with _isolated(engine.connect()) as conn, conn.begin():
        zone, undo = _prepare_session(conn)
        try:
            plans = plan_columns(table, dialect, source.timezone, zone)
            tplan = TablePlan(table=tcfg.name, source_table=table.name, kind="sql", primary_key=pk,
                              columns=_schema_signature(plans), mode=tcfg.mode, parts=[])
            if tcfg.mode == "incremental":
                if store is None:
                    raise ExtractError(f"{tcfg.name}: incremental extraction needs the catalog (watermark store)")
                from custody.extract.watermarks import encode

                col = _column(table, tcfg.watermark_column or "", "watermark")
                kind = _watermark_kind(col)
                if kind == "timestamp":
                    high = encode(interval_end - dt.timedelta(seconds=tcfg.watermark_lag_seconds))
                else:
                    top = conn.execute(sa.select(sa.func.max(col))).scalar()
                    high = encode(int(top)) if top is not None else None
                interval = store.plan(source.name, tcfg.name, run_key, run_id, kind=kind, column=col.name,
                                      high=high, columns=tplan.columns)
                tplan.watermark = WatermarkBounds(column=col.name, kind=kind, low=interval.low, high=interval.high)
            conds = _conditions(table, tplan, None, plans, source.timezone, dialect)
            rows = conn.execute(sa.select(sa.func.count()).select_from(table).where(*conds)).scalar_one()
            tplan.planned_rows = rows
            tplan.parts = _plan_ranges(conn, table, pk, conds, tcfg.split_rows or source.split_rows, rows)
        finally:
            if undo:
                undo()
    return tplan


def plan_extract(
    engine: sa.Engine | None,
    *,
    source: SourceConfig,
    run_key: str,
    run_id: str,
    staging: StagingStore,
    store: Any = None,
    interval_end: dt.datetime | str | None = None,
    landing: Any = None,
) -> ExtractPlan:
    """Plan one run of ``source``: per table its schema, interval and parts; write ``plan.json``.

    ``engine``: SQLAlchemy engine (SQL sources); ``landing``: a ``custody.sources.files.Landing``
    (file drops); ``store``: a ``custody.extract.watermarks.WatermarkStore`` (needed by incremental
    tables); ``interval_end``: upper bound of timestamp watermarks (the Airflow data interval end,
    default now, UTC). Returns the plan as written (``ExtractPlan``; its parts are surrogate
    integer key ranges or file names, never values). Raises ``ExtractError``.
    """
    end = _interval_end(interval_end)
    tables = []
    for tcfg in source.tables:
        if source.kind == "files":
            from custody.sources.files import plan_file_table

            tables.append(plan_file_table(landing, source, tcfg, run_key=run_key, run_id=run_id, store=store))
        else:
            tables.append(_plan_sql_table(engine, source, tcfg, run_key=run_key, run_id=run_id, store=store,
                                          interval_end=end))
    plan = ExtractPlan(source=source.name, run_key=run_key, run_id=run_id,
                       dialect=engine.dialect.name if engine is not None else "files",
                       interval_end=end.isoformat(timespec="microseconds"), plan_id="", tables=tables)
    body = plan.model_dump(mode="json", exclude={"seal", "plan_id"})
    plan.plan_id = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]
    staging.put(plan)
    log.info("planned %s: %d tables, %d parts", source.name, len(tables), sum(len(t.parts) for t in tables))
    return plan


# -- writing chunks -------------------------------------------------------------------------------
_OBJECT_KINDS = {"chunk": "chunk", "rowkeys": "rowkeys", "quarantine": "quarantine-extract"}


@dataclass
class PartWriter:
    """Cuts a stream of Arrow tables into chunks of exactly ``chunk_rows`` rows and stages them.

    Good rows go to ``chunk`` objects (plus their ``rowkeys`` companions), quarantined rows to
    ``quarantine`` objects. ``key_columns``: columns of the row key; ``None`` keys rows by
    ``(key_prefix, _custody_position)`` (file drops without a primary key; the position column is
    dropped before staging).
    """

    staging: StagingStore
    source: SourceConfig
    run_key: str
    table: str
    part: int
    key_columns: list[str] | None
    key_prefix: str = ""
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
        return f"{self.source.name}/{self.source.retention_class}"

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
            self.staging.path(entry.key).unlink(missing_ok=True)
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
            self.row_keys.append(rk_entry)
            self.extracted += rows
            self.digest = hashing.combine(self.digest, content)

    def _stage(self, chunk: pa.Table, index: int) -> tuple[ObjectEntry, ObjectEntry, int, int]:
        chunk = chunk.combine_chunks()
        keyed, key_cols = self._keys_for(chunk)
        if POSITION in chunk.column_names:
            chunk = chunk.drop_columns([POSITION])
        pool = rowkeys.hash_pool() if chunk.num_rows >= 10_000 else None
        digests = rowkeys.row_digests(chunk, pool)
        keys = rowkeys.key_digests(keyed, key_cols, source=self.source.name, table_name=self.table, pool=pool)
        content = rowkeys.sum_digests(digests)
        rk = rowkeys.pack(keys, digests)
        chunk_entry = self.staging.put_table(self._entry("chunk", index, chunk.num_rows, content), chunk)
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


# -- reading a SQL range --------------------------------------------------------------------------
class FastPathUnavailable(Exception):
    """The COPY fast path met a value Arrow's CSV reader cannot convert exactly; use the cursor."""


def _copy_types(plans: list[ColumnPlan]) -> dict[str, pa.DataType]:
    types = {}
    for p in plans:
        if p.temporal == "timestamp":
            types[p.name] = UTC_TS if not p.naive else pa.timestamp("us")
        elif pa.types.is_binary(p.arrow):
            types[p.name] = pa.string()  # bytea as \x<hex>, decoded below
        else:
            types[p.name] = p.arrow
    return types


def _copy_eligible(conn: sa.Connection, plans: list[ColumnPlan]) -> bool:
    if conn.dialect.name != "postgresql" or conn.dialect.driver != "psycopg2":
        return False
    if os.environ.get("CUSTODY_EXTRACT_PATH", "").lower() == "cursor":
        return False
    return all(p.temporal != "date" or not p.cast_text for p in plans)


class _CopyStream:
    """A bounded in-memory pipe of whole blocks between a reader thread and Arrow's CSV reader.

    The writer side (``fill``) reads the COPY child's stdout straight into ``block``-byte
    buffers and queues them (at most ``depth``, so memory stays bounded at ``block * depth``); the
    reader side (``read``) hands a queued buffer to Arrow as it is, without copying. A 1 MiB OS
    pipe alone would stall the database whenever a chunk is being hashed and encrypted; this
    buffer lets the server keep sending while the reader works. ``abandon`` unblocks the writer
    when the reader stops early.
    """

    def __init__(self, block: int = COPY_BLOCK_BYTES, depth: int = 16) -> None:
        import queue

        self._q: queue.Queue[bytearray | None] = queue.Queue(maxsize=depth)
        self._block = block
        self._rest: bytes | bytearray = b""
        self._eof = False
        self._abandoned = False
        self.closed = False

    # writer side
    def fill(self, fh: Any) -> None:
        """Read ``fh`` (a raw binary file) to its end in blocks, queueing each full block."""
        try:
            while not self._abandoned:
                buf = bytearray(self._block)
                view = memoryview(buf)
                got = 0
                while got < self._block:
                    k = fh.readinto(view[got:])
                    if not k:
                        break
                    got += k
                view.release()
                if got == 0:
                    break
                if got < self._block:
                    del buf[got:]
                self._q.put(buf)
                if got < self._block:
                    break
        except (BrokenPipeError, OSError, ValueError):
            pass
        finally:
            self._end()

    def _end(self) -> None:
        """Queue the end marker: a live stream waits for the reader to make room; an abandoned
        one drains its queue first, so there it never blocks."""
        import queue

        while True:
            try:
                self._q.put_nowait(None)
                return
            except queue.Full:
                if self._abandoned:
                    self._drain()
                else:
                    self._q.put(None)
                    return

    # reader side (pyarrow)
    def readable(self) -> bool:
        return True

    def _next(self) -> bytes | bytearray:
        if self._rest:
            out, self._rest = self._rest, b""
            return out
        if self._eof or self._abandoned:
            return b""
        block = self._q.get()
        if block is None:
            self._eof = True
            return b""
        return block

    def read(self, n: int = -1) -> bytes | bytearray:
        if n < 0:
            parts = []
            while part := self._next():
                parts.append(part)
            return b"".join(parts)
        block = self._next()
        if len(block) <= n:
            return block  # a whole block (Arrow asks for exactly one): no copy
        self._rest = block[n:]
        return block[:n]

    def close(self) -> None:
        self.closed = True

    def abandon(self) -> None:
        """Stop both sides: a writer blocked on a full queue and a reader blocked on an empty one
        (Arrow's read-ahead thread, which Python's exit would otherwise wait for) both wake up."""
        self._abandoned = True
        self._drain()
        self._end()

    def _drain(self) -> None:
        import queue

        while True:
            try:
                self._q.get_nowait()
            except queue.Empty:
                return


# Runs in a child process: psycopg2 calls file.write() once per row with the GIL held, so a COPY
# read by a thread of this process crawls whenever the main thread is busy hashing (GIL convoy).
# The child joins this transaction's snapshot, so COUNT(*) and COPY still see the same rows.
_COPY_CHILD = r"""
import json, os, sys
spec = json.loads(sys.stdin.readline())
try:
    import psycopg2
    conn = psycopg2.connect(**spec["dsn"])
    conn.set_session(isolation_level="REPEATABLE READ", readonly=True)
    cur = conn.cursor()
    cur.execute("SET TRANSACTION SNAPSHOT %s", (spec["snapshot"],))
    for stmt, params in spec["settings"]:
        cur.execute(stmt, params)
    cur.execute("SELECT to_regclass(%s)::oid", (spec["relation"],))
    if cur.fetchone()[0] != spec["oid"]:
        sys.stderr.write("RelationMismatch\n")
        sys.exit(4)
    with os.fdopen(1, "wb", buffering=1 << 20) as out:
        cur.copy_expert(spec["sql"], out)
    conn.rollback()
    conn.close()
except SystemExit:
    raise
except BaseException as exc:
    sys.stderr.write(type(exc).__name__ + "\n")
    sys.exit(3)
"""
_PG_SETTINGS = ("SET LOCAL TIME ZONE 'UTC'", "SET LOCAL DateStyle TO 'ISO, YMD'",
                "SET LOCAL IntervalStyle TO 'postgres'", "SET LOCAL bytea_output TO 'hex'",
                "SET LOCAL extra_float_digits TO 1", "SET LOCAL client_encoding TO 'UTF8'",
                # The extracting session idles in its transaction while the COPY child or the
                # consumer of a server-side cursor works; a server-wide idle timeout would cut it.
                "SET LOCAL idle_in_transaction_session_timeout TO 0")


def _copy_batches(conn: sa.Connection, stmt: sa.Select, plans: list[ColumnPlan],
                  table: sa.Table) -> Iterator[pa.Table]:
    """Stream ``stmt`` as CSV out of PostgreSQL into Arrow batches typed by ``plans``.

    A child process runs ``COPY (stmt) TO STDOUT (FORMAT csv)`` in this transaction's exported
    snapshot; a reader thread reads its output into 1 MiB blocks queued in a bounded buffer
    (``_CopyStream``, <= 16 MiB) that Arrow's streaming CSV reader parses. Memory: that buffer
    plus the reader's blocks.

    The child is a new session: it takes this session's ``search_path`` and role and checks that
    ``table`` names the same relation (oid) for it; otherwise it reads nothing and the range goes
    to the cursor path. Raises ``FastPathUnavailable`` when the child cannot start, sees another
    relation or a value does not convert (the caller retries the range on the cursor path), and
    ``ExtractError`` when the child's COPY fails (only the error class is reported).
    """
    import subprocess
    import sys

    import pyarrow.csv as pacsv

    raw = conn.connection.driver_connection
    compiled = stmt.compile(dialect=conn.dialect)
    cursor = raw.cursor()
    try:
        query = cursor.mogrify(str(compiled), compiled.params).decode("utf-8")
    finally:
        cursor.close()
    snapshot = conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar()
    # A UTF8 database holds only valid UTF-8 (the server checks on input) and the child asks for
    # UTF8, so Arrow's own check would re-validate every string for nothing. (In a SQL_ASCII
    # database the server itself refuses to convert a non-UTF-8 value, on both read paths.)
    relation = conn.dialect.identifier_preparer.format_table(table)
    encoding, search_path, current_user, oid, rls = conn.exec_driver_sql(
        "SELECT current_setting('server_encoding'), current_setting('search_path'), current_user, c.oid, "
        "c.relrowsecurity FROM (SELECT to_regclass(%(r)s) AS rel) r LEFT JOIN pg_class c ON c.oid = r.rel",
        {"r": relation}).one()
    server_utf8 = encoding == "UTF8"
    if rls:
        # Row-level security may depend on anything in this session (role, custom settings such
        # as app.tenant that no catalog lists): only this session can read the rows it sees.
        raise FastPathUnavailable("row-level security on the table")
    dsn_params = raw.get_dsn_parameters()
    settings: list[tuple[str, list[str] | None]] = [(s, None) for s in _PG_SETTINGS]
    settings.append(("SELECT set_config('search_path', %s, true)", [search_path]))
    if current_user != dsn_params.get("user"):
        # SET ROLE, SET SESSION AUTHORIZATION or a role option in this session: the child logs in
        # as the connection's user and must take the same identity.
        settings.append(("SELECT set_config('role', %s, true)", [current_user]))
    dsn = {k: v for k, v in dsn_params.items() if k in (
        "host", "port", "user", "dbname", "options", "application_name", "sslmode", "sslrootcert", "sslcert",
        "sslkey", "sslcrl", "gssencmode", "krbsrvname", "channel_binding", "target_session_attrs")}
    if conn.engine.url.password:
        dsn["password"] = conn.engine.url.password
    spec = {"dsn": dsn, "snapshot": snapshot, "settings": settings, "relation": relation, "oid": oid,
            "sql": f"COPY ({query}) TO STDOUT WITH (FORMAT csv)"}
    try:
        proc = subprocess.Popen([sys.executable, "-c", _COPY_CHILD], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
    except OSError:
        raise FastPathUnavailable("child process") from None
    proc.stdin.write(json.dumps(spec).encode() + b"\n")
    proc.stdin.close()
    try:
        import fcntl

        fcntl.fcntl(proc.stdout.fileno(), 1031, 1 << 20)  # F_SETPIPE_SZ: fewer, larger reads
    except (ImportError, OSError):
        pass
    stream = _CopyStream()
    thread = threading.Thread(target=stream.fill, args=(proc.stdout,), name="custody-copy", daemon=True)
    thread.start()
    names = [p.name for p in plans]
    schema = pa.schema([p.field() for p in plans])
    finished = False
    invalid: str | None = None
    try:
        reader = pacsv.open_csv(
            stream,
            read_options=pacsv.ReadOptions(column_names=names, block_size=COPY_BLOCK_BYTES, use_threads=True),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types=_copy_types(plans), check_utf8=not server_utf8, strings_can_be_null=True,
                quoted_strings_can_be_null=False,
                null_values=[""], true_values=["t"], false_values=["f"]),
        )
        for batch in reader:
            yield _post_copy(pa.Table.from_batches([batch]), plans, schema)
        finished = True
    except pa.ArrowInvalid as exc:
        invalid = type(exc).__name__
    finally:
        if not finished:
            stream.abandon()
            try:  # a child that refused (exit 4) ends at once; one still streaming is stopped
                proc.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                proc.kill()
        thread.join()
        proc.stdout.close()
        code = proc.wait()
        err = proc.stderr.read().decode("utf-8", "replace").strip().splitlines()
        proc.stderr.close()
    if code == 4:
        raise FastPathUnavailable("the COPY session resolves the table to another relation")
    if invalid:
        raise FastPathUnavailable(invalid)
    if code != 0:
        # Only the exception class name: a driver message could quote values.
        raise ExtractError(f"COPY child process failed ({err[-1][:80] if err else 'exit code ' + str(code)})")


def _post_copy(table: pa.Table, plans: list[ColumnPlan], schema: pa.Schema) -> pa.Table:
    from custody.sources.sqltypes import _to_utc

    arrays = []
    for p, col in zip(plans, table.columns):
        col = col.combine_chunks()
        if p.temporal == "timestamp" and p.naive:
            arr, bad = _to_utc(col, p, [], {})
            if bad:
                raise FastPathUnavailable("local time")
            col = arr
        elif pa.types.is_binary(p.arrow):
            col = pa.array([None if v is None else bytes.fromhex(v[2:]) for v in col.to_pylist()], pa.binary())
        arrays.append(col)
    try:
        return pa.Table.from_arrays(arrays, schema=schema)
    except (pa.ArrowInvalid, ValueError):
        raise FastPathUnavailable("schema") from None


def _cursor_batches(conn: sa.Connection, stmt: sa.Select, plans: list[ColumnPlan], chunk_rows: int,
                    writer: PartWriter) -> Iterator[pa.Table]:
    converter = RowConverter(plans)
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg2":
        import psycopg2.extensions as ext

        # Scoped to this connection, which the caller discards afterwards (see _extract_sql_part).
        for caster in pg_special_value_casters():
            ext.register_type(caster, conn.connection.driver_connection)
    result = conn.execution_options(stream_results=True, yield_per=chunk_rows).execute(stmt)
    position = 0
    for rows in result.partitions(chunk_rows):
        converted = converter.convert(rows, first_position=position)
        position += len(rows)
        if converted.bad is not None:
            writer.add_quarantine(converted.bad, converted.bad_reasons)
        yield converted.good


def _extract_sql_part(engine: sa.Engine, source: SourceConfig, tplan: TablePlan, part: PartSpec,
                      run_key: str, staging: StagingStore, prefer_copy: bool = True) -> dict[str, Any]:
    tcfg = TableConfig(name=tplan.source_table or tplan.table, primary_key=tplan.primary_key)
    table = reflect_table(engine, tcfg)
    check_column_names([c.name for c in table.columns], f"{source.name}.{tplan.table}")
    dialect = engine.dialect.name
    writer = PartWriter(staging, source, run_key, tplan.table, part.part, tplan.primary_key)
    attempts = ["copy", "cursor"] if prefer_copy else ["cursor"]
    for path in attempts:
        with _isolated(engine.connect()) as conn:
            try:
                with conn.begin():
                    zone, undo = _prepare_session(conn)
                    try:
                        plans = plan_columns(table, dialect, source.timezone, zone)
                        if _schema_signature(plans) != tplan.columns:
                            raise SchemaError(f"{source.name}.{tplan.table}: the table's columns changed "
                                              "between planning and extraction")
                        if path == "copy" and not _copy_eligible(conn, plans):
                            continue
                        conds = _conditions(table, tplan, part, plans, source.timezone, dialect)
                        source_rows = conn.execute(
                            sa.select(sa.func.count()).select_from(table).where(*conds)).scalar_one()
                        stmt = sa.select(*select_list(table, plans)).where(*conds).order_by(
                            *[table.c[k] for k in tplan.primary_key])
                        batches = (_copy_batches(conn, stmt, plans, table) if path == "copy"
                                   else _cursor_batches(conn, stmt, plans, source.chunk_rows, writer))
                        for batch in batches:
                            writer.add(batch)
                        writer.close()
                    finally:
                        if undo:
                            undo()
            except FastPathUnavailable as exc:
                log.warning("%s.%s part %d: COPY path unavailable (%s); using the cursor path",
                            source.name, tplan.table, part.part, exc)
                conn.invalidate()
                writer.discard()
                continue
            except sa.exc.DBAPIError as exc:
                # Driver messages quote offending values ("invalid input syntax ... 'x'", bytes of
                # a bad encoding): report the error class and code only, without the chain.
                writer.discard()
                raise ExtractError(f"{source.name}.{tplan.table} part {part.part}: the database refused the "
                                   f"read ({_db_error_code(exc)})") from None
            finally:
                if path == "cursor" and dialect == "postgresql":
                    conn.invalidate()  # it carries this read's typecasters: not back into the pool
        break
    read = writer.extracted + writer.quarantined
    if read != source_rows:
        raise ExtractError(f"{tplan.table} part {part.part}: COUNT(*) gave {source_rows} rows "
                           f"but {read} were read ({writer.extracted} staged, {writer.quarantined} quarantined)")
    columns = [ColumnSchema(name=p.name, arrow_type=str(p.arrow), source_type=p.source_type, nullable=p.nullable,
                            source_zone=p.source_zone) for p in plans]
    return {**writer.result(), "source_rows": source_rows, "path": path, "columns": columns, "files": []}


def _db_error_code(exc: sa.exc.DBAPIError) -> str:
    """``<driver exception class>[ SQLSTATE/errno]``: what may be logged of a database error."""
    orig = exc.orig
    code = getattr(orig, "pgcode", None)
    if code is None and getattr(orig, "args", None) and isinstance(orig.args[0], int):
        code = orig.args[0]
    return type(orig).__name__ + (f" {code}" if code is not None else "")


# -- parts and commit -----------------------------------------------------------------------------
def extract_part(
    engine: sa.Engine | None,
    *,
    source: SourceConfig,
    plan: ExtractPlan,
    table: str,
    part: int,
    staging: StagingStore,
    landing: Any = None,
    prefer_copy: bool = True,
) -> PartDocument:
    """Extract one part (key range or file) of ``table`` as planned; write its sealed part document.

    Returns the part document as written. Raises ``ExtractError`` (count mismatch, schema drift,
    undecodable file), ``SchemaError`` and ``DocumentError`` (part not in the plan).
    """
    tplan = plan.table(table)
    spec = tplan.part(part)
    if tplan.kind == "files":
        from custody.sources.files import extract_file_part

        body = extract_file_part(landing, source, tplan, spec, run_key=plan.run_key, staging=staging)
    else:
        body = _extract_sql_part(engine, source, tplan, spec, plan.run_key, staging, prefer_copy=prefer_copy)
    doc = PartDocument(source=source.name, run_key=plan.run_key, plan_id=plan.plan_id, table=table, part=part,
                       **body)
    staging.put(doc)
    swept = _sweep_part(staging, doc)
    if swept:
        log.info("%s.%s part %d: removed %d object(s) left by an earlier attempt", source.name, table, part, swept)
    log.info("extracted %s.%s part %d: %d staged, %d quarantined (%s)", source.name, table, part,
             doc.extracted_rows, doc.quarantined_rows, doc.path)
    return doc


def _sweep_part(staging: StagingStore, doc: PartDocument) -> int:
    """Delete extraction objects of the part that its document does not list.

    An earlier attempt of the same part may have staged more chunks (the table shrank) or died
    mid-write (``.tmp-*`` files of ``custody.fsio``); once the new part document is written those
    files are unreferenced, so a rerun converges to exactly what the document lists. Only the
    part's own places are touched (``custody.documents.layout.extraction_prefixes``): its chunk
    folder and its extraction-quarantine names. Returns how many files were removed.
    """
    keep = {staging.path(e.key) for e in doc.objects()}
    removed = 0
    for prefix in extraction_prefixes(doc.source, doc.run_key, doc.table, doc.part):
        folder_key, _, stem = prefix.rpartition("/")
        folder = staging.path(folder_key)
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            if path.is_file() and path.name.removeprefix(".tmp-").startswith(stem) and path not in keep:
                path.unlink(missing_ok=True)
                removed += 1
    return removed


def _merge_table(tplan: TablePlan, docs: list[PartDocument]) -> TableManifest:
    source_rows = sum(d.source_rows for d in docs)
    extracted = sum(d.extracted_rows for d in docs)
    quarantined = sum(d.quarantined_rows for d in docs)
    if source_rows != extracted + quarantined:
        raise ExtractError(f"{tplan.table}: source {source_rows} != staged {extracted} + quarantined {quarantined}")
    digest = hashing.combine(*[int(d.content_hash, 16) for d in docs]) if docs else 0
    reasons: dict[str, int] = {}
    for d in docs:
        for k, v in d.quarantine_reasons.items():
            reasons[k] = reasons.get(k, 0) + v
    columns = docs[0].columns if docs else tplan.column_schemas
    for d in docs[1:]:
        if [c.name for c in d.columns] != [c.name for c in columns]:
            raise SchemaError(f"{tplan.table}: parts have different columns")
    wm = tplan.watermark
    info = ExtractionInfo(
        mode=tplan.mode, path=",".join(sorted({d.path for d in docs})),
        watermark_column=wm.column if wm else None, watermark_kind=wm.kind if wm else None,
        watermark_from=wm.low if wm else None, watermark_to=wm.high if wm else None, parts=len(tplan.parts),
        files=[f for d in docs for f in d.files],
    )
    return TableManifest(
        table=tplan.table, source_table=tplan.source_table, primary_key=tplan.primary_key,
        columns=columns, source_rows=source_rows, extracted_rows=extracted, content_hash=hashing.to_hex(digest),
        chunks=[e for d in docs for e in d.chunks], row_keys=[e for d in docs for e in d.row_keys],
        quarantine=[e for d in docs for e in d.quarantine],
        quarantined_at_extract=quarantined, quarantine_reasons=dict(sorted(reasons.items())), extraction=info,
    )


def commit_extract(*, source: SourceConfig, plan: ExtractPlan, staging: StagingStore, store: Any = None) -> RunManifest:
    """Assemble the parts of a plan into the run manifest, seal and write it, then advance watermarks.

    Every planned part must have a part document from this plan (``plan_id``). The watermark of an
    incremental table (and the file list of a file-drop table) is committed only after
    ``manifest.json`` is written. Returns the manifest as written. Raises ``ExtractError``
    (missing part, reconciliation mismatch), ``custody.extract.watermarks.WatermarkConflict``.
    """
    tables = []
    for tplan in plan.tables:
        docs = []
        for p in tplan.parts:
            key = document_key("part", source=source.name, run_key=plan.run_key, table=tplan.table, part=p.part)
            if not staging.exists(key):
                raise ExtractError(f"{tplan.table}: part {p.part} was not extracted")
            doc = staging.get(key, PartDocument)
            if doc.plan_id != plan.plan_id:
                raise ExtractError(f"{tplan.table}: part {p.part} belongs to an earlier plan; rerun it")
            docs.append(doc)
        tables.append(_merge_table(tplan, docs))
    manifest = RunManifest(source=source.name, run_key=plan.run_key, run_id=plan.run_id, dialect=plan.dialect,
                           tables=tables)
    staging.put(manifest)
    if store is not None:
        for tplan, tm in zip(plan.tables, tables):
            if tplan.watermark:
                store.commit(source.name, tplan.table, plan.run_key, columns=tplan.columns)
            elif tplan.kind == "files" and tplan.mode == "incremental":
                store.commit(source.name, tplan.table, plan.run_key,
                             files=[{"name": f.name, "sha256": f.sha256, "bytes": f.bytes}
                                    for f in tm.extraction.files if f.sheet in (None, tm.extraction.files[0].sheet)])
    return manifest


def extract_table(
    engine: sa.Engine,
    *,
    source: SourceConfig,
    table_cfg: TableConfig,
    run_key: str,
    staging: StagingStore,
    prefer_copy: bool = True,
) -> TableManifest:
    """Full snapshot of one table as a single range (no catalog needed); returns its manifest entry.

    Memory is bounded by about two chunks (``source.chunk_rows`` rows). Raises ``ExtractError``
    when the table is missing, has no key, or the rows read differ from ``COUNT(*)``.
    """
    if table_cfg.mode != "full":
        raise ExtractError(f"{table_cfg.name}: extract_table does full snapshots; use plan/part/commit")
    tplan = _plan_sql_table(engine, source, table_cfg.model_copy(update={"split_rows": 1 << 62}), run_key=run_key,
                            run_id=run_key, store=None, interval_end=dt.datetime.now(dt.UTC))
    body = _extract_sql_part(engine, source, tplan, tplan.parts[0], run_key, staging, prefer_copy=prefer_copy)
    doc = PartDocument(source=source.name, run_key=run_key, plan_id="", table=tplan.table, part=0, **body)
    return _merge_table(tplan, [doc])
