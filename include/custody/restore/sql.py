"""Restore into a SQL database: one transaction (PostgreSQL, SQLite) or tables swapped in by one atomic
``RENAME TABLE`` (MariaDB / MySQL), so a failed restore leaves nothing behind."""

from __future__ import annotations

import logging

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import sqlalchemy as sa

from custody.crypto.keyring import Keyring
from custody.documents import TableManifest
from custody.store.backends import ObjectStore
from custody.store.snapshots import load_snapshot
from custody.restore.reading import (
    LEDGER,
    KeyValues,
    RestoreError,
    _filters,
    _Scan,
    _wanted,
    erasure_for,
    manifest_schema,
)

log = logging.getLogger(__name__)


def sql_type(t: pa.DataType) -> Any:
    """SQLAlchemy column type for a manifest Arrow type; the inverse of ``custody.sources.sqltypes.arrow_type``.

    int64 -> BIGINT, float64 -> DOUBLE, decimal128(p, s) -> NUMERIC(p, s), string -> TEXT,
    bool -> BOOLEAN, date32 -> DATE, timestamp[us, UTC] -> TIMESTAMP WITH TIME ZONE,
    time64[us] -> TIME, binary -> binary (BYTEA / BLOB). Raises ``RestoreError`` otherwise.
    Each type holds every value of its Arrow type, so the database keeps what was restored:
    MySQL/MariaDB get ``DATETIME(6)`` / ``TIME(6)`` (microseconds; the default rounds them away),
    ``LONGTEXT`` / ``LONGBLOB`` (``TEXT`` stops at 64 KiB); SQLite gets decimals bound as their
    text (SQLAlchemy would bind a float), which its NUMERIC affinity stores as the source did;
    PostgreSQL gets floats bound as their shortest exact text cast to ``double precision``
    (psycopg2 writes ``-0.0`` as a numeric literal, which loses the sign).
    """
    import sqlalchemy as sa
    from sqlalchemy.dialects import mysql

    my = ("mysql", "mariadb")
    if pa.types.is_integer(t):
        return sa.BigInteger()
    if pa.types.is_floating(t):
        return sa.Double().with_variant(_PgDouble(), "postgresql")
    if pa.types.is_decimal(t):
        return sa.Numeric(t.precision, t.scale).with_variant(_SQLiteDecimal(t.precision, t.scale), "sqlite")
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return sa.Text().with_variant(mysql.LONGTEXT(), *my)
    if pa.types.is_boolean(t):
        return sa.Boolean()
    if pa.types.is_date(t):
        return sa.Date()
    if pa.types.is_timestamp(t):
        return sa.DateTime(timezone=t.tz is not None).with_variant(mysql.DATETIME(fsp=6), *my)
    if pa.types.is_time(t):
        return sa.Time().with_variant(mysql.TIME(fsp=6), *my)
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return sa.LargeBinary().with_variant(mysql.LONGBLOB(), *my)
    raise RestoreError(f"no SQL type for Arrow type {t}")


class _PgDouble(sa.types.TypeDecorator):
    """``double precision`` bound as ``CAST('<repr>' AS double precision)``: exact for every
    float, negative zero, NaN and the infinities included, whatever the driver."""

    impl = sa.Double
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        return None if value is None else repr(float(value))

    def bind_expression(self, bindvalue: Any) -> Any:
        return sa.cast(bindvalue, sa.Double())


class _SQLiteDecimal(sa.types.TypeDecorator):
    """NUMERIC(p, s) on SQLite bound as decimal text: the column's NUMERIC affinity then stores an
    INTEGER or REAL where that is exact and keeps the text where it is not, as the source did."""

    impl = sa.Numeric
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        return None if value is None else str(value)


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
    ledger: Any = LEDGER,
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

    Rows of subjects in the deletion ledger are dropped before they are inserted (``ledger``:
    ``custody.restore.reading.erasure_for``) and counted in ``erased_rows``.

    ``if_exists="fail"`` refuses (before writing anything) when a target table exists;
    ``"replace"`` replaces it. Returns ``{table: {"rows", "scanned_rows", "table",
    "content_hash", "verified", "erased_rows"}}``. Raises ``RestoreError`` (also for another dialect, and with the
    database's error class and SQLSTATE, never its message, when the database refuses a row),
    ``IntegrityError``, keyring errors, ``sqlalchemy.exc.SQLAlchemyError``.
    """
    doc = load_snapshot(store, snapshot_key, keyring)
    manifest = doc.manifest
    filters = _filters(manifest, keys)
    wanted = _wanted(manifest, tables, keys)
    job = _SqlJob(store, keyring, wanted, filters, schema, batch_rows, on_chunk)
    job.erasure = erasure_for(store, doc, keyring, ledger)
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
        self.erasure: Any = None

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
        scan = _Scan(self.store, tm, self.keyring, self.on_chunk, self.filters.get(tm.table), self.erasure)
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