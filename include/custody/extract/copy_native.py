"""The compiled COPY reader (``custody._copyread``) bound to the libpq psycopg runs on.

``block_reader(pgconn)`` returns a function that reads the next block of a COPY in progress on
that psycopg 3 connection, or None when the compiled reader cannot be used here (not built; a
psycopg implementation whose libpq cannot be found with certainty; ``CUSTODY_COPY_READER=python``),
in which case ``custody.extract.copy_session`` reads row by row through psycopg as before.

The libpq must be the one psycopg's connection was made with: the PGconn structure is private to
it. It is found by psycopg's implementation (the wheel's bundled copy for ``binary``, the library
psycopg's ctypes layer loaded for ``python``), and accepted only when its ``PQlibVersion`` equals
psycopg's ``pq.version()`` and its ``PQsocket`` of the connection equals psycopg's ``socket``.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

try:
    from custody import _copyread
except ImportError:  # not built here
    _copyread = None

MORE, END, FAILED, IDLE = 0, 1, 2, 3

Reader = Callable[[], tuple[bytes, int, int]]


@functools.lru_cache(maxsize=1)
def _libpq() -> tuple[int, int, int, Any] | None:
    """Addresses of PQgetCopyData, PQconsumeInput and PQfreemem in psycopg's libpq, and the
    library itself (for PQsocket); None when it cannot be identified."""
    import ctypes
    import glob

    from psycopg import pq

    impl = pq.__impl__
    if impl == "binary":
        import psycopg_binary

        found = glob.glob(os.path.dirname(psycopg_binary.__file__) + ".libs/libpq*.so*")
        if len(found) != 1:
            return None
        lib = ctypes.CDLL(found[0])  # already loaded by psycopg_binary: the same handle
    elif impl == "python":
        from psycopg.pq import _pq_ctypes

        lib = _pq_ctypes.pq
    else:  # "c": linked against a system libpq that cannot be told apart from others with certainty
        return None
    lib.PQlibVersion.restype = ctypes.c_int
    if lib.PQlibVersion() != pq.version():
        return None
    lib.PQsocket.argtypes = [ctypes.c_void_p]
    lib.PQsocket.restype = ctypes.c_int

    def address(name: str) -> int:
        return ctypes.cast(getattr(lib, name), ctypes.c_void_p).value or 0

    return address("PQgetCopyData"), address("PQconsumeInput"), address("PQfreemem"), lib


def block_reader(pgconn: Any, limit: int, timeout_ms: int = 1000) -> Reader | None:
    """A function reading the next block (>= ``limit`` bytes, unless the COPY ends or stays idle
    for ``timeout_ms``) of the COPY in progress on ``pgconn`` (psycopg's ``PGconn``): returns
    ``(data, rows, state)`` with state ``MORE``, ``END``, ``FAILED`` or ``IDLE``. None when the
    compiled reader cannot be used (see the module docstring)."""
    if _copyread is None or os.environ.get("CUSTODY_COPY_READER", "").lower() == "python":
        return None
    try:
        found = _libpq()
    except (ImportError, OSError, AttributeError):
        return None
    if found is None:
        return None
    get, consume, free, lib = found
    ptr, sock = pgconn.pgconn_ptr, pgconn.socket
    if not ptr or lib.PQsocket(ptr) != sock:
        return None
    return functools.partial(_copyread.read_block, ptr, get, consume, free, sock, limit, timeout_ms)
