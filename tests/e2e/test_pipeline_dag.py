"""The main job end to end with ``dag.test()``: real PostgreSQL and MariaDB sources, S3 over HTTP.

Sources: the Chinook scripts as published plus the generated Chinese CRM, loaded into a scratch
database on each server. Backups go to the local store and to a moto S3 server on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pyarrow as pa
import pytest
import sqlalchemy as sa

from custody import hashing
from custody.config import TableConfig
from custody.crypto import open_keyring
from custody.demo import generate_crm
from custody.demo.loaders import drop_database, ensure_database, load_chinook, load_tables
from custody.extract.sessions import reflect_table
from custody.restore import restore_table
from custody.settings import Settings
from custody.sources.sqltypes import arrow_type
from custody.store import LocalStore, S3Store, latest_snapshot, verify_snapshot

CONTACTS = 1500
DB = f"custody_e2e_{os.getpid()}"

EXPECTED_CRM = {
    ("contacts", "resident_id"): "sensitive",
    ("bank_accounts", "account_number"): "sensitive",
    ("contacts", "notes"): "sensitive",
    ("contacts", "name"): "internal",
    ("contacts", "email"): "internal",
    ("contacts", "mobile"): "internal",
    ("contacts", "address"): "internal",
    ("contacts", "birth_date"): "internal",
    ("enterprise_customers", "company_name"): "public",
    ("enterprise_customers", "uscc"): "public",
    ("enterprise_customers", "industry"): "public",
    ("enterprise_customers", "customer_id"): "internal",  # public must be earned
    ("bank_accounts", "bank_name"): "internal",  # an account bank, in a person's record
}


@pytest.fixture(scope="module")
def crm():
    return generate_crm(contacts=CONTACTS)


def _conn_uri(url: sa.URL, kind: str) -> str:
    if kind == "postgres":
        return json.dumps({"conn_type": "postgres", "host": url.host, "port": url.port, "login": url.username,
                           "schema": url.database})
    return json.dumps({"conn_type": "mysql", "host": url.host, "port": url.port, "login": url.username,
                       "schema": url.database, "extra": {"client": "pymysql", "charset": "utf8mb4"}})


@pytest.fixture(params=["postgres", "mariadb"])
def source_db(request, crm, chinook_dir):
    server = request.getfixturevalue("pg_server_url" if request.param == "postgres" else "mariadb_server_url")
    url = ensure_database(server, DB)
    engine = sa.create_engine(url)
    load_chinook(engine, chinook_dir)
    load_tables(engine, crm)
    yield request.param, sa.make_url(url), engine
    engine.dispose()
    drop_database(server, DB)


@pytest.fixture
def custody_home(tmp_path, monkeypatch, moto_s3_endpoint, new_catalog, new_keyring):
    monkeypatch.setenv("CUSTODY_HOME", str(tmp_path / "custody"))
    monkeypatch.delenv("CUSTODY_KEYRING", raising=False)
    monkeypatch.delenv("CUSTODY_CATALOG_URL", raising=False)
    monkeypatch.setenv("CUSTODY_S3_BUCKET", f"e2e-{random.randrange(16**8):08x}")
    monkeypatch.setenv("AIRFLOW_CONN_CUSTODY_S3", json.dumps(
        {"conn_type": "aws", "login": "test", "password": "test-secret",
         "extra": {"endpoint_url": moto_s3_endpoint, "region_name": "us-east-1"}}))
    settings = Settings.from_env()
    new_catalog(settings.home / "catalog.db")  # the deployment's `custody catalog migrate`
    new_keyring(settings.keyring)  # and its `custody keys init`
    return settings


def _source_hash(engine: sa.Engine, name: str) -> tuple[int, str]:
    """Row count and content hash of ``SELECT *`` straight from the source, outside the pipeline."""
    table = reflect_table(engine, TableConfig(name=name))
    schema = pa.schema([pa.field(c.name, arrow_type(c.type)) for c in table.columns])
    with engine.connect() as conn:
        rows = conn.execute(sa.select(table)).all()
    cols = list(zip(*rows))
    arrow = pa.Table.from_arrays([pa.array(list(c), f.type) for c, f in zip(cols, schema)], schema=schema)
    return arrow.num_rows, hashing.to_hex(hashing.table_hash(arrow))


def _bytes_under(*roots: Path) -> bytes:
    out = []
    for root in roots:
        for p in root.rglob("*"):
            if p.is_file():
                out.append(p.read_bytes())
    return b"\n".join(out)


@pytest.mark.slow
def test_pipeline_end_to_end(airflow_env, source_db, custody_home, crm, s3_client, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    kind, url, engine = source_db
    monkeypatch.setenv("AIRFLOW_CONN_CUSTODY_CRM", _conn_uri(url, kind))
    monkeypatch.setenv("AIRFLOW_CONN_CUSTODY_CHINOOK", _conn_uri(url, kind))
    bag = DagBag(dag_folder=str(Path(__file__).resolve().parents[2] / "dags"))

    for source in ("crm", "chinook"):
        run = bag.get_dag(f"custody_pipeline_{source}").test()
        assert str(run.state).endswith("success"), f"{kind}/{source}: {run.state}"

    settings = custody_home
    keyring = open_keyring(settings.keyring, key_store=settings.catalog_url)
    local = LocalStore(settings.backup_dir)
    s3 = S3Store(s3_client, settings.s3_bucket, settings.s3_prefix)

    # Report: reconciliation, classification levels, no values.
    reports = {p.parts[-3]: json.loads(p.read_text()) for p in settings.report_dir.glob("*/*/report.json")}
    crm_report = reports["crm"]
    for row in crm_report["reconciliation"]:
        assert row["reconciled"] and row["passed"], row
        assert row["source_rows"] == crm[row["table"]].num_rows
    levels = {(t["table"], c["column"]): c["level"] for t in crm_report["classification"]["tables"]
              for c in t["columns"]}
    for key, level in EXPECTED_CRM.items():
        assert levels[key] == level, key
    contacts = next(r for r in crm_report["reconciliation"] if r["table"] == "contacts")
    assert contacts["quarantined_rows"] == len(crm.defects["contacts"])
    chinook_levels = {(t["table"], c["column"].lower()): c["level"]
                      for t in reports["chinook"]["classification"]["tables"] for c in t["columns"]}
    assert chinook_levels[("customer", "email")] == "internal"
    assert chinook_levels[("customer", "company")] == "internal"  # the customer's employer
    assert {(p["table"], p["column"]) for p in crm_report["public_columns"]} == {
        ("enterprise_customers", "company_name"),
        ("enterprise_customers", "uscc"),
        ("enterprise_customers", "industry"),
    }
    assert crm_report["encryption"]["coverage"] == 1.0

    # Both backup copies verify by reading back and hashing, and restore the source rows exactly.
    for store in (local, s3):
        for source in ("crm", "chinook"):
            key = latest_snapshot(store, keyring, source)
            assert verify_snapshot(store, key, keyring).ok
    key = latest_snapshot(s3, keyring, "crm")
    for table in ("contacts", "contracts"):
        restored = restore_table(s3, key, table, keyring)
        assert (restored.num_rows, hashing.to_hex(hashing.table_hash(restored))) == _source_hash(engine, table)

    # Audit log: every stage of every run, every task outcome (listener), checkpoints that verify.
    _assert_audit_log(settings, keyring, [local, s3], reports)

    # No plaintext PI at rest: staging, backups (local and S3), reports, Airflow home and metadata DB.
    rng = random.Random(7)
    ids = rng.sample(crm["contacts"].column("resident_id").to_pylist(), 100)
    with engine.connect() as conn:
        email = conn.execute(sa.text(
            "SELECT email FROM customer ORDER BY 1 LIMIT 1" if kind == "postgres"
            else "SELECT Email FROM Customer ORDER BY 1 LIMIT 1")).scalar_one()
    needles = [email.encode()] + [i.encode() for i in ids]
    s3_bytes = b"\n".join(
        s3_client.get_object(Bucket=settings.s3_bucket, Key=o["Key"])["Body"].read()
        for o in s3_client.list_objects_v2(Bucket=settings.s3_bucket)["Contents"]
    )
    haystack = _bytes_under(settings.staging_dir, settings.backup_dir, settings.report_dir, airflow_env) + s3_bytes
    haystack += _metadata_db_dump() + _audit_dump(settings)
    found = [n for n in needles if n in haystack]
    assert found == [], f"{len(found)} plaintext values found at rest"


def _metadata_db_dump() -> bytes:
    """Every text cell of every table of the Airflow metadata database, as bytes."""
    from airflow import settings as af

    out = []
    with af.engine.connect() as conn:
        for name in sa.inspect(conn).get_table_names():
            for row in conn.execute(sa.text(f'SELECT * FROM "{name}"')):
                out.append(repr(tuple(row)).encode("utf-8", "replace"))
    return b"\n".join(out)


STAGE_ACTIONS = {"extract.plan", "extract.part", "extract.commit", "classify", "validate", "drift.alert", "backup",
                 "key.backup", "report"}
TASKS = {"plan_extract", "extract_part", "commit_extract", "classify_and_validate", "drift_alert", "back_up",
         "report"}


def _assert_audit_log(settings, keyring, stores, reports) -> None:
    from custody.audit.log import AuditLog
    from custody.audit.signing import open_signer
    from custody.audit.verify import verify_log

    signer = open_signer(settings.audit_signer, name=settings.audit_origin, keyring=keyring)
    with AuditLog(settings.catalog_url) as log:
        for source in ("crm", "chinook"):
            rows = log.find(source=source)
            assert STAGE_ACTIONS <= {r.action for r in rows}, source
            done = {json.loads(r.data)["subject"]["task_id"] for r in rows if r.action == "task.success"}
            assert TASKS <= done, source
            backup = [json.loads(r.data) for r in rows if r.action == "backup"]
            assert {b["subject"]["store"] for b in backup} == {s.location for s in stores}
            assert {(b["actor"]["kind"], b["actor"]["task_id"]) for b in backup} == {("airflow", "back_up")}
            audit = reports[source]["audit"]
            first, last = audit["range"]["first"], audit["range"]["last"]
            assert audit["verified"]["ok"] and audit["checkpoint"]["size"] > last >= first
        report = verify_log(log, [signer.verifier()], stores, origin=settings.audit_origin)
        assert report.ok, [f.message for f in report.findings]
        assert report.checkpoints >= 4  # one per backup and per report of each run


def _audit_dump(settings) -> bytes:
    """The audit tables of the catalog (entries and checkpoints), as bytes."""
    engine = sa.create_engine(settings.catalog_url)
    with engine.connect() as conn:
        rows = [repr(tuple(r)) for t in ("audit_entry", "audit_checkpoint")
                for r in conn.execute(sa.text(f"SELECT * FROM {t}"))]
    engine.dispose()
    assert len(rows) > 20
    return "\n".join(rows).encode("utf-8")
