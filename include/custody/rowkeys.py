"""Change capture: a stable key and a content hash for every extracted row, computed in bulk.

For the tables that stage row keys (``TableConfig.row_keys``: by default the incremental ones
with a primary key), each staged chunk has a companion ``rowkeys`` object (same ``chunk``
number). Per row of the chunk, in row order:

    _custody_row_key   SHA-256 of "<len>:<source>,<len>:<table>," + canonical primary key
    _custody_row_hash  SHA-256 of the canonical row (custody.hashing.row_hashes)

Packed format (``PACKED_SCHEMA``, one Arrow row per chunk): ``rows`` (int64) and the 32-byte
digests concatenated in row order in ``_custody_row_keys`` and ``_custody_row_hashes``
(``binary``, ``32 * rows`` bytes each). One row per chunk keeps the object's own content hash to
one SHA-256 instead of one per source row (it was a third of the extraction time at 10M rows);
``unpack`` gives the per-row view (64-hex strings).

The canonical renderings are ``custody.hashing.canonical_rows`` (docs/format.md section 3), so
``_custody_row_hash`` is exactly the row hash the chunk's ``content_hash`` adds up. Keeping them in
a side object leaves the chunk holding only source columns: ``custody restore`` returns exactly
the source rows, and the table's content hash equals the source query's.

Two runs of an incremental table can be merged by ``_custody_row_key`` (latest run wins) and
unchanged rows skipped by ``_custody_row_hash``. The key is a plain hash of the primary key: it is
pseudonymous, not anonymous (PIPL Art 73), and is only ever stored encrypted.

The renderings and digests come from ``custody.hashing`` (one implementation of the format);
this module adds the row keys, the packed object and a hashing worker process.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from custody.hashing import hex_digests, native, sum_digests
from custody.hashing import row_digests as _row_digests

ROW_KEY = "_custody_row_key"
ROW_HASH = "_custody_row_hash"
ROWKEYS_SCHEMA = pa.schema([pa.field(ROW_KEY, pa.string(), nullable=False),
                            pa.field(ROW_HASH, pa.string(), nullable=False)])
PACKED_SCHEMA = pa.schema([pa.field("rows", pa.int64(), nullable=False),
                           pa.field("_custody_row_keys", pa.binary(), nullable=False),
                           pa.field("_custody_row_hashes", pa.binary(), nullable=False)])


def row_digests(table: pa.Table, pool: Any = None) -> bytes:
    """SHA-256 of each row's canonical rendering (``custody.hashing``), concatenated."""
    return _row_digests(table, pool=pool)


def key_digests(table: pa.Table, key_columns: list[str], *, source: str, table_name: str,
                pool: Any = None) -> bytes:
    """SHA-256 row keys: ``"<len>:<source>,<len>:<table>,"`` + canonical rendering of the key columns.

    Without key columns (file drops without a primary key) the caller passes positional columns.
    """
    prefix = f"{len(source)}:{source},{len(table_name)}:{table_name},"
    return _row_digests(table.select(key_columns), prefix, pool)


def pack(keys: bytes, digests: bytes) -> pa.Table:
    """The packed ``rowkeys`` object of one chunk (``PACKED_SCHEMA``, one row)."""
    if len(keys) != len(digests) or len(keys) % 32:
        raise ValueError("keys and row hashes must be 32-byte digests, one each per row")
    return pa.Table.from_arrays(
        [pa.array([len(keys) // 32], pa.int64()), pa.array([keys], pa.binary()), pa.array([digests], pa.binary())],
        schema=PACKED_SCHEMA)


def unpack(packed: pa.Table) -> pa.Table:
    """Per-row view of packed ``rowkeys`` objects: ``ROWKEYS_SCHEMA`` (64-hex strings), row order kept.

    Raises ``ValueError`` when a packed row's digest lengths disagree with its ``rows``.
    """
    keys, hashes = [], []
    for n, k, h in zip(*(packed.column(i).to_pylist() for i in range(3))):
        if len(k) != 32 * n or len(h) != 32 * n:
            raise ValueError("packed rowkeys: digest lengths do not match the row count")
        keys.append(k)
        hashes.append(h)
    return pa.Table.from_arrays([hex_digests(b"".join(keys)), hex_digests(b"".join(hashes))], schema=ROWKEYS_SCHEMA)


def change_capture(
    table: pa.Table, key_columns: list[str], *, source: str, table_name: str
) -> tuple[pa.Table, int]:
    """Packed row keys and row hashes of one chunk, and the chunk's multiset content hash.

    Returns ``(packed, content_hash)``: ``packed`` has ``PACKED_SCHEMA`` (see ``unpack``);
    ``content_hash`` equals ``custody.hashing.table_hash(table)``.
    """
    digests = row_digests(table)
    keys = key_digests(table, key_columns, source=source, table_name=table_name)
    return pack(keys, digests), sum_digests(digests)


# The worker shares one memfd mapping with this process. A request line "<n> <size> <offsets at>
# <capacity>\n" says: row strings are bytes [0, size), their n + 1 int64 offsets start at
# <offsets at>; the worker writes the 32 * n digest bytes right after the offsets (8-aligned) and
# answers "ok\n". Only hashlib and mmap: it starts in milliseconds.
_WORKER = r"""
import gc, hashlib, mmap, sys
gc.disable()
fd = int(sys.argv[1])
inp, out = sys.stdin.buffer, sys.stdout.buffer
sha = hashlib.sha256
shared, capacity = None, 0
while True:
    head = inp.readline()
    if not head:
        break
    n, size, at, cap = map(int, head.split())
    if cap != capacity:
        if shared is not None:
            shared.close()
        shared, capacity = mmap.mmap(fd, cap), cap
    view = memoryview(shared)
    offs = view[at:at + 8 * (n + 1)].cast("q")
    data = view[:size]
    digests = b"".join([sha(data[a:b]).digest() for a, b in zip(offs[:-1], offs[1:])])
    end = at + 8 * (n + 1)
    view[end:end + 32 * n] = digests
    offs.release()
    data.release()
    view.release()
    out.write(b"ok\n")
    out.flush()
"""


class HashWorker:
    """A child process that SHA-256es row strings beside this process (its own GIL).

    Row strings, offsets and digests pass through one shared memory mapping (``memfd``, Linux),
    so the only bytes crossing the pipe are a request line and ``ok``: no copy through the kernel
    and no fresh buffers per chunk. The mapping grows to the largest chunk seen. Thread-safe (one
    request at a time). ``digest(data, offsets, n)`` returns ``32 * n`` bytes. Raises ``OSError``
    if the worker died or ``os.memfd_create`` is missing.
    """

    def __init__(self) -> None:
        import os
        import subprocess
        import sys
        import threading

        if not hasattr(os, "memfd_create"):
            raise OSError("memfd_create is not available on this platform")
        self._fd = os.memfd_create("custody-hash", getattr(os, "MFD_CLOEXEC", 1))
        self._map = None
        self._capacity = 0
        self._proc = subprocess.Popen([sys.executable, "-c", _WORKER, str(self._fd)], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, pass_fds=(self._fd,))
        self._lock = threading.Lock()

    def _ensure(self, need: int) -> Any:
        import mmap
        import os

        if need > self._capacity:
            capacity = max(need, 2 * self._capacity, 1 << 20)
            os.ftruncate(self._fd, capacity)
            if self._map is not None:
                self._map.close()
            self._map, self._capacity = mmap.mmap(self._fd, capacity), capacity
        return self._map

    def digest(self, data: memoryview, offsets: bytes, n: int) -> bytes:
        with self._lock:
            size = len(data)
            at = -(-size // 8) * 8
            end = at + len(offsets)
            shared = self._ensure(end + 32 * n)
            shared[:size] = data
            shared[at:end] = offsets
            stdin, stdout = self._proc.stdin, self._proc.stdout
            stdin.write(f"{n} {size} {at} {self._capacity}\n".encode())
            stdin.flush()
            if stdout.readline() != b"ok\n":
                raise OSError("hash worker stopped")
            return shared[end:end + 32 * n]

    def close(self) -> None:
        """Stop the worker and free the shared mapping (the worker also exits with this process)."""
        import os

        try:
            self._proc.stdin.close()
            self._proc.wait(timeout=5)
        except Exception:  # best effort at shutdown
            self._proc.kill()
        if self._map is not None:
            self._map.close()
            self._map = None
        try:
            os.close(self._fd)
        except OSError:
            pass


_POOL: HashWorker | None = None


def hash_pool() -> HashWorker | None:
    """The process-wide ``HashWorker`` (started on first use), or None when disabled.

    None where the compiled row hasher is built (``custody.hashing.native()``): it already hashes
    without the interpreter lock, so a second process would only add copies.

    ``CUSTODY_HASH_WORKERS=0`` hashes in-process (tests, tiny tables); so does a platform without
    subprocesses or ``memfd_create``.
    """
    global _POOL
    import atexit
    import os

    if os.environ.get("CUSTODY_HASH_WORKERS", "1") == "0" or native():
        return None
    if _POOL is None or _POOL._proc.poll() is not None:
        try:
            _POOL = HashWorker()
        except OSError:
            return None
        atexit.register(_POOL.close)
    return _POOL
