"""The PostgreSQL binary COPY path: ``COPY (SELECT ...) TO STDOUT (FORMAT binary)`` into Arrow.

For tables whose every column has a plain binary form (``binary_kinds``: integers, bool, text,
varchar and char, date, timestamptz), the server sends values as they are stored instead of
formatting them as text (formatting timestamps is most of a text COPY's server time), and
``custody._copyread.decode_binary`` writes them into Arrow buffers in C, without the interpreter
lock: no CSV is written or parsed. The COPY runs in the extracting session's REPEATABLE READ
transaction (psycopg 3, ``custody.extract.copy_session``), so it sees the rows of the range's
``COUNT(*)`` and row-level security applies, as on the text COPY path.

Exactness: integers widen to int64, text is the server's UTF-8 (the database's encoding must be
UTF8), dates and timestamps are day and microsecond counts moved from PostgreSQL's epoch
(2000-01-01) to Unix's. A date or timestamp outside years 1-9999 (``infinity`` included), where
the text rules of the other paths decide case by case, raises ``FastPathUnavailable``: the range
is then read again by the text COPY path (``custody.extract.copy_path``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import sqlalchemy as sa
import sqlalchemy.types as st

from custody.extract.copy_path import FastPathUnavailable
from custody.extract.copy_stream import CopyStream
from custody.sources.sqltypes import ColumnPlan

try:
    from custody import _copyread
except ImportError:  # not built here: the text COPY path serves
    _copyread = None

_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
# PostgreSQL type OIDs each kind decodes: int8, int2, int4 / bool / text, bpchar, varchar / date /
# timestamptz. Binary COPY carries no types, so the query's own are checked against these.
_OIDS = {"i": {20, 21, 23}, "b": {16}, "s": {25, 1042, 1043}, "d": {1082}, "z": {1184}}
_INTEGERS = ("SMALLINT", "INTEGER", "BIGINT")
_TEXTS = ("TEXT", "VARCHAR", "CHAR")


def _kind(p: ColumnPlan, t: st.TypeEngine) -> str | None:
    name = type(t).__name__.upper()
    if p.cast_unsigned:
        return None
    if p.arrow == pa.int64() and name in _INTEGERS:
        return "i"
    if p.arrow == pa.bool_() and name == "BOOLEAN":
        return "b"
    if p.arrow == pa.string() and not p.cast_text and name in _TEXTS:
        return "s"
    if p.arrow == pa.date32() and p.temporal == "date" and name == "DATE":
        return "d"
    if p.temporal == "timestamp" and not p.naive and name in ("TIMESTAMP", "DATETIME"):
        return "z"
    return None


def binary_kinds(conn: sa.Connection, plans: list[ColumnPlan], table: sa.Table) -> str | None:
    """One ``decode_binary`` kind per column, or None when this range cannot take the binary path:
    the compiled decoder missing, not psycopg 3, a database encoding other than UTF8, or a column
    type without a plain binary form here."""
    if _copyread is None or conn.dialect.name != "postgresql" or conn.dialect.driver != "psycopg":
        return None
    kinds = ""
    for p in plans:
        kind = _kind(p, table.c[p.name].type)
        if kind is None:
            return None
        kinds += kind
    if not kinds or conn.exec_driver_sql("SELECT current_setting('server_encoding')").scalar() != "UTF8":
        return None
    return kinds


def _strip_header(block: bytes) -> bytes:
    """The rows after the binary COPY file header (signature, flags, header extension)."""
    if len(block) < 19 or not block.startswith(_SIGNATURE):
        raise ValueError("not a binary COPY stream")
    flags = int.from_bytes(block[11:15], "big")
    if flags & (1 << 16):  # OIDs included: never asked for
        raise ValueError("binary COPY with OIDs")
    extension = int.from_bytes(block[15:19], "big")
    return block[19 + extension:]


def _table(decoded: list[tuple], kinds: str, rows: int, schema: pa.Schema) -> pa.Table:
    arrays = []
    for (validity, values, data, nulls), kind, field in zip(decoded, kinds, schema):
        bitmap = pa.py_buffer(validity) if nulls else None
        if kind == "s":
            arrays.append(pa.Array.from_buffers(pa.string(), rows, [bitmap, pa.py_buffer(values), pa.py_buffer(data)],
                                                null_count=nulls))
        else:
            arrays.append(pa.Array.from_buffers(field.type, rows, [bitmap, pa.py_buffer(values)], null_count=nulls))
    return pa.Table.from_arrays(arrays, schema=schema)


def _check_types(raw: Any, query: str, kinds: str) -> None:
    """Raise ``FastPathUnavailable`` unless the query's columns have the types ``kinds`` decode.

    Raises ``sqlalchemy.exc.DBAPIError`` (the driver's class, no message) when the check's query
    fails. The kinds come from the table as reflected before this transaction; a column altered since
    (``ALTER TABLE ... TYPE`` committed in between) would be decoded as the old type, bytes of one
    taken for another. The caller's ``COUNT(*)`` holds the table's lock from here to the end of
    the transaction, so the types the server reports for the query now (its row description) are
    the ones the COPY sends.
    """
    import psycopg

    try:
        with raw.cursor() as cursor:
            cursor.execute(f"SELECT * FROM ({query}) AS probe LIMIT 0")
            oids = [c.type_code for c in cursor.description or []]
    except psycopg.Error as exc:
        # As the COPY's own failure (custody.extract.copy_session): the driver's class, whose
        # SQLSTATE the caller reports, without the server's message (it may quote a value).
        safe = type(exc)("the column type check failed")
        raise sa.exc.DBAPIError.instance(None, None, safe, psycopg.Error, hide_parameters=True) from None
    if len(oids) != len(kinds) or any(oid not in _OIDS[k] for oid, k in zip(oids, kinds)):
        raise FastPathUnavailable("a column's type changed after the table was read")


def binary_batches(conn: sa.Connection, stmt: sa.Select, plans: list[ColumnPlan], kinds: str) -> Iterator[pa.Table]:
    """Stream ``stmt`` as binary COPY into Arrow tables typed by ``plans`` (one per block of about
    1 MiB). Raises ``FastPathUnavailable`` for a value outside the path's rules (see the module
    docstring) and ``sqlalchemy.exc.DBAPIError`` when the database fails the COPY."""
    import psycopg

    from custody.extract.copy_session import SessionCopy

    raw = conn.connection.driver_connection
    compiled = stmt.compile(dialect=conn.dialect)
    query = psycopg.ClientCursor(raw).mogrify(str(compiled), compiled.params)
    _check_types(raw, query, kinds)
    source = SessionCopy(conn, f"COPY ({query}) TO STDOUT WITH (FORMAT binary)", CopyStream()).start()
    schema = pa.schema([p.field() for p in plans])
    finished = False
    unavailable: str | None = None
    try:
        first, ended = True, False
        while (block := source.stream.next_block()):
            if ended:
                raise ValueError("data after the binary COPY trailer")
            if first:
                block, first = _strip_header(bytes(block)), False
            rows, ended, decoded = _copyread.decode_binary(block, kinds)
            if rows:
                yield _table(decoded, kinds, rows, schema)
        if not first and not ended:
            raise ValueError("binary COPY without its trailer")
        finished = True
    except OverflowError:
        unavailable = "a date or timestamp outside years 1-9999"
    except (ValueError, pa.ArrowInvalid):
        unavailable = "an unexpected binary COPY stream"
    finally:
        if not finished:
            source.stop()
        source.finish()  # a failed COPY raises here, before anything below
    if unavailable:
        raise FastPathUnavailable(unavailable)
