"""Bulk hashing and row keys (custody.hashing, custody.rowkeys) against the format spec."""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from custody import hashing, rowkeys


def sample_table() -> pa.Table:
    return pa.table({
        "id": pa.array([1, None, 3], pa.int64()),
        "bin": pa.array([b"\x00\xff", None, b""], pa.binary()),
        "money": pa.array([Decimal("1.10"), None, Decimal("-2.00")], pa.decimal128(5, 2)),
        "ts": pa.array([None, dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
                        dt.datetime(1960, 1, 1, 1, 1, 1, 5, tzinfo=dt.UTC)],
                       pa.timestamp("us", tz="UTC")),
        "text": pa.array(["", "x,y:z", "中文"]),
    })


def test_bulk_hashing_follows_the_format_spec():
    # docs/format.md section 3, rendered by hand: length-prefixed fields, N for null, hex binary,
    # decimals with their scale, UTC timestamps with Z, lengths in characters.
    t = sample_table()
    expected = [
        "1:1,4:00ff,4:1.10,N,0:",
        "N,N,N,27:2020-01-01 00:00:00.000000Z,5:x,y:z",
        "1:3,0:,5:-2.00,27:1960-01-01 01:01:01.000005Z,2:中文",
    ]
    assert hashing.canonical_rows(t).to_pylist() == expected
    digests = [hashlib.sha256(r.encode()).digest() for r in expected]
    assert hashing.row_hashes(t) == digests
    assert hashing.table_hash(t) == sum(int.from_bytes(d, "big") for d in digests) % 2**256
    assert rowkeys.row_digests(t) == b"".join(digests)
    worker = rowkeys.HashWorker()
    try:
        assert rowkeys.row_digests(t, worker) == rowkeys.row_digests(t)
    finally:
        worker.close()


def test_packed_row_keys_unpack_per_row():
    t = sample_table()
    packed, content = rowkeys.change_capture(t, ["id"], source="crm", table_name="t")
    assert content == hashing.table_hash(t) and packed.num_rows == 1
    rows = rowkeys.unpack(packed).to_pylist()
    assert [r["_custody_row_hash"] for r in rows] == [h.hex() for h in hashing.row_hashes(t)]
    key = hashing.canonical_rows(t.select(["id"])).to_pylist()[0]
    import hashlib

    assert rows[0]["_custody_row_key"] == hashlib.sha256(f"3:crm,1:t,{key}".encode()).hexdigest()


def test_canonical_rows_long_fields_slices_and_wide_offsets(monkeypatch):
    # Fields longer than the prefix lookup table, sliced input, all-null columns, and the
    # 64-bit-offset path (forced by lowering its threshold) render exactly as the spec says.
    t = pa.table({"a": pa.array([1, None, 3]), "b": pa.array(["x" * 70_000, None, "中文"]),
                  "c": pa.array([None, None, None], pa.string()), "d": pa.array([b"\x00\xff", None, b""])})
    expected = [f"1:1,70000:{'x' * 70_000},N,4:00ff", "N,N,N,N", "1:3,2:中文,N,0:"]
    assert hashing.canonical_rows(t).to_pylist() == expected
    assert hashing.canonical_rows(t.slice(1, 2)).to_pylist() == expected[1:]
    assert hashing.canonical_rows(t.slice(0, 0)).to_pylist() == []
    monkeypatch.setattr(hashing, "_LARGE_TEXT", 10)
    wide = hashing.canonical_rows(t)
    assert wide.type == pa.large_string() and wide.to_pylist() == expected
    assert hashing.digest_strings(wide) == b"".join(hashlib.sha256(r.encode()).digest() for r in expected)


def _reference_rows(table: pa.Table) -> list[str]:
    """The canonical rows assembled value by value from each column's text (docs/format.md 3)."""
    texts = [hashing._as_text(c).to_pylist() for c in table.columns]
    return [",".join("N" if col[r] is None else f"{len(col[r])}:{col[r]}" for col in texts)
            for r in range(table.num_rows)]


_text = st.one_of(st.none(), st.text(max_size=12))


@settings(deadline=None, max_examples=150)
@given(st.lists(st.tuples(_text, st.one_of(st.none(), st.integers(-2**63, 2**63 - 1)), _text,
                          st.one_of(st.none(), st.binary(max_size=6))), max_size=40),
       st.integers(0, 5), st.booleans())
def test_canonical_rows_match_a_value_by_value_assembly(rows, cut, long_value):
    """Any mix of nulls, empty and non-ASCII texts, integers and binary, sliced or not, with or
    without a value too long for the prefix table: the gathered rows equal the plain assembly."""
    a, b, c, d = (list(x) for x in zip(*rows)) if rows else ([], [], [], [])
    if long_value and a:
        a[0] = "长" * 70_000
    t = pa.table({"a": pa.array(a, pa.string()), "b": pa.array(b, pa.int64()), "c": pa.array(c, pa.string()),
                  "d": pa.array(d, pa.binary())})
    t = t.slice(min(cut, t.num_rows))
    assert hashing.canonical_rows(t).to_pylist() == _reference_rows(t)
    assert hashing.canonical_rows(t.select(["b"])).to_pylist() == _reference_rows(t.select(["b"]))


def test_the_prefixes_count_towards_the_switch_to_64_bit_offsets(monkeypatch):
    """Rows of short values carry prefixes about as long as their text: texts (and the prefix
    tables laid beside them) under the limit, with the rows' prefixes over it, must take the 64-bit
    path (a 32-bit gather would overflow)."""
    n = 50_000
    t = pa.table({"a": pa.array(["x"] * n), "b": pa.array(["y"] * n)})
    tables = sum(hashing._prefix_table(c).buffers()[2].size for c in (False, True))
    monkeypatch.setattr(hashing, "_LARGE_TEXT", tables + 2 * n + 1)  # texts and tables fit; rows do not
    rows = hashing.canonical_rows(t)
    assert rows.type == pa.large_string()
    assert rows.to_pylist()[:2] == ["1:x,1:y"] * 2 == _reference_rows(t.slice(0, 2))
    monkeypatch.setattr(hashing, "_LARGE_TEXT", (1 << 31) - 1)
    assert hashing.canonical_rows(t).type == pa.string()
