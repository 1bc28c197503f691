"""Incremental extraction state in Custody's catalog database (never in Airflow Variables).

Three tables (``custody.catalog.schema``, migration ``0002_watermarks``):

- ``extract_watermark``: per (source, table) the committed watermark: the upper bound of the last
  committed incremental run (ISO-8601 UTC timestamp or integer, as text; for file drops a commit
  counter), the column it applies to and the column list seen then (schema drift check).
- ``extract_run``: per (source, table, run_key) the planned interval ``(low, high]`` and its state
  (``planned`` -> ``committed``). A rerun of the same Airflow run reuses its interval, so it reads
  the same rows and writes the same staging keys: nothing new, nothing duplicated.
- ``extract_file``: file-drop files committed per (source, table): name, SHA-256 and size.

Protocol (one run, one table)::

    low, high = store.plan(...)          # low = committed watermark, high = the run's bound
    ... extract rows with low < column <= high ...
    store.commit(source, table, run_key) # after the run's manifest is sealed and written

``commit`` is a compare-and-set: it advances the watermark from ``low`` to ``high`` only if no
other run moved it meanwhile (raises ``WatermarkConflict`` otherwise; a rerun re-plans from the new
watermark); committing an already committed run is a no-op. The watermark never moves backwards.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa

from custody.catalog.schema import extract_file as file_table
from custody.catalog.schema import extract_run as run_table
from custody.catalog.schema import extract_watermark as watermark_table
from custody.extract.errors import ExtractError

WatermarkKind = Literal["timestamp", "integer", "files"]

class WatermarkConflict(ExtractError):
    """Another run committed the same table's watermark after this run planned its interval."""


@dataclass(frozen=True)
class Interval:
    """A run's incremental interval ``low < value <= high`` (text values; ``None`` = unbounded)."""

    kind: WatermarkKind
    column: str | None
    low: str | None
    high: str | None
    files: list[dict[str, Any]] | None = None


def encode(value: Any) -> str | None:
    """Text form of a watermark value: integers as decimal, datetimes as ISO-8601 UTC (microseconds)."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise TypeError("a boolean is not a watermark")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError("timestamp watermarks must be zone-aware")
        return value.astimezone(dt.UTC).isoformat(timespec="microseconds")
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time(), dt.UTC).isoformat(timespec="microseconds")
    raise TypeError(f"unsupported watermark type {type(value).__name__}")


def decode(kind: WatermarkKind, text: str | None) -> Any:
    """Inverse of ``encode`` for ``kind`` (``int`` or aware ``datetime``)."""
    if text is None:
        return None
    return int(text) if kind == "integer" else dt.datetime.fromisoformat(text)


def _later(kind: WatermarkKind, a: str | None, b: str | None) -> bool:
    """Whether watermark ``a`` is at or past ``b`` (None is the beginning of time)."""
    if b is None:
        return True
    if a is None:
        return False
    return decode(kind, a) >= decode(kind, b)


class WatermarkStore:
    """Watermarks, planned intervals and committed files in the catalog at ``url``.

    Raises ``custody.catalog.CatalogNotMigrated`` unless the catalog is migrated to head.
    """

    def __init__(self, url: str) -> None:
        from custody.catalog import require_head

        self.engine = sa.create_engine(url)
        require_head(self.engine)

    def close(self) -> None:
        """Release the catalog connections."""
        self.engine.dispose()

    # -- reads ------------------------------------------------------------------------------------
    def current(self, source: str, table: str) -> dict[str, Any] | None:
        """The committed watermark row of a table as a dict, or None before its first commit."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(watermark_table).where(
                watermark_table.c.source == source, watermark_table.c.table_name == table)).first()
        return dict(row._mapping) if row else None

    def committed_files(self, source: str, table: str) -> dict[str, dict[str, Any]]:
        """Files committed for a file-drop table: ``{name: {"sha256", "bytes", "run_key"}}``."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(file_table).where(
                file_table.c.source == source, file_table.c.table_name == table)).all()
        return {r.name: {"sha256": r.sha256, "bytes": r.bytes, "run_key": r.run_key} for r in rows}

    def planned(self, source: str, table: str, run_key: str) -> Interval | None:
        """The interval planned for a run, or None."""
        with self.engine.connect() as conn:
            row = self._run_row(conn, source, table, run_key)
        return self._interval(row) if row else None

    # -- plan / commit ----------------------------------------------------------------------------
    def plan(
        self,
        source: str,
        table: str,
        run_key: str,
        run_id: str,
        *,
        kind: WatermarkKind,
        column: str | None,
        high: str | None = None,
        files: list[dict[str, Any]] | None = None,
        columns: list[str] | None = None,
    ) -> Interval:
        """Plan (or re-read) the interval of one incremental table for one run.

        A run planned before keeps its interval (idempotent reruns) unless it is uncommitted and
        another run has committed since, in which case it is planned again from the new
        watermark. ``high``: the proposed upper bound (text, ``encode``); for files, ``files``
        lists the run's files (``name``, ``bytes``, ...). Raises ``ExtractError`` when the
        committed watermark belongs to another column or kind, or when the table's column list
        changed since the last commit (schema drift: run once with ``mode: full`` or reset the
        watermark with ``reset``).
        """
        now = dt.datetime.now(dt.UTC)
        with self.engine.begin() as conn:
            wm = conn.execute(sa.select(watermark_table).where(
                watermark_table.c.source == source, watermark_table.c.table_name == table)).first()
            low = wm.value if wm else None
            if wm and (wm.kind != kind or (wm.column_name or None) != (column or None)):
                raise ExtractError(
                    f"{source}.{table}: the committed watermark is on {wm.column_name or 'files'} ({wm.kind}), "
                    f"not {column or 'files'} ({kind}); reset it before changing the watermark column")
            if wm and columns is not None and wm.columns_json:
                before = json.loads(wm.columns_json)
                if before != columns:
                    added = [c for c in columns if c not in before]
                    removed = [c for c in before if c not in columns]
                    raise ExtractError(
                        f"{source}.{table}: schema drift since the last committed run "
                        f"(added {added or 'none'}, removed {removed or 'none'}); an incremental run "
                        "cannot mix schemas: run mode full once, or reset the watermark")
            row = self._run_row(conn, source, table, run_key)
            if row is not None and (row.state == "committed" or row.low == low):
                return self._interval(row)
            values = {
                "run_id": run_id, "kind": kind, "column_name": column, "low": low, "high": high,
                "files_json": json.dumps(files, sort_keys=True) if files is not None else None,
                "state": "planned", "planned_at": now, "committed_at": None,
            }
            key = {"source": source, "table_name": table, "run_key": run_key}
            if row is None:
                conn.execute(sa.insert(run_table).values(**key, **values))
            else:
                conn.execute(sa.update(run_table).where(*self._run_where(**key)).values(**values))
            return Interval(kind, column, low, high, files)

    def commit(
        self,
        source: str,
        table: str,
        run_key: str,
        *,
        columns: list[str] | None = None,
        files: list[dict[str, Any]] | None = None,
    ) -> bool:
        """Advance the watermark to the run's ``high`` (and record its files). Idempotent.

        Returns True when the watermark moved, False when this run was already committed (or a
        later run committed past it). Raises ``WatermarkConflict`` when another run committed
        after this run was planned, ``ExtractError`` when the run was never planned.
        """
        now = dt.datetime.now(dt.UTC)
        with self.engine.begin() as conn:
            row = self._run_row(conn, source, table, run_key)
            if row is None:
                raise ExtractError(f"{source}.{table}: run {run_key} has no planned interval to commit")
            wm = conn.execute(sa.select(watermark_table).where(
                watermark_table.c.source == source, watermark_table.c.table_name == table)).first()
            current = wm.value if wm else None
            kind = row.kind
            if row.state == "committed":
                return False
            if (current or None) != (row.low or None):
                if kind != "files" and _later(kind, current, row.high) and row.high is not None:
                    moved = False  # a later run already covers this interval
                else:
                    raise WatermarkConflict(
                        f"{source}.{table}: another run committed this table after run {run_key} was planned; "
                        "rerun it to plan again from the new watermark")
            else:
                moved = True
            new_value = row.high if kind != "files" else str(int(current or 0) + 1)
            if moved and kind != "files" and not _later(kind, new_value, current):
                moved = False  # an interval planned late ends before the watermark: never move back
            if moved:
                values = {"column_name": row.column_name,
                          "kind": kind, "value": new_value, "run_key": run_key, "updated_at": now,
                          "columns_json": (json.dumps(columns) if columns is not None
                                           else (wm.columns_json if wm else None))}
                if wm is None:
                    conn.execute(sa.insert(watermark_table).values(source=source, table_name=table, **values))
                else:
                    result = conn.execute(sa.update(watermark_table).where(
                        watermark_table.c.source == source, watermark_table.c.table_name == table,
                        (watermark_table.c.value == current if current is not None
                         else watermark_table.c.value.is_(None)),
                    ).values(**values))
                    if result.rowcount != 1:
                        raise WatermarkConflict(f"{source}.{table}: watermark changed during commit of run {run_key}")
            for f in files or []:
                conn.execute(sa.delete(file_table).where(
                    file_table.c.source == source, file_table.c.table_name == table, file_table.c.name == f["name"]))
                conn.execute(sa.insert(file_table).values(
                    source=source, table_name=table, name=f["name"], sha256=f["sha256"], bytes=f["bytes"],
                    run_key=run_key, committed_at=now))
            conn.execute(sa.update(run_table).where(*self._run_where(source, table, run_key)).values(
                state="committed", committed_at=now))
            return moved

    def reset(self, source: str, table: str) -> None:
        """Forget a table's watermark and committed files: its next incremental run starts from the beginning."""
        with self.engine.begin() as conn:
            for t in (watermark_table, file_table, run_table):
                conn.execute(sa.delete(t).where(t.c.source == source, t.c.table_name == table))

    # -- helpers ----------------------------------------------------------------------------------
    @staticmethod
    def _run_where(source: str, table_name: str, run_key: str) -> list[sa.ColumnElement]:
        return [run_table.c.source == source, run_table.c.table_name == table_name, run_table.c.run_key == run_key]

    def _run_row(self, conn: sa.Connection, source: str, table: str, run_key: str) -> Any:
        return conn.execute(sa.select(run_table).where(*self._run_where(source, table, run_key))).first()

    @staticmethod
    def _interval(row: Any) -> Interval:
        files = json.loads(row.files_json) if row.files_json else None
        return Interval(row.kind, row.column_name, row.low, row.high, files)
