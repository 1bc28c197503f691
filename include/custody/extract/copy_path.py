"""The PostgreSQL fast path: ``COPY (SELECT ...) TO STDOUT (FORMAT csv)`` parsed by Arrow.

The COPY sees the same rows as the range's ``COUNT(*)``: with psycopg 3 (the engine Airflow's
PostgreSQL hook hands out) the extracting session runs it itself in its REPEATABLE READ
transaction (``custody.extract.copy_session``); with psycopg2 a child process runs it in that
transaction's exported snapshot (``_ChildCopy``: psycopg2 calls ``file.write`` once per row with
the GIL held). Either way the output arrives in 1 MiB blocks through a bounded ``CopyStream`` that
Arrow's streaming CSV reader parses with an explicit schema (integers, floats and decimals parsed
exactly, NULL vs empty string kept). Dates, timestamps, times and bytea are read as their text
and converted by the same rules as the cursor path (``custody.sources.sqlvalues.text_to_arrow``).
Any value without an exact Arrow value (and, psycopg2 only, a relation the child resolves
differently or row-level security) raises ``FastPathUnavailable``: the range then goes to the
cursor path (``custody.extract.cursor_path``), which quarantines such values with their reasons
instead.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import sqlalchemy as sa

from custody.extract.copy_stream import COPY_BLOCK_BYTES, CopyStream
from custody.extract.errors import ExtractError
from custody.extract.sessions import PG_SETTINGS
from custody.sources.sqltypes import ColumnPlan
from custody.sources.sqlvalues import text_to_arrow


class FastPathUnavailable(Exception):
    """The COPY fast path met a value Arrow's CSV reader cannot convert exactly; use the cursor."""


def _as_text(p: ColumnPlan) -> bool:
    """Columns whose CSV field goes through Custody's text rules rather than Arrow's CSV parser."""
    return p.cast_text or p.arrow in (pa.binary(), pa.time64("us"))


def _copy_types(plans: list[ColumnPlan]) -> dict[str, pa.DataType]:
    # Dates, timestamps and times as text: the same rules as the cursor path decide them (Arrow's
    # CSV reader takes "24:00:00" or a BC date for something else or fails the whole block).
    return {p.name: pa.string() if _as_text(p) else p.arrow for p in plans}


def copy_eligible(conn: sa.Connection, plans: list[ColumnPlan]) -> bool:
    """Whether a range of these columns may take the COPY path: PostgreSQL through psycopg 3 or
    psycopg2 and ``CUSTODY_EXTRACT_PATH`` not set to ``cursor``."""
    if conn.dialect.name != "postgresql" or conn.dialect.driver not in ("psycopg", "psycopg2"):
        return False
    return os.environ.get("CUSTODY_EXTRACT_PATH", "").lower() != "cursor"


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


def copy_batches(conn: sa.Connection, stmt: sa.Select, plans: list[ColumnPlan],
                 table: sa.Table) -> Iterator[pa.Table]:
    """Stream ``stmt`` as CSV out of PostgreSQL into Arrow batches typed by ``plans``.

    ``COPY (stmt) TO STDOUT (FORMAT csv)`` is read into 1 MiB blocks queued in a bounded buffer
    (``CopyStream``, <= 16 MiB) that Arrow's streaming CSV reader parses. Memory: that buffer plus
    the reader's blocks. The COPY runs

    - with psycopg 3, in this very session and transaction (``custody.extract.copy_session``);
    - with psycopg2, in a child process joining this transaction's exported snapshot (``_ChildCopy``).

    Raises ``FastPathUnavailable`` when a value does not convert or (psycopg2) the child cannot
    start, sees another relation or the table has row-level security (the caller retries the
    range on the cursor path); ``sqlalchemy.exc.DBAPIError`` (psycopg 3) or ``ExtractError``
    (psycopg2) when the database fails the COPY (only the error class and SQLSTATE are reported).
    """
    import pyarrow.csv as pacsv

    raw = conn.connection.driver_connection
    compiled = stmt.compile(dialect=conn.dialect)
    encoding = conn.exec_driver_sql("SELECT current_setting('server_encoding')").scalar()
    if conn.dialect.driver == "psycopg":
        import psycopg

        from custody.extract.copy_session import SessionCopy

        query = psycopg.ClientCursor(raw).mogrify(str(compiled), compiled.params)
        source: Any = SessionCopy(conn, f"COPY ({query}) TO STDOUT WITH (FORMAT csv)", CopyStream()).start()
    else:
        source = _ChildCopy(conn, compiled, table).start()
    # A UTF8 database holds only valid UTF-8 (the server checks on input) and the session asks for
    # UTF8, so Arrow's own check would re-validate every string for nothing. (In a SQL_ASCII
    # database the server itself refuses to convert a non-UTF-8 value, on both read paths.)
    server_utf8 = encoding == "UTF8"
    names = [p.name for p in plans]
    schema = pa.schema([p.field() for p in plans])
    finished = False
    invalid: str | None = None
    try:
        if source.stream.at_end():  # a range without rows (the last key range of a table, often)
            finished = True
            return
        reader = pacsv.open_csv(
            source.stream,
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
            source.stop()
        source.finish()  # a failed COPY raises here, before anything below
    if invalid:
        raise FastPathUnavailable(invalid)


class _ChildCopy:
    """The psycopg2 COPY source: a child process (``_COPY_CHILD``) in this transaction's snapshot.

    The child is a new session: it takes this session's ``search_path`` and role and checks that
    ``table`` names the same relation (oid) for it; otherwise it reads nothing (exit code 4). A
    table with row-level security never takes this path.
    """

    def __init__(self, conn: sa.Connection, compiled: Any, table: sa.Table) -> None:
        raw = conn.connection.driver_connection
        cursor = raw.cursor()
        try:
            query = cursor.mogrify(str(compiled), compiled.params).decode("utf-8")
        finally:
            cursor.close()
        snapshot = conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar()
        relation = conn.dialect.identifier_preparer.format_table(table)
        search_path, current_user, oid, rls = conn.exec_driver_sql(
            "SELECT current_setting('search_path'), current_user, c.oid, c.relrowsecurity "
            "FROM (SELECT to_regclass(%(r)s) AS rel) r LEFT JOIN pg_class c ON c.oid = r.rel",
            {"r": relation}).one()
        if rls:
            # Row-level security may depend on anything in this session (role, custom settings such
            # as app.tenant that no catalog lists): only this session can read the rows it sees.
            raise FastPathUnavailable("row-level security on the table")
        dsn_params = raw.get_dsn_parameters()
        settings: list[tuple[str, list[str] | None]] = [(s, None) for s in PG_SETTINGS]
        settings.append(("SELECT set_config('search_path', %s, true)", [search_path]))
        if current_user != dsn_params.get("user"):
            # SET ROLE, SET SESSION AUTHORIZATION or a role option in this session: the child logs
            # in as the connection's user and must take the same identity.
            settings.append(("SELECT set_config('role', %s, true)", [current_user]))
        dsn = {k: v for k, v in dsn_params.items() if k in (
            "host", "port", "user", "dbname", "options", "application_name", "sslmode", "sslrootcert", "sslcert",
            "sslkey", "sslcrl", "gssencmode", "krbsrvname", "channel_binding", "target_session_attrs")}
        if conn.engine.url.password:
            dsn["password"] = conn.engine.url.password
        self._spec = {"dsn": dsn, "snapshot": snapshot, "settings": settings, "relation": relation, "oid": oid,
                      "sql": f"COPY ({query}) TO STDOUT WITH (FORMAT csv)"}
        self.stream = CopyStream()

    def start(self) -> _ChildCopy:
        import subprocess
        import sys

        try:
            self._proc = proc = subprocess.Popen([sys.executable, "-c", _COPY_CHILD], stdin=subprocess.PIPE,
                                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
        except OSError:
            raise FastPathUnavailable("child process") from None
        proc.stdin.write(json.dumps(self._spec).encode() + b"\n")
        proc.stdin.close()
        try:
            import fcntl

            fcntl.fcntl(proc.stdout.fileno(), 1031, 1 << 20)  # F_SETPIPE_SZ: fewer, larger reads
        except (ImportError, OSError):
            pass
        self._thread = threading.Thread(target=self.stream.fill, args=(proc.stdout,), name="custody-copy",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        import subprocess

        self.stream.abandon()
        try:  # a child that refused (exit 4) ends at once; one still streaming is stopped
            self._proc.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            self._proc.kill()

    def finish(self) -> None:
        proc = self._proc
        self._thread.join()
        proc.stdout.close()
        code = proc.wait()
        err = proc.stderr.read().decode("utf-8", "replace").strip().splitlines()
        proc.stderr.close()
        if code == 4:
            raise FastPathUnavailable("the COPY session resolves the table to another relation")
        if code != 0 and not self.stream.abandoned:
            # Only the exception class name: a driver message could quote values.
            if err:  # the child prints the driver's error class (and SQLSTATE) only
                raise ExtractError(f"the database refused the read ({err[-1][:80]}; in the COPY child process)")
            raise ExtractError(f"COPY child process failed (exit code {code})")


def _post_copy(table: pa.Table, plans: list[ColumnPlan], schema: pa.Schema) -> pa.Table:
    arrays = []
    for p, col in zip(plans, table.columns):
        col = col.combine_chunks()
        if _as_text(p):
            col, bad = text_to_arrow(p, col)
            if bad:
                raise FastPathUnavailable("a value without an exact Arrow value")
        arrays.append(col)
    try:
        return pa.Table.from_arrays(arrays, schema=schema)
    except (pa.ArrowInvalid, ValueError):
        raise FastPathUnavailable("schema") from None
