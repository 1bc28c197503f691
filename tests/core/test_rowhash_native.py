"""The compiled row hasher (custody._rowhash) against the reference rendering and hashlib.

The reference is ``hashing.canonical_rows`` (docs/format.md section 3, itself checked against the
spec's examples in tests/documents/test_format_spec.py) hashed row by row with hashlib. Under
CI=true the compiled module must have been built by the install; elsewhere these tests skip with
the reason when it was not (the Python path then serves, and the rest of the suite covers it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import threading
from decimal import Decimal

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custody import hashing, rowkeys

_native = hashing._native
needs_native = pytest.mark.skipif(
    _native is None and os.environ.get("CI") != "true",
    reason="custody._rowhash was not built here (no C compiler or OpenSSL headers at install)")


def _reference(table: pa.Table, prefix: str = "") -> bytes:
    rows = hashing.canonical_rows(table).to_pylist()
    return b"".join(hashlib.sha256((prefix + r).encode()).digest() for r in rows)


def test_the_install_built_the_compiled_hasher_under_ci():
    if os.environ.get("CI") != "true" and _native is None:
        pytest.skip("custody._rowhash was not built here (no C compiler or OpenSSL headers at install)")
    assert hashing.native() is True
    assert rowkeys.hash_pool() is None  # no hashing process beside it


_text = st.one_of(st.none(), st.text(max_size=10))  # any code point: 1- to 4-byte UTF-8
_scalars = st.tuples(
    _text,
    st.one_of(st.none(), st.integers(-2**63, 2**63 - 1)),
    st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
    st.one_of(st.none(), st.decimals(min_value=-10**6, max_value=10**6, places=2, allow_nan=False)),
    st.one_of(st.none(), st.dates()),
    st.one_of(st.none(), st.datetimes(min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30))),
    st.one_of(st.none(), st.binary(max_size=6)),
    st.one_of(st.none(), st.booleans()),
)


def _table(rows: list[tuple]) -> pa.Table:
    cols = [list(c) for c in zip(*rows)] if rows else [[] for _ in range(8)]
    return pa.table({
        "text": pa.array(cols[0], pa.string()),
        "int": pa.array(cols[1], pa.int64()),
        "float": pa.array(cols[2], pa.float64()),
        "money": pa.array(cols[3], pa.decimal128(12, 2)),
        "day": pa.array(cols[4], pa.date32()),
        "at": pa.array([None if v is None else v.replace(tzinfo=dt.UTC) for v in cols[5]],
                       pa.timestamp("us", tz="UTC")),
        "raw": pa.array(cols[6], pa.binary()),
        "flag": pa.array(cols[7], pa.bool_()),
    })


@needs_native
@settings(deadline=None, max_examples=200)
@given(st.lists(_scalars, max_size=30), st.integers(0, 4), st.text(max_size=8), st.booleans())
def test_native_digests_equal_the_reference_on_every_scalar_type(rows, cut, prefix, large):
    """Nulls, empty and multi-byte texts, every scalar type, sliced tables, large_string text and a
    row prefix: the compiled digests equal SHA-256 of the reference rendering, row by row."""
    t = _table(rows)
    t = t.slice(min(cut, t.num_rows))
    if large:
        t = t.set_column(0, "text", t.column("text").cast(pa.large_string()))
    assert hashing.row_digests(t) == _reference(t)
    assert hashing.row_digests(t, prefix) == _reference(t, prefix)
    assert hashing.table_hash(t) == hashing.sum_digests(_reference(t))


_ints = [pa.int8(), pa.int16(), pa.int32(), pa.int64(), pa.uint8(), pa.uint16(), pa.uint32(), pa.uint64()]


@needs_native
@settings(deadline=None, max_examples=150)
@given(st.data(), st.integers(0, 3))
def test_native_renders_integers_dates_and_timestamps_as_arrow_does(data, cut):
    """Integers of every width and sign (their extremes included), date32 and microsecond
    timestamps over Arrow's whole range: rendered in C where the year is 0-9999, through Arrow's
    text beyond (the whole table then), the digests always equal the reference."""
    n = data.draw(st.integers(0, 12))
    cols = {}
    for t in _ints:
        lo, hi = (-(1 << (t.bit_width - 1)), (1 << (t.bit_width - 1)) - 1) if pa.types.is_signed_integer(t) \
            else (0, (1 << t.bit_width) - 1)
        cols[str(t)] = pa.array(data.draw(st.lists(st.one_of(st.none(), st.sampled_from([lo, hi, 0, -1 if lo else 1]),
                                                             st.integers(lo, hi)), min_size=n, max_size=n)), t)
    wide = data.draw(st.booleans())  # days and microseconds past years 0-9999 too
    day_range = (-2**31, 2**31 - 1) if wide else (-719528, 2932896)
    us_range = (-2**63, 2**63 - 1) if wide else (-62167219200000000, 253402300799999999)
    cols["day"] = pa.array(data.draw(st.lists(st.one_of(st.none(), st.integers(*day_range)), min_size=n, max_size=n)),
                           pa.date32())
    for name, tz in (("naive", None), ("utc", "UTC"), ("plus", "+00:00")):
        cols[name] = pa.array(data.draw(st.lists(st.one_of(st.none(), st.integers(*us_range)), min_size=n,
                                                 max_size=n)), pa.timestamp("us", tz=tz))
    t = pa.table(cols).slice(min(cut, n))
    assert hashing.row_digests(t) == _reference(t)


@needs_native
def test_native_renders_the_edges_of_the_calendar():
    days = [-719528, -719162, -1, 0, 11016, 2932896]  # 0000-01-01, 0001-01-01, 1969-12-31, ..., 9999-12-31
    us = [-62167219200000000, -1, 0, 951782400000000, 253402300799999999]
    t = pa.table({"d": pa.array(days, pa.date32()), "n": pa.array(range(len(days)))})
    assert hashing.row_digests(t) == _reference(t)
    ts = pa.table({"t": pa.array(us, pa.timestamp("us")), "z": pa.array(us, pa.timestamp("us", tz="UTC"))})
    assert hashing.row_digests(ts) == _reference(ts)
    assert hashing.canonical_rows(ts.slice(0, 1)).to_pylist() == [
        "26:0000-01-01 00:00:00.000000,27:0000-01-01 00:00:00.000000Z"]
    beyond = pa.table({"d": pa.array([2932897], pa.date32())})  # 10000-01-01: Arrow's five digits
    assert hashing.canonical_rows(beyond).to_pylist() == ["11:10000-01-01"]
    assert hashing.row_digests(beyond) == _reference(beyond)
    with pytest.raises(OverflowError):
        _native.digest_rows([hashing._native_column(beyond.column(0))], 1)


@needs_native
def test_native_handles_long_values_no_columns_all_nulls_and_nested_text():
    t = pa.table({"a": pa.array(["长" * 70_000, None, "x"]), "b": pa.array([None, None, None], pa.string()),
                  "n": pa.nulls(3), "l": pa.array([[1, None], None, []], pa.list_(pa.int64())),
                  "s": pa.array([{"k": "v"}, None, {"k": None}], pa.struct([("k", pa.string())]))})
    assert hashing.row_digests(t) == _reference(t)
    assert hashing.row_digests(t.slice(1)) == _reference(t.slice(1))
    empty = t.select([])
    assert hashing.row_digests(empty) == hashlib.sha256(b"").digest() * 3
    assert hashing.row_digests(empty, "3:crm,") == hashlib.sha256(b"3:crm,").digest() * 3
    assert hashing.row_digests(t.slice(0, 0)) == b""


@needs_native
def test_native_digest_strings_equal_hashlib_on_sliced_and_large_arrays():
    values = ["", "a", "中文", "😀" * 3, "x" * 5000]
    for arr in (pa.array(values), pa.array(values, pa.large_string()), pa.array(values).slice(2)):
        expected = b"".join(hashlib.sha256(v.encode()).digest() for v in arr.to_pylist())
        assert hashing.digest_strings(arr) == expected


@needs_native
def test_native_rejects_buffers_that_do_not_hold_the_offsets():
    arr = pa.array(["abc", "de"])
    validity, offsets, data = arr.buffers()
    with pytest.raises(ValueError, match="offsets outside"):
        _native.digest_rows([("s", None, offsets, pa.py_buffer(b"ab"), 0)], 2)
    with pytest.raises(ValueError, match="offsets buffer too short"):
        _native.digest_rows([("s", None, offsets, data, 1)], 2)
    with pytest.raises(ValueError, match="validity buffer too short"):
        _native.digest_rows([("s", pa.py_buffer(b""), offsets, data, 0)], 2)
    backwards = pa.py_buffer(pa.array([3, 1, 5], pa.int32()).buffers()[1])
    with pytest.raises(ValueError, match="offsets outside"):
        _native.digest_rows([("s", None, backwards, data, 0)], 2)
    values = pa.array([1, 2], pa.int64()).buffers()[1]
    with pytest.raises(ValueError, match="values buffer too short"):
        _native.digest_rows([("i8", None, values, None, 1)], 2)
    with pytest.raises(ValueError, match="unknown column kind"):
        _native.digest_rows([("x", None, values, None, 0)], 2)
    with pytest.raises(ValueError, match="offsets outside"):
        _native.digest_slices(pa.py_buffer(b"ab"), offsets, 0, 2, False)
    with pytest.raises(ValueError, match="bad row count"):
        _native.digest_rows([], -1)


@needs_native
def test_native_hashing_lets_other_threads_run():
    """The hasher releases the interpreter lock: a Python thread counts while it works (with the
    lock held throughout, the counter could not move until it returned)."""
    n = 400_000
    t = pa.table({"a": pa.array([f"客户{i:08d}" * 4 for i in range(n)]), "b": pa.array(range(n))})
    texts = [hashing._native_column(c) for c in t.columns]
    done = threading.Event()
    result: list[bytes] = []

    def work() -> None:
        for _ in range(5):
            result.append(_native.digest_rows(texts, n))
        done.set()

    worker = threading.Thread(target=work)
    worker.start()
    counted = 0
    while not done.is_set():
        counted += 1
    worker.join()
    assert result[0][:32] == _reference(t.slice(0, 1)) and len(set(result)) == 1
    assert counted > 10_000


def test_the_reference_path_serves_when_the_module_is_missing(monkeypatch):
    t = _table([("中", 1, 0.1, Decimal("1.20"), dt.date(2020, 1, 2), dt.datetime(2020, 1, 2, 3, 4), b"\x01", True),
                (None,) * 8])
    expected = _reference(t, "p")
    monkeypatch.setattr(hashing, "_native", None)
    assert hashing.native() is False
    assert hashing.row_digests(t, "p") == expected
    assert rowkeys.key_digests(t, ["int"], source="crm", table_name="t") == _reference(t.select(["int"]), "3:crm,1:t,")
