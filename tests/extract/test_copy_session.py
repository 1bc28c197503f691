"""The psycopg 3 COPY reader (``custody.extract.copy_session``) on the machine's PostgreSQL."""

from __future__ import annotations

import gc
import os
import threading

import pytest
import sqlalchemy as sa

from custody.demo.loaders import drop_database, ensure_database
from custody.extract import copy_native
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


@pytest.fixture(params=["native", "python"])
def reader(request, monkeypatch):
    """Both readers of the COPY: the compiled block reader and psycopg row by row."""
    if request.param == "python":
        monkeypatch.setenv("CUSTODY_COPY_READER", "python")
    elif copy_native._copyread is None and os.environ.get("CI") != "true":
        pytest.skip("custody._copyread was not built here (no C compiler at install)")
    return request.param


def _uses(conn, expected: str) -> None:
    found = copy_native.block_reader(conn.connection.driver_connection.pgconn, 1 << 16)
    assert (found is not None) == (expected == "native")


def test_pump_keeps_no_object_per_row_alive(pg3, reader):
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
            _uses(conn, reader)
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


def test_a_copy_failing_midway_reports_the_class_only_on_both_readers(pg3, reader):
    """The server fails the COPY after thousands of rows: finish() raises the driver's class and
    SQLSTATE (division by zero), not the server's message, and the connection can be rolled back."""
    sql = ("COPY (SELECT g, 'canary-' || g, 1 / (g - 30000) FROM generate_series(1, 60000) g) "
           "TO STDOUT WITH (FORMAT csv)")
    with pg3.connect() as conn:
        _uses(conn, reader)
        trans = conn.begin()
        copy = SessionCopy(conn, sql, CopyStream(block=1 << 16)).start()
        got = copy.stream.read()
        with pytest.raises(sa.exc.DBAPIError) as caught:
            copy.finish()
        trans.rollback()
        assert conn.exec_driver_sql("SELECT 41 + 1").scalar() == 42
    assert type(caught.value.orig).__name__ == "DivisionByZero"
    assert "canary" not in str(caught.value) and "canary" not in repr(caught.value.orig)
    assert got.count(b"\n") < 30000  # no row past the failing one


def test_an_abandoned_copy_is_cancelled_and_the_connection_stays_usable(pg3, reader):
    sql = "COPY (SELECT g, repeat('y', 200) FROM generate_series(1, 2000000) g) TO STDOUT WITH (FORMAT csv)"
    with pg3.connect() as conn:
        trans = conn.begin()
        copy = SessionCopy(conn, sql, CopyStream(block=1 << 16, depth=2)).start()
        first = copy.stream.read(1 << 16)
        copy.stop()
        copy.finish()  # cancelled on request: no error
        trans.rollback()
        assert conn.exec_driver_sql("SELECT 6 * 7").scalar() == 42
    assert first.startswith(b"1,yyy") and copy.rows < 2_000_000


def test_a_copy_that_pauses_longer_than_the_reader_waits_is_read_whole(pg3, reader):
    """No row for 1.3 s (the compiled reader returns to Python after 1 s without data to look for
    a cancellation, then reads on): every row arrives."""
    sql = ("COPY (SELECT g, pg_sleep(CASE WHEN g = 2 THEN 1.3 ELSE 0 END) FROM generate_series(1, 3) g) "
           "TO STDOUT WITH (FORMAT csv)")
    with pg3.connect() as conn:
        copy = SessionCopy(conn, sql, CopyStream(block=1 << 16)).start()
        got = copy.stream.read()
        copy.finish()
    assert got == b'1,""\n2,""\n3,""\n' and copy.rows == 3  # pg_sleep gives void: an empty text


def test_the_compiled_reader_refuses_a_connection_it_cannot_vouch_for(pg3):
    if copy_native._copyread is None and os.environ.get("CI") != "true":
        pytest.skip("custody._copyread was not built here (no C compiler at install)")
    with pg3.connect() as conn:
        pgconn = conn.connection.driver_connection.pgconn

        class Other:  # a PGconn whose socket is not the one libpq reports for that pointer
            pgconn_ptr = pgconn.pgconn_ptr
            socket = pgconn.socket + 1000

        assert copy_native.block_reader(Other(), 1 << 16) is None
        assert copy_native.block_reader(pgconn, 1 << 16) is not None
