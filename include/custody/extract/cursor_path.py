"""The cursor path: rows streamed by a server-side cursor and converted to Arrow in Python.

Used for every dialect but PostgreSQL, and for a PostgreSQL range the COPY path cannot take.
``stream_results`` gives a psycopg2 named cursor, a psycopg 3 server-side cursor or a PyMySQL
``SSCursor``, so memory stays bounded. The SELECT (``custody.sources.sqltypes.select_list``) lets
neither SQLAlchemy nor the driver convert a value first; rows are converted by
``custody.sources.sqlvalues`` (zero dates, invalid dates and values without an exact Arrow
equivalent are quarantined with their reasons).
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import sqlalchemy as sa

from custody.collector import paused
from custody.extract.writer import PartWriter
from custody.sources.sqltypes import ColumnPlan
from custody.sources.sqlvalues import RowConverter


def cursor_batches(conn: sa.Connection, stmt: sa.Select, plans: list[ColumnPlan], chunk_rows: int,
                   writer: PartWriter) -> Iterator[pa.Table]:
    """Stream ``stmt`` through a server-side cursor in Arrow tables of at most ``chunk_rows`` good
    rows typed by ``plans``; rows that do not convert go to ``writer``'s quarantine instead."""
    converter = RowConverter(plans)
    result = conn.execution_options(stream_results=True, yield_per=chunk_rows).execute(stmt)
    partitions = result.partitions(chunk_rows)
    position = 0
    while True:
        # A partition's rows (row objects the cyclic collector tracks) fetched and converted with
        # the collector paused: otherwise it walks the task's heap a few times per partition.
        with paused():
            rows = next(partitions, None)
            if rows is None:
                return
            converted = converter.convert(rows, first_position=position)
            position += len(rows)
            del rows
        if converted.bad is not None:
            writer.add_quarantine(converted.bad, converted.bad_reasons)
        yield converted.good
