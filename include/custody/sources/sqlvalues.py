"""Custody's own checked rules from what a database returned to exact Arrow values, or a reason.

Database drivers and SQLAlchemy convert values before the caller sees them, and some of those
conversions change the value: SQLAlchemy turns a MariaDB ``TIME`` of ``838:59:59`` into a clock
time and any SQLite ``BOOLEAN`` cell but ``0`` into ``true``, PyMySQL turns an invalid date into
``None``, psycopg turns ``infinity`` into an error that quotes it. So extraction never lets them:
every column is SELECTed without SQLAlchemy's result processing (``custody.sources.sqltypes``),
and each column arrives in one of two forms (``ColumnPlan.cast_text``):

- **text**: the database's own rendering of the value (``CAST(col AS text)`` on PostgreSQL,
  ``CAST(col AS CHAR)`` on MySQL/MariaDB, the fields of PostgreSQL's ``COPY ... (FORMAT csv)``),
  for dates, timestamps, times and types without an Arrow equivalent;
- **value**: the DB-API's own Python value for types whose driver conversion is exact
  (integers, ``Decimal``, floats, booleans, text, bytes) and every SQLite cell, whose storage
  class (INTEGER, REAL, TEXT, BLOB) is checked against the declared type.

``text_to_arrow`` and ``values_to_arrow`` turn one column of either form into its Arrow type.
Both try Arrow's own strict parsers and type inference on the whole column first; only when
that fails do the per-value rules below decide value by value, so the reason of each value
that is not exact is known. Rules, per Arrow type:

- ``int64``: integers within int64 and integer text; beyond int64 ``out_of_range``; a REAL,
  TEXT, BLOB or boolean cell ``type_mismatch``.
- ``float64``: floats (NaN, infinities and negative zero included) and integers up to 2**53;
  larger integers ``precision_loss``; TEXT or BLOB cells ``type_mismatch``.
- ``decimal128(p, s)``: decimals, integers, plain decimal text, and floats whose shortest text
  fits ``s``; more fractional digits than ``s`` ``precision_loss`` (a SQLite REAL
  ``0.30000000000000004`` in ``NUMERIC(10, 2)``); more integer digits than ``p - s`` or infinite
  ``out_of_range``; NaN ``unconvertible``; other text ``type_mismatch``.
- ``bool``: booleans, SQLite ``0`` / ``1``, PostgreSQL text ``t`` ``f`` ``true`` ``false``;
  anything else (SQLite ``2``, ``'false'``, ``'no'``) ``invalid_boolean``.
- ``string``: text; integers as their decimal text; floats as their shortest exact text; text
  holding U+0000 ``nul_character`` (no PostgreSQL text column can hold it); bytes ``type_mismatch``.
- ``binary``: bytes, PostgreSQL hex text (``\\x...``); text cells ``type_mismatch``.
- ``date32``: ``YYYY-MM-DD`` (a midnight time part, as SQLite may hold, is accepted);
  ``0000-00-00`` ``zero_date``; BC, infinity, year 0 or above 9999 ``out_of_range``; no such day
  or not a date ``invalid_date``.
- ``timestamp[us, UTC]``: ``YYYY-MM-DD[ HH:MM[:SS[.ffffff]]]`` with or without an offset; naive
  values are wall-clock times in the source's zone; as dates, plus sub-microsecond digits
  ``precision_loss`` and local times in a DST gap or overlap ``nonexistent_local_time`` /
  ``ambiguous_local_time``.
- ``time64[us]``: ``HH:MM[:SS[.ffffff]]`` from 00:00 to 23:59:59.999999, an offset (``timetz``)
  normalised to UTC; negative or 24 h and above (MariaDB durations up to ``838:59:59``,
  PostgreSQL ``24:00``) ``out_of_range``; sub-microsecond digits ``precision_loss``; not a time
  ``invalid_time``.

No exception raised while a value is in hand leaves this module: a value that makes a rule
raise anything is quarantined as ``unconvertible``. ``RowConverter`` applies the rules to DB-API
row tuples; the COPY path (``custody.extract.copy_path``) applies ``text_to_arrow`` to its CSV
fields, so both read paths share one rule set.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from custody.sources.quarantine import POSITION, RAW_RECORD, REASONS, ROW_KEY, Rejected, quarantine_schema, raw_json
from custody.sources.sqltypes import UTC_TS, ColumnPlan
from custody.sources.temporal import localize, naive_to_utc, parse_date_text, parse_time_text, parse_timestamp_text

NAIVE_TS = pa.timestamp("us")
_FAILS = (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError, ValueError, OverflowError,
          ArithmeticError)
_INT64 = (-(1 << 63), (1 << 63) - 1)
_EXACT_FLOAT_INT = 1 << 53

_INT_TEXT = re.compile(r"-?[0-9]+")
_FLOAT_TEXT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]?(?:NaN|Infinity|inf|nan)")
_DECIMAL_TEXT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


# -- per-value rules: text -------------------------------------------------------------------------
def _fit_decimal(d: Decimal, t: pa.Decimal128Type) -> Decimal:
    """``d`` at scale ``t.scale`` when that is exact and it has at most ``precision - scale``
    integer digits; raises ``Rejected`` otherwise."""
    if d.is_nan():
        raise Rejected("unconvertible")
    if d.is_infinite():
        raise Rejected("out_of_range")
    with decimal.localcontext(decimal.Context(prec=200, traps=[decimal.InvalidOperation])):
        q = d.quantize(Decimal(1).scaleb(-t.scale))
        if q != d:
            raise Rejected("precision_loss")
        if q.adjusted() >= t.precision - t.scale:
            raise Rejected("out_of_range")
    return q


def _text_rule(plan: ColumnPlan) -> Callable[[str], Any]:
    t = plan.arrow
    if pa.types.is_string(t):
        return _text_string
    if pa.types.is_integer(t):
        return _text_int
    if pa.types.is_floating(t):
        return _text_float
    if pa.types.is_decimal(t):
        return lambda s: _text_decimal(s, t)
    if pa.types.is_boolean(t):
        return _text_bool
    if pa.types.is_binary(t):
        return _text_hex
    if pa.types.is_date(t):
        return parse_date_text
    if pa.types.is_timestamp(t):
        return parse_timestamp_text
    if pa.types.is_time(t):
        return parse_time_text
    raise TypeError(f"no text rule for Arrow type {t}")


def _text_string(s: str) -> str:
    if "\x00" in s:
        raise Rejected("nul_character")
    return s


def _text_int(s: str) -> int:
    if not _INT_TEXT.fullmatch(s):
        raise Rejected("type_mismatch")
    v = int(s)
    if not _INT64[0] <= v <= _INT64[1]:
        raise Rejected("out_of_range")
    return v


def _text_float(s: str) -> float:
    if not _FLOAT_TEXT.fullmatch(s):
        raise Rejected("type_mismatch")
    return float(s)


def _text_decimal(s: str, t: pa.Decimal128Type) -> Decimal:
    if s in ("NaN", "nan"):
        raise Rejected("unconvertible")
    if s.lstrip("+-") in ("Infinity", "inf"):
        raise Rejected("out_of_range")
    if not _DECIMAL_TEXT.fullmatch(s):
        raise Rejected("type_mismatch")
    return _fit_decimal(Decimal(s), t)


def _text_bool(s: str) -> bool:
    if s in ("t", "true"):
        return True
    if s in ("f", "false"):
        return False
    raise Rejected("invalid_boolean")


def _text_hex(s: str) -> bytes:
    if not s.startswith("\\x"):
        raise Rejected("type_mismatch")
    return bytes.fromhex(s[2:])


# -- per-value rules: DB-API values -----------------------------------------------------------------
def _value_rule(plan: ColumnPlan) -> Callable[[Any], Any]:
    t = plan.arrow
    text = _text_rule(plan)
    if pa.types.is_string(t):
        return _value_string
    if pa.types.is_integer(t):
        return _value_int
    if pa.types.is_floating(t):
        return _value_float
    if pa.types.is_decimal(t):
        return lambda v: _value_decimal(v, t)
    if pa.types.is_boolean(t):
        return _value_bool
    if pa.types.is_binary(t):
        return _value_binary
    if pa.types.is_time(t):
        return lambda v: _value_time(v, text)
    # dates and timestamps: SQLite holds text (anything else is not a date there)
    reason = "invalid_date"
    return lambda v: text(v) if isinstance(v, str) else _raise(reason)


def _raise(reason: str) -> Any:
    raise Rejected(reason)


def _value_string(v: Any) -> str:
    if isinstance(v, str):
        return _text_string(v)
    if isinstance(v, bool):
        raise Rejected("type_mismatch")
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)  # the shortest text that reads back as the same double
    raise Rejected("type_mismatch")


def _value_int(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise Rejected("type_mismatch")
    if not _INT64[0] <= v <= _INT64[1]:
        raise Rejected("out_of_range")
    return v


def _value_float(v: Any) -> float:
    if isinstance(v, float):
        return v
    if isinstance(v, int) and not isinstance(v, bool):
        if abs(v) > _EXACT_FLOAT_INT:
            raise Rejected("precision_loss")
        return float(v)
    raise Rejected("type_mismatch")


def _value_decimal(v: Any, t: pa.Decimal128Type) -> Decimal:
    if isinstance(v, Decimal):
        return _fit_decimal(v, t)
    if isinstance(v, bool):
        raise Rejected("type_mismatch")
    if isinstance(v, int):
        return _fit_decimal(Decimal(v), t)
    if isinstance(v, float):
        if v != v:
            raise Rejected("unconvertible")
        if v in (float("inf"), float("-inf")):
            raise Rejected("out_of_range")
        return _fit_decimal(Decimal(repr(v)), t)  # SQLite REAL: the decimal it reads back as
    if isinstance(v, str):
        return _text_decimal(v, t)
    raise Rejected("type_mismatch")


def _value_bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, int) and v in (0, 1):
        return bool(v)
    raise Rejected("invalid_boolean")


def _value_binary(v: Any) -> bytes:
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v)
    raise Rejected("type_mismatch")


def _value_time(v: Any, text: Callable[[str], Any]) -> dt.time:
    if isinstance(v, str):
        return text(v)
    if isinstance(v, dt.timedelta):  # a driver's TIME: a duration, a time of day only within one day
        if not dt.timedelta(0) <= v < dt.timedelta(days=1):
            raise Rejected("out_of_range")
        return (dt.datetime.min + v).time()
    if isinstance(v, dt.time):
        if v.tzinfo is None:
            return v
        offset = v.utcoffset() or dt.timedelta(0)
        return (dt.datetime.combine(dt.date(2000, 1, 2), v.replace(tzinfo=None)) - offset).time()
    raise Rejected("invalid_time")


# -- columns ----------------------------------------------------------------------------------------
def _try(fn: Callable[[], pa.Array]) -> pa.Array | None:
    try:
        return fn()
    except _FAILS:
        return None


def _per_value(plan: ColumnPlan, values: list[Any], rule: Callable[[Any], Any]
               ) -> tuple[list[Any], dict[int, str]]:
    """Apply ``rule`` to each non-null value; failures become ``{index: reason}`` and nulls."""
    out: list[Any] = []
    bad: dict[int, str] = {}
    for i, v in enumerate(values):
        if v is None:
            out.append(None)
            continue
        try:
            out.append(rule(v))
        except Rejected as verdict:
            bad[i] = verdict.reason
            out.append(None)
        except Exception:  # noqa: BLE001 - whatever a rule raises, the value is quarantined, never quoted
            bad[i] = "unconvertible"
            out.append(None)
    return out, bad


def _strings_checked(arr: pa.Array) -> tuple[pa.Array, dict[int, str]]:
    """``arr`` with every string holding U+0000 nulled and reported as ``nul_character``."""
    if arr.null_count == len(arr):
        return arr, {}
    hits = pc.match_substring(arr, "\x00")
    if not pc.any(hits).as_py():
        return arr, {}
    idx = pc.indices_nonzero(pc.fill_null(hits, False)).to_pylist()
    return pc.if_else(pc.fill_null(hits, False), pa.scalar(None, arr.type), arr), dict.fromkeys(idx, "nul_character")


def _assemble(plan: ColumnPlan, values: list[Any], bad: dict[int, str]) -> tuple[pa.Array, dict[int, str]]:
    """Arrow array of per-value results; timestamps become UTC (naive ones from the source zone)."""
    t = plan.arrow
    if not pa.types.is_timestamp(t):
        return _checked_array(values, t, bad), bad
    if not any(isinstance(v, dt.datetime) and v.tzinfo is not None for v in values):
        arr = pa.array(values, NAIVE_TS)
        return (naive_to_utc(arr, plan, bad) if plan.naive else (arr.cast(UTC_TS), bad))
    # Some texts carried their own offset (SQLite): those are UTC already, the rest are local.
    out: list[Any] = []
    for i, v in enumerate(values):
        if v is None or v.tzinfo is not None or not plan.naive:
            out.append(v if v is None or v.tzinfo is not None else v.replace(tzinfo=dt.UTC))
            continue
        local, reason = localize(v, plan.source_zone)
        if reason:
            bad[i] = reason
        out.append(local)
    return pa.array(out, UTC_TS), bad


def _checked_array(values: list[Any], t: pa.DataType, bad: dict[int, str]) -> pa.Array:
    """``pa.array(values, t)``; a value Arrow still refuses is nulled as ``unconvertible`` (Arrow's
    own message would quote it)."""
    arr = _try(lambda: pa.array(values, t))
    if arr is not None:
        return arr
    clean = []
    for i, v in enumerate(values):
        if v is not None and _try(lambda: pa.array([v], t)) is None:
            bad[i] = "unconvertible"
            v = None
        clean.append(v)
    return pa.array(clean, t)


def text_to_arrow(plan: ColumnPlan, arr: pa.Array) -> tuple[pa.Array, dict[int, str]]:
    """One column of database text (``string`` array, nulls for SQL NULL) as ``plan.arrow``.

    Returns the array (quarantined values null) and ``{row index: reason}``. Never raises for a
    value; raises ``TypeError`` only for an Arrow type without rules (a programming error).
    """
    t = plan.arrow
    if not pa.types.is_string(arr.type):
        arr = arr.cast(pa.string())
    fast: pa.Array | None
    if pa.types.is_string(t):
        return _strings_checked(arr)
    if pa.types.is_timestamp(t):
        if not plan.naive:
            fast = _try(lambda: pc.cast(arr, UTC_TS))  # PostgreSQL: text carries its offset
            if fast is None:  # MySQL TIMESTAMP, read in a UTC session: naive text in UTC
                fast = _try(lambda: pc.cast(arr, NAIVE_TS).cast(UTC_TS))
            if fast is not None:
                return fast, {}
        else:
            naive = _try(lambda: pc.cast(arr, NAIVE_TS))
            if naive is not None:
                return naive_to_utc(naive, plan, {})
    elif pa.types.is_time(t):
        prefixed = pc.binary_join_element_wise("2000-01-02 ", arr, "")
        fast = _try(lambda: pc.cast(pc.cast(prefixed, NAIVE_TS), t))
        if fast is None:
            fast = _try(lambda: pc.cast(pc.cast(prefixed, UTC_TS), t))
        if fast is not None:
            return fast, {}
    elif pa.types.is_boolean(t) or pa.types.is_binary(t):
        pass  # PostgreSQL's renderings (t/f, \x..) are not Arrow's: per value
    else:
        fast = _try(lambda: pc.cast(arr, t))
        if fast is not None:
            return fast, {}
    values, bad = _per_value(plan, arr.to_pylist(), _text_rule(plan))
    return _assemble(plan, values, bad)


#: Python types of DB-API values that convert to each Arrow type in one call (Arrow checks ranges).
_EXACT_KINDS: dict[str, frozenset[type]] = {
    "int64": frozenset({int}), "double": frozenset({float}), "bool": frozenset({bool}),
    "string": frozenset({str}), "binary": frozenset({bytes}), "decimal": frozenset({Decimal, int}),
}


def _kind_key(t: pa.DataType) -> str:
    return "decimal" if pa.types.is_decimal(t) else str(t)


def _exact_array(values: list[Any], kinds: set[type], t: pa.DataType) -> pa.Array:
    if not pa.types.is_decimal(t):
        return pa.array(values, t)
    # Decimals through Arrow's inference, then its safe cast: a rescale or overflow raises.
    return (pa.array(values, pa.decimal128(19, 0)) if kinds == {int} else pa.array(values)).cast(t)


def values_to_arrow(plan: ColumnPlan, values: list[Any]) -> tuple[pa.Array, dict[int, str]]:
    """One column of DB-API values (``None`` for SQL NULL) as ``plan.arrow``.

    When every value is of the Python type the Arrow type takes exactly (``int`` for int64,
    ``Decimal`` for decimals, ``str`` for text, ...) the column converts in one Arrow call, which
    checks ranges (and for decimals, through its safe cast, scale and precision); text columns
    (``cast_text``, SQLite dates) go to ``text_to_arrow``; otherwise each value goes through the
    rules in the module docstring. Returns the array (quarantined values null) and
    ``{row index: reason}``; never raises for a value.
    """
    t = plan.arrow
    kinds = set(map(type, values))
    kinds.discard(type(None))
    if kinds <= {str} and (plan.cast_text or pa.types.is_temporal(t)):
        return text_to_arrow(plan, pa.array(values, pa.string()))
    if memoryview in kinds:  # psycopg2 bytea
        values = [bytes(v) if isinstance(v, memoryview) else v for v in values]
        kinds = (kinds - {memoryview}) | {bytes}
    if kinds <= _EXACT_KINDS.get(_kind_key(t), frozenset()):
        fast = _try(lambda: _exact_array(values, kinds, t))
        if fast is not None:
            return _strings_checked(fast) if pa.types.is_string(t) else (fast, {})
    elif kinds == {int} and pa.types.is_boolean(t):  # SQLite booleans: 0 and 1 only
        if all(v in (0, 1) for v in values if v is not None):
            return pa.array([None if v is None else v == 1 for v in values], t), {}
    out, bad = _per_value(plan, values, _value_rule(plan))
    return _assemble(plan, out, bad)


# -- rows -------------------------------------------------------------------------------------------
@dataclass
class Converted:
    """One batch of rows converted to Arrow.

    ``good``: staged rows, schema from the plans, source order. ``bad``: quarantine rows
    (``custody.sources.quarantine.quarantine_schema``, row keys still null) or None;
    ``bad_reasons``: their reason labels (``<reason>:<column>``), row by row.
    """

    good: pa.Table
    bad: pa.Table | None
    bad_reasons: list[list[str]]


class RowConverter:
    """Convert DB-API row tuples (one streamed batch) into Arrow with exact types.

    Values that cannot be represented exactly are quarantined per row (never coerced) with
    ``<reason>:<column>`` labels; the raw text of each offending value goes into the quarantine
    object's ``_custody_raw_record`` (encrypted like every staged object), never anywhere else.
    """

    def __init__(self, plans: list[ColumnPlan]) -> None:
        self.plans = plans
        self.schema = pa.schema([p.field() for p in plans])
        self.qschema = quarantine_schema(self.schema)

    def convert(self, rows: list[Any], first_position: int = 0) -> Converted:
        """Convert ``rows`` (sequences in plan order); positions start at ``first_position``."""
        n = len(rows)
        columns = list(zip(*rows)) if rows else [() for _ in self.plans]
        problems: dict[int, list[str]] = {}
        raws: dict[int, dict[str, Any]] = {}
        arrays = []
        for plan, values in zip(self.plans, columns):
            arr, bad = values_to_arrow(plan, list(values))
            for i, reason in bad.items():
                problems.setdefault(i, []).append(f"{reason}:{plan.name}")
                raws.setdefault(i, {})[plan.name] = _raw_text(values[i])
            arrays.append(arr)
        if not problems:
            return Converted(pa.Table.from_arrays(arrays, schema=self.schema.with_metadata(None)), None, [])
        loose = pa.schema([pa.field(f.name, f.type, nullable=True) for f in self.schema])
        full = pa.Table.from_arrays(arrays, schema=loose)
        bad_idx = sorted(problems)
        good_idx = [i for i in range(n) if i not in problems]
        good = full.take(pa.array(good_idx, pa.int64())).cast(self.schema)
        reasons = [problems[i] for i in bad_idx]
        bad = full.take(pa.array(bad_idx, pa.int64()))
        bad = bad.append_column(ROW_KEY, pa.nulls(len(bad_idx), pa.string()))
        bad = bad.append_column(POSITION, pa.array([first_position + i for i in bad_idx], pa.int64()))
        bad = bad.append_column(RAW_RECORD, pa.array([raw_json(raws[i]) for i in bad_idx], pa.string()))
        bad = bad.append_column(REASONS, pa.array(reasons, pa.list_(pa.string())))
        return Converted(good, bad.cast(self.qschema), reasons)


def _raw_text(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, (dt.timedelta, Decimal)):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    return value if value is None or isinstance(value, (str, int, bool)) else str(value)
