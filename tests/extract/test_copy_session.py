"""The psycopg 3 COPY reader (``custody.extract.copy_session``) on the machine's PostgreSQL."""

from __future__ import annotations

import gc
import os
import threading

import pytest
import sqlalchemy as sa

from custody.demo.loaders import drop_database, ensure_database
from custody.extract.copy_session import SessionCopy
from custody.extract.copy_stream import CopyStream

DB = f"custody_copy_session_{os.getpid()}"
ROWS = 60_000


@pytest.fixture
def pg3(pg_server_url):
    url = sa.make_url(ensure_database(pg_server_url, DB)).set(drivername="postgresql+psycopg")
    engine = sa.create_engine(url)
    yield engine
    engine.dispose()
    drop_database(pg_server_url, DB)


def test_pump_keeps_no_object_per_row_alive(pg3):
    """The reader copies each row into its block at once. Keeping the rows' buffers (memoryviews,
    which the cyclic collector tracks) until a block was joined made tens of thousands of live
    objects per block, and the collector ran its generation 1 and 2 collections over the whole
    task heap again and again from the reader thread: 1.75-2.1 CPU s per million rows in a task
    process against 0.4 s now (bench/pipeline.py's extract_part went from 3.4 to 2.7-2.9 s)."""
    started: dict[str, int] = {}

    def count(phase: str, info: dict) -> None:
        if phase == "start" and threading.current_thread().name == "custody-copy":
            started[f"gen{info['generation']}"] = started.get(f"gen{info['generation']}", 0) + 1

    sql = (f"COPY (SELECT g, repeat('x', g % 50), g::text || ',\"q\"' FROM generate_series(1, {ROWS}) g) "
           "TO STDOUT WITH (FORMAT csv)")
    # CSV quotes an empty string (a null would be nothing) and a value holding a comma or quote.
    expected = b"".join(
        f'{g},{"x" * (g % 50) or chr(34) * 2},"{g},""q"""\n'.encode() for g in range(1, ROWS + 1))
    gc.callbacks.append(count)
    try:
        with pg3.connect() as conn:
            copy = SessionCopy(conn, sql, CopyStream(block=1 << 16)).start()
            received = copy.stream.read()
            copy.finish()
    finally:
        gc.callbacks.remove(count)
    assert received == expected  # every byte, in order, across many blocks
    assert copy.rows == ROWS
    # One collection may fall in the thread when the allocation count was near its threshold; one
    # per 700 rows (86 here) is what rows kept alive cause.
    assert sum(started.values()) <= 2, started
