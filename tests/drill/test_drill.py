"""Restore drills on the machine's PostgreSQL: the core function, and the DAG with ``dag.test()``."""

from __future__ import annotations

import json
import os
import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from custody.catalog import Catalog
from custody.drill import DrillFailed, run_drill
from custody.demo.loaders import drop_database, ensure_database
from custody.store import LocalStore, create_snapshot
from custody.store.ledger import drills
from custody.store.snapshots import object_key
from store._runs import setup, stage_run

DB = f"custody_drill_test_{os.getpid()}"


@pytest.fixture(scope="module")
def scratch_url(pg_server_url):
    url = ensure_database(pg_server_url, DB)
    yield sa.make_url(url)
    drop_database(pg_server_url, DB)


@pytest.fixture
def engine(scratch_url):
    eng = sa.create_engine(scratch_url, poolclass=sa.pool.NullPool, hide_parameters=True)
    yield eng
    eng.dispose()


def _drill_schemas(engine) -> list[str]:
    with engine.connect() as conn:
        return (
            conn.execute(
                sa.text(
                    "SELECT schema_name FROM information_schema.schemata "
                    "WHERE schema_name LIKE 'custody_drill_%'"
                )
            )
            .scalars()
            .all()
        )


@pytest.fixture
def backups(tmp_path):
    keyring, staging = setup(tmp_path)
    store = LocalStore(tmp_path / "backups")
    for i, sizes in enumerate(([300, 200], [120])):
        m = stage_run(staging, run_key=f"r{i}", tables={"contacts": sizes, "accounts": [50]}, offset=1000 * i)
        create_snapshot([store], staging, m, None, keyring)
    return keyring, store


def test_drill_restores_checks_and_drops_its_schema(backups, engine, catalog_url):
    keyring, store = backups
    catalog = Catalog(catalog_url).engine
    result = run_drill(
        store,
        keyring,
        engine,
        rng=random.Random(3),
        rto_limit_s=120,
        rpo_limit_s=3600,
        catalog_engine=catalog,
    )
    assert result.passed and result.snapshots_seen == 2 and result.snapshot_id in ("crm/r0", "crm/r1")
    assert set(result.tables) == {"contacts", "accounts"}
    for t in result.tables.values():
        assert t["rows"] == t["expected_rows"] and t["content_hash_ok"] and t["types_ok"]
    assert 0 < result.rto_s < 120 and 0 <= result.rpo_s < 3600
    assert _drill_schemas(engine) == []
    row = drills(catalog)[0]
    assert (row["drill_id"], row["passed"], row["rows"]) == (
        result.drill_id,
        True,
        sum(t["rows"] for t in result.tables.values()),
    )


def test_drill_fails_loudly_with_numbers_when_limits_pass(backups, engine):
    keyring, store = backups
    later = datetime.now(UTC) + timedelta(days=2)
    with pytest.raises(DrillFailed) as err:
        run_drill(
            store, keyring, engine, rng=random.Random(1), rto_limit_s=1e-6, rpo_limit_s=86400, now=later
        )
    msg = str(err.value)
    assert "RTO" in msg and "exceeds the limit of 0 s" in msg
    assert "RPO 17" in msg and "exceeds the limit of 86400 s" in msg  # ~172800 s
    assert err.value.result.tables and all(t["content_hash_ok"] for t in err.value.result.tables.values())
    assert _drill_schemas(engine) == []


def test_drill_fails_on_a_corrupt_object_and_names_it(tmp_path, engine):
    keyring, staging = setup(tmp_path)
    store = LocalStore(tmp_path / "backups")
    m = stage_run(staging, tables={"contacts": [30, 30]})
    create_snapshot([store], staging, m, None, keyring)
    path = store.root / object_key(m.tables[0].chunks[1].sha256)
    data = bytearray(path.read_bytes())
    data[-40] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(
        DrillFailed, match=r"restore of crm/r1 failed: IntegrityError: object crm/r1/contacts/chunk-00001"
    ):
        run_drill(store, keyring, engine, rng=random.Random(0), rto_limit_s=60, rpo_limit_s=3600)
    assert _drill_schemas(engine) == []


def test_drill_without_snapshots_fails(tmp_path, engine):
    keyring, _ = setup(tmp_path)
    with pytest.raises(DrillFailed, match="no restorable snapshot"):
        run_drill(
            LocalStore(tmp_path / "empty"),
            keyring,
            engine,
            rng=random.Random(0),
            rto_limit_s=60,
            rpo_limit_s=60,
        )


@pytest.mark.slow
def test_restore_drill_dag(airflow_env, scratch_url, tmp_path, monkeypatch, moto_s3_endpoint, new_catalog):
    from airflow.dag_processing.dagbag import DagBag

    from custody.settings import Settings
    from custody.store import S3Store
    from custody.crypto import init_keyring
    from custody.staging import StagingStore
    import boto3

    monkeypatch.setenv("CUSTODY_HOME", str(tmp_path / "custody"))
    monkeypatch.delenv("CUSTODY_KEYRING", raising=False)
    monkeypatch.delenv("CUSTODY_CATALOG_URL", raising=False)
    monkeypatch.setenv("CUSTODY_S3_BUCKET", f"drill-{uuid.uuid4().hex[:8]}")
    monkeypatch.setenv(
        "AIRFLOW_CONN_CUSTODY_S3",
        json.dumps(
            {
                "conn_type": "aws",
                "login": "test",
                "password": "test-secret",
                "extra": {"endpoint_url": moto_s3_endpoint, "region_name": "us-east-1"},
            }
        ),
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_CUSTODY_DRILL",
        json.dumps(
            {
                "conn_type": "postgres",
                "host": scratch_url.host,
                "port": scratch_url.port,
                "login": scratch_url.username,
                "schema": scratch_url.database,
            }
        ),
    )
    settings = Settings.from_env()
    new_catalog(settings.home / "catalog.db")  # the deployment's `custody catalog migrate`
    keyring = init_keyring(settings.keyring)  # and its `custody keys init`
    staging = StagingStore(settings.staging_dir, keyring)
    s3 = S3Store(
        boto3.client(
            "s3",
            endpoint_url=moto_s3_endpoint,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test-secret",
        ),
        settings.s3_bucket,
        settings.s3_prefix,
    )
    s3.ensure_bucket()
    m = stage_run(staging, tables={"contacts": [200, 100]})
    create_snapshot([LocalStore(settings.backup_dir), s3], staging, m, None, keyring)

    dag = DagBag(dag_folder=str(Path(__file__).resolve().parents[2] / "dags")).get_dag(
        "custody_restore_drill"
    )
    run = dag.test(run_conf={"store": "s3", "sample": 1.0})
    assert str(run.state).endswith("success"), run.state
    rows = drills(Catalog(settings.catalog_url).engine)
    assert len(rows) == 1 and rows[0]["passed"] and rows[0]["location"].startswith("s3://")
    assert rows[0]["rows"] == 300
