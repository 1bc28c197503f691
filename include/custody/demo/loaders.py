"""Put source data into real databases: the generated CRM and the public Chinook sample.

Supported targets are SQLite, PostgreSQL (psycopg2) and MariaDB/MySQL (PyMySQL, utf8mb4). Every
function takes a SQLAlchemy ``Engine`` (or a server URL) and leaves the data the same however
often it runs, so demos and tests can call them without cleaning up first.

Chinook is read from where it lies (``chinook_dir()``) and never copied into the repository.
"""

from __future__ import annotations

import io
import os
import re
import sqlite3
from collections.abc import Mapping
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import sqlalchemy as sa

from custody.demo.crm import CRM_TABLES

CHINOOK_FILES = {
    "sqlite": "Chinook_Sqlite.sqlite",
    "postgresql": "Chinook_PostgreSql.sql",
    "mysql": "Chinook_MySql.sql",
}
_REPO_ROOT = Path(__file__).resolve().parents[3]
_DB_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


# --- CRM tables ----------------------------------------------------------------------------------


def load_tables(
    engine: sa.Engine,
    tables: Mapping[str, pa.Table],
    metadata: sa.MetaData = CRM_TABLES,
    *,
    replace: bool = True,
    batch_rows: int = 5000,
) -> dict[str, int]:
    """Create the tables described by ``metadata`` and insert the Arrow rows into them.

    Args:
        engine: target database (SQLite, PostgreSQL or MariaDB/MySQL).
        tables: table name -> ``pyarrow.Table``; every name must be a table of ``metadata`` and
            every Arrow column a column of it (missing columns get their SQL default / NULL).
            ``generate_crm()``'s result can be passed as is.
        metadata: SQLAlchemy Core definitions (types, keys); default ``CRM_TABLES``.
        replace: drop the listed tables first (dependants before parents), so a second run
            leaves the same rows; with ``False`` tables are created if missing and rows appended.
        batch_rows: rows per INSERT batch / COPY chunk (> 0).

    Returns:
        table name -> number of rows inserted, in insertion (foreign-key) order.

    Raises:
        KeyError: a table name not defined in ``metadata``.
        ValueError: an Arrow column unknown to the SQL table, or ``batch_rows`` < 1.
        sqlalchemy.exc.DBAPIError: the database rejected DDL or rows (the transaction is rolled
            back, so no partial load remains).

    Timestamps with a time zone are stored as naive UTC on dialects without zone support
    (SQLite, MariaDB) and read back naive; SQLite keeps NUMERIC as floating point, which is exact
    for ``Numeric(14,2)`` after SQLAlchemy's quantisation back to ``Decimal``.
    """
    if batch_rows < 1:
        raise ValueError("batch_rows must be >= 1")
    missing = [name for name in tables if name not in metadata.tables]
    if missing:
        raise KeyError(f"tables not defined in metadata: {missing}")
    for name, data in tables.items():
        unknown = set(data.column_names) - set(metadata.tables[name].columns.keys())
        if unknown:
            raise ValueError(f"{name}: columns not in the table definition: {sorted(unknown)}")

    ordered = [t for t in metadata.sorted_tables if t.name in tables]
    counts: dict[str, int] = {}
    with engine.begin() as conn:
        if replace:
            metadata.drop_all(conn, tables=ordered, checkfirst=True)
        metadata.create_all(conn, tables=ordered, checkfirst=True)
        for table in ordered:
            data = tables[table.name]
            if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg2":
                _copy_postgres(conn, table, data, batch_rows)
            else:
                _insert_batches(conn, table, data, batch_rows)
            counts[table.name] = data.num_rows
    return counts


def _naive_utc(data: pa.Table) -> pa.Table:
    """Drop the zone from UTC timestamps: SQLite/MariaDB DATETIME would not keep it anyway."""
    for i, f in enumerate(data.schema):
        if pa.types.is_timestamp(f.type) and f.type.tz is not None:
            col = pc.cast(data.column(i), pa.timestamp(f.type.unit))
            data = data.set_column(i, pa.field(f.name, col.type), col)
    return data


def _insert_batches(conn: sa.Connection, table: sa.Table, data: pa.Table, batch_rows: int) -> None:
    data = _naive_utc(data)
    stmt = table.insert()
    for batch in data.to_batches(max_chunksize=batch_rows):
        rows = batch.to_pylist()
        if rows:
            conn.execute(stmt, rows)


def _copy_postgres(conn: sa.Connection, table: sa.Table, data: pa.Table, batch_rows: int) -> None:
    """Stream rows with COPY ... FROM STDIN (CSV): an order of magnitude faster than INSERTs.

    Arrow's CSV writer quotes every string, writes NULL as an empty unquoted field and
    timestamps as ISO 8601 with ``Z``, which is exactly what PostgreSQL's CSV COPY expects.
    """
    prep = conn.dialect.identifier_preparer
    cols = ", ".join(prep.quote(c) for c in data.column_names)
    sql = f"COPY {prep.format_table(table)} ({cols}) FROM STDIN WITH (FORMAT csv)"
    options = pacsv.WriteOptions(include_header=False, batch_size=batch_rows)
    cursor = conn.connection.driver_connection.cursor()
    try:
        for batch in data.to_batches(max_chunksize=batch_rows):
            if batch.num_rows == 0:
                continue
            buf = io.BytesIO()
            pacsv.write_csv(batch, buf, options)
            buf.seek(0)
            cursor.copy_expert(sql, buf)
    finally:
        cursor.close()


# --- Chinook -------------------------------------------------------------------------------------


def chinook_dir() -> Path | None:
    """Folder holding the Chinook scripts, or ``None`` when it is not there.

    ``CUSTODY_CHINOOK_DIR`` wins when set (no fallback if it points nowhere); otherwise
    ``<repo>/../shared/data/chinook``. The folder counts as present when it exists and holds at
    least one of ``CHINOOK_FILES``.
    """
    env = os.environ.get("CUSTODY_CHINOOK_DIR")
    path = Path(env).expanduser() if env else _REPO_ROOT.parent / "shared" / "data" / "chinook"
    if path.is_dir() and any((path / f).is_file() for f in CHINOOK_FILES.values()):
        return path.resolve()
    return None


def load_chinook(engine: sa.Engine, chinook_dir: Path) -> list[str]:
    """Load the whole Chinook sample database (11 tables) into ``engine``'s database.

    SQLite copies tables, rows and indexes from ``Chinook_Sqlite.sqlite``; PostgreSQL and
    MariaDB/MySQL run the vendor script without its ``DROP/CREATE DATABASE`` and ``\\c``/``USE``
    lines, so the tables land in the database the engine points at. Existing Chinook tables are
    dropped first, so running twice leaves the same data. SQLite and PostgreSQL load in one
    transaction; MariaDB commits each DDL statement implicitly, so a failed load there can leave
    some tables behind (the next run drops and reloads them).

    Names keep the script's spelling: ``customer``/``customer_id`` on PostgreSQL,
    ``Customer``/``CustomerId`` on SQLite and MariaDB.

    Returns:
        The loaded table names in creation order.

    Raises:
        FileNotFoundError: the dialect's Chinook file is missing from ``chinook_dir``.
        ValueError: unsupported dialect.
        sqlalchemy.exc.DBAPIError / driver errors: the database rejected the script.
    """
    dialect = engine.dialect.name
    if dialect not in CHINOOK_FILES:
        raise ValueError(f"no Chinook loader for dialect {dialect!r}")
    path = Path(chinook_dir) / CHINOOK_FILES[dialect]
    if not path.is_file():
        raise FileNotFoundError(f"Chinook file missing: {path}")
    if dialect == "sqlite":
        return _chinook_sqlite(engine, path)
    script = path.read_text(encoding="utf-8-sig")
    if dialect == "postgresql":
        return _chinook_postgres(engine, script)
    return _chinook_mysql(engine, script)


def _chinook_sqlite(engine: sa.Engine, path: Path) -> list[str]:
    # A separate read-only connection instead of ATTACH: ATTACH is refused inside the
    # transaction SQLAlchemy holds open, and this never writes to the shared file.
    src = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        objects = src.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master "
            "WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' ORDER BY rowid"
        ).fetchall()
        tables = [(name, sql) for kind, name, _, sql in objects if kind == "table"]
        indexes = [sql for kind, _, _, sql in objects if kind == "index"]
        names = _fk_order(src, [name for name, _ in tables])
        ddl = dict(tables)
        with engine.begin() as conn:
            for name in reversed(names):
                conn.exec_driver_sql(f'DROP TABLE IF EXISTS "{name}"')
            for name in names:
                conn.exec_driver_sql(ddl[name])
                cur = src.execute(f'SELECT * FROM "{name}"')
                marks = ", ".join("?" for _ in cur.description)
                rows = cur.fetchall()
                if rows:
                    conn.exec_driver_sql(f'INSERT INTO "{name}" VALUES ({marks})', rows)
            for sql in indexes:
                conn.exec_driver_sql(sql)
    finally:
        src.close()
    return names


def _fk_order(src: sqlite3.Connection, names: list[str]) -> list[str]:
    """Order tables so that referenced tables come first (works with foreign_keys=ON)."""
    deps = {n: {r[2] for r in src.execute(f'PRAGMA foreign_key_list("{n}")') if r[2] != n} for n in names}
    done: list[str] = []
    while len(done) < len(names):
        ready = [n for n in names if n not in done and deps[n] <= set(done)]
        if not ready:  # a cycle: keep the file's order for the rest
            ready = [n for n in names if n not in done]
        done.extend(ready)
    return done


_DB_LINES = {
    "postgresql": re.compile(r"^\s*(?:(?:DROP|CREATE)\s+DATABASE\b.*|\\c\s.*)$", re.I | re.M),
    "mysql": re.compile(r"^\s*(?:(?:DROP|CREATE)\s+DATABASE\b.*|USE\s.*)$", re.I | re.M),
}
_CREATE_TABLE = re.compile(r"^\s*CREATE\s+TABLE\s+[`\"\[]?(\w+)", re.I | re.M)


def _chinook_postgres(engine: sa.Engine, script: str) -> list[str]:
    script = _DB_LINES["postgresql"].sub("", script)
    names = _CREATE_TABLE.findall(script)
    drops = "".join(f'DROP TABLE IF EXISTS "{n}" CASCADE;\n' for n in reversed(names))
    with engine.begin() as conn:
        # Raw cursor without parameters: psycopg2 then leaves '%' in the data alone and runs the
        # multi-statement script in one round trip, inside SQLAlchemy's transaction.
        cursor = conn.connection.driver_connection.cursor()
        try:
            cursor.execute(drops)
            cursor.execute(script)
        finally:
            cursor.close()
    return names


def _chinook_mysql(engine: sa.Engine, script: str) -> list[str]:
    script = _DB_LINES["mysql"].sub("", script)
    names = _CREATE_TABLE.findall(script)
    statements = split_sql(script)
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        cursor = raw.cursor()
        try:
            # The script writes backslashes literally ('\ Act \'); keep them as SQLite/PG do.
            cursor.execute("SET @custody_sql_mode = @@SESSION.sql_mode")
            cursor.execute("SET SESSION sql_mode = CONCAT(@@SESSION.sql_mode, ',NO_BACKSLASH_ESCAPES')")
            cursor.execute("SET FOREIGN_KEY_CHECKS = 0")
            for name in reversed(names):
                cursor.execute(f"DROP TABLE IF EXISTS `{name}`")
            for stmt in statements:
                if _CREATE_TABLE.match(stmt):
                    # NVARCHAR means utf8mb3 in MariaDB; plain VARCHAR inherits the database's
                    # utf8mb4 like every other Custody table.
                    stmt = re.sub(r"\bNVARCHAR\b", "VARCHAR", stmt, flags=re.I)
                cursor.execute(stmt)
            raw.commit()
            # The connection goes back to the pool: restore its session settings.
            cursor.execute("SET FOREIGN_KEY_CHECKS = 1")
            cursor.execute("SET SESSION sql_mode = @custody_sql_mode")
        except BaseException:
            # Session state is unknown now; never hand this connection to another caller.
            conn.invalidate()
            raise
        finally:
            cursor.close()
    return names


def split_sql(script: str, *, backslash_escapes: bool = False) -> list[str]:
    """Split a SQL script into statements at top-level semicolons.

    Quotes (``'…'``, ``"…"``, backticks, with doubled-quote escapes), ``--``/``#`` line comments
    and ``/* */`` block comments are respected; comments are dropped from the output. With
    ``backslash_escapes`` a backslash escapes the next character inside quotes (MySQL's default
    mode); without it backslashes are literal. Returns non-empty statements without the ``;``.
    """
    out: list[str] = []
    buf: list[str] = []
    i, n = 0, len(script)
    while i < n:
        ch = script[i]
        if ch in "'\"`":
            j = i + 1
            while j < n:
                c = script[j]
                if backslash_escapes and c == "\\" and ch != "`":
                    j += 2
                    continue
                if c == ch:
                    if j + 1 < n and script[j + 1] == ch:  # doubled quote
                        j += 2
                        continue
                    break
                j += 1
            buf.append(script[i : j + 1])
            i = j + 1
        elif script.startswith("/*", i):
            end = script.find("*/", i + 2)
            i = n if end < 0 else end + 2
            buf.append(" ")
        elif script.startswith("--", i) or ch == "#":
            end = script.find("\n", i)
            i = n if end < 0 else end
        elif ch == ";":
            stmt = "".join(buf).strip()
            if stmt:
                out.append(stmt)
            buf = []
            i += 1
        else:
            buf.append(ch)
            i += 1
    stmt = "".join(buf).strip()
    if stmt:
        out.append(stmt)
    return out


# --- scratch databases ---------------------------------------------------------------------------


def _server(server_url: str, name: str) -> tuple[sa.URL, str]:
    if not _DB_NAME.match(name):
        raise ValueError("database name must match [A-Za-z_][A-Za-z0-9_]{0,62}")
    url = sa.make_url(server_url)
    backend = url.get_backend_name()
    if backend not in ("postgresql", "mysql", "mariadb"):
        raise ValueError(f"scratch databases need PostgreSQL or MariaDB, not {backend!r}")
    return url, backend


def ensure_database(server_url: str, name: str) -> str:
    """Create database ``name`` on the server if it does not exist; return its URL.

    Args:
        server_url: any URL reaching the server with CREATE DATABASE rights, e.g.
            ``postgresql+psycopg2://postgres@127.0.0.1:5432/postgres`` or
            ``mysql+pymysql://root@127.0.0.1:3306/?charset=utf8mb4``.
        name: ``[A-Za-z_][A-Za-z0-9_]{0,62}`` (checked, because it is spliced into DDL).

    Returns:
        ``server_url`` with the database replaced by ``name`` (password kept, query kept).
        PostgreSQL databases are UTF8; MariaDB ones utf8mb4.

    Raises:
        ValueError: bad name or a backend other than PostgreSQL/MariaDB/MySQL.
        sqlalchemy.exc.OperationalError: server unreachable or permission denied.
    """
    url, backend = _server(server_url, name)
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            if backend == "postgresql":
                exists = conn.execute(
                    sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
                ).scalar()
                if not exists:
                    # template0 so that ENCODING is honoured whatever template1 was built with.
                    conn.exec_driver_sql(f"CREATE DATABASE \"{name}\" ENCODING 'UTF8' TEMPLATE template0")
            else:
                conn.exec_driver_sql(f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4")
    finally:
        engine.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def drop_database(server_url: str, name: str) -> None:
    """Drop database ``name`` if it exists (PostgreSQL also ends its open sessions).

    Raises the same errors as :func:`ensure_database`.
    """
    url, backend = _server(server_url, name)
    if url.database == name:
        raise ValueError("server_url must point at another database than the one dropped")
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            if backend == "postgresql":
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            else:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
    finally:
        engine.dispose()
