"""Transient source errors are retried, permanent ones fail at once: decided on real errors from
PostgreSQL (psycopg2 and psycopg 3), MariaDB (PyMySQL) and SQLite, never from a value."""

from __future__ import annotations

import os
import sqlite3

import pytest
import sqlalchemy as sa

from custody.demo.loaders import drop_database, ensure_database
from custody.sources.transient import is_transient
from custody.stages.failures import describe_failure

DB = f"custody_transient_{os.getpid()}"
CANARY = "110101199003074477"  # a resident-ID-shaped value that must never reach a message


def _error(engine: sa.Engine, sql: str, *, setup: tuple[str, ...] = ()) -> sa.exc.DBAPIError:
    with pytest.raises(sa.exc.DBAPIError) as caught:
        with engine.connect() as conn:
            for statement in setup:
                conn.exec_driver_sql(statement)
            conn.exec_driver_sql(sql)
    return caught.value


def _connect_error(url: str) -> sa.exc.DBAPIError:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool, connect_args={"connect_timeout": 5})
    with pytest.raises(sa.exc.DBAPIError) as caught:
        engine.connect().close()
    return caught.value


@pytest.fixture(scope="module")
def pg_db(pg_server_url):
    url = ensure_database(pg_server_url, DB)
    yield url
    drop_database(pg_server_url, DB)


@pytest.fixture(scope="module")
def maria_db(mariadb_server_url):
    url = ensure_database(mariadb_server_url, DB)
    yield url
    drop_database(mariadb_server_url, DB)


@pytest.mark.parametrize("driver", ["psycopg2", "psycopg"])
def test_postgresql_errors(pg_db, driver):
    url = sa.make_url(pg_db).set(drivername=f"postgresql+{driver}")
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    transient = {
        "refused": _connect_error(url.set(port=1)),
        "statement timeout": _error(engine, "SELECT pg_sleep(5)", setup=("SET statement_timeout = 50",)),
        "terminated": _error(engine, "SELECT pg_terminate_backend(pg_backend_pid())"),
    }
    permanent = {
        "unknown role": _connect_error(url.set(username="no_such_role_custody")),
        "unknown database": _connect_error(url.set(database="no_such_database_custody")),
        "missing table": _error(engine, "SELECT * FROM no_such_table"),
        "bad value": _error(engine, f"SELECT CAST('x{CANARY}' AS integer)"),
    }
    assert {k: is_transient(e) for k, e in transient.items()} == dict.fromkeys(transient, True)
    assert {k: is_transient(e) for k, e in permanent.items()} == dict.fromkeys(permanent, False)
    failure = describe_failure("extract_part", permanent["bad value"], map_index=2)
    assert (failure.code, failure.transient) == ("22P02", False)
    assert CANARY not in failure.line() and CANARY not in failure.model_dump_json()
    assert describe_failure("plan_extract", permanent["missing table"]).code == "42P01"
    engine.dispose()


def test_postgresql_lock_timeout_is_transient(pg_db):
    engine = sa.create_engine(pg_db, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS held (id int)")
    with engine.connect() as holder:
        holder.exec_driver_sql("LOCK TABLE held IN ACCESS EXCLUSIVE MODE")
        err = _error(engine, "SELECT * FROM held", setup=("SET lock_timeout = 50",))
        holder.rollback()
    assert is_transient(err) and describe_failure("x", err).code == "55P03"
    engine.dispose()


def test_mariadb_errors(maria_db):
    url = sa.make_url(maria_db)
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS held (id INT PRIMARY KEY) ENGINE=InnoDB")
        conn.exec_driver_sql("INSERT IGNORE INTO held VALUES (1)")
    with engine.connect() as holder:
        holder.exec_driver_sql("SELECT * FROM held WHERE id = 1 FOR UPDATE")
        lock_wait = _error(engine, "UPDATE held SET id = 1 WHERE id = 1",
                           setup=("SET SESSION innodb_lock_wait_timeout = 1",))
        holder.rollback()
    with engine.connect() as victim:
        own = victim.exec_driver_sql("SELECT CONNECTION_ID()").scalar_one()
        with engine.connect() as killer:
            killer.exec_driver_sql(f"KILL CONNECTION {int(own)}")
        with pytest.raises(sa.exc.DBAPIError) as killed:
            victim.exec_driver_sql("SELECT 1")
    transient = {"refused": _connect_error(url.set(port=1)), "lock wait timeout": lock_wait,
                 "killed": killed.value}
    permanent = {
        "access denied": _connect_error(url.set(username="no_such_user_custody")),
        "unknown database": _connect_error(url.set(database="no_such_database_custody")),
        "missing table": _error(engine, "SELECT * FROM no_such_table"),
    }
    assert {k: is_transient(e) for k, e in transient.items()} == dict.fromkeys(transient, True)
    assert {k: is_transient(e) for k, e in permanent.items()} == dict.fromkeys(permanent, False)
    assert describe_failure("x", lock_wait).code == "1205"
    assert describe_failure("x", permanent["missing table"]).code == "1146"
    engine.dispose()


def test_sqlite_busy_is_transient_a_missing_table_is_not(tmp_path):
    path = tmp_path / "source.sqlite"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (id INTEGER)")
    holder.execute("BEGIN EXCLUSIVE")
    engine = sa.create_engine(f"sqlite:///{path}", connect_args={"timeout": 0.05})
    busy = _error(engine, "SELECT * FROM t")
    holder.execute("ROLLBACK")
    holder.close()
    assert is_transient(busy) and describe_failure("x", busy).code == "5"
    assert not is_transient(_error(engine, "SELECT * FROM no_such_table"))
    engine.dispose()


def test_custody_errors_say_so_themselves_and_keep_their_message():
    from custody.extract import ExtractError, SourceUnavailable
    from custody.store import StoreLockedError

    assert not is_transient(ExtractError("table 'x' not found in the source (3 tables there)"))
    assert is_transient(SourceUnavailable("crm.contacts part 2: the database refused the read (OperationalError)"))
    assert is_transient(StoreLockedError("local:/x: backup refused, store locked by locks/prune-1"))
    assert is_transient(TimeoutError()) and is_transient(ConnectionResetError())
    failure = describe_failure("plan_extract", ExtractError("table 'x' not found in the source\n(3 tables there)"))
    assert failure.message == "table 'x' not found in the source (3 tables there)" and not failure.transient
    # Outside Custody a message can quote a value: it is never passed on.
    leaky = describe_failure("classify_and_validate", ValueError(f"invalid literal: '{CANARY}'"))
    assert CANARY not in leaky.line() and leaky.error == "ValueError" and not leaky.transient


def test_an_error_without_a_code_or_a_known_cause_is_permanent():
    class OperationalError(Exception):  # a driver's connection error: no SQLSTATE, only text
        pass

    odd = sa.exc.OperationalError("SELECT 1", {}, OperationalError("something else entirely"))
    assert is_transient(odd) is False
    closed = sa.exc.OperationalError("SELECT 1", {}, OperationalError("server closed the connection unexpectedly"))
    assert is_transient(closed) is True
    invalidated = sa.exc.DBAPIError("SELECT 1", {}, Exception("x"), connection_invalidated=True)
    assert is_transient(invalidated) is True
