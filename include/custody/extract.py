"""SQL extraction: stream a table through a server-side cursor into encrypted Parquet chunks.

Each chunk (at most ``chunk_rows`` rows) is converted to Arrow with an explicit schema derived from
the reflected SQL types (money stays ``decimal128``, never float), hashed, encrypted and written
atomically; only the manifest entry remains in memory. The row count (``COUNT(*)``) and the rows
are read in one REPEATABLE READ transaction on PostgreSQL and MySQL/MariaDB, so the reconciliation
``source_rows == extracted_rows`` compares one snapshot of the table.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy import types as st

from custody import hashing
from custody.config import SourceConfig, TableConfig
from custody.manifest import ColumnSchema, ObjectEntry, TableManifest
from custody.staging import StagingStore

log = logging.getLogger(__name__)


class ExtractError(Exception):
    """A table cannot be extracted as configured (missing table, no key, count mismatch)."""


def arrow_type(sql_type: st.TypeEngine) -> pa.DataType:
    """Arrow type used for a reflected SQL column type.

    Integers -> int64; NUMERIC/DECIMAL(p, s) -> decimal128(p, s) (unconstrained -> (38, 10));
    FLOAT/REAL/DOUBLE -> float64; DATE -> date32; DATETIME/TIMESTAMP -> timestamp[us, UTC]
    (naive source values are taken as UTC); TIME -> time64[us]; BOOLEAN -> bool; binary -> binary;
    everything else -> string.
    """
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
        return pa.decimal128(min(precision, 38), scale)
    if isinstance(t, st.DateTime):
        return pa.timestamp("us", tz="UTC")
    if isinstance(t, st.Date):
        return pa.date32()
    if isinstance(t, st.Time):
        return pa.time64("us")
    if isinstance(t, st._Binary):
        return pa.binary()
    return pa.string()


def _to_arrow(rows: list[Any], names: list[str], schema: pa.Schema) -> pa.Table:
    columns = list(zip(*rows)) if rows else [[] for _ in names]
    arrays = []
    for values, field in zip(columns, schema):
        if pa.types.is_string(field.type):
            values = [v if v is None or isinstance(v, str) else str(v) for v in values]
        arrays.append(pa.array(values, type=field.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def reflect_table(engine: sa.Engine, table_cfg: TableConfig) -> sa.Table:
    """Reflect the source table named (case-insensitively) by ``table_cfg.name``.

    Raises ``ExtractError`` when no such table exists.
    """
    names = sa.inspect(engine).get_table_names()
    matches = [n for n in names if n.lower() == table_cfg.name.lower()]
    if not matches:
        raise ExtractError(f"table {table_cfg.name!r} not found in the source ({len(names)} tables there)")
    return sa.Table(matches[0], sa.MetaData(), autoload_with=engine)


def _primary_key(table: sa.Table, table_cfg: TableConfig) -> list[str]:
    if table_cfg.primary_key:
        by_lower = {c.name.lower(): c.name for c in table.columns}
        try:
            return [by_lower[k.lower()] for k in table_cfg.primary_key]
        except KeyError as exc:
            raise ExtractError(f"{table_cfg.name}: primary key column {exc.args[0]!r} not in table") from None
    pk = [c.name for c in table.primary_key.columns]
    if not pk:
        raise ExtractError(f"{table_cfg.name}: no primary key in the source; set primary_key in sources.yaml")
    return pk


def _read_chunks(conn: sa.Connection, stmt: sa.Select, chunk_rows: int) -> Iterator[list[Any]]:
    result = conn.execution_options(stream_results=True, yield_per=chunk_rows).execute(stmt)
    for part in result.partitions(chunk_rows):
        yield part


def extract_table(
    engine: sa.Engine,
    *,
    source: SourceConfig,
    table_cfg: TableConfig,
    run_key: str,
    staging: StagingStore,
) -> TableManifest:
    """Extract one table into encrypted staging chunks and return its manifest.

    Memory is bounded by one chunk (``source.chunk_rows`` rows) plus its Parquet encoding.
    Raises ``ExtractError`` when the table is missing, has no key, or when the rows read differ
    from ``COUNT(*)`` taken in the same transaction.
    """
    table = reflect_table(engine, table_cfg)
    pk = _primary_key(table, table_cfg)
    names = [c.name for c in table.columns]
    schema = pa.schema([pa.field(c.name, arrow_type(c.type), nullable=c.nullable) for c in table.columns])
    columns = [
        ColumnSchema(name=c.name, arrow_type=str(arrow_type(c.type)), source_type=str(c.type), nullable=bool(c.nullable))
        for c in table.columns
    ]
    stmt = sa.select(table).order_by(*[table.c[k] for k in pk])
    scope = f"{source.name}/{source.retention_class}"
    isolation = "REPEATABLE READ" if engine.dialect.name in ("postgresql", "mysql", "mariadb") else None
    chunks: list[ObjectEntry] = []
    total = 0
    digest = 0
    with engine.connect() as conn:
        if isolation:
            conn = conn.execution_options(isolation_level=isolation)
        with conn.begin():
            source_rows = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
            for index, rows in enumerate(_read_chunks(conn, stmt, source.chunk_rows)):
                arrow = _to_arrow(rows, names, schema)
                chunk_hash = hashing.table_hash(arrow)
                entry = ObjectEntry(
                    object_id=f"{source.name}/{run_key}/{table_cfg.name}/chunk-{index:05d}",
                    key=f"{source.name}/{run_key}/{table_cfg.name}/chunk-{index:05d}.cdy",
                    kind="chunk", source=source.name, run_key=run_key, table=table_cfg.name,
                    chunk=index, rows=arrow.num_rows, content_hash=hashing.to_hex(chunk_hash), scope=scope,
                )
                chunks.append(staging.put_table(entry, arrow))
                total += arrow.num_rows
                digest = hashing.combine(digest, chunk_hash)
    if total != source_rows:
        raise ExtractError(f"{table_cfg.name}: COUNT(*) gave {source_rows} rows but {total} were read")
    log.info("extracted %s.%s: %d rows in %d chunks", source.name, table_cfg.name, total, len(chunks))
    return TableManifest(
        table=table_cfg.name, source_table=table.name, primary_key=pk, columns=columns,
        source_rows=source_rows, extracted_rows=total, content_hash=hashing.to_hex(digest), chunks=chunks,
    )


def arrow_type_from_string(text: str) -> pa.DataType:
    """Inverse of ``str(arrow_type(...))`` for the types ``arrow_type`` produces."""
    import re

    simple = {"int64": pa.int64(), "double": pa.float64(), "string": pa.string(), "bool": pa.bool_(),
              "date32[day]": pa.date32(), "binary": pa.binary(), "time64[us]": pa.time64("us"),
              "timestamp[us, tz=UTC]": pa.timestamp("us", tz="UTC")}
    if text in simple:
        return simple[text]
    m = re.fullmatch(r"decimal128\((\d+), (\d+)\)", text)
    if m:
        return pa.decimal128(int(m.group(1)), int(m.group(2)))
    raise ValueError(f"unsupported Arrow type {text!r} in manifest")
