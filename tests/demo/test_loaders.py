"""Loaders: CRM and Chinook round trips on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import datetime as dt
import os
from decimal import Decimal

import pytest
import sqlalchemy as sa
from custody.demo import CRM_KEYS, CRM_TABLES, generate_crm, loaders
from custody.demo.loaders import drop_database, ensure_database, load_chinook, load_tables, split_sql

SCRATCH = f"custody_test_loaders_{os.getpid()}"


@pytest.fixture(scope="module")
def crm():
    return generate_crm(500, seed=11)


@pytest.fixture(scope="module")
def pg_url(pg_server_url):
    url = ensure_database(pg_server_url, SCRATCH)
    yield url
    drop_database(pg_server_url, SCRATCH)


@pytest.fixture(scope="module")
def mariadb_url(mariadb_server_url):
    url = ensure_database(mariadb_server_url, SCRATCH)
    yield url
    drop_database(mariadb_server_url, SCRATCH)


DIALECTS = ["sqlite", pytest.param("pg", marks=pytest.mark.postgres),
            pytest.param("mariadb", marks=pytest.mark.mariadb)]  # fmt: skip


def _engine(request, tmp_path):
    if request.param == "sqlite":
        return sa.create_engine(f"sqlite:///{tmp_path / 'source.db'}")
    # The scratch database is shared by the module's tests; loaders replace what they write.
    return sa.create_engine(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture(params=DIALECTS)
def engine(request, tmp_path):
    eng = _engine(request, tmp_path)
    yield eng
    eng.dispose()


def _read_back(engine, name):
    table = CRM_TABLES.tables[name]
    with engine.connect() as conn:
        rows = conn.execute(sa.select(table).order_by(table.c[CRM_KEYS[name]])).mappings().all()
    out = []
    for row in rows:
        row = dict(row)
        for key, value in row.items():
            # SQLite and MariaDB store naive UTC; PostgreSQL returns aware values.
            if isinstance(value, dt.datetime):
                row[key] = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value
        out.append(row)
    return out


def test_crm_round_trip_is_exact_and_rerunnable(engine, crm):
    expected_counts = {name: crm[name].num_rows for name in crm}
    assert load_tables(engine, crm, batch_rows=128) == expected_counts
    # Second run with replace=True: same rows, not doubled.
    assert load_tables(engine, crm) == expected_counts
    for name in crm:
        assert _read_back(engine, name) == crm[name].to_pylist(), name

    contracts = _read_back(engine, "contracts")
    assert all(type(r["amount"]) is Decimal for r in contracts)
    assert sum(r["amount"] for r in contracts) == sum(crm["contracts"].column("amount").to_pylist())
    contacts = _read_back(engine, "contacts")
    assert contacts[0]["name"] == crm["contacts"].column("name")[0].as_py()
    assert any(r["notes"] is None for r in contacts)


def test_append_of_existing_keys_is_rejected_and_rolled_back(tmp_path, crm):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'crm.db'}")
    load_tables(engine, crm)
    with pytest.raises(sa.exc.IntegrityError):
        load_tables(engine, {"contracts": crm["contracts"]}, replace=False)
    with engine.connect() as conn:
        count = conn.execute(sa.select(sa.func.count()).select_from(CRM_TABLES.tables["contracts"]))
        assert count.scalar() == crm["contracts"].num_rows
    engine.dispose()


def test_load_tables_rejects_unknown_tables_and_columns(tmp_path, crm):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'crm.db'}")
    with pytest.raises(KeyError):
        load_tables(engine, {"orders": crm["contracts"]})
    with pytest.raises(ValueError, match="amount_cny"):
        load_tables(engine, {"contracts": crm["contracts"].rename_columns(
            [c if c != "amount" else "amount_cny" for c in crm["contracts"].column_names])})  # fmt: skip
    with pytest.raises(ValueError):
        load_tables(engine, crm, batch_rows=0)
    assert sa.inspect(engine).get_table_names() == []  # nothing created before validation failed
    engine.dispose()


@pytest.fixture(params=DIALECTS)
def chinook_engine(request, tmp_path, chinook_dir):
    eng = _engine(request, tmp_path)
    yield eng
    eng.dispose()


def test_chinook_loads_twice_with_same_data(chinook_engine, chinook_dir):
    pg = chinook_engine.dialect.name == "postgresql"
    first = load_chinook(chinook_engine, chinook_dir)
    second = load_chinook(chinook_engine, chinook_dir)
    assert first == second and len(first) == 11
    assert ("customer" if pg else "Customer") in first
    q = {  # PostgreSQL script uses snake_case, SQLite/MySQL scripts PascalCase
        "customers": "SELECT count(*) FROM customer" if pg else "SELECT count(*) FROM Customer",
        "employees": "SELECT count(*) FROM employee" if pg else "SELECT count(*) FROM Employee",
        "first": "SELECT first_name, last_name FROM customer WHERE customer_id = 1" if pg
        else "SELECT FirstName, LastName FROM Customer WHERE CustomerId = 1",
        "track": "SELECT name FROM track WHERE track_id = 3435" if pg
        else "SELECT Name FROM Track WHERE TrackId = 3435",
        "lines": "SELECT count(*) FROM invoice_line" if pg else "SELECT count(*) FROM InvoiceLine",
    }  # fmt: skip
    with chinook_engine.connect() as conn:
        assert conn.exec_driver_sql(q["customers"]).scalar() == 59
        assert conn.exec_driver_sql(q["employees"]).scalar() == 8
        assert conn.exec_driver_sql(q["lines"]).scalar() == 2240
        assert tuple(conn.exec_driver_sql(q["first"]).one()) == ("Luís", "Gonçalves")
        # Backslashes survive MariaDB's escape handling, as in the other two.
        assert (
            conn.exec_driver_sql(q["track"]).scalar() == "Cavalleria Rusticana \\ Act \\ Intermezzo Sinfonico"
        )


def test_chinook_sits_next_to_crm_tables(tmp_path, chinook_dir, crm):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'both.db'}")
    load_tables(engine, crm)
    load_chinook(engine, chinook_dir)
    names = set(sa.inspect(engine).get_table_names())
    assert {"contacts", "Customer", "Employee"} <= names
    engine.dispose()


@pytest.mark.postgres
def test_pg_scratch_database_is_utf8_and_idempotent(pg_server_url, pg_url):
    assert ensure_database(pg_server_url, SCRATCH) == pg_url
    assert sa.make_url(pg_url).database == SCRATCH
    engine = sa.create_engine(pg_url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SHOW server_encoding").scalar() == "UTF8"
    engine.dispose()


@pytest.mark.mariadb
def test_mariadb_scratch_database_is_utf8mb4(mariadb_server_url, mariadb_url):
    assert ensure_database(mariadb_server_url, SCRATCH) == mariadb_url
    assert "charset=utf8mb4" in mariadb_url
    engine = sa.create_engine(mariadb_url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT @@character_set_database").scalar() == "utf8mb4"
    engine.dispose()


def test_scratch_helpers_validate_input():
    with pytest.raises(ValueError):
        ensure_database("postgresql+psycopg2://postgres@127.0.0.1/postgres", "x; DROP DATABASE y")
    with pytest.raises(ValueError):
        ensure_database("sqlite:///x.db", "custody_test")
    with pytest.raises(ValueError):
        drop_database("mysql+pymysql://root@127.0.0.1/custody_test", "custody_test")


def test_chinook_dir_resolution(tmp_path, monkeypatch):
    monkeypatch.setenv("CUSTODY_CHINOOK_DIR", str(tmp_path))
    assert loaders.chinook_dir() is None  # exists but holds no Chinook file
    (tmp_path / "Chinook_Sqlite.sqlite").write_bytes(b"")
    assert loaders.chinook_dir() == tmp_path.resolve()
    monkeypatch.setenv("CUSTODY_CHINOOK_DIR", str(tmp_path / "missing"))
    assert loaders.chinook_dir() is None
    monkeypatch.delenv("CUSTODY_CHINOOK_DIR")
    default = loaders.chinook_dir()
    expected = loaders._REPO_ROOT.parent / "shared" / "data" / "chinook"
    assert default is None or default == expected.resolve()


def test_load_chinook_reports_missing_file(tmp_path):
    engine = sa.create_engine("sqlite://")
    with pytest.raises(FileNotFoundError):
        load_chinook(engine, tmp_path)


def test_split_sql_respects_quotes_and_comments():
    script = (
        "/* header; with semicolon */\n"
        "CREATE TABLE `a;b` (x INT);\n"
        "-- comment; here\n"
        "INSERT INTO t VALUES (N'it''s; fine', 'back\\ slash');  # trailing; comment\n"
        'INSERT INTO t VALUES ("dq;");'
    )
    assert split_sql(script) == [
        "CREATE TABLE `a;b` (x INT)",
        "INSERT INTO t VALUES (N'it''s; fine', 'back\\ slash')",
        'INSERT INTO t VALUES ("dq;")',
    ]
    assert split_sql(r"SELECT 'a\';b'; SELECT 2", backslash_escapes=True) == [r"SELECT 'a\';b'", "SELECT 2"]
    assert split_sql(r"SELECT 'a\'; SELECT 2") == [r"SELECT 'a\'", "SELECT 2"]
