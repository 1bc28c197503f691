"""Restore snapshots from a store: whole snapshots, single tables, or the rows of given keys.

Targets: Arrow in memory (``restore_table``), Parquet/CSV files (``restore_snapshot``) or a SQL
database through a SQLAlchemy engine (``restore_to_sql``). Every chunk is checked before its rows
are used: SHA-256 of the ciphertext against the manifest, authenticated decryption under the
object's own key and binding, and the row-content hash of the chunk. Each table's total rows and
content hash are checked against the manifest before a file is renamed into place or a database
transaction commits, and a restore is all or nothing across its tables (files moved into place
together, database tables committed in one transaction or swapped in by one atomic rename), so a
failed restore leaves no PI in clear behind. GDPR Art 32(1)(c): the ability to
restore availability and access to personal data in a timely manner; PIPL Art 51(3).

Restoring with ``keys`` (a data subject's request, PIPL Art 45 access/copy, GDPR Art 15/20)
filters each decrypted chunk by primary-key values; all chunks are still authenticated and the
table totals still checked. Results carry counts and hashes, never values.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc

from custody import hashing
from custody.crypto.envelope import IntegrityError, decrypt_stream
from custody.crypto.keyring import Keyring
from custody.exports import write_tables
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


class _Scan:
    """Decrypted, checked chunks of one table, optionally filtered; totals checked at the end."""

    def __init__(self, store, tm: TableManifest, keyring, on_chunk, key_filter: KeyFilter | None) -> None:
        self.store, self.tm, self.keyring, self.on_chunk, self.key_filter = (
            store,
            tm,
            keyring,
            on_chunk,
            key_filter,
        )
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
    store: ObjectStore, snapshot_key: str, table: str, keyring: Keyring, *, keys: KeyValues | None = None
) -> pa.Table:
    """Restore one table of a snapshot into memory (optionally only the rows of ``keys``).

    The whole table is authenticated and checked against the manifest totals.
    Raises ``RestoreError``, ``IntegrityError``, ``SnapshotError``, keyring errors.
    """
    manifest = load_snapshot(store, snapshot_key, keyring).manifest
    tm = _table(manifest, table)
    scan = _Scan(store, tm, keyring, None, KeyFilter(tm, keys) if keys is not None else None)
    chunks = list(scan)
    return pa.concat_tables(chunks) if chunks else _empty(tm)


def restore_snapshot(
    store: ObjectStore,
    snapshot_key: str,
    keyring: Keyring,
    out_dir: Path,
    *,
    fmt: str = "parquet",
    tables: list[str] | None = None,
    keys: dict[str, KeyValues] | None = None,
    on_chunk: Callable[[int], None] | None = None,
    replace: bool = False,
) -> dict[str, Any]:
    """Write the tables of a snapshot to ``out_dir/<source>/<table>.<fmt>`` (``parquet`` or ``csv``).

    ``keys`` (``{table: [primary-key values]}``) restores only those rows of those tables.
    Memory is bounded by one chunk. All or nothing: the files are written into a private
    (0700) temporary folder beside their destination, each only after its table's rows and
    row-content hash match the manifest, and moved into place once every table checked out; a
    failure removes them all. An existing destination file is refused unless ``replace``; a
    second restore into the same folder while one runs is refused (``flock``), and temporary
    folders a killed restore left are removed first.
    ``on_chunk(rows)`` reports progress per chunk read. Returns ``{table: {"rows", "scanned_rows",
    "path", "content_hash", "verified"[, "keys_requested", "keys_found"]}}``. Raises
    ``RestoreError`` (also for an existing file), ``IntegrityError``, ``WrongKeyError``.
    """
    import os
    import shutil
    import tempfile

    from custody.fsio import FolderBusyError, exclusive_dir

    manifest = load_snapshot(store, snapshot_key, keyring).manifest
    filters = _filters(manifest, keys)
    wanted = list(_wanted(manifest, tables, keys))
    folder = Path(out_dir) / manifest.source
    if folder.exists() and not folder.is_dir():
        raise RestoreError(f"{folder} exists and is not a folder")
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    targets = {tm.table: folder / f"{tm.table}.{fmt}" for tm in wanted}
    out: dict[str, Any] = {}
    # One restore per folder at a time (the existence check below would race otherwise). Under
    # the lock any .tmp-restore-* folder is a dead restore's (killed): its plaintext goes first.
    try:
        with exclusive_dir(folder):
            for stale in folder.glob(".tmp-restore-*"):
                shutil.rmtree(stale, ignore_errors=True)
            existing = sorted(str(p) for p in targets.values() if os.path.lexists(p))
            if existing and not replace:
                raise RestoreError(f"{', '.join(existing)} already exist(s); pass replace (--replace) to overwrite")
            in_the_way = sorted(str(p) for p in targets.values() if p.is_dir() and not p.is_symlink())
            if in_the_way:
                raise RestoreError(f"{', '.join(in_the_way)} is a folder; a restored table cannot replace it")
            with tempfile.TemporaryDirectory(prefix=".tmp-restore-", dir=folder) as work:  # 0700, removed after
                for tm in wanted:
                    scan = _Scan(store, tm, keyring, on_chunk, filters.get(tm.table))
                    write_tables(iter(scan), Path(work) / targets[tm.table].name, fmt, _empty(tm).schema)
                    out[tm.table] = scan.result(path=str(targets[tm.table]))
                for path in targets.values():
                    os.replace(Path(work) / path.name, path)
    except FolderBusyError:
        raise RestoreError(f"another restore is writing into {folder}") from None
    return out


# -- SQL target ------------------------------------------------------------------------------------
def sql_type(t: pa.DataType) -> Any:
    """SQLAlchemy column type for a manifest Arrow type; the inverse of ``custody.sources.sqltypes.arrow_type``.

    int64 -> BIGINT, float64 -> DOUBLE, decimal128(p, s) -> NUMERIC(p, s), string -> TEXT,
    bool -> BOOLEAN, date32 -> DATE, timestamp[us, UTC] -> TIMESTAMP WITH TIME ZONE,
    time64[us] -> TIME, binary -> binary (BYTEA / BLOB). Raises ``RestoreError`` otherwise.
    """
    import sqlalchemy as sa

    if pa.types.is_integer(t):
        return sa.BigInteger()
    if pa.types.is_floating(t):
        return sa.Double()
    if pa.types.is_decimal(t):
        return sa.Numeric(t.precision, t.scale)
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return sa.Text()
    if pa.types.is_boolean(t):
        return sa.Boolean()
    if pa.types.is_date(t):
        return sa.Date()
    if pa.types.is_timestamp(t):
        return sa.DateTime(timezone=t.tz is not None)
    if pa.types.is_time(t):
        return sa.Time()
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return sa.LargeBinary()
    raise RestoreError(f"no SQL type for Arrow type {t}")


def sql_table(tm: TableManifest, metadata: Any, *, schema: str | None = None, name: str | None = None) -> Any:
    """A ``sqlalchemy.Table`` for a manifest table: its columns, types, nullability and primary key
    (never auto-incrementing: restored keys are stored as they are)."""
    import sqlalchemy as sa

    arrow = manifest_schema(tm)
    cols = [
        sa.Column(
            f.name,
            sql_type(f.type),
            nullable=f.nullable and f.name not in tm.primary_key,
            primary_key=f.name in tm.primary_key,
            # Never AUTO_INCREMENT / SERIAL: MySQL would turn a restored key 0 into the next number.
            autoincrement=False,
        )
        for f in arrow
    ]
    return sa.Table(name or tm.table, metadata, *cols, schema=schema)


def restore_to_sql(
    store: ObjectStore,
    snapshot_key: str,
    keyring: Keyring,
    engine: Any,
    *,
    schema: str | None = None,
    tables: list[str] | None = None,
    keys: dict[str, KeyValues] | None = None,
    batch_rows: int = 5000,
    if_exists: Literal["fail", "replace"] = "fail",
    on_chunk: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Restore tables of a snapshot into a SQL database, all or nothing.

    Each table is created from the manifest schema (``sql_table``) in ``schema`` (None: default)
    and filled in batches of ``batch_rows`` rows; every table's rows and content hash must match
    the manifest before anything becomes visible, and a failure in any table (a later one
    included) leaves the target as it was: no restored table, and with ``"replace"`` the old
    tables still in place. PI must not be left in clear by half a restore (GDPR Art 32(1)(b);
    PIPL Art 51).

    - PostgreSQL and SQLite (transactional DDL): every table in ONE transaction, rolled back on any
      error. A SQLite target file that does not exist is created owner-only (0600) first.
    - MySQL / MariaDB (DDL commits implicitly): tables are filled under temporary names
      (``_custody_restore_<id>_<n>``) and swapped in by one atomic ``RENAME TABLE`` at the end;
      a failure drops them. ``GET_LOCK`` keeps a second restore into the same database out, and
      temporary tables a killed restore left are dropped first.

    ``if_exists="fail"`` refuses (before writing anything) when a target table exists;
    ``"replace"`` replaces it. Returns ``{table: {"rows", "scanned_rows", "table",
    "content_hash", "verified"}}``. Raises ``RestoreError`` (also for another dialect, and with the
    database's error class and SQLSTATE, never its message, when the database refuses a row),
    ``IntegrityError``, keyring errors, ``sqlalchemy.exc.SQLAlchemyError``.
    """
    manifest = load_snapshot(store, snapshot_key, keyring).manifest
    filters = _filters(manifest, keys)
    wanted = _wanted(manifest, tables, keys)
    job = _SqlJob(store, keyring, wanted, filters, schema, batch_rows, on_chunk)
    dialect = engine.dialect.name
    try:
        if dialect in ("postgresql", "sqlite"):
            if dialect == "sqlite":
                _create_private_sqlite(engine)
            out = job.in_one_transaction(engine, replace=if_exists == "replace")
        elif dialect in ("mysql", "mariadb"):
            out = job.renamed_at_the_end(engine, replace=if_exists == "replace")
        else:
            raise RestoreError(f"no all-or-nothing restore into a {dialect} database (PostgreSQL, MySQL/MariaDB, "
                               "SQLite); restore to files instead")
    except Exception as exc:
        import sqlalchemy as sa

        if isinstance(exc, sa.exc.StatementError):
            # The driver's message and SQLAlchemy's echo of parameters can quote row values.
            orig = exc.orig
            code = getattr(orig, "pgcode", None) or getattr(orig, "sqlstate", None) or _errno(orig) or "?"
            raise RestoreError(
                f"{job.current or 'restore'}: the database refused the restore: "
                f"{type(orig).__name__} (SQLSTATE/errno {code}); nothing was restored"
            ) from None
        raise
    for name, info in out.items():
        log.info("restored %s rows of %s into %s", info["rows"], name, info["table"])
    return out


def _errno(exc: Any) -> str | None:
    args = getattr(exc, "args", ())
    return str(args[0]) if args and isinstance(args[0], int) else None


def _create_private_sqlite(engine: Any) -> None:
    """Create a missing SQLite database file owner-only (0600) before the driver creates it 0644.

    SQLite gives its journal the database file's mode, so restored PI stays owner-only on disk.
    """
    import os

    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


_TMP_PREFIX = "_custody_restore_"


class _SqlJob:
    """The tables of one SQL restore and how to write them; ``current`` names the table in hand."""

    def __init__(self, store, keyring, wanted, filters, schema, batch_rows, on_chunk) -> None:
        self.store, self.keyring, self.wanted, self.filters = store, keyring, wanted, filters
        self.schema, self.batch_rows, self.on_chunk = schema, batch_rows, on_chunk
        self.current: str | None = None

    def where(self, name: str) -> str:
        return f"{self.schema}.{name}" if self.schema else name

    def _existing(self, conn: Any) -> list[str]:
        import sqlalchemy as sa

        inspector = sa.inspect(conn)
        return [tm.table for tm in self.wanted if inspector.has_table(tm.table, schema=self.schema)]

    def _refuse_existing(self, existing: list[str], replace: bool) -> None:
        if existing and not replace:
            names = ", ".join(self.where(t) for t in existing)
            what = f"table {names} already exists" if len(existing) == 1 else f"tables {names} already exist"
            raise RestoreError(f"{what} in the target database; pass replace (--replace) to replace")

    def _fill(self, conn: Any, tm: TableManifest, target: Any) -> dict[str, Any]:
        self.current = f"table {self.where(tm.table)}"
        scan = _Scan(self.store, tm, self.keyring, self.on_chunk, self.filters.get(tm.table))
        for chunk in scan:  # totals are checked when the scan ends, before anything commits
            for batch in chunk.to_batches(max_chunksize=self.batch_rows):
                if batch.num_rows:
                    conn.execute(target.insert(), batch.to_pylist())
        return scan.result(table=self.where(tm.table))

    def in_one_transaction(self, engine: Any, *, replace: bool) -> dict[str, Any]:
        """Every table in one transaction (transactional DDL): commit once, or roll everything back."""
        import sqlalchemy as sa

        out: dict[str, Any] = {}
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                # pysqlite leaves DDL outside transactions unless one is opened explicitly.
                conn.exec_driver_sql("BEGIN")
            try:
                existing = set(self._existing(conn))
                self._refuse_existing(sorted(existing), replace)
                for tm in self.wanted:
                    target = sql_table(tm, sa.MetaData(), schema=self.schema)
                    if tm.table in existing:
                        target.drop(conn)
                    target.create(conn)
                    out[tm.table] = self._fill(conn, tm, target)
                self.current = None
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
        return out

    def renamed_at_the_end(self, engine: Any, *, replace: bool) -> dict[str, Any]:
        """MySQL / MariaDB: fill temporary tables, then swap them all in with one atomic RENAME TABLE."""
        import secrets

        import sqlalchemy as sa

        token = secrets.token_hex(4)
        temp = {tm.table: f"{_TMP_PREFIX}{token}_{i}" for i, tm in enumerate(self.wanted)}
        old = {tm.table: f"{_TMP_PREFIX}{token}_old_{i}" for i, tm in enumerate(self.wanted)}
        out: dict[str, Any] = {}
        q = engine.dialect.identifier_preparer.quote

        def name(table: str) -> str:
            return f"{q(self.schema)}.{q(table)}" if self.schema else q(table)

        with engine.connect() as conn:
            database = self.schema or conn.exec_driver_sql("SELECT DATABASE()").scalar_one()
            lock = f"custody-restore:{database}"[:64]
            if conn.exec_driver_sql("SELECT GET_LOCK(%s, 0)", (lock,)).scalar_one() != 1:
                raise RestoreError(f"another restore is writing into database {database}")
            try:
                # Under the lock any temporary table is a dead restore's (killed): its plaintext goes first.
                for left in sa.inspect(conn).get_table_names(schema=self.schema):
                    if left.startswith(_TMP_PREFIX):
                        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {name(left)}")
                existing = self._existing(conn)
                self._refuse_existing(existing, replace)
                try:
                    for tm in self.wanted:
                        target = sql_table(tm, sa.MetaData(), schema=self.schema, name=temp[tm.table])
                        target.create(conn)
                        conn.commit()
                        out[tm.table] = self._fill(conn, tm, target)
                        conn.commit()
                    self.current = None
                    pairs = [f"{name(t)} TO {name(old[t])}" for t in existing]
                    pairs += [f"{name(temp[tm.table])} TO {name(tm.table)}" for tm in self.wanted]
                    conn.exec_driver_sql("RENAME TABLE " + ", ".join(pairs))  # atomic: all pairs or none
                except BaseException:
                    conn.rollback()
                    for t in temp.values():
                        with contextlib.suppress(sa.exc.SQLAlchemyError):
                            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {name(t)}")
                    raise
                for t in existing:
                    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {name(old[t])}")
                conn.commit()
            finally:
                with contextlib.suppress(sa.exc.SQLAlchemyError):
                    conn.exec_driver_sql("SELECT RELEASE_LOCK(%s)", (lock,))
        return out


# -- whole objects ---------------------------------------------------------------------------------
def restore_object(store: ObjectStore, entry: ObjectEntry, keyring: Keyring, dst: Path) -> int:
    """Decrypt one object of a snapshot straight to the file ``dst`` (streaming, memory O(segment)).

    The ciphertext is hashed while it is decrypted; ``dst`` appears (atomically) only if the
    SHA-256 matches ``entry.sha256`` and every segment authenticates. Returns plaintext bytes.
    Raises ``IntegrityError``, ``StoreError``, keyring errors.
    """
    from custody.store.snapshots import _HashingReader

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
