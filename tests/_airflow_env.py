"""Airflow set-up for the test session.

Imported by ``conftest.py`` before any test module, because Airflow reads its configuration at
first import. The metadata database is the machine's PostgreSQL (database
``custody_airflow_test_<pid>``, created per session and dropped at its end, so parallel
sessions never share one) when it is reachable, SQLite in a temporary
folder otherwise; Airflow's home is a temporary folder either way.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PG_SERVER = os.environ.get("CUSTODY_TEST_PG", "postgresql+psycopg2://postgres@127.0.0.1:5432")
AIRFLOW_DB = f"custody_airflow_test_{os.getpid()}"


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def configure() -> None:
    home = Path(tempfile.mkdtemp(prefix="custody-test-airflow-"))
    os.environ["AIRFLOW_HOME"] = str(home)
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "dags")
    os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(ROOT / "plugins")
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["GX_ANALYTICS_ENABLED"] = "false"
    if _reachable("127.0.0.1", 5432):
        os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"{PG_SERVER}/{AIRFLOW_DB}"
    else:
        os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{home / 'airflow.db'}"


def _pg(*statements: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        for statement in statements:
            conn.execute(sa.text(statement))
    engine.dispose()


@pytest.fixture(scope="session")
def airflow_env():
    """A migrated Airflow metadata database; yields AIRFLOW_HOME."""
    on_pg = os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql")
    if on_pg:
        _pg(f"DROP DATABASE IF EXISTS {AIRFLOW_DB} WITH (FORCE)", f"CREATE DATABASE {AIRFLOW_DB}")
    airflow = str(Path(sys.executable).with_name("airflow"))
    res = subprocess.run([airflow, "db", "migrate"], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    yield Path(os.environ["AIRFLOW_HOME"])
    if "airflow.settings" in sys.modules:
        # Close Airflow's pooled connections first, so dropping the database kills none in use.
        sys.modules["airflow.settings"].dispose_orm()
    if on_pg:
        _pg(f"DROP DATABASE IF EXISTS {AIRFLOW_DB} WITH (FORCE)")
