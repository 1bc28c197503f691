"""Custody's own conversion rules (``custody.sources.sqlvalues``, ``custody.sources.temporal``),
without a database: each value converts exactly or names its reason, and no rule raises with a
value in hand. The same rules meet real databases in ``test_type_matrix.py``."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custody.sources.sqltypes import ColumnPlan
from custody.sources.sqlvalues import RowConverter, text_to_arrow, values_to_arrow
from custody.sources.temporal import parse_time_text, parse_timestamp_text

UTC = dt.UTC


def plan(arrow: pa.DataType, *, cast_text: bool = False, temporal=None, naive: bool = False, zone=None,
         name: str = "c") -> ColumnPlan:
    return ColumnPlan(name, arrow, "x", True, cast_text, temporal, naive, zone)


def text(p: ColumnPlan, values: list):
    arr, bad = text_to_arrow(p, pa.array(values, pa.string()))
    return arr.to_pylist(), bad


def values(p: ColumnPlan, vals: list):
    arr, bad = values_to_arrow(p, vals)
    return arr.to_pylist(), bad


def test_sqlite_booleans_other_than_zero_and_one_are_quarantined():
    got, bad = values(plan(pa.bool_()), [0, 1, None, 2, "false", "no", -1, 1.0])
    assert got == [False, True, None, None, None, None, None, None]
    assert bad == {3: "invalid_boolean", 4: "invalid_boolean", 5: "invalid_boolean", 6: "invalid_boolean",
                   7: "invalid_boolean"}
    assert values(plan(pa.bool_()), [1, 0, None]) == ([True, False, None], {})  # the one-call path


def test_mariadb_time_outside_a_clock_day_is_out_of_range_not_wrapped():
    p = plan(pa.time64("us"), cast_text=True)
    got, bad = text(p, ["838:59:59.000000", "-01:00:00", "-00:00:01", "23:59:59.999999", "00:00:00", "24:00:00"])
    assert got[3:5] == [dt.time(23, 59, 59, 999999), dt.time(0)]
    assert bad == {0: "out_of_range", 1: "out_of_range", 2: "out_of_range", 5: "out_of_range"}
    # a driver's timedelta (PyMySQL) gets the same rule
    got, bad = values(plan(pa.time64("us")), [dt.timedelta(hours=838), dt.timedelta(hours=-1), dt.timedelta(hours=1)])
    assert got == [None, None, dt.time(1)] and bad == {0: "out_of_range", 1: "out_of_range"}


def test_timetz_offsets_are_normalised_to_utc_and_bad_times_named():
    assert parse_time_text("12:00:00+05:30") == dt.time(6, 30)
    assert parse_time_text("02:00:00+05:30") == dt.time(20, 30)
    got, bad = text(plan(pa.time64("us")), ["12:00", "12:00:00.1234567", "12:60:00", "350725199001011234"])
    assert got[0] == dt.time(12) and bad == {1: "precision_loss", 2: "invalid_time", 3: "invalid_time"}


def test_integer_columns_refuse_floats_text_and_bools_instead_of_truncating():
    # Arrow alone turns 1.5 into 1 for an int64 column; the rules refuse it.
    got, bad = values(plan(pa.int64()), [1, 1.5, "12", True, b"\x00", 1 << 63, -(1 << 63)])
    assert got == [1, None, None, None, None, None, -(1 << 63)]
    assert bad == {1: "type_mismatch", 2: "type_mismatch", 3: "type_mismatch", 4: "type_mismatch",
                   5: "out_of_range"}


def test_decimals_keep_every_digit_or_name_the_loss():
    p = plan(pa.decimal128(10, 2))
    got, bad = values(p, [Decimal("1.10"), 1.1, 100, 0.30000000000000004, "12345678.90", "abc",
                          Decimal("NaN"), float("inf"), Decimal("123456789.5"), Decimal("1.125")])
    assert got[:3] == [Decimal("1.10"), Decimal("1.10"), Decimal("100.00")] and got[4] == Decimal("12345678.90")
    assert bad == {3: "precision_loss", 5: "type_mismatch", 6: "unconvertible", 7: "out_of_range",
                   8: "out_of_range", 9: "precision_loss"}
    got, bad = text(p, ["1.5", "NaN", "Infinity", "-Infinity", "0.001"])
    assert got[0] == Decimal("1.50") and bad == {1: "unconvertible", 2: "out_of_range", 3: "out_of_range",
                                                 4: "precision_loss"}


def test_text_with_a_nul_byte_and_bytes_in_text_columns_are_quarantined():
    got, bad = values(plan(pa.string()), ["a\x00b", "ok", None, 5, 1.5, b"raw"])
    assert got == [None, "ok", None, "5", "1.5", None]
    assert bad == {0: "nul_character", 5: "type_mismatch"}
    assert values(plan(pa.binary()), [b"\x00", memoryview(b"ab"), "text"]) == ([b"\x00", b"ab", None],
                                                                              {2: "type_mismatch"})


def test_timestamps_from_text_name_each_reason():
    p = plan(pa.timestamp("us", tz="UTC"), cast_text=True, temporal="timestamp", naive=True, zone="Asia/Shanghai")
    got, bad = text(p, ["2024-01-01 08:00:00", "infinity", "0044-03-15 00:00:00 BC", "0000-00-00 00:00:00",
                        "2023-02-29 10:00:00", "2024-01-01 08:00:00.1234567", "1990-04-15 02:30:00",
                        "1990-09-16 01:30:00", "10000-01-01 00:00:00"])
    assert got[0] == dt.datetime(2024, 1, 1, tzinfo=UTC)
    assert bad == {1: "out_of_range", 2: "out_of_range", 3: "zero_date", 4: "invalid_date", 5: "precision_loss",
                   6: "nonexistent_local_time", 7: "ambiguous_local_time", 8: "out_of_range"}
    aware = plan(pa.timestamp("us", tz="UTC"), cast_text=True, temporal="timestamp")
    assert text(aware, ["2024-01-01 08:00:00+08", "2024-01-01 00:00:00"])[0] == [
        dt.datetime(2024, 1, 1, tzinfo=UTC)] * 2
    assert parse_timestamp_text("2024-01-01T08:00:00+05:30") == dt.datetime(2024, 1, 1, 2, 30, tzinfo=UTC)


def test_no_rule_raises_or_quotes_a_value():
    secret = "350725199001011234"
    conv = RowConverter([plan(t, name=n) for n, t in [
        ("i", pa.int64()), ("f", pa.float64()), ("d", pa.decimal128(5, 2)), ("b", pa.bool_()), ("s", pa.string()),
        ("y", pa.binary()), ("dt", pa.date32()), ("ts", pa.timestamp("us", tz="UTC")), ("t", pa.time64("us"))]])
    weird = [secret, object(), float("nan"), [secret], {"k": secret}, b"\xff" + secret.encode(), Decimal("1e999")]
    for w in weird:
        out = conv.convert([(w,) * 9, (None,) * 9], first_position=10)
        assert out.good.num_rows == 1
        assert out.bad.num_rows == 1 and out.bad.column("_custody_position").to_pylist() == [10]
        labels = out.bad_reasons[0]
        assert all(secret not in label for label in labels) and all(":" in label for label in labels)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.none(), st.integers(-(1 << 63), (1 << 63) - 1)), max_size=20),
       st.lists(st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)), max_size=20),
       st.lists(st.one_of(st.none(), st.decimals(min_value=-10**11, max_value=10**11, places=3,
                                                 allow_nan=False)), max_size=20),
       st.lists(st.one_of(st.none(), st.datetimes(min_value=dt.datetime(1, 1, 1),
                                                  max_value=dt.datetime(9999, 12, 31, 23, 59, 59))), max_size=20))
def test_database_text_of_any_value_converts_back_exactly(ints, floats, decimals, stamps):
    # The text PostgreSQL / MySQL render for these values parses back to the same value.
    assert text(plan(pa.int64()), [None if v is None else str(v) for v in ints]) == (ints, {})
    got, bad = text(plan(pa.float64()), [None if v is None else repr(v) for v in floats])
    assert bad == {}
    for a, b in zip(got, floats):
        assert (a is None and b is None) or (math.isnan(a) and math.isnan(b)) or (
            a == b and math.copysign(1, a) == math.copysign(1, b))
    assert text(plan(pa.decimal128(15, 3)), [None if v is None else str(v) for v in decimals]) == (decimals, {})
    p = plan(pa.timestamp("us", tz="UTC"), temporal="timestamp", naive=True, zone="UTC")
    rendered = [None if v is None else v.isoformat(sep=" ") for v in stamps]
    assert text(p, rendered) == ([None if v is None else v.replace(tzinfo=UTC) for v in stamps], {})


@pytest.mark.parametrize("rendered,reason", [("0000-00-00", "zero_date"), ("2023-02-30", "invalid_date"),
                                             ("4714-11-24 BC", "out_of_range"), ("infinity", "out_of_range"),
                                             ("20240101", "invalid_date"), ("2000-01-01 10:00:00", "invalid_date")])
def test_dates_that_are_not_a_day_are_named(rendered, reason):
    got, bad = text(plan(pa.date32(), cast_text=True, temporal="date"), ["2000-01-01 00:00:00", rendered])
    assert got[0] == dt.date(2000, 1, 1) and bad == {1: reason}
