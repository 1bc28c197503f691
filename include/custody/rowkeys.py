"""Change capture: a stable key and a content hash for every extracted row, computed in bulk.

Each staged chunk has a companion ``rowkeys`` object (same ``chunk`` number). Per row of the
chunk, in row order:

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
import pyarrow.compute as pc

from custody.hashing import canonical_rows, digest_strings, hex_digests, sum_digests

ROW_KEY = "_custody_row_key"
ROW_HASH = "_custody_row_hash"
ROWKEYS_SCHEMA = pa.schema([pa.field(ROW_KEY, pa.string(), nullable=False),
                            pa.field(ROW_HASH, pa.string(), nullable=False)])
PACKED_SCHEMA = pa.schema([pa.field("rows", pa.int64(), nullable=False),
                           pa.field("_custody_row_keys", pa.binary(), nullable=False),
                           pa.field("_custody_row_hashes", pa.binary(), nullable=False)])


def row_digests(table: pa.Table, pool: Any = None) -> bytes:
    """SHA-256 of each row's canonical rendering (``custody.hashing``), concatenated."""
    return digest_strings(canonical_rows(table), pool)


def key_digests(table: pa.Table, key_columns: list[str], *, source: str, table_name: str,
                pool: Any = None) -> bytes:
    """SHA-256 row keys: ``"<len>:<source>,<len>:<table>,"`` + canonical rendering of the key columns.

    Without key columns (file drops without a primary key) the caller passes positional columns.
    """
    prefix = f"{len(source)}:{source},{len(table_name)}:{table_name},"
    keys = canonical_rows(table.select(key_columns))
    joined = pc.binary_join_element_wise(pa.scalar(prefix), keys, "")
    return digest_strings(joined, pool)


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


# The worker reads requests "<n> <data bytes>\n" + n+1 int64 offsets + data from stdin and answers
# with 32 * n digest bytes. Only hashlib: it starts in milliseconds.
_WORKER = r"""
import gc, hashlib, sys
from array import array
gc.disable()
inp, out = sys.stdin.buffer, sys.stdout.buffer
sha = hashlib.sha256
while True:
    head = inp.readline()
    if not head:
        break
    n, size = map(int, head.split())
    offs = array("q")
    offs.frombytes(inp.read(8 * (n + 1)))
    view = memoryview(inp.read(size))
    out.write(b"".join([sha(view[a:b]).digest() for a, b in zip(offs[:-1], offs[1:])]))
    out.flush()
"""


class HashWorker:
    """A child process that SHA-256es row strings beside this process (its own GIL).

    Thread-safe (one request at a time). ``digest(data, offsets, n)`` returns ``32 * n`` bytes.
    Raises ``OSError`` if the worker died.
    """

    def __init__(self) -> None:
        import subprocess
        import sys
        import threading

        self._proc = subprocess.Popen([sys.executable, "-c", _WORKER], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, bufsize=1 << 20)
        self._lock = threading.Lock()

    def digest(self, data: memoryview, offsets: bytes, n: int) -> bytes:
        with self._lock:
            stdin, stdout = self._proc.stdin, self._proc.stdout
            stdin.write(f"{n} {len(data)}\n".encode())
            stdin.write(offsets)
            stdin.write(data)
            stdin.flush()
            out = stdout.read(32 * n)
            if len(out) != 32 * n:
                raise OSError("hash worker stopped")
            return out

    def close(self) -> None:
        """Stop the worker (it also exits when this process does)."""
        try:
            self._proc.stdin.close()
            self._proc.wait(timeout=5)
        except Exception:  # best effort at shutdown
            self._proc.kill()


_POOL: HashWorker | None = None


def hash_pool() -> HashWorker | None:
    """The process-wide ``HashWorker`` (started on first use), or None when disabled.

    ``CUSTODY_HASH_WORKERS=0`` hashes in-process (tests, tiny tables, platforms without
    subprocesses).
    """
    global _POOL
    import atexit
    import os

    if os.environ.get("CUSTODY_HASH_WORKERS", "1") == "0":
        return None
    if _POOL is None or _POOL._proc.poll() is not None:
        try:
            _POOL = HashWorker()
        except OSError:
            return None
        atexit.register(_POOL.close)
    return _POOL
