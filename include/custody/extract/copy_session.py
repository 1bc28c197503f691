"""The psycopg 3 COPY source: ``COPY (SELECT ...) TO STDOUT`` read by the extracting session itself.

Airflow's PostgreSQL hook hands out ``postgresql+psycopg`` (psycopg 3) engines. With psycopg 3
the session that took the range's ``COUNT(*)`` runs the COPY itself, in the same REPEATABLE READ
transaction, so none of what the psycopg2 child process needs is needed here: no exported
snapshot, no replay of the role and ``search_path``, no check that a second session resolves the
table to the same relation, and row-level security applies exactly as on the cursor path (the
session reads the rows it sees), so tables with row-level security keep the fast path.

libpq hands COPY data over one row per message (``PQgetCopyData``; no libpq call returns more),
so a reader thread gathers the rows into blocks of about ``CopyStream.block`` bytes through the
connection's libpq wrapper (``pgconn.get_copy_data`` without blocking, waiting on the socket with
the GIL released) and queues whole blocks in a ``CopyStream`` for Arrow's CSV reader. Per row
that is one C call and one copy into the block; no value is parsed in Python.

Each row is copied into the block at once because the row arrives as a ``memoryview``, an object
the cyclic garbage collector tracks. Kept in a list until the block was joined, ten thousand of
them lived per block, and the collector ran from this thread about once per 700 rows, its older
generations over the task process's whole heap (Airflow, SQLAlchemy and pydantic: hundreds of
thousands of objects). Per million ``contacts`` rows in a process that has imported the Task
SDK: 1.75-2.1 s of CPU that way, 0.6 s through ``Copy.read`` (psycopg's own row iterator, copying
likewise), 0.4 s here (``tests/extract/test_copy_session.py``: at most two collections in the
reader for 60,000 rows, where keeping the rows set off 166).
"""

from __future__ import annotations

import select
import threading
from typing import Any

import sqlalchemy as sa

from custody.extract.copy_stream import CopyStream


class SessionCopy:
    """``sql`` (a ``COPY ... TO STDOUT``) streamed from ``conn``'s own psycopg 3 session into ``stream``.

    ``start`` runs it in a reader thread; ``stop`` cancels it when the consumer gave up; ``finish``
    waits for the thread and raises the database's error, if any, as SQLAlchemy's ``DBAPIError``
    (the driver exception's class and SQLSTATE only: its message could quote a value). The
    connection must not be used by anyone else until ``finish`` returned.
    """

    def __init__(self, conn: sa.Connection, sql: str, stream: CopyStream) -> None:
        self._raw = conn.connection.driver_connection
        self._sql = sql
        self.stream = stream
        self.rows = 0
        self._error: BaseException | None = None
        self._cancelled = False
        self._thread = threading.Thread(target=self._run, name="custody-copy", daemon=True)

    def start(self) -> SessionCopy:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Ask the reader to cancel the COPY and drain what the server already sent."""
        self.stream.abandon()

    def finish(self) -> None:
        """Wait for the reader; raise ``sqlalchemy.exc.DBAPIError`` when the COPY failed (not when
        it was cancelled by ``stop``)."""
        self._thread.join()
        err = self._error
        if err is None or (self._cancelled and self.stream.abandoned):
            return
        import psycopg

        if isinstance(err, psycopg.Error):
            raise sa.exc.DBAPIError.instance(None, None, err, psycopg.Error, hide_parameters=True) from None
        raise err

    def _run(self) -> None:
        try:
            with self._raw.cursor() as cursor, cursor.copy(self._sql):
                self._pump()
        except BaseException as exc:  # noqa: BLE001 - handed to finish() in the consuming thread
            self._error = exc
        finally:
            self.stream.end()

    def _pump(self) -> None:
        """Read every row of the COPY, queueing blocks; then take the COPY's final result.

        Through the compiled reader (``custody.extract.copy_native``) when it can be used here: a
        C loop over libpq per block, without the interpreter lock; else row by row in Python.
        """
        from custody.extract import copy_native

        reader = copy_native.block_reader(self._raw.pgconn, self.stream.block)
        if reader is not None:
            self._pump_blocks(reader)
            return
        pg = self._raw.pgconn
        get = pg.get_copy_data
        poller = select.poll()
        poller.register(pg.socket, select.POLLIN)
        stream, limit = self.stream, self.stream.block
        block = bytearray()
        rows = 0
        while True:
            nbytes, data = get(1)
            if nbytes > 0:
                rows += 1
                block += data  # copied at once: no row's buffer outlives this iteration
                if len(block) >= limit:
                    if stream.abandoned:
                        self._cancel()
                    else:
                        stream.put(block)
                    block = bytearray()
            elif nbytes == 0:  # nothing buffered: wait for the socket (the GIL is released)
                poller.poll(1000)
                pg.consume_input()
                if stream.abandoned:
                    self._cancel()
            else:
                break
        if not stream.abandoned:
            stream.put(block)
        self.rows = rows
        self._final_result(pg, poller)

    def _pump_blocks(self, reader: Any) -> None:
        from custody.extract.copy_native import END, FAILED

        stream, rows = self.stream, 0
        while True:
            data, n, state = reader()
            rows += n
            if data and not stream.abandoned:
                stream.put(data)
            if stream.abandoned:
                self._cancel()
            if state == FAILED:
                import psycopg

                # libpq's message may quote the server's, and so a value: the class only.
                raise psycopg.OperationalError("failed to read COPY data")
            if state == END:
                break  # else MORE (a full block) or IDLE (nothing for a second): read on
        self.rows = rows
        self._final_result(self._raw.pgconn)

    def _cancel(self) -> None:
        if not self._cancelled:
            self._cancelled = True
            self._raw.cancel_safe()

    def _final_result(self, pg: Any, poller: Any = None) -> None:
        import psycopg
        from psycopg import pq

        if poller is None:
            poller = select.poll()
            poller.register(pg.socket, select.POLLIN)
        while True:
            while pg.is_busy():
                poller.poll(1000)
                pg.consume_input()
            result = pg.get_result()
            if result is None:
                return
            if result.status == pq.ExecStatus.FATAL_ERROR:
                state = (result.error_field(pq.DiagnosticField.SQLSTATE) or b"").decode("ascii", "replace")
                try:
                    cls = psycopg.errors.lookup(state)
                except KeyError:
                    cls = psycopg.DatabaseError
                # Only the class (and with it the SQLSTATE): the server's message may quote a value.
                error = cls("COPY failed")
                if cls is psycopg.DatabaseError:
                    error.sqlstate = state or None
                self._error = self._error or error
