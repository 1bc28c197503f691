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

``table_digest`` is a faster, bit-identical ``custody.hashing.table_hash``: the SHA-256 loop runs
over Arrow's string buffer without building Python strings, and the 256-bit sum is vectorised.
"""

from __future__ import annotations

import gc
import hashlib
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from custody import hashing

ROW_KEY = "_custody_row_key"
ROW_HASH = "_custody_row_hash"
ROWKEYS_SCHEMA = pa.schema([pa.field(ROW_KEY, pa.string(), nullable=False),
                            pa.field(ROW_HASH, pa.string(), nullable=False)])
PACKED_SCHEMA = pa.schema([pa.field("rows", pa.int64(), nullable=False),
                           pa.field("_custody_row_keys", pa.binary(), nullable=False),
                           pa.field("_custody_row_hashes", pa.binary(), nullable=False)])
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
# byte -> its two hex characters, as one little-endian uint16 (one table lookup per byte)
_HEX_PAIRS = (_HEX[np.arange(256) >> 4].astype(np.uint16) | (_HEX[np.arange(256) & 15].astype(np.uint16) << 8))
_COLON = pa.scalar(":")
_COMMA = pa.scalar(",")


def _digest_slices(data: bytes | memoryview, offsets: list[int]) -> bytes:
    sha = hashlib.sha256
    view = memoryview(data)
    # The loop allocates millions of short-lived objects without cycles; the cyclic collector
    # would otherwise run every 700 allocations and scan the whole heap (12 % of extraction time).
    enabled = gc.isenabled()
    gc.disable()
    try:
        return b"".join([sha(view[a:b]).digest() for a, b in zip(offsets[:-1], offsets[1:])])
    finally:
        if enabled:
            gc.enable()


def digest_strings(strings: pa.Array | pa.ChunkedArray, pool: Any = None) -> bytes:
    """SHA-256 of each UTF-8 string (no nulls), concatenated: ``32 * len(strings)`` bytes.

    ``pool``: an optional ``HashWorker`` (``hash_pool()``). The per-row loop holds the GIL
    (hashlib releases it only for inputs of 2 KiB or more), so a worker process lets hashing run
    beside Arrow parsing and encryption instead of taking turns with them.
    """
    if isinstance(strings, pa.ChunkedArray):
        strings = strings.combine_chunks()
    if len(strings) == 0:
        return b""
    if strings.null_count:
        raise ValueError("digest_strings needs an array without nulls")
    if pa.types.is_large_string(strings.type):
        width = np.int64
    elif pa.types.is_string(strings.type):
        width = np.int32
    else:
        raise TypeError(f"digest_strings needs strings, not {strings.type}")
    _, offsets_buf, data_buf = strings.buffers()
    n = len(strings)
    offsets = np.frombuffer(offsets_buf, dtype=width, count=n + 1, offset=strings.offset * width().itemsize)
    data = memoryview(data_buf) if data_buf is not None else memoryview(b"")
    if pool is not None:
        start, end = int(offsets[0]), int(offsets[-1])
        return pool.digest(data[start:end], (offsets - start).astype(np.int64).tobytes(), n)
    return _digest_slices(data, offsets.tolist())


def sum_digests(digests: bytes) -> int:
    """Multiset hash of concatenated 32-byte digests: their sum as 256-bit integers mod 2^256.

    Equal to ``sum(int.from_bytes(d, "big")) % 2**256``; vectorised as eight 32-bit limbs summed in
    uint64 (exact for fewer than 2^32 rows per call).
    """
    if not digests:
        return 0
    limbs = np.frombuffer(digests, dtype=">u4").reshape(-1, 8)
    if limbs.shape[0] >= 1 << 32:
        raise ValueError("sum_digests handles fewer than 2^32 digests per call")
    sums = limbs.astype(np.uint64).sum(axis=0)
    total = 0
    for k, s in enumerate(sums.tolist()):
        total += int(s) << (32 * (7 - k))
    return total % hashing.MOD


def hex_digests(digests: bytes) -> pa.Array:
    """Concatenated 32-byte digests as a ``string`` array of 64 lower-case hex characters each."""
    n = len(digests) // 32
    out = _hex_bytes(np.frombuffer(digests, dtype=np.uint8))
    offsets = np.arange(0, 64 * n + 1, 64, dtype=np.int32)
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(out)])


def _hex_bytes(raw: np.ndarray) -> np.ndarray:
    """Lower-case hex of a uint8 array, as uint8 characters (two per byte)."""
    return _HEX_PAIRS[raw].view(np.uint8) if raw.size else np.empty(0, np.uint8)


def _hex_binary(column: pa.Array) -> pa.Array:
    """``binary`` values as lower-case hex strings (nulls kept), vectorised."""
    if pa.types.is_fixed_size_binary(column.type):
        column = column.cast(pa.binary())
    if pa.types.is_large_binary(column.type):
        column = column.cast(pa.binary())
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    n = len(column)
    validity, offsets_buf, data_buf = column.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int32, count=n + 1, offset=column.offset * 4)
    start, end = int(offsets[0]), int(offsets[-1])
    raw = np.frombuffer(data_buf, dtype=np.uint8)[start:end] if data_buf is not None else np.empty(0, np.uint8)
    out = _hex_bytes(raw)
    new_offsets = ((offsets - start) * 2).astype(np.int32)
    arr = pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(new_offsets), pa.py_buffer(out)])
    if column.null_count:
        return pc.if_else(column.is_null(), pa.scalar(None, pa.string()), arr)
    return arr


def _as_text(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """``custody.hashing``'s text rendering, with fast paths for UTC timestamps and binary.

    Arrow renders a UTC timestamp as the naive rendering plus ``Z`` (checked by the tests), but
    casting with the zone attached is an order of magnitude slower.
    """
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    t = column.type
    if pa.types.is_timestamp(t) and t.tz in ("UTC", "+00:00"):
        naive = pc.cast(pc.cast(column, pa.timestamp(t.unit)), pa.string())
        return pc.binary_join_element_wise(naive, pa.scalar("Z"), "")
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return _hex_binary(column)
    return hashing._as_text(column)


def canonical_rows(table: pa.Table) -> pa.Array:
    """Same strings as ``custody.hashing.canonical_rows`` (docs/format.md section 3), faster.

    Columns without nulls contribute their length and text directly to one final join (one
    allocation for the whole row); only columns with nulls are pre-joined so a null renders ``N``.
    """
    if table.num_columns == 0:
        return pa.array([""] * table.num_rows, pa.string())
    pieces: list[Any] = []
    for i, col in enumerate(table.columns):
        text = _as_text(col)
        length = pc.cast(pc.utf8_length(text), pa.string())
        if i:
            pieces.append(_COMMA)
        if text.null_count:
            pieces.append(pc.fill_null(pc.binary_join_element_wise(length, text, ":"), "N"))
        else:
            pieces += [length, _COLON, text]
    if len(pieces) == 1:
        return pieces[0]
    return pc.binary_join_element_wise(*pieces, "")


def row_digests(table: pa.Table, pool: Any = None) -> bytes:
    """SHA-256 of each row's canonical rendering (``custody.hashing``), concatenated."""
    return digest_strings(canonical_rows(table), pool)


def table_digest(table: pa.Table) -> int:
    """Same value as ``custody.hashing.table_hash(table)``, several times faster on wide chunks."""
    return sum_digests(row_digests(table))


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
