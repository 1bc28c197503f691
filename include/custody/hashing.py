"""Row and table content hashes, independent of chunking and row order.

Row hash: SHA-256 over a canonical, length-prefixed rendering of the row's values in schema
order (``N`` for null, ``<length>:<text>`` otherwise, joined by ``,``). The text of each Arrow
type is specified in docs/format.md section 3 (Arrow's own cast to string for scalars: decimals
keep their scale, timestamps ISO with ``Z``, shortest round-trip floats; binary as hex; lists and
structs element by element), so a second implementation can recompute every hash.

Table hash: the sum of all row hashes read as 256-bit integers, modulo 2^256 (a multiset hash,
"AdHash", Bellare & Micciancio 1997): equal for the same multiset of rows whatever the order or
chunking, so chunk hashes add up to the table hash and a restore can be checked against the source
query. It detects accidental change and row loss; it is not a signature (the manifest MAC is).

This module holds the reference implementation of that rendering and hash (docs/format.md
section 3), vectorised: rows are rendered with Arrow kernels (``canonical_rows``), SHA-256 runs over
Arrow's string buffer without building Python strings, and the 256-bit sum is done in numpy limbs.
Where the compiled module ``custody._rowhash`` was built (setup.py), ``row_digests`` hands each
column's text to it instead: it assembles and hashes every row in C without the interpreter lock,
giving the same digests (tests/core/test_rowhash_native.py) at a fraction of the CPU.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from custody.collector import paused

try:  # the compiled row hasher (include/custody/_rowhash.c), optional
    from custody import _rowhash as _native
except ImportError:  # not built here: the Arrow/hashlib implementation below gives the same digests
    _native = None

MOD = 1 << 256
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
# byte -> its two hex characters, as one little-endian uint16 (one table lookup per byte)
_HEX_PAIRS = (_HEX[np.arange(256) >> 4].astype(np.uint16) | (_HEX[np.arange(256) & 15].astype(np.uint16) << 8))


def _field(text: str | None) -> str:
    return "N" if text is None else f"{len(text)}:{text}"


def _nested_text(column: pa.Array) -> pa.Array:
    """Text of list, struct and map values (docs/format.md section 3.2), element by element.

    ``[<field>,<field>,...]`` for a list (each element rendered as a field of the row: ``N`` or
    ``<chars>:<text>``), ``{<field of name>=<field of value>,...}`` for a struct in field order, and a
    map as the list of its ``{key, value}`` entries. Only quarantine objects hold nested columns
    (their reason lists), so a Python loop over the elements is cheap enough.
    """
    t = column.type
    valid = column.is_valid().to_pylist()
    if pa.types.is_struct(t):
        children = [_as_text(column.field(i)).to_pylist() for i in range(t.num_fields)]
        names = [_field(t.field(i).name) for i in range(t.num_fields)]
        rows = ["{" + ",".join(f"{n}={_field(c[r])}" for n, c in zip(names, children)) + "}"
                for r in range(len(column))]
    else:  # list, large list, fixed-size list, map
        flat = column.flatten() if not pa.types.is_map(t) else pa.StructArray.from_arrays(
            [column.keys, column.items], names=["key", "value"])
        texts = _as_text(flat).to_pylist()
        if pa.types.is_fixed_size_list(t):
            size = t.list_size
            bounds = [(r * size, r * size + size) for r in range(len(column))]
        else:
            offsets = column.offsets.to_pylist()
            base = offsets[0]
            bounds = [(a - base, b - base) for a, b in zip(offsets[:-1], offsets[1:])]
        rows = ["[" + ",".join(_field(x) for x in texts[a:b]) + "]" for a, b in bounds]
    return pa.array([row if ok else None for row, ok in zip(rows, valid)], pa.string())


def _text_fallback(column: pa.Array) -> pa.Array:
    t = column.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return column.cast(pa.string())
    if pa.types.is_dictionary(t):
        return _as_text(column.dictionary_decode())
    if pa.types.is_null(t):
        return pa.nulls(len(column), pa.string())
    if pa.types.is_nested(t):
        return _nested_text(column)
    return pc.cast(column, pa.string())


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


def hex_digests(digests: bytes) -> pa.Array:
    """Concatenated 32-byte digests as a ``string`` array of 64 lower-case hex characters each."""
    n = len(digests) // 32
    out = _hex_bytes(np.frombuffer(digests, dtype=np.uint8))
    offsets = np.arange(0, 64 * n + 1, 64, dtype=np.int32)
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(out)])


def _as_text(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """Text rendering of one column for the canonical row (fast paths for UTC timestamps and binary).

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
    return _text_fallback(column)


# "<n>:" and ",<n>:" for n < _PREFIX_LIMIT, then the null renderings "N" and ",N" at index
# _PREFIX_LIMIT: one ``take`` turns a column of character counts into its field prefixes.
_PREFIX_LIMIT = 1 << 16
_PREFIX_BYTES = len(f",{_PREFIX_LIMIT - 1}:")  # the longest prefix a table holds
_PREFIXES: dict[bool, pa.Array] = {}
_LARGE_TEXT = (1 << 31) - 1  # bytes of text past which the rows need 64-bit offsets


def _prefix_table(comma: bool) -> pa.Array:
    table = _PREFIXES.get(comma)
    if table is None:
        lead = "," if comma else ""
        table = pa.array([f"{lead}{i}:" for i in range(_PREFIX_LIMIT)] + [f"{lead}N"], pa.string())
        _PREFIXES[comma] = table
    return table


def _field_prefixes(text: pa.Array, comma: bool) -> pa.Array:
    """Per row ``[","]<chars>:`` for a value, ``[","]N`` for a null (the text piece is then empty),
    built for a column holding a value too long for the prefix tables (``canonical_rows``)."""
    lead = "," if comma else ""
    prefix = pc.binary_join_element_wise(lead, pc.cast(pc.utf8_length(text), pa.string()), ":", "")
    return pc.fill_null(prefix, lead + "N") if text.null_count else prefix


def _prefix_index(text: pa.Array) -> np.ndarray | None:
    """Each row's index in a prefix table (``_prefix_table``): its character count, or
    ``_PREFIX_LIMIT`` for a null; None when a value is too long for the table."""
    length = pc.utf8_length(text)
    longest = pc.max(length).as_py()
    if longest is not None and longest >= _PREFIX_LIMIT:
        return None
    if text.null_count:
        length = pc.fill_null(length, _PREFIX_LIMIT)
    return np.asarray(length)


def canonical_rows(table: pa.Table) -> pa.Array:
    """One string per row: the canonical rendering described in the module docstring.

    Returns a ``string`` array (``large_string`` when the rows may pass 2 GiB) without nulls.
    Each column contributes two pieces per row, its field prefix and its text. The texts and the
    two prefix tables (``"<n>:"`` and ``",<n>:"`` for every character count below
    ``_PREFIX_LIMIT``, then the null renderings) are laid end to end, and one ``take`` gathers
    every row's pieces in row-major order: its value buffer is then exactly the rows concatenated
    (every ``2 * columns``-th offset starts a row). A prefix is addressed in its table by the
    value's character count, so no per-column prefix array is built (a column holding a longer
    value gets one, ``_field_prefixes``). About 1.6x faster than one ``binary_join_element_wise``
    over all pieces (measured on bench/extract.py's table, 12 columns); addressing the prefix
    tables instead of building a prefix array per column, a further 1.1x (0.71-0.77 -> 0.65-0.66
    CPU s per million of those rows).
    """
    n = table.num_rows
    if table.num_columns == 0:
        return pa.array([""] * n, pa.string())
    k = 2 * table.num_columns
    pieces: list[pa.Array] = [_prefix_table(False), _prefix_table(True)]
    base = len(pieces[0]) + len(pieces[1])
    width = np.int64 if n * k + base >= 1 << 31 else np.int32
    order = np.empty((n, k), dtype=width)
    rows = np.arange(n, dtype=width)
    tabled = 0  # columns whose prefixes come from the tables
    for i, col in enumerate(table.columns):
        text = _as_text(col)
        index = _prefix_index(text)
        if index is None:  # a value of _PREFIX_LIMIT characters or more: its own prefix array
            pieces.append(_field_prefixes(text, comma=i > 0))
            order[:, 2 * i] = rows + base
            base += n
        else:
            order[:, 2 * i] = index + (len(pieces[0]) if i > 0 else 0)
            tabled += 1
        pieces.append(pc.fill_null(text, "") if text.null_count else text)
        order[:, 2 * i + 1] = rows + base
        base += n
    # 64-bit offsets when the pieces laid end to end, or the rows gathered from them, may pass
    # 2 GiB: the rows hold the texts, the columns' own prefix arrays and, per row of every other
    # column, a prefix from a table of at most _PREFIX_BYTES bytes.
    size = sum(p.buffers()[2].size if p.buffers()[2] is not None else 0 for p in pieces)
    size += _PREFIX_BYTES * n * tabled
    large = size >= _LARGE_TEXT
    if large:
        pieces = [p.cast(pa.large_string()) for p in pieces]
    if n == 0:
        return pa.array([], pa.large_string() if large else pa.string())
    gathered = pc.take(pa.concat_arrays(pieces), pa.array(order.ravel()))
    otype, odtype = (pa.large_string(), np.int64) if large else (pa.string(), np.int32)
    _, offsets_buf, data_buf = gathered.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=odtype, count=n * k + 1, offset=gathered.offset * odtype().itemsize)
    row_offsets = np.ascontiguousarray(offsets[::k])
    return pa.Array.from_buffers(otype, n, [None, pa.py_buffer(row_offsets), data_buf])


def _digest_slices(data: bytes | memoryview, offsets: list[int]) -> bytes:
    sha = hashlib.sha256
    view = memoryview(data)
    # The loop allocates millions of short-lived objects without cycles; the cyclic collector
    # would otherwise run every 700 allocations and scan the whole heap (12 % of extraction time).
    with paused():
        return b"".join([sha(view[a:b]).digest() for a, b in zip(offsets[:-1], offsets[1:])])


def native() -> bool:
    """Whether the compiled row hasher is in use (``custody._rowhash``)."""
    return _native is not None


def _validity(array: pa.Array, bitmap: Any) -> Any:
    """The validity bitmap ``custody._rowhash`` takes: None without nulls; an all-zero one for an
    array whose nulls have no bitmap (every value null)."""
    if not array.null_count:
        return None
    return bitmap if bitmap is not None else pa.py_buffer(bytes((array.offset + len(array) + 7) // 8))


def _text_buffers(text: pa.Array) -> tuple[str, Any, Any, Any, int]:
    """A text column as ``custody._rowhash`` takes it: (kind, validity, offsets, data, offset)."""
    validity, offsets, data = text.buffers()
    return ("S" if pa.types.is_large_string(text.type) else "s", _validity(text, validity), offsets, data,
            text.offset)


def _native_column(column: pa.ChunkedArray | pa.Array) -> tuple[str, Any, Any, Any, int]:
    """One column for ``custody._rowhash``: integers, date32 and microsecond timestamps (naive or
    UTC) as their values, which it renders itself as Arrow would; anything else as its text."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    t = column.type
    kind = None
    if pa.types.is_integer(t):
        kind = ("i" if pa.types.is_signed_integer(t) else "u") + str(t.bit_width // 8)
    elif pa.types.is_date32(t):
        kind = "d"
    elif pa.types.is_timestamp(t) and t.unit == "us" and t.tz in (None, "UTC", "+00:00"):
        kind = "t" if t.tz is None else "z"
    if kind is None:
        return _text_buffers(_as_text(column))
    validity, values = column.buffers()
    return (kind, _validity(column, validity), values, None, column.offset)


def row_digests(table: pa.Table, prefix: str = "", pool: Any = None) -> bytes:
    """SHA-256 of each row's canonical rendering (``canonical_rows``), ``prefix`` put before each
    row, concatenated: ``32 * num_rows`` bytes.

    Through ``custody._rowhash`` when it was built (no interpreter lock held while hashing; dates
    and timestamps outside years 0-9999 make it take every column's text from Arrow instead);
    else the rows are rendered by ``canonical_rows`` and hashed by ``digest_strings`` (``pool``:
    an optional ``HashWorker`` for that path).
    """
    n = table.num_rows
    if _native is not None:
        try:
            return _native.digest_rows([_native_column(c) for c in table.columns], n, prefix.encode())
        except OverflowError:
            texts = [_text_buffers(_as_text(column)) for column in table.columns]
            return _native.digest_rows(texts, n, prefix.encode())
    rows = canonical_rows(table)
    if prefix:
        rows = pc.binary_join_element_wise(pa.scalar(prefix), rows, "")
    return digest_strings(rows, pool)


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
    if _native is not None:
        return _native.digest_slices(data_buf, offsets_buf, strings.offset, n, width is np.int64)
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
    return total % MOD


def row_hashes(table: pa.Table) -> list[bytes]:
    """SHA-256 digest (32 bytes) of each row, in table order."""
    digests = row_digests(table)
    return [digests[i : i + 32] for i in range(0, len(digests), 32)]


def table_hash(table: pa.Table) -> int:
    """Multiset hash of all rows as an integer in [0, 2^256)."""
    return sum_digests(row_digests(table))


def combine(*hashes: int) -> int:
    """Add multiset hashes of disjoint row sets (chunks) into the hash of their union."""
    return sum(hashes) % MOD


def to_hex(value: int) -> str:
    """Fixed-width 64-digit hex rendering of a multiset hash."""
    return f"{value:064x}"
