"""SQL column types to Arrow, exactly: what to SELECT for each column and how to convert the rows.

Rules (docs/contracts.md, "Arrow types"):

- integers -> ``int64`` (nullable integers stay integers: nulls are Arrow nulls, never NaN);
- NUMERIC/DECIMAL(p, s) -> ``decimal128(p, s)`` (unconstrained -> (38, 10)); money is never float;
- DATE -> ``date32``; DATETIME/TIMESTAMP -> ``timestamp[us, tz=UTC]``. Zone-aware source values
  (PostgreSQL ``timestamptz``, MySQL ``TIMESTAMP``) are read in a UTC session; naive ones
  (``timestamp without time zone``, MySQL ``DATETIME``, SQLite) are read in the source's
  configured zone and converted to UTC. The zone is recorded per column (``ColumnSchema.source_zone``);
- binary -> ``binary`` (bytes kept as they are); BOOLEAN -> ``bool``; TIME -> ``time64[us]``;
- anything else (JSON, intervals, arrays, enums...) -> ``string``, rendered by the database
  itself through ``CAST(... AS text)`` so every read path gives the same text.

MySQL/MariaDB and SQLite dates and datetimes are SELECTed as text and parsed here: PyMySQL turns
``0000-00-00`` and ``2023-02-30`` into ``None`` silently, and SQLite holds whatever text was
written. Values that do not parse are quarantined with ``zero_date`` or ``invalid_date``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy import types as st

from custody.sources.quarantine import (
    POSITION,
    RAW_RECORD,
    REASONS,
    ROW_KEY,
    quarantine_schema,
    raw_json,
)

UTC_TS = pa.timestamp("us", tz="UTC")
TEXT_DIALECTS = ("mysql", "mariadb", "sqlite")  # dialects whose temporal columns are read as text


def arrow_type(sql_type: st.TypeEngine) -> pa.DataType:
    """Arrow type used for a reflected SQL column type (rules in the module docstring)."""
    t = sql_type
    if isinstance(t, st.Boolean):
        return pa.bool_()
    if isinstance(t, st.Integer):
        return pa.int64()
    if isinstance(t, st.Float) or (isinstance(t, st.Numeric) and not t.asdecimal):
        return pa.float64()
    if isinstance(t, st.Numeric):
        precision = t.precision or 38
        scale = t.scale if t.scale is not None else (0 if t.precision else 10)
        # PostgreSQL 15+ allows numeric(5, -2) (integers rounded to hundreds) and numeric(3, 5)
        # (|x| < 0.001): the smallest exact Arrow decimal holds all their digits.
        precision, scale = max(precision - min(scale, 0), scale), max(scale, 0)
        return pa.decimal128(min(precision, 38), scale)
    if isinstance(t, st.DateTime):
        return UTC_TS
    if isinstance(t, st.Date):
        return pa.date32()
    if isinstance(t, st.Time):
        return pa.time64("us")
    if isinstance(t, st._Binary):
        return pa.binary()
    return pa.string()


def _is_text_type(t: st.TypeEngine) -> bool:
    return isinstance(t, (st.String, st.Enum, st.Uuid)) and not isinstance(t, st.JSON)


@dataclass(frozen=True)
class ColumnPlan:
    """How one column is read.

    ``cast_text``: SELECT ``CAST(col AS text)``; ``temporal``: ``date``/``timestamp`` or None;
    ``naive``: timestamps without a zone, read in ``source_zone``; ``aware``: zone-aware source
    timestamps (read in a UTC session).
    """

    name: str
    arrow: pa.DataType
    source_type: str
    nullable: bool
    cast_text: bool
    temporal: Literal["date", "timestamp"] | None
    naive: bool
    source_zone: str | None

    def field(self) -> pa.Field:
        """Arrow field of the staged column."""
        return pa.field(self.name, self.arrow, nullable=self.nullable)


def plan_columns(table: sa.Table, dialect: str, source_tz: str, session_zone: str | None) -> list[ColumnPlan]:
    """One ``ColumnPlan`` per column of ``table``, in table order.

    ``dialect``: SQLAlchemy dialect name; ``source_tz``: IANA zone of naive timestamps;
    ``session_zone``: the session zone the source reported (recorded for zone-aware columns).
    """
    plans = []
    for c in table.columns:
        t = c.type
        arrow = arrow_type(t)
        temporal: Literal["date", "timestamp"] | None = None
        naive = False
        zone = None
        if isinstance(t, st.DateTime):
            temporal = "timestamp"
            aware = bool(getattr(t, "timezone", False)) and dialect == "postgresql"
            if dialect in ("mysql", "mariadb") and type(t).__name__.upper() == "TIMESTAMP":
                aware = True  # MySQL TIMESTAMP is stored in UTC and shown in the session zone
            naive = not aware
            zone = source_tz if naive else (session_zone or "UTC")
        elif isinstance(t, st.Date):
            temporal = "date"
        cast_text = (temporal is not None and dialect in TEXT_DIALECTS) or (
            pa.types.is_string(arrow) and not _is_text_type(t)
        )
        plans.append(ColumnPlan(c.name, arrow, str(t), bool(c.nullable), cast_text, temporal, naive, zone))
    return plans


def select_list(table: sa.Table, plans: list[ColumnPlan]) -> list[sa.ColumnElement]:
    """SELECT expressions for ``plans``: the column, or ``CAST(col AS text)`` labelled with its name."""
    return [sa.cast(table.c[p.name], sa.String).label(p.name) if p.cast_text else table.c[p.name] for p in plans]


# -- parsing temporal text ------------------------------------------------------------------------
def parse_date_text(text: str) -> tuple[dt.date | None, str | None]:
    """``(date, None)`` or ``(None, reason)`` for a date rendered as text by MySQL or SQLite.

    ``0000-00-00`` -> ``zero_date``; a day that does not exist (``2023-02-30``, month 0) or text
    that is not a date -> ``invalid_date``. A midnight time part (SQLite) is accepted.
    """
    s = text.strip()
    if s[:10] == "0000-00-00":
        return None, "zero_date"
    try:
        value = dt.date.fromisoformat(s[:10])
    except ValueError:
        return None, "invalid_date"
    rest = s[10:].strip(" T")
    if rest and rest.replace("0", "").replace(":", "").replace(".", "") != "":
        return None, "invalid_date"
    return value, None


def parse_datetime_text(text: str) -> tuple[dt.datetime | None, str | None]:
    """``(naive datetime, None)`` or ``(None, reason)`` for a datetime rendered as text."""
    s = text.strip()
    if s[:10] == "0000-00-00":
        return None, "zero_date"
    try:
        value = dt.datetime.fromisoformat(s)
    except ValueError:
        return None, "invalid_date"
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value, None


# -- conversion -----------------------------------------------------------------------------------
@dataclass
class Converted:
    """One batch of rows converted to Arrow.

    ``good``: staged rows, schema from the plans, source order. ``bad``: quarantine rows
    (``custody.sources.quarantine.quarantine_schema``, row keys still null) or None;
    ``bad_reasons``: their reason labels, row by row.
    """

    good: pa.Table
    bad: pa.Table | None
    bad_reasons: list[list[str]]


class RowConverter:
    """Convert DB-API row tuples (one streamed batch) into Arrow with exact types.

    Values that cannot be represented exactly are quarantined per row (never coerced), see
    ``custody.sources.quarantine`` for the reasons.
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
            arr, bad = _convert_column(plan, list(values))
            for i, reason in bad.items():
                problems.setdefault(i, []).append(f"{reason}:{plan.name}")
                raws.setdefault(i, {})[plan.name] = _raw_text(values[i])
            arrays.append(arr)
        table = pa.Table.from_arrays(arrays, schema=self.schema.with_metadata(None)) if not problems else None
        if not problems:
            return Converted(table, None, [])
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
    if isinstance(value, dt.timedelta):
        return str(value)
    return value if value is None or isinstance(value, (str, int, float, bool)) else str(value)


class SpecialValue(str):
    """A PostgreSQL date/time value with no exact Arrow equivalent, kept as its text.

    ``infinity`` / ``-infinity`` (psycopg2 would return ``datetime.max`` / ``min``, indistinguishable
    from real values), dates before year 1 (``4714-11-24 BC``) and ``24:00:00``. Quarantined as
    ``out_of_range``.
    """


def pg_special_value_casters() -> list[Any]:
    """psycopg2 typecasters for date, timestamp, timestamptz, time and timetz that return
    ``SpecialValue`` instead of a wrong or failing Python value; register them on the reading
    connection only (``psycopg2.extensions.register_type(caster, connection)``)."""
    import psycopg2.extensions as ext

    def wrap(base: Any, name: str) -> Any:
        def cast(value: str | None, cur: Any) -> Any:
            if value is None:
                return None
            if value in ("infinity", "-infinity") or value.endswith(" BC") or value.startswith("24:"):
                return SpecialValue(value)
            try:
                return base(value, cur)
            except (ValueError, OverflowError):
                return SpecialValue(value)

        return ext.new_type(base.values, f"CUSTODY_{name}", cast)

    return [wrap(ext.PYDATE, "DATE"), wrap(ext.PYDATETIME, "TIMESTAMP"), wrap(ext.PYDATETIMETZ, "TIMESTAMPTZ"),
            wrap(ext.PYTIME, "TIME")]


def _convert_column(plan: ColumnPlan, values: list[Any]) -> tuple[pa.Array, dict[int, str]]:
    """Arrow array for one column plus ``{row index: reason}`` of the values set to null."""
    special = {i: "out_of_range" for i, v in enumerate(values) if isinstance(v, SpecialValue)}
    if not special:
        return _convert_values(plan, values)
    arr, bad = _convert_values(plan, [None if i in special else v for i, v in enumerate(values)])
    return arr, {**bad, **special}


def _convert_values(plan: ColumnPlan, values: list[Any]) -> tuple[pa.Array, dict[int, str]]:
    bad: dict[int, str] = {}
    if plan.cast_text and plan.temporal == "date":
        return _text_dates(values)
    if plan.cast_text and plan.temporal == "timestamp":
        parsed = []
        for i, v in enumerate(values):
            if v is None:
                parsed.append(None)
                continue
            value, reason = parse_datetime_text(v)
            if reason:
                bad[i] = reason
            parsed.append(value)
        arr = pa.array(parsed, pa.timestamp("us"))
        return _to_utc(arr, plan, values, bad)
    if plan.temporal == "timestamp":
        if plan.naive:
            arr = pa.array(values, pa.timestamp("us"))
            return _to_utc(arr, plan, values, bad)
        return pa.array(values, UTC_TS), bad
    t = plan.arrow
    if pa.types.is_binary(t):
        values = [bytes(v) if isinstance(v, (memoryview, bytearray)) else v for v in values]
    elif pa.types.is_string(t):
        values = [v if v is None or isinstance(v, str) else str(v) for v in values]
    elif pa.types.is_time64(t):
        values = [_time_value(v) for v in values]
    try:
        return pa.array(values, t), bad
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
        pass
    clean = []
    for i, v in enumerate(values):
        try:
            pa.array([v], t)
            clean.append(v)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
            bad[i] = "unconvertible"
            clean.append(None)
    return pa.array(clean, t), bad


def _time_value(v: Any) -> Any:
    # PyMySQL returns TIME as timedelta; only 00:00:00 <= t < 24:00:00 is a time of day.
    # A PostgreSQL timetz carries its own offset: normalised to UTC like timestamps.
    if isinstance(v, dt.time) and v.tzinfo is not None:
        offset = v.utcoffset() or dt.timedelta(0)
        return (dt.datetime.combine(dt.date(2000, 1, 1), v.replace(tzinfo=None)) - offset).time()
    if isinstance(v, dt.timedelta):
        if dt.timedelta(0) <= v < dt.timedelta(days=1):
            return (dt.datetime.min + v).time()
        return _Unconvertible()
    return v


class _Unconvertible:
    """Marker that makes pa.array fail for a value with no exact Arrow equivalent."""


def _text_dates(values: list[Any]) -> tuple[pa.Array, dict[int, str]]:
    bad: dict[int, str] = {}
    strings = pa.array(values, pa.string())
    try:
        if all(v is None or len(v) == 10 for v in values):
            return pc.cast(strings, pa.date32()), bad
    except (pa.ArrowInvalid, ValueError):
        pass
    parsed = []
    for i, v in enumerate(values):
        if v is None:
            parsed.append(None)
            continue
        value, reason = parse_date_text(v)
        if reason:
            bad[i] = reason
            value = None
        parsed.append(value)
    return pa.array(parsed, pa.date32()), bad


def _to_utc(
    naive: pa.Array, plan: ColumnPlan, raw: list[Any], bad: dict[int, str]
) -> tuple[pa.Array, dict[int, str]]:
    """Naive wall-clock timestamps in ``plan.source_zone`` (or UTC for aware text) -> UTC."""
    zone = plan.source_zone if plan.naive else "UTC"
    if zone in (None, "UTC", "Etc/UTC"):
        return naive.cast(UTC_TS), bad
    try:
        return pc.assume_timezone(naive, timezone=zone, ambiguous="raise", nonexistent="raise").cast(UTC_TS), bad
    except pa.ArrowInvalid:
        pass
    tz = ZoneInfo(zone)
    out = []
    for i, v in enumerate(naive.to_pylist()):
        if v is None:
            out.append(None)
            continue
        local = v.replace(tzinfo=tz)
        back = local.astimezone(dt.UTC).astimezone(tz).replace(tzinfo=None)
        if back != v:
            bad[i] = "nonexistent_local_time"
            out.append(None)
        elif local.utcoffset() != v.replace(fold=1, tzinfo=tz).utcoffset():
            bad[i] = "ambiguous_local_time"
            out.append(None)
        else:
            out.append(local)
    return pa.array(out, UTC_TS), bad
