"""Shared fixtures: database servers, migrated catalogs, the Chinook sample, S3 (moto) and an
encrypted staging area.

A missing service skips the tests that need it locally, but fails them when ``CI=true`` so a CI
run cannot pass by silently skipping. Server URLs can be overridden with
``CUSTODY_TEST_PG_URL`` and ``CUSTODY_TEST_MARIADB_URL`` (they must allow CREATE DATABASE).
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

import _airflow_env

# Airflow reads its configuration at first import: point it at a test home before any test module.
_airflow_env.configure()
airflow_env = _airflow_env.airflow_env

DEFAULT_PG_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
DEFAULT_MARIADB_URL = "mysql+pymysql://root@127.0.0.1:3306/?charset=utf8mb4"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def _unavailable(message: str) -> None:
    if _in_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def _server_url(env_var: str, default: str, label: str) -> str:
    url = os.environ.get(env_var, default)
    parsed = sa.make_url(url)
    where = f"{parsed.host}:{parsed.port}"
    try:
        # Port first: a closed port then fails in milliseconds instead of a driver timeout.
        socket.create_connection((parsed.host, parsed.port), timeout=2).close()
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool, connect_args={"connect_timeout": 5})
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
        finally:
            engine.dispose()
    except Exception as exc:  # any failure means "service not usable here"
        # Only the exception type and first line: the URL (with a possible password) stays out.
        detail = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        _unavailable(f"{label} not reachable at {where}: {detail}")
    return url


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    """URL of a PostgreSQL server database from which scratch databases can be created."""
    return _server_url("CUSTODY_TEST_PG_URL", DEFAULT_PG_URL, "PostgreSQL")


@pytest.fixture(scope="session")
def mariadb_server_url() -> str:
    """URL of the MariaDB server (no database selected, utf8mb4 connection)."""
    return _server_url("CUSTODY_TEST_MARIADB_URL", DEFAULT_MARIADB_URL, "MariaDB")


@pytest.fixture(scope="session")
def migrated_catalog_file(tmp_path_factory) -> Path:
    """A SQLite catalog migrated to head once per session (``custody.catalog.migrate``); copy it, never write it."""
    from custody.catalog import migrate

    path = tmp_path_factory.mktemp("catalog-template") / "catalog.db"
    migrate(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def new_catalog(migrated_catalog_file) -> Callable[[Path], str]:
    """``new_catalog(path)``: a migrated SQLite catalog at ``path``; returns its URL.

    Stage code never migrates (``custody catalog migrate`` is a deployment step), so a test that
    runs stages or opens a catalog reader gets its catalog here: a copy of the session's migrated
    file, which is much faster than running the migrations per test.
    """

    def make(path: Path) -> str:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(migrated_catalog_file, path)
        return f"sqlite:///{path}"

    return make


@pytest.fixture
def catalog_url(new_catalog, tmp_path) -> str:
    """URL of a migrated SQLite catalog (``tmp_path / "catalog.db"``)."""
    return new_catalog(tmp_path / "catalog.db")


@pytest.fixture(scope="session")
def new_keyring() -> Callable[[str], object]:
    """``new_keyring(spec)``: create the key-encryption key a keyring spec names; returns the keyring.

    Custody never creates a KEK on first use (``custody keys init`` is a deployment step, like
    ``custody catalog migrate``), so a test that runs stages on a fresh ``CUSTODY_HOME`` makes its
    key here.
    """
    from custody.crypto import init_keyring

    return init_keyring


@pytest.fixture(scope="session")
def chinook_dir() -> Path:
    """Folder with the Chinook scripts (see ``custody.demo.loaders.chinook_dir``)."""
    from custody.demo import loaders

    found = loaders.chinook_dir()
    if found is None:
        _unavailable(
            "Chinook sample not found: set CUSTODY_CHINOOK_DIR or place it at <repo>/../shared/data/chinook"
        )
    return found


@pytest.fixture
def staging(tmp_path):
    """A temporary encrypted staging area (``custody.staging.StagingStore``) with a local key file."""
    from custody.crypto import init_keyring
    from custody.staging import StagingStore

    return StagingStore(tmp_path / "staging", init_keyring(f"local:{tmp_path / 'keys' / 'kek.json'}"))


@pytest.fixture(scope="session")
def moto_s3_endpoint():
    """A moto S3 server over real HTTP on 127.0.0.1 (no in-process patching); yields its URL."""
    from moto.server import ThreadedMotoServer

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_client(moto_s3_endpoint):
    """A boto3 S3 client for the moto server."""
    import boto3

    return boto3.client(
        "s3", endpoint_url=moto_s3_endpoint, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test-secret",
    )


class _Inbox:
    """Messages an SMTP server received: ``messages`` (``email.message.EmailMessage``)."""

    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd handler hook
        from email import message_from_bytes, policy

        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"

    def subjects(self) -> list[str]:
        return [str(m["Subject"]) for m in self.messages]

    def body(self, message) -> str:
        part = message.get_body(preferencelist=("html", "plain"))
        return part.get_content() if part is not None else ""


@pytest.fixture
def smtp_server():
    """A local SMTP server (aiosmtpd) on 127.0.0.1 started by the test; yields ``(port, inbox)``."""
    from aiosmtpd.controller import Controller

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, inbox
    controller.stop()


def smtp_connection(port: int) -> str:
    """``AIRFLOW_CONN_*`` JSON of an SMTP connection to the local test server (no TLS, no login)."""
    import json

    return json.dumps({"conn_type": "smtp", "host": "127.0.0.1", "port": port,
                       "extra": {"disable_ssl": True, "disable_tls": True, "from_email": "custody@example.test",
                                 "timeout": 10, "retry_limit": 1}})
