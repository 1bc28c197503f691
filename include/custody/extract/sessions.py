"""Source database sessions: reflection, isolation and the settings that fix how values render.

Every read of a source (planning a table, extracting a range) runs in one REPEATABLE READ
transaction (``isolated``) whose session settings are pinned first (``prepare_session``): UTC
time zone, ISO dates, hex bytea, exact floats, UTF-8. ``db_error_code`` is what may be reported
of a database error: driver messages can quote values, so they never are.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from custody.config import TableConfig
from custody.extract.errors import ExtractError, SchemaError

PG_SETTINGS = ("SET LOCAL TIME ZONE 'UTC'", "SET LOCAL DateStyle TO 'ISO, YMD'",
               "SET LOCAL IntervalStyle TO 'postgres'", "SET LOCAL bytea_output TO 'hex'",
               "SET LOCAL extra_float_digits TO 1", "SET LOCAL client_encoding TO 'UTF8'",
               # The extracting session idles in its transaction while the COPY child or the
               # consumer of a server-side cursor works; a server-wide idle timeout would cut it.
               "SET LOCAL idle_in_transaction_session_timeout TO 0")


def reflect_table(engine: sa.Engine | sa.Connection, table_cfg: TableConfig) -> sa.Table:
    """Reflect the source table named (case-insensitively) by ``table_cfg.name``.

    Raises ``ExtractError`` when no such table exists, or when two tables match case-insensitively.
    """
    try:
        names = sa.inspect(engine).get_table_names()
    except TypeError:
        _refuse_sql_ascii(engine)
        raise
    matches = [n for n in names if n.lower() == table_cfg.name.lower()]
    if not matches:
        raise ExtractError(f"table {table_cfg.name!r} not found in the source ({len(names)} tables there)")
    if len(matches) > 1:
        raise SchemaError(f"table {table_cfg.name!r} matches {len(matches)} source tables that differ only in case")
    return sa.Table(matches[0], sa.MetaData(), autoload_with=engine)


def _refuse_sql_ascii(engine: sa.Engine | sa.Connection) -> None:
    """Raise ``ExtractError`` when ``engine`` is a psycopg 3 engine on a SQL_ASCII database.

    SQLAlchemy's psycopg dialect fails its first connection to such a database with a bare
    ``TypeError`` (psycopg 3 returns that database's text as bytes). Such a source is read through
    psycopg2: the Airflow connection's extra ``{"sqlalchemy_scheme": "postgresql+psycopg2"}``.
    Returns when the cause is something else.
    """
    dialect = engine.dialect
    if dialect.name != "postgresql" or dialect.driver != "psycopg" or not isinstance(engine, sa.Engine):
        return
    import psycopg

    cargs, cparams = dialect.create_connect_args(engine.url)
    try:
        with psycopg.connect(*cargs, **cparams) as raw:
            encoding = raw.info.parameter_status("server_encoding")
    except psycopg.Error:
        return
    if encoding == "SQL_ASCII":
        raise ExtractError("the source database's encoding is SQL_ASCII, which psycopg 3 cannot read as text; "
                           'set the Airflow connection\'s extra {"sqlalchemy_scheme": "postgresql+psycopg2"}') from None


def primary_key_columns(table: sa.Table, table_cfg: TableConfig) -> list[str]:
    """Names of the row key columns: ``table_cfg.primary_key`` matched case-insensitively to the
    table's columns, else the source's primary key. Raises ``ExtractError`` when there is none."""
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


def find_column(table: sa.Table, name: str, what: str) -> sa.Column:
    """The column of ``table`` named ``name`` (case-insensitively); ``what`` names its role in the
    ``ExtractError`` raised when there is no such column."""
    by_lower = {c.name.lower(): c for c in table.columns}
    try:
        return by_lower[name.lower()]
    except KeyError:
        raise ExtractError(f"{table.name}: {what} column {name!r} not in table") from None


def isolated(conn: sa.Connection) -> sa.Connection:
    """``conn`` in REPEATABLE READ on PostgreSQL and MySQL/MariaDB (one snapshot per transaction:
    ``COUNT(*)`` and the rows read agree); other dialects unchanged."""
    if conn.dialect.name in ("postgresql", "mysql", "mariadb"):
        return conn.execution_options(isolation_level="REPEATABLE READ")
    return conn


def prepare_session(conn: sa.Connection) -> tuple[str | None, Any]:
    """Pin the session settings that change how values are rendered; return (source zone, undo).

    PostgreSQL (transaction-local): UTC time zone, ISO dates, hex bytea, shortest exact floats,
    UTF-8. MySQL/MariaDB (session, restored by ``undo``): UTC time zone for TIMESTAMP columns.
    """
    name = conn.dialect.name
    if name == "postgresql":
        zone = conn.exec_driver_sql("SHOW TimeZone").scalar()
        for stmt in PG_SETTINGS:
            conn.exec_driver_sql(stmt)
        return zone, None
    if name in ("mysql", "mariadb"):
        zone = conn.exec_driver_sql("SELECT @@session.time_zone").scalar()
        if zone == "SYSTEM":
            zone = conn.exec_driver_sql("SELECT @@system_time_zone").scalar()
        previous = conn.exec_driver_sql("SELECT @@session.time_zone").scalar()
        conn.exec_driver_sql("SET time_zone = '+00:00'")
        return zone, lambda: conn.exec_driver_sql("SET time_zone = %s", (previous,))
    return None, None


def db_error_code(exc: sa.exc.DBAPIError) -> str:
    """``<driver exception class>[ SQLSTATE/errno]``: what may be logged of a database error
    (psycopg2 ``pgcode``, psycopg 3 ``sqlstate``, PyMySQL errno)."""
    orig = exc.orig
    code = getattr(orig, "pgcode", None)
    if code is None and getattr(orig, "args", None) and isinstance(orig.args[0], int):
        code = orig.args[0]
    if code is None:
        code = getattr(orig, "sqlstate", None)  # psycopg 3
    return type(orig).__name__ + (f" {code}" if code is not None else "")
