"""Type matrix per dialect: every column type a CRM schema uses, each with edge values.

For each value the test asserts: restored equal to the source, or quarantined with a reason
naming its column. "Equal" is decided outside Custody, on the database's own rendering of
both sides, read through the raw DB-API with no conversion: PostgreSQL's ``COPY ... TO STDOUT``
text (what ``psql`` shows), MariaDB's text protocol (PyMySQL with no converters: what the
``mariadb`` client shows) and SQLite's stored cells (Python's ``sqlite3``), with the database's
own functions where the restored column has another type (a naive timestamp restored as
``timestamptz``, a ``timetz`` restored as UTC ``time``, MySQL ``BIT`` as a number).

The run is the real one: the stages extract and back up the table (``custody.stages``), and
``custody.restore.restore_to_sql`` restores the snapshot into a second database of the same
kind. Each value also has its expected outcome, so a silent change (a MariaDB ``TIME`` of
``838:59:59`` wrapped into a clock time, a SQLite ``BOOLEAN`` of ``'false'`` read as true) fails
by name. Values are synthetic.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sqlite3
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from custody.demo.loaders import drop_database, ensure_database
from custody.documents import run_key_for
from custody.restore import restore_to_sql
from custody.settings import DEFAULT_CONFIG_DIR, Settings
from custody.crypto import init_keyring
from custody.stages import Runtime, stage_backup, stage_extract
from custody.store import LocalStore

DB = f"custody_matrix_{os.getpid()}"
EQUAL = "equal"


@dataclass
class Col:
    """One column of the matrix table: its DDL, its edge values as SQL literals with the expected
    outcome (``EQUAL`` or a quarantine reason), and how the oracle reads each side."""

    name: str
    ddl: str
    values: list[tuple[str, str]]
    src: str = "{c}"
    dst: str = "{c}"
    compare: str = "text"


# -- PostgreSQL -----------------------------------------------------------------------------------------
PG_PRE = ["DROP TYPE IF EXISTS deal_status CASCADE", "CREATE TYPE deal_status AS ENUM ('open', 'won', 'lost')"]
PG = [
    Col("small", "smallint", [("-32768", EQUAL), ("32767", EQUAL), ("0", EQUAL)]),
    Col("int4", "integer", [("-2147483648", EQUAL), ("2147483647", EQUAL)]),
    Col("int8", "bigint", [("-9223372036854775808", EQUAL), ("9223372036854775807", EQUAL)]),
    Col("amount", "numeric(14,2)", [("999999999999.99", EQUAL), ("-0.01", EQUAL), ("1.5", EQUAL), ("0", EQUAL)]),
    Col("ratio", "numeric", [("1.5", EQUAL), ("123456789.0123456789", EQUAL), ("0.00000000001", "precision_loss"),
                             ("'NaN'", "unconvertible"), ("'Infinity'", "out_of_range"),
                             ("1e27", EQUAL), ("1e28", "out_of_range")], compare="decimal"),
    Col("real4", "real", [("0.1", EQUAL), ("3.4028235e38", EQUAL), ("'-Infinity'", EQUAL), ("'NaN'", EQUAL),
                          ("'-0'", EQUAL), ("1.17549435e-38", EQUAL)]),
    Col("float8", "double precision", [("0.1", EQUAL), ("1.7976931348623157e308", EQUAL), ("5e-324", EQUAL),
                                       ("'NaN'", EQUAL), ("'Infinity'", EQUAL), ("'-0'", EQUAL)]),
    Col("flag", "boolean", [("true", EQUAL), ("false", EQUAL)]),
    Col("code", "char(6)", [("'ab'", EQUAL), ("' a  b '", EQUAL)]),
    Col("name", "varchar(64)", [("'张三'", EQUAL), ("'𠮷野家'", EQUAL), ("'O''Brien'", EQUAL), ("''", EQUAL),
                                (r"E'tab\there\nnewline\\backslash'", EQUAL), ("'😀 emoji'", EQUAL)]),
    Col("notes", "text", [("repeat('备注', 40000)", EQUAL), ("'null'", EQUAL), ("'  spaced  '", EQUAL)]),
    Col("blob", "bytea", [(r"'\x00ff0a'", EQUAL), (r"'\x'", EQUAL), ("decode(repeat('ab', 5000), 'hex')", EQUAL)]),
    Col("born", "date", [("'2000-02-29'", EQUAL), ("'0001-01-01'", EQUAL), ("'9999-12-31'", EQUAL),
                         ("'4714-11-24 BC'", "out_of_range"), ("'infinity'", "out_of_range"),
                         ("'-infinity'", "out_of_range"), ("'10000-01-01'", "out_of_range")]),
    # naive: read in the source zone (Asia/Shanghai), restored as timestamptz; the database converts
    Col("seen", "timestamp", [("'2024-01-01 08:00:00.123456'", EQUAL), ("'1900-01-01 00:00:00'", EQUAL),
                              ("'9999-12-31 23:59:59.999999'", EQUAL), ("'infinity'", "out_of_range"),
                              ("'1990-04-15 02:30:00'", "nonexistent_local_time"),
                              ("'1990-09-16 01:30:00'", "ambiguous_local_time")],
        src="({c} AT TIME ZONE 'Asia/Shanghai')"),
    Col("stamp", "timestamptz", [("'2024-01-01 08:00:00+08'", EQUAL), ("'1969-12-31 23:59:59.999999+00'", EQUAL),
                                 ("'0001-01-01 00:00:00+00'", EQUAL), ("'9999-12-31 23:59:59.999999+00'", EQUAL),
                                 ("'infinity'", "out_of_range"), ("'-infinity'", "out_of_range"),
                                 ("'20000-01-01 00:00:00+00'", "out_of_range")]),
    Col("clock", "time", [("'00:00'", EQUAL), ("'23:59:59.999999'", EQUAL), ("'24:00:00'", "out_of_range")]),
    Col("clocktz", "timetz", [("'12:00+05:30'", EQUAL), ("'23:30-01:00'", EQUAL)],
        src="({c} AT TIME ZONE 'UTC')::time"),
    Col("span", "interval", [("'1 day 02:03:04'", EQUAL), ("'-1 year'", EQUAL)]),
    Col("uid", "uuid", [("'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'", EQUAL)]),
    Col("doc", "jsonb", [("'{\"k\": [1, 2.50], \"名\": null}'", EQUAL)]),
    Col("raw_json", "json", [("'{ \"a\" :  1 }'", EQUAL)]),
    Col("ip", "inet", [("'192.168.0.1/24'", EQUAL)]),
    Col("status", "deal_status", [("'won'", EQUAL)]),
    Col("tags", "text[]", [("ARRAY['a', 'b,c']", EQUAL)]),
    Col("hundreds", "numeric(5,-2)", [("12345", EQUAL), ("-99949", EQUAL)]),
    Col("tiny", "numeric(3,5)", [("0.00123", EQUAL), ("-0.00999", EQUAL)]),
    Col("seconds", "timestamp(0)", [("'2024-01-01 08:00:00.6'", EQUAL)], src="({c} AT TIME ZONE 'Asia/Shanghai')"),
    Col("clock0", "time(0)", [("'12:34:56.7'", EQUAL)]),
    Col("bits", "bit varying(8)", [("B'1011'", EQUAL)]),
    Col("markup", "xml", [("'<a x=\"1\">文</a>'", EQUAL)]),
    Col("label", "varchar", [("'no length'", EQUAL)]),
]

# -- MariaDB ----------------------------------------------------------------------------------------------
MARIADB = [
    Col("tiny", "tinyint", [("-128", EQUAL), ("127", EQUAL)]),
    Col("small", "smallint", [("-32768", EQUAL), ("32767", EQUAL)]),
    Col("regular", "int", [("-2147483648", EQUAL), ("2147483647", EQUAL)]),
    Col("whole", "decimal(10,0)", [("9999999999", EQUAL), ("-1", EQUAL)]),
    Col("short", "tinytext", [("'短'", EQUAL)]),
    Col("medium_text", "mediumtext", [("REPEAT('a', 70000)", EQUAL)]),
    Col("fixed", "binary(4)", [("X'01'", EQUAL)], src="HEX({c})", dst="HEX({c})"),
    Col("seen0", "datetime", [("'2024-01-01 08:00:00'", EQUAL)], src="CAST({c} AS DATETIME(6))"),
    Col("clock0", "time", [("'12:34:56'", EQUAL), ("'-12:00:00'", "out_of_range")], src="CAST({c} AS TIME(6))"),
    Col("stamp0", "timestamp NULL", [("'2001-02-03 04:05:06'", EQUAL)], src="CAST({c} AS DATETIME(6))"),
    Col("flag", "tinyint(1)", [("0", EQUAL), ("1", EQUAL), ("2", EQUAL)]),
    Col("medium", "mediumint", [("-8388608", EQUAL), ("8388607", EQUAL)]),
    Col("big", "bigint", [("-9223372036854775808", EQUAL), ("9223372036854775807", EQUAL)]),
    Col("ubig", "bigint unsigned", [("0", EQUAL), ("18446744073709551615", "out_of_range")]),
    Col("amount", "decimal(14,2)", [("999999999999.99", EQUAL), ("-0.01", EQUAL), ("0", EQUAL)]),
    Col("wide", "decimal(65,30)", [("0.1", EQUAL), ("12345678.123", EQUAL), ("123456789.5", "out_of_range")]),
    Col("single", "float", [("0.1", EQUAL), ("-1.5", EQUAL), ("3.40282e38", EQUAL)]),
    Col("dbl", "double", [("0.1", EQUAL), ("1.7976931348623157e308", EQUAL), ("-2.2250738585072014e-308", EQUAL)]),
    Col("bits", "bit(8)", [("b'00000000'", EQUAL), ("b'11111111'", EQUAL)],
        src="CAST({c} AS UNSIGNED)"),
    Col("yr", "year", [("1901", EQUAL), ("2155", EQUAL), ("0", EQUAL)]),
    Col("code", "char(6)", [("'ab'", EQUAL)]),
    Col("name", "varchar(64)", [("'张三'", EQUAL), ("'𠮷野家 😀'", EQUAL), ("''", EQUAL), ("'a\\tb\\nc\\\\d'", EQUAL),
                                ("CONCAT('a', CHAR(0), 'b')", "nul_character"), ("'trailing  '", EQUAL)]),
    Col("notes", "longtext", [("REPEAT('备注', 40000)", EQUAL)]),
    Col("kind", "enum('person','company')", [("'company'", EQUAL)]),
    Col("perms", "set('read','write')", [("'read,write'", EQUAL)]),
    Col("doc", "json", [("'{\"k\": [1, 2.50]}'", EQUAL)]),
    Col("vbin", "varbinary(16)", [("X'00FF0A'", EQUAL), ("X''", EQUAL)], src="HEX({c})", dst="HEX({c})"),
    Col("payload", "blob", [("REPEAT(X'AB', 70000 DIV 1)", EQUAL)], src="HEX({c})", dst="HEX({c})"),
    Col("born", "date", [("'1000-01-01'", EQUAL), ("'9999-12-31'", EQUAL), ("'0000-00-00'", "zero_date"),
                         ("'2023-02-30'", "invalid_date"), ("'2023-00-10'", "invalid_date")]),
    Col("seen", "datetime(6)", [("'2024-01-01 08:00:00.123456'", EQUAL), ("'9999-12-31 23:59:59.999999'", EQUAL),
                                ("'0000-00-00 00:00:00'", "zero_date"), ("'2023-02-29 10:00:00'", "invalid_date")]),
    Col("stamp", "timestamp(6) NULL", [("'1970-01-01 00:00:01'", EQUAL), ("'2038-01-19 03:14:07.999999'", EQUAL)]),
    Col("clock", "time(6)", [("'00:00:00'", EQUAL), ("'23:59:59.999999'", EQUAL), ("'838:59:59'", "out_of_range"),
                             ("'-838:59:59'", "out_of_range"), ("'-00:00:01'", "out_of_range"),
                             ("'24:00:00'", "out_of_range")]),
]

# -- SQLite ---------------------------------------------------------------------------------------------
SQLITE = [
    Col("int8", "INTEGER", [("9223372036854775807", EQUAL), ("-9223372036854775808", EQUAL), ("0", EQUAL),
                            ("1.5", "type_mismatch"), ("'abc'", "type_mismatch"), ("X'00'", "type_mismatch")],
        compare="typed"),
    Col("flag", "BOOLEAN", [("0", EQUAL), ("1", EQUAL), ("2", "invalid_boolean"), ("'false'", "invalid_boolean"),
                            ("'no'", "invalid_boolean"), ("'true'", "invalid_boolean"), ("-1", "invalid_boolean")],
        compare="typed"),
    Col("amount", "NUMERIC(10,2)", [("1.1", EQUAL), ("100", EQUAL), ("0.30000000000000004", "precision_loss"),
                                    ("'12345678.90'", EQUAL), ("'abc'", "type_mismatch"),
                                    ("123456789.5", "out_of_range")], compare="typed"),
    Col("ratio", "NUMERIC", [("'12345678901234567.89'", EQUAL), ("1e20", EQUAL), ("0.1", EQUAL)], compare="typed"),
    Col("real8", "REAL", [("0.1", EQUAL), ("1e308", EQUAL), ("-0.0", EQUAL), ("5", EQUAL),
                          ("'abc'", "type_mismatch")], compare="typed"),
    Col("name", "TEXT", [("'张三'", EQUAL), ("''", EQUAL), ("'a' || char(0) || 'b'", "nul_character"),
                         ("'𠮷野家 😀'", EQUAL)], compare="typed"),
    Col("short", "VARCHAR(4)", [("'longer than four'", EQUAL)], compare="typed"),
    Col("blob", "BLOB", [("X'00FF'", EQUAL), ("X''", EQUAL), ("'text in a blob'", "type_mismatch")], compare="typed"),
    Col("born", "DATE", [("'2000-02-29'", EQUAL), ("'2000-01-01 00:00:00'", EQUAL), ("'2023-02-30'", "invalid_date"),
                         ("'not a date'", "invalid_date"), ("20240101", "invalid_date"),
                         ("'0000-00-00'", "zero_date")], src="date({c})", dst="date({c})"),
    Col("seen", "DATETIME", [("'2024-01-01 08:00:00'", EQUAL), ("'2024-01-01 08:00:00.123456'", EQUAL),
                             ("'2024-01-01T08:00:00'", EQUAL), ("'2024-01-01 08:00:00+08:00'", EQUAL),
                             ("'2024-01-01 08:00:00.1234567'", "precision_loss"), ("'yesterday'", "invalid_date"),
                             ("'2024-01-01 24:00:00'", "invalid_date")], compare="iso"),
    Col("clock", "TIME", [("'12:00:00'", EQUAL), ("'23:59:59.999999'", EQUAL), ("'12:00'", EQUAL),
                          ("'24:00:00'", "out_of_range"), ("'350725199001011234'", "invalid_time"),
                          ("43200", "invalid_time")], compare="iso"),
    Col("doc", "JSON", [("'{\"a\": 1}'", EQUAL)], compare="typed"),
    Col("big", "BIGINT", [("42", EQUAL), ("'042'", EQUAL), ("'4 2'", "type_mismatch")], compare="typed"),
    Col("single", "FLOAT", [("1.5", EQUAL), ("3", EQUAL)], compare="typed"),
    Col("dbl", "DOUBLE", [("0.1", EQUAL)], compare="typed"),
    Col("money", "DECIMAL(10,2)", [("12.5", EQUAL), ("'1e3'", EQUAL)], compare="typed"),
    Col("code", "CHAR(10)", [("'ab'", EQUAL)], compare="typed"),
    Col("body", "CLOB", [("'long text'", EQUAL)], compare="typed"),
    Col("wide", "NVARCHAR(20)", [("'名字'", EQUAL)], compare="typed"),
    Col("stamp", "TIMESTAMP", [("'2024-01-01 08:00:00.5'", EQUAL), ("'2024-13-01 00:00:00'", "invalid_date")],
        compare="iso"),
    Col("loose", "", [("5", EQUAL), ("'abc'", EQUAL), ("1.5", EQUAL)], src="CAST({c} AS TEXT)"),
]


# -- oracles: each side as the database renders it -------------------------------------------------------
def _pg_unescape(field: str) -> str | None:
    """A field of COPY's text format: ``\\N`` is NULL, backslash escapes as PostgreSQL writes them."""
    if field == r"\N":
        return None
    out, i = [], 0
    simple = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\"}
    while i < len(field):
        ch = field[i]
        if ch == "\\" and i + 1 < len(field):
            nxt = field[i + 1]
            if nxt in simple:
                out.append(simple[nxt])
                i += 2
                continue
        out.append(ch)
        i += 1
    return "".join(out)


def pg_rows(url: sa.URL, expr: str) -> dict[int, Any]:
    import io

    import psycopg2

    conn = psycopg2.connect(host=url.host, port=url.port, user=url.username, dbname=url.database)
    try:
        with conn.cursor() as cur:
            for stmt in ("SET TIME ZONE 'UTC'", "SET DateStyle TO 'ISO, YMD'", "SET IntervalStyle TO 'postgres'",
                         "SET bytea_output TO 'hex'", "SET extra_float_digits TO 1"):
                cur.execute(stmt)
            buf = io.StringIO()
            cur.copy_expert(f"COPY (SELECT id, {expr} FROM matrix) TO STDOUT", buf)
    finally:
        conn.close()
    out = {}
    for line in buf.getvalue().split("\n"):
        if line:
            key, value = line.split("\t")
            out[int(key)] = _pg_unescape(value)
    return out


def mariadb_rows(url: sa.URL, expr: str) -> dict[int, Any]:
    import pymysql
    from pymysql.converters import conversions

    # Encoders only (keyed by Python type); no decoders (keyed by field type): every value
    # arrives as the text (or bytes) the server sent.
    encoders = {k: v for k, v in conversions.items() if not isinstance(k, int)}
    conn = pymysql.connect(host=url.host, port=url.port or 3306, user=url.username, database=url.database,
                           charset="utf8mb4", conv=encoders)
    try:
        with conn.cursor() as cur:
            cur.execute("SET time_zone = '+00:00'")
            cur.execute(f"SELECT id, {expr} FROM matrix")
            return {int(k): v for k, v in cur.fetchall()}
    finally:
        conn.close()


def sqlite_rows(path: Path, expr: str) -> dict[int, Any]:
    conn = sqlite3.connect(path)
    try:
        return {k: v for k, v in conn.execute(f"SELECT id, {expr} FROM matrix")}
    finally:
        conn.close()


def _iso(v: Any) -> Any:
    """A date, time or timestamp in SQLite text, read by the standard library; aware -> UTC."""
    if not isinstance(v, str):
        return ("not text", v)
    for parse in (dt.date.fromisoformat, dt.time.fromisoformat):
        try:
            return parse(v)
        except ValueError:
            pass
    value = dt.datetime.fromisoformat(v)
    return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo is not None else value


def same(compare: str, a: Any, b: Any) -> bool:
    if compare == "decimal":
        return a == b if a is None or b is None else Decimal(a) == Decimal(b)
    if compare == "typed":  # SQLite: same storage class and value (a restored boolean is 0 / 1 too)
        return type(a) is type(b) and a == b
    if compare == "iso":
        return _iso(a) == _iso(b) if a is not None and b is not None else a == b
    return a == b


# -- the run ----------------------------------------------------------------------------------------------
def runtime(tmp_path: Path, new_catalog, timezone: str) -> Runtime:
    config = tmp_path / "config"
    config.mkdir()
    shutil.copy(DEFAULT_CONFIG_DIR / "policy.yaml", config / "policy.yaml")
    (config / "sources.yaml").write_text(
        "version: 1\nbackup: {local: true, s3_conn_id: null}\nsources:\n"
        "  - {name: matrix, conn_id: matrix, lawful_basis: contract, retention_class: customer_contract,\n"
        f"     timezone: {timezone}, chunk_rows: 25, tables: [{{name: matrix}}]}}\n", encoding="utf-8")
    settings = Settings.from_env({"CUSTODY_HOME": str(tmp_path / "home"), "CUSTODY_CONFIG_DIR": str(config)})
    new_catalog(settings.home / "catalog.db")
    init_keyring(settings.keyring)
    return Runtime(settings)


def run_matrix(cols: list[Col], source: sa.Engine, target: sa.Engine, rt: Runtime, fetch_source, fetch_target,
               create_suffix: str = "", pre: list[str] | None = None, insert_prefix: list[str] | None = None):
    """Create and fill ``matrix`` (one row per value, other columns NULL), extract, back up, restore;
    return ``[(column, literal, expected, outcome)]`` where outcome is ``equal``, ``changed``,
    ``missing`` or the quarantine labels of the row."""
    cells: list[tuple[int, Col, str, str]] = []
    for col in cols:
        for literal, expect in col.values:
            cells.append((len(cells) + 1, col, literal, expect))
    with source.connect() as conn:
        for stmt in pre or []:
            conn.exec_driver_sql(stmt)
        conn.exec_driver_sql("DROP TABLE IF EXISTS matrix")
        ddl = ", ".join(f"{c.name} {c.ddl}".rstrip() for c in cols)
        conn.exec_driver_sql(f"CREATE TABLE matrix (id integer PRIMARY KEY, {ddl}){create_suffix}")
        for stmt in insert_prefix or []:
            conn.exec_driver_sql(stmt)
        for row_id, col, literal, _ in cells:
            conn.exec_driver_sql(f"INSERT INTO matrix (id, {col.name}) VALUES ({row_id}, {literal})".replace("%", "%%"))
        conn.commit()

    done = stage_extract(rt, source, "matrix", "matrix-run")
    backup = stage_backup(rt, "matrix", done["run_key"])
    restored = restore_to_sql(LocalStore(rt.settings.backup_dir), backup["snapshot_key"], rt.keyring, target)
    tm = rt.manifest("matrix", done["run_key"]).tables[0]
    quarantined: dict[int, list[str]] = {}
    for entry in tm.quarantine:
        for row in rt.staging.get_table(entry).to_pylist():
            quarantined[row["id"]] = row["_quarantine_reasons"]
    assert tm.source_rows == len(cells) == restored["matrix"]["rows"] + len(quarantined)

    results = []
    for col in cols:
        src = fetch_source(col.src.format(c=col.name))
        dst = fetch_target(col.dst.format(c=col.name))
        for row_id, c, literal, expect in cells:
            if c is not col:
                continue
            if row_id in quarantined:
                outcome = ",".join(quarantined[row_id])
            elif row_id not in dst:
                outcome = "missing"
            else:
                outcome = EQUAL if same(col.compare, src[row_id], dst[row_id]) else "changed"
            results.append((col.name, literal[:40], expect, outcome))
    return results


def check(results) -> None:
    """Every value restored equal or quarantined with a reason on its own column, as expected."""
    wrong = [r for r in results
             if not (r[3] == EQUAL if r[2] == EQUAL else r[3] == f"{r[2]}:{r[0]}")]
    assert wrong == [], "\n".join(f"{c} {lit}: expected {e}, got {o}" for c, lit, e, o in wrong)
    assert all(o == EQUAL or ":" in o for *_, o in results)  # never changed, never missing


def test_postgresql_type_matrix(pg_server_url, tmp_path, new_catalog):
    url = sa.make_url(ensure_database(pg_server_url, DB))
    target_url = sa.make_url(ensure_database(pg_server_url, f"{DB}_r"))
    source, target = sa.create_engine(url), sa.create_engine(target_url)
    try:
        rt = runtime(tmp_path, new_catalog, "Asia/Shanghai")
        results = run_matrix(PG, source, target, rt, lambda e: pg_rows(url, e), lambda e: pg_rows(target_url, e),
                             pre=PG_PRE)
        check(results)
        assert len(results) >= 75
    finally:
        source.dispose()
        target.dispose()
        drop_database(pg_server_url, DB)
        drop_database(pg_server_url, f"{DB}_r")


@pytest.mark.parametrize("driver", ["psycopg", "psycopg2"])
def test_postgresql_type_matrix_on_the_copy_path(pg_server_url, tmp_path, new_catalog, driver):
    # Values that have an exact Arrow value only: the whole range takes the COPY fast path (psycopg 3
    # in the extracting session, psycopg2 in a child process), whose CSV fields go through the same
    # rules, and every value comes back equal.
    exact = [Col(c.name, c.ddl, [v for v in c.values if v[1] == EQUAL], c.src, c.dst, c.compare) for c in PG]
    url = sa.make_url(ensure_database(pg_server_url, DB)).set(drivername=f"postgresql+{driver}")
    target_url = sa.make_url(ensure_database(pg_server_url, f"{DB}_r"))
    source, target = sa.create_engine(url), sa.create_engine(target_url)
    try:
        rt = runtime(tmp_path, new_catalog, "Asia/Shanghai")
        results = run_matrix(exact, source, target, rt, lambda e: pg_rows(url, e), lambda e: pg_rows(target_url, e),
                             pre=PG_PRE)
        check(results)
        assert rt.manifest("matrix", run_key_for("matrix-run")).tables[0].extraction.path == "copy"
    finally:
        source.dispose()
        target.dispose()
        drop_database(pg_server_url, DB)
        drop_database(pg_server_url, f"{DB}_r")


def test_postgresql_type_matrix_through_psycopg3(pg_server_url, tmp_path, new_catalog):
    # Airflow's PostgreSQL hook hands out postgresql+psycopg (psycopg 3) engines: the COPY path is
    # tried first; the values without an exact Arrow value send the range to the cursor path, where
    # psycopg's own loaders (which raise on infinity and BC dates, quoting the value) are bypassed.
    url = sa.make_url(ensure_database(pg_server_url, DB)).set(drivername="postgresql+psycopg")
    target_url = sa.make_url(ensure_database(pg_server_url, f"{DB}_r")).set(drivername="postgresql+psycopg")
    source, target = sa.create_engine(url), sa.create_engine(target_url)
    try:
        rt = runtime(tmp_path, new_catalog, "Asia/Shanghai")
        results = run_matrix(PG, source, target, rt, lambda e: pg_rows(url, e), lambda e: pg_rows(target_url, e),
                             pre=PG_PRE)
        check(results)
        assert rt.manifest("matrix", run_key_for("matrix-run")).tables[0].extraction.path == "cursor"
    finally:
        source.dispose()
        target.dispose()
        drop_database(pg_server_url, DB)
        drop_database(pg_server_url, f"{DB}_r")


def test_mariadb_type_matrix(mariadb_server_url, tmp_path, new_catalog):
    url = sa.make_url(ensure_database(mariadb_server_url, DB))
    target_url = sa.make_url(ensure_database(mariadb_server_url, f"{DB}_r"))
    source, target = sa.create_engine(url), sa.create_engine(target_url)
    try:
        rt = runtime(tmp_path, new_catalog, "UTC")
        results = run_matrix(MARIADB, source, target, rt, lambda e: mariadb_rows(url, e),
                             lambda e: mariadb_rows(target_url, e), create_suffix=" CHARACTER SET utf8mb4",
                             insert_prefix=["SET SESSION sql_mode = 'ALLOW_INVALID_DATES'",
                                            "SET SESSION time_zone = '+00:00'"])
        check(results)
        assert len(results) >= 50
    finally:
        source.dispose()
        target.dispose()
        drop_database(mariadb_server_url, DB)
        drop_database(mariadb_server_url, f"{DB}_r")


def test_sqlite_type_matrix(tmp_path, new_catalog):
    src_path, dst_path = tmp_path / "source.db", tmp_path / "restored.db"
    source, target = sa.create_engine(f"sqlite:///{src_path}"), sa.create_engine(f"sqlite:///{dst_path}")
    try:
        rt = runtime(tmp_path, new_catalog, "UTC")
        results = run_matrix(SQLITE, source, target, rt, lambda e: sqlite_rows(src_path, e),
                             lambda e: sqlite_rows(dst_path, e))
        check(results)
        assert len(results) >= 50
    finally:
        source.dispose()
        target.dispose()
