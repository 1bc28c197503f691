"""SQL column types to Arrow, exactly: what to SELECT for each column and how it is read.

Rules (docs/contracts.md, "Arrow types"):

- integers -> ``int64`` (nullable integers stay integers: nulls are Arrow nulls, never NaN);
  MySQL/MariaDB ``BIT(n)`` -> ``int64`` too (read as ``CAST(col AS UNSIGNED)``);
- NUMERIC/DECIMAL(p, s) -> ``decimal128(p, s)`` (unconstrained -> (38, 10)); money is never float;
- DATE -> ``date32``; DATETIME/TIMESTAMP -> ``timestamp[us, tz=UTC]``. Zone-aware source values
  (PostgreSQL ``timestamptz``, MySQL ``TIMESTAMP``) are read in a UTC session; naive ones
  (``timestamp without time zone``, MySQL ``DATETIME``, SQLite) are read in the source's
  configured zone and converted to UTC. The zone is recorded per column (``ColumnSchema.source_zone``);
- binary -> ``binary`` (bytes kept as they are); BOOLEAN -> ``bool``; TIME -> ``time64[us]``;
- anything else (JSON, intervals, arrays, enums, UUIDs...) -> ``string``, rendered by the
  database itself through ``CAST(... AS text)`` so every read path gives the same text.

How each column is read, so that no driver or SQLAlchemy conversion touches a value first
(``custody.sources.sqlvalues`` converts, with Custody's own checked rules):

- every column is SELECTed through ``type_coerce(..., NullType())``: SQLAlchemy applies no result
  processor (its SQLite BOOLEAN turns ``'false'`` into ``true``, its MySQL TIME wraps
  ``838:59:59`` into a clock time, its SQLite NUMERIC rounds through a float);
- on PostgreSQL and MySQL/MariaDB, dates, timestamps, times and the ``string`` types above are
  SELECTed as the database's own text (``cast_text``): drivers turn these into Python objects
  lossily or raise on values that do not fit (PyMySQL: ``2023-02-30`` -> ``None``; psycopg:
  ``infinity`` -> an error quoting it);
- SQLite cells are read as stored (INTEGER, REAL, TEXT, BLOB) and checked against the declared
  type: SQLite keeps whatever was written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy import types as st

UTC_TS = pa.timestamp("us", tz="UTC")


def arrow_type(sql_type: st.TypeEngine) -> pa.DataType:
    """Arrow type used for a reflected SQL column type (rules in the module docstring)."""
    t = sql_type
    if isinstance(t, st.Boolean):
        return pa.bool_()
    if isinstance(t, st.Integer) or _is_mysql_bit(t):
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


def _is_mysql_bit(t: st.TypeEngine) -> bool:
    return type(t).__name__ == "BIT" and type(t).__module__.startswith("sqlalchemy.dialects.mysql")


def _is_text_type(t: st.TypeEngine) -> bool:
    """Types whose DB-API value is the text itself (UUIDs are not: psycopg returns ``uuid.UUID``)."""
    return isinstance(t, (st.String, st.Enum)) and not isinstance(t, (st.JSON, st.Uuid))


@dataclass(frozen=True)
class ColumnPlan:
    """How one column is read.

    ``cast_text``: SELECT ``CAST(col AS text)`` and parse the database's text, else take the
    DB-API value as it is; ``cast_unsigned``: SELECT ``CAST(col AS UNSIGNED)`` (MySQL ``BIT``);
    ``temporal``: ``date``/``timestamp`` or None; ``naive``: timestamps without a zone, read in
    ``source_zone`` (zone-aware ones are read in a UTC session).
    """

    name: str
    arrow: pa.DataType
    source_type: str
    nullable: bool
    cast_text: bool
    temporal: Literal["date", "timestamp"] | None
    naive: bool
    source_zone: str | None
    cast_unsigned: bool = False

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
        cast_text = dialect != "sqlite" and (
            isinstance(t, (st.Date, st.DateTime, st.Time)) or (pa.types.is_string(arrow) and not _is_text_type(t)))
        plans.append(ColumnPlan(c.name, arrow, str(t), bool(c.nullable), cast_text, temporal, naive, zone,
                                cast_unsigned=_is_mysql_bit(t)))
    return plans


def select_list(table: sa.Table, plans: list[ColumnPlan], *, text_casts: bool = True) -> list[sa.ColumnElement]:
    """SELECT expressions for ``plans``, each labelled with its column name and typed ``NullType``
    so that SQLAlchemy hands over the DB-API value untouched: the column, ``CAST(col AS text)``
    (``cast_text``) or ``CAST(col AS UNSIGNED)`` (``cast_unsigned``).

    ``text_casts=False`` leaves out the text casts, for PostgreSQL's ``COPY``, which writes every
    value as its type's own text anyway (the same text the cast gives, without the extra work).
    """
    from sqlalchemy.dialects import mysql

    out = []
    for p in plans:
        expr: sa.ColumnElement = table.c[p.name]
        if p.cast_text and text_casts:
            expr = sa.cast(expr, sa.String)
        elif p.cast_unsigned:
            expr = sa.cast(expr, mysql.BIGINT(unsigned=True))
        out.append(sa.type_coerce(expr, st.NullType()).label(p.name))
    return out
