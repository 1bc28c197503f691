"""The binary COPY decoder (custody._copyread.decode_binary, custody.extract.copy_binary) on its own.

Blocks built here byte by byte as PostgreSQL sends them (a 16-bit field count per row, then per
field a 32-bit length, -1 for NULL, and the value in network order); end-to-end exactness against
the text COPY and the cursor is in tests/extract/test_sql.py.
"""

from __future__ import annotations

import os
import struct

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custody.extract import copy_binary

_copyread = copy_binary._copyread
pytestmark = pytest.mark.skipif(
    _copyread is None and os.environ.get("CI") != "true",
    reason="custody._copyread was not built here (no C compiler at install)")

PG_DAY0 = 10957  # 2000-01-01 in Unix days
PG_US0 = PG_DAY0 * 86_400_000_000


def _row(*fields: bytes | None) -> bytes:
    out = struct.pack(">h", len(fields))
    for f in fields:
        out += struct.pack(">i", -1) if f is None else struct.pack(">i", len(f)) + f
    return out


TRAILER = struct.pack(">h", -1)


def test_decoded_columns_are_the_values_sent():
    block = (_row(struct.pack(">q", -5), b"\x01", "客户".encode(), struct.pack(">i", -PG_DAY0),
                  struct.pack(">q", -PG_US0 - 1))
             + _row(struct.pack(">i", 7), None, b"", None, struct.pack(">q", 0))
             + _row(struct.pack(">h", -2), b"\x00", None, struct.pack(">i", 0), None) + TRAILER)
    rows, ended, cols = _copyread.decode_binary(block, "ibsdz")
    assert rows == 3 and ended is True
    schema = pa.schema([("i", pa.int64()), ("b", pa.bool_()), ("s", pa.string()), ("d", pa.date32()),
                        ("z", pa.timestamp("us", tz="UTC"))])
    t = copy_binary._table(cols, "ibsdz", rows, schema)
    t.validate(full=True)
    assert t.column("i").to_pylist() == [-5, 7, -2]
    assert t.column("b").to_pylist() == [True, None, False]
    assert t.column("s").to_pylist() == ["客户", "", None]
    assert [str(v) for v in t.column("d").to_pylist()] == ["1970-01-01", "None", "2000-01-01"]
    assert t.column("z").cast(pa.int64()).to_pylist() == [-1, PG_US0, None]


def test_a_stream_is_checked_from_header_to_trailer():
    header = copy_binary._SIGNATURE + struct.pack(">ii", 0, 4) + b"xxxx"
    assert copy_binary._strip_header(header + b"rows") == b"rows"
    with pytest.raises(ValueError, match="not a binary COPY"):
        copy_binary._strip_header(b"1,2\n" * 10)
    with pytest.raises(ValueError, match="OIDs"):
        copy_binary._strip_header(copy_binary._SIGNATURE + struct.pack(">ii", 1 << 16, 0))
    assert _copyread.decode_binary(TRAILER, "i")[:2] == (0, True)
    with pytest.raises(ValueError, match="malformed"):
        _copyread.decode_binary(TRAILER + _row(b"\x00" * 8), "i")  # a row after the trailer
    with pytest.raises(ValueError, match="malformed"):
        _copyread.decode_binary(_row(b"\x00" * 8, b"\x00" * 8), "i")  # two fields for one column
    with pytest.raises(ValueError, match="unexpected size"):
        _copyread.decode_binary(_row(b"\x00" * 3), "i")
    with pytest.raises(ValueError, match="unknown column kind"):
        _copyread.decode_binary(_row(b"\x00"), "x")


@pytest.mark.parametrize("kind,value", [
    ("d", struct.pack(">i", 2**31 - 1)),                       # infinity
    ("d", struct.pack(">i", -719163 - PG_DAY0)),               # 0000-12-31 (1 BC)
    ("d", struct.pack(">i", 2932897 - PG_DAY0)),               # 10000-01-01
    ("z", struct.pack(">q", 2**63 - 1)),                       # infinity
    ("z", struct.pack(">q", -(2**63))),                        # -infinity
    ("z", struct.pack(">q", 253402300800000000 - PG_US0)),     # 10000-01-01 00:00:00
])
def test_dates_and_instants_outside_years_1_to_9999_are_left_to_the_text_rules(kind, value):
    with pytest.raises(OverflowError, match="outside years 1-9999"):
        _copyread.decode_binary(_row(value), kind)


@settings(deadline=None, max_examples=300)
@given(st.binary(max_size=200), st.text(alphabet="ibsdz", min_size=1, max_size=4))
def test_any_bytes_decode_or_raise_never_crash(data, kinds):
    """Arbitrary bytes (a tampered or cut stream): a clean error or columns Arrow accepts."""
    try:
        rows, _, cols = _copyread.decode_binary(data, kinds)
    except (ValueError, OverflowError):
        return
    fields = {"i": pa.int64(), "b": pa.bool_(), "s": pa.string(), "d": pa.date32(), "z": pa.timestamp("us", tz="UTC")}
    schema = pa.schema([(f"c{i}", fields[k]) for i, k in enumerate(kinds)])
    copy_binary._table(cols, kinds, rows, schema).validate(full=True)


@settings(deadline=None, max_examples=100)
@given(st.lists(st.tuples(st.one_of(st.none(), st.integers(-2**63, 2**63 - 1)),
                          st.one_of(st.none(), st.text(max_size=8))), max_size=30),
       st.integers(0, 40))
def test_cut_blocks_are_refused_whole_blocks_decoded(rows, cut):
    block = b"".join(_row(None if i is None else struct.pack(">q", i), None if s is None else s.encode())
                     for i, s in rows)
    n, ended, cols = _copyread.decode_binary(block, "is")
    t = copy_binary._table(cols, "is", n, pa.schema([("i", pa.int64()), ("s", pa.string())]))
    assert (n, ended) == (len(rows), False) and t.to_pylist() == [{"i": i, "s": s} for i, s in rows]
    if 0 < cut < len(block):
        short = block[:len(block) - cut]
        try:
            got = _copyread.decode_binary(short, "is")[0]
        except ValueError:
            return
        assert got < len(rows)  # cut exactly at a row's end: the rows before it


def test_a_failing_type_check_reports_the_driver_class_without_its_message():
    import psycopg
    import sqlalchemy as sa

    class Cursor:
        description = None

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def execute(self, sql):
            raise psycopg.errors.InvalidTextRepresentation('invalid input syntax: "CANARY-3a9f"')

    class Raw:
        def cursor(self):
            return Cursor()

    with pytest.raises(sa.exc.DBAPIError) as caught:
        copy_binary._check_types(Raw(), "SELECT 1", "i")
    assert type(caught.value.orig) is psycopg.errors.InvalidTextRepresentation
    assert caught.value.orig.sqlstate == "22P02"
    assert "CANARY" not in str(caught.value) and caught.value.__cause__ is None
