"""Row and table content hashes, independent of chunking and row order.

Row hash: SHA-256 over a canonical, length-prefixed rendering of the row's values in schema
order (``N`` for null, ``<length>:<text>`` otherwise, joined by ``,``), where text is Arrow's own
cast to string (decimals keep their scale, timestamps are ISO with zone, binary is hex).

Table hash: the sum of all row hashes read as 256-bit integers, modulo 2^256 (a multiset hash,
"AdHash", Bellare & Micciancio 1997): equal for the same multiset of rows whatever the order or
chunking, so chunk hashes add up to the table hash and a restore can be checked against the source
query. It detects accidental change and row loss; it is not a signature (the manifest MAC is).
"""

from __future__ import annotations

import hashlib

import pyarrow as pa
import pyarrow.compute as pc

MOD = 1 << 256


def _as_text(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    t = column.type
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return pa.array([None if v is None else v.hex() for v in column.to_pylist()], pa.string())
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return column.cast(pa.string())
    if pa.types.is_nested(t):
        return pa.array([None if v is None else repr(v) for v in column.to_pylist()], pa.string())
    return pc.cast(column, pa.string())


def canonical_rows(table: pa.Table) -> pa.Array:
    """One string per row: the canonical rendering described in the module docstring."""
    if table.num_columns == 0:
        return pa.array([""] * table.num_rows, pa.string())
    fields = []
    for col in table.columns:
        text = _as_text(col)
        length = pc.cast(pc.utf8_length(text), pa.string())
        field = pc.binary_join_element_wise(length, text, ":")
        fields.append(pc.fill_null(field, "N"))
    return pc.binary_join_element_wise(*fields, ",")


def row_hashes(table: pa.Table) -> list[bytes]:
    """SHA-256 digest (32 bytes) of each row, in table order."""
    sha = hashlib.sha256
    return [sha(s.encode("utf-8")).digest() for s in canonical_rows(table).to_pylist()]


def table_hash(table: pa.Table) -> int:
    """Multiset hash of all rows as an integer in [0, 2^256)."""
    return sum(int.from_bytes(h, "big") for h in row_hashes(table)) % MOD


def combine(*hashes: int) -> int:
    """Add multiset hashes of disjoint row sets (chunks) into the hash of their union."""
    return sum(hashes) % MOD


def to_hex(value: int) -> str:
    """Fixed-width 64-digit hex rendering of a multiset hash."""
    return f"{value:064x}"
