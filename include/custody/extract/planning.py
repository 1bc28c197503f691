"""Planning a run: per table its schema, incremental interval and parts (key ranges or files).

A table is a **full snapshot** or **incremental** (``low < watermark column <= high``,
``custody.extract.watermarks``). Tables above ``split_rows`` rows with a single-column integer
primary key are cut into key ranges ``(lo, hi]`` of about ``split_rows`` rows (exact boundaries
from a keyset walk over the key index); other tables are one range; a file-drop table has one
part per file (``custody.extract.files``). Range bounds are surrogate integer keys, the only
values allowed in XCom (docs/contracts.md).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from typing import Any

import sqlalchemy as sa
from sqlalchemy import types as st

from custody.config import SourceConfig, TableConfig
from custody.documents import ExtractPlan, PartSpec, TablePlan, WatermarkBounds
from custody.extract.errors import ExtractError, SourceUnavailable
from custody.extract.files import plan_file_table
from custody.extract.sessions import (db_error_code, find_column, isolated, prepare_session, primary_key_columns,
                                      reflect_table)
from custody.extract.watermarks import decode, encode
from custody.sources.quarantine import check_column_names
from custody.sources.sqltypes import ColumnPlan, plan_columns
from custody.sources.transient import is_transient
from custody.staging import StagingStore

log = logging.getLogger(__name__)


def _interval_end(value: dt.datetime | str | None) -> dt.datetime:
    if value is None:
        return dt.datetime.now(dt.UTC)
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is None:
        raise ValueError("interval_end must be zone-aware")
    return value.astimezone(dt.UTC)


def _watermark_kind(col: sa.Column) -> str:
    if isinstance(col.type, st.DateTime):
        return "timestamp"
    if isinstance(col.type, st.Integer):
        return "integer"
    raise ExtractError(f"watermark column {col.name!r} must be a timestamp or an integer (it is {col.type})")


def _watermark_param(value: Any, plan: ColumnPlan | None, source_tz: str, dialect: str) -> Any:
    """A watermark bound as a query parameter in the column's own terms (naive local or aware)."""
    if not isinstance(value, dt.datetime):
        return value
    if plan is None or not plan.naive:
        return value if dialect == "postgresql" else value.astimezone(dt.UTC).replace(tzinfo=None)
    from zoneinfo import ZoneInfo

    return value.astimezone(ZoneInfo(source_tz)).replace(tzinfo=None)


def where_conditions(table: sa.Table, tplan: TablePlan, part: PartSpec | None,
                     plans: list[ColumnPlan], source_tz: str, dialect: str) -> list[sa.ColumnElement]:
    """WHERE conditions of a read of ``table``: the incremental interval ``low < column <= high``
    of ``tplan`` (bounds in the column's own terms) and, with ``part``, its key range ``(lo, hi]``."""
    conds: list[sa.ColumnElement] = []
    wm = tplan.watermark
    if wm:
        col = table.c[wm.column]
        plan = next((p for p in plans if p.name == wm.column), None)
        low, high = decode(wm.kind, wm.low), decode(wm.kind, wm.high)
        if low is not None:
            conds.append(col > _watermark_param(low, plan, source_tz, dialect))
        if high is not None:
            conds.append(col <= _watermark_param(high, plan, source_tz, dialect))
        if wm.high is None and wm.kind == "integer":
            conds.append(sa.false())  # empty table at plan time: nothing to extract in this run
    if part is not None:
        key = table.c[tplan.primary_key[0]]
        if part.lo is not None:
            conds.append(key > part.lo)
        if part.hi is not None:
            conds.append(key <= part.hi)
    return conds


def _plan_ranges(conn: sa.Connection, table: sa.Table, pk: list[str], conds: list, split_rows: int,
                 rows: int) -> list[PartSpec]:
    """Key ranges of about ``split_rows`` rows: exact boundaries by walking the key index."""
    if rows <= split_rows or len(pk) != 1 or not isinstance(table.c[pk[0]].type, st.Integer):
        return [PartSpec(part=0)]
    key = table.c[pk[0]]
    bounds: list[int] = []
    last = None
    while True:
        stmt = sa.select(key).where(*conds).order_by(key).offset(split_rows - 1).limit(1)
        if last is not None:
            stmt = stmt.where(key > last)
        b = conn.execute(stmt).scalar()
        if b is None:
            break
        bounds.append(int(b))
        last = b
    edges = [None, *bounds, None]
    return [PartSpec(part=i, lo=lo, hi=hi) for i, (lo, hi) in enumerate(zip(edges[:-1], edges[1:]))]


def schema_signature(plans: list[ColumnPlan]) -> list[str]:
    """``["<column>:<arrow type>", ...]``: compared between planning and extraction (schema drift)."""
    return [f"{p.name}:{p.arrow}" for p in plans]


def plan_sql_table(engine: sa.Engine, source: SourceConfig, tcfg: TableConfig, *, run_key: str, run_id: str,
                   store: Any, interval_end: dt.datetime) -> TablePlan:
    """Plan one SQL table: reflect it, check its column names and key, take its incremental
    interval from ``store`` (a ``WatermarkStore``; ``None`` for full snapshots), count its rows and
    cut key ranges. Raises ``ExtractError`` / ``SchemaError``."""
    table = reflect_table(engine, tcfg)
    check_column_names([c.name for c in table.columns], f"{source.name}.{tcfg.name}")
    pk = primary_key_columns(table, tcfg)
    dialect = engine.dialect.name
    try:
        return _plan_in_session(engine, source, tcfg, table, pk, dialect, run_key=run_key, run_id=run_id,
                                store=store, interval_end=interval_end)
    except sa.exc.DBAPIError as exc:
        # A driver's message may quote a value (a row-level security function raising with one,
        # a bad cast): the error class and code only, without the chain, as extraction does.
        kind = SourceUnavailable if is_transient(exc) else ExtractError
        raise kind(f"{source.name}.{tcfg.name}: the database refused the plan's reads ({db_error_code(exc)})") from None


def _plan_in_session(engine: sa.Engine, source: SourceConfig, tcfg: TableConfig, table: sa.Table, pk: list[str],
                     dialect: str, *, run_key: str, run_id: str, store: Any, interval_end: dt.datetime) -> TablePlan:
    """``plan_sql_table``'s reads in one REPEATABLE READ session: columns, interval, count, ranges."""
    with isolated(engine.connect()) as conn, conn.begin():
        zone, undo = prepare_session(conn)
        try:
            plans = plan_columns(table, dialect, source.timezone, zone)
            tplan = TablePlan(table=tcfg.name, source_table=table.name, kind="sql", primary_key=pk,
                              columns=schema_signature(plans), mode=tcfg.mode, parts=[],
                              row_keys=tcfg.stages_row_keys())
            if tcfg.mode == "incremental":
                if store is None:
                    raise ExtractError(f"{tcfg.name}: incremental extraction needs the catalog (watermark store)")
                col = find_column(table, tcfg.watermark_column or "", "watermark")
                kind = _watermark_kind(col)
                if kind == "timestamp":
                    high = encode(interval_end - dt.timedelta(seconds=tcfg.watermark_lag_seconds))
                else:
                    top = conn.execute(sa.select(sa.func.max(col))).scalar()
                    high = encode(int(top)) if top is not None else None
                interval = store.plan(source.name, tcfg.name, run_key, run_id, kind=kind, column=col.name,
                                      high=high, columns=tplan.columns)
                tplan.watermark = WatermarkBounds(column=col.name, kind=kind, low=interval.low, high=interval.high)
            conds = where_conditions(table, tplan, None, plans, source.timezone, dialect)
            rows = conn.execute(sa.select(sa.func.count()).select_from(table).where(*conds)).scalar_one()
            tplan.planned_rows = rows
            tplan.parts = _plan_ranges(conn, table, pk, conds, tcfg.split_rows or source.split_rows, rows)
        finally:
            if undo:
                undo()
    return tplan


def plan_extract(
    engine: sa.Engine | None,
    *,
    source: SourceConfig,
    run_key: str,
    run_id: str,
    staging: StagingStore,
    store: Any = None,
    interval_end: dt.datetime | str | None = None,
    landing: Any = None,
) -> ExtractPlan:
    """Plan one run of ``source``: per table its schema, interval and parts; write ``plan.json``.

    ``engine``: SQLAlchemy engine (SQL sources); ``landing``: a ``custody.sources.landings.Landing``
    (file drops); ``store``: a ``custody.extract.watermarks.WatermarkStore`` (needed by incremental
    tables); ``interval_end``: upper bound of timestamp watermarks (the Airflow data interval end,
    default now, UTC). Returns the plan as written (``ExtractPlan``; its parts are surrogate
    integer key ranges or file names, never values). Raises ``ExtractError``.
    """
    end = _interval_end(interval_end)
    tables = []
    for tcfg in source.tables:
        if source.kind == "files":
            tables.append(plan_file_table(landing, source, tcfg, run_key=run_key, run_id=run_id, store=store))
        else:
            tables.append(plan_sql_table(engine, source, tcfg, run_key=run_key, run_id=run_id, store=store,
                                         interval_end=end))
    plan = ExtractPlan(source=source.name, run_key=run_key, run_id=run_id,
                       dialect=engine.dialect.name if engine is not None else "files",
                       interval_end=end.isoformat(timespec="microseconds"), plan_id="", tables=tables)
    body = plan.model_dump(mode="json", exclude={"seal", "plan_id"})
    plan.plan_id = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]
    staging.put(plan)
    log.info("planned %s: %d tables, %d parts", source.name, len(tables), sum(len(t.parts) for t in tables))
    return plan
