"""Staging that workers share: the same store interface on local disk and on S3 (moto over HTTP),
and a whole run whose every stage runs in a process with its own ``CUSTODY_HOME``.

The run test is the acceptance line "workers with separate local folders complete a run": each
stage gets a fresh ``Runtime`` on another home folder, staging on S3, and nothing is left in (or
read from) any home's staging folder. Its counts and content hashes equal a local-staging run.
"""

from __future__ import annotations

import shutil

import pyarrow as pa
import pytest
import sqlalchemy as sa

from custody import hashing
from custody.demo import generate_crm
from custody.demo.loaders import load_tables
from custody.documents import BackupDocument, DocumentError, ExtractPlan, ObjectEntry, document_key
from custody.settings import DEFAULT_CONFIG_DIR, Settings
from custody.staging import StagingStore
from custody.stages import (
    Runtime,
    stage_backup,
    stage_classify_and_validate,
    stage_commit_extract,
    stage_extract_part,
    stage_plan_extract,
    stage_report,
)
from custody.store import S3Store

BUCKET = "custody-staging-deploy"


@pytest.fixture
def keyring(tmp_path):
    from custody.crypto import init_keyring

    return init_keyring(f"local:{tmp_path / 'keys' / 'kek.json'}")


@pytest.fixture(params=["local", "s3"])
def any_staging(request, tmp_path, keyring):
    """A staging store on local disk, then on the moto S3 server."""
    if request.param == "local":
        return StagingStore(tmp_path / "staging", keyring)
    client = request.getfixturevalue("s3_client")
    s3 = S3Store(client, BUCKET, f"staging-{tmp_path.name}")
    s3.ensure_bucket()
    return StagingStore(None, keyring, s3=s3)


def _entry(n: int, table: pa.Table) -> ObjectEntry:
    oid = f"crm/r1/tables/contacts/p0000/chunk-{n:05d}"
    return ObjectEntry(object_id=oid, key=f"{oid}.cdy", kind="chunk", source="crm", run_key="r1",
                       table="contacts", chunk=n, rows=table.num_rows,
                       content_hash=hashing.to_hex(hashing.table_hash(table)))


def test_both_backends_store_read_list_and_remove_the_same_way(any_staging):
    table = pa.table({"contact_id": list(range(1, 501)), "email": [f"u{i}@example.com" for i in range(500)]})
    stored = [any_staging.put_table(_entry(n, table), table) for n in range(3)]
    assert [e.rows for e in stored] == [500, 500, 500]
    assert all(e.sha256 and e.ciphertext_bytes > 0 for e in stored)
    assert any_staging.get_table(stored[1]).equals(table)
    folder = "crm/r1/tables/contacts/p0000"
    assert any_staging.list_keys(folder) == [e.key for e in stored]

    doc = BackupDocument(source="crm", run_key="r1", snapshot_key="snapshots/crm/r1.json", objects=3, stores=[])
    key = any_staging.put(doc)
    assert any_staging.exists(key)
    assert any_staging.get(key, BackupDocument).body() == doc.body()
    missing = document_key("validation", source="crm", run_key="r1")
    assert any_staging.find(missing, BackupDocument) is None
    with pytest.raises(DocumentError, match="no such document"):
        any_staging.get(missing, BackupDocument)

    # A rerun that wrote fewer chunks removes the ones its document does not list, and only those.
    assert any_staging.remove_unlisted(folder, "chunk-", {stored[0].key}) == 2
    assert any_staging.list_keys(folder) == [stored[0].key]
    any_staging.delete(stored[0].key)
    any_staging.delete(stored[0].key)  # absent: not an error
    assert any_staging.list_keys(folder) == []
    with pytest.raises(ValueError, match="escapes"):
        any_staging.delete("../outside.json")


def test_staging_setting_selects_the_backend(tmp_path):
    local = Settings.from_env({"CUSTODY_HOME": str(tmp_path)})
    assert local.staging_url == "local" and local.staging_s3() is None
    shared = Settings.from_env({"CUSTODY_HOME": str(tmp_path), "CUSTODY_STAGING": "s3://bucket-a/run/staging/"})
    assert shared.staging_s3() == ("bucket-a", "run/staging")
    with pytest.raises(ValueError, match="CUSTODY_STAGING"):
        Settings.from_env({"CUSTODY_STAGING": str(tmp_path)}).staging_s3()


SOURCES = """version: 1
backup: {local: false, s3_conn_id: null}
sources:
  - name: crm
    conn_id: crm
    lawful_basis: contract
    retention_class: customer_contract
    chunk_rows: 700
    tables:
      - name: contacts
        split_rows: 1000
        checks:
          - {column: contact_id, check: unique}
          - {column: email, check: email}
"""


@pytest.fixture
def crm_engine(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'crm.sqlite'}")
    crm = generate_crm(contacts=3500)
    load_tables(engine, {"enterprise_customers": crm["enterprise_customers"], "contacts": crm["contacts"]})
    yield engine
    engine.dispose()


def _run(tmp_path, monkeypatch, engine, *, staging: str, endpoint: str | None, homes: list[str], s3_client=None):
    """Every stage of one run, each in a fresh Runtime on the next home folder of ``homes``."""
    turn = iter(homes * 20)

    def rt() -> Runtime:
        monkeypatch.setenv("CUSTODY_HOME", str(tmp_path / next(turn)))
        return Runtime.from_env()

    monkeypatch.setenv("CUSTODY_STAGING", staging)
    if endpoint:
        monkeypatch.setenv("CUSTODY_S3_ENDPOINT_URL", endpoint)
    plan = stage_plan_extract(rt(), engine, "crm", f"manual__{staging.replace('/', '_')}")
    parts = [stage_extract_part(rt(), engine, p) for p in plan["parts"]]
    committed = stage_commit_extract(rt(), "crm", plan["run_key"])
    inspected = stage_classify_and_validate(rt(), "crm", plan["run_key"])
    backed = stage_backup(rt(), "crm", plan["run_key"], s3_client)
    last = rt()
    stage_report(last, "crm", plan["run_key"], s3_client)
    return plan, parts, committed, inspected, backed, last


def test_workers_with_separate_homes_complete_a_run_on_s3_staging(tmp_path, monkeypatch, new_catalog, new_keyring,
                                                                  crm_engine, s3_client, moto_s3_endpoint):
    config = tmp_path / "config"
    config.mkdir()
    (config / "sources.yaml").write_text(SOURCES, encoding="utf-8")
    shutil.copy(DEFAULT_CONFIG_DIR / "policy.yaml", config / "policy.yaml")
    monkeypatch.setenv("CUSTODY_CONFIG_DIR", str(config))
    # What workers share: the catalog (a database), the KEK (a mounted secret) and S3.
    monkeypatch.setenv("CUSTODY_CATALOG_URL", new_catalog(tmp_path / "shared" / "catalog.db"))
    monkeypatch.setenv("CUSTODY_KEYRING", f"local:{tmp_path / 'shared' / 'kek.json'}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    new_keyring(f"local:{tmp_path / 'shared' / 'kek.json'}")
    S3Store(s3_client, BUCKET).ensure_bucket()
    monkeypatch.setenv("CUSTODY_S3_BUCKET", BUCKET)
    monkeypatch.setenv("CUSTODY_S3_PREFIX", "backups")

    plan, parts, committed, inspected, backed, last = _run(
        tmp_path, monkeypatch, crm_engine, staging=f"s3://{BUCKET}/staging", endpoint=moto_s3_endpoint,
        homes=["worker-a", "worker-b"], s3_client=s3_client)

    assert len(plan["parts"]) == 4  # 3500 rows in key ranges of 1000
    assert sum(p["extracted_rows"] + p["quarantined_rows"] for p in parts) == 3500
    assert committed["rows"]["contacts"] + committed["quarantined_at_extract"]["contacts"] == 3500
    # Nothing staged in either worker's home: every object and document is on S3.
    for home in ("worker-a", "worker-b"):
        assert not (tmp_path / home / "staging").exists()
    staged = last.staging.list_keys(f"crm/{plan['run_key']}")
    assert document_key("manifest", source="crm", run_key=plan["run_key"]) in staged
    assert sum(k.endswith(".cdy") and "/tables/contacts/" in k and "/chunk-" in k for k in staged) == 7  # 2+2+2+1
    assert last.staging.get(plan["plan_key"], ExtractPlan).run_key == plan["run_key"]
    assert inspected["valid_rows"] + inspected["quarantined_rows"] == committed["rows"]["contacts"]
    assert set(inspected["passes"]) == {"contacts"}
    backup = last.staging.get(backed["backup_key"], BackupDocument)
    assert [s.location for s in backup.stores] == [f"s3://{BUCKET}/backups"]
    assert backup.objects >= len(last.manifest("crm", plan["run_key"]).objects())
    assert S3Store(s3_client, BUCKET, "backups").list_keys(f"snapshots/crm/{plan['run_key']}.json")
    s3_manifest = last.manifest("crm", plan["run_key"])

    # The same source through local staging in one home: the same counts and content hashes.
    monkeypatch.setenv("CUSTODY_CATALOG_URL", new_catalog(tmp_path / "shared" / "catalog-local.db"))
    _, _, local_committed, _, _, local_rt = _run(tmp_path, monkeypatch, crm_engine, staging="local", endpoint=None,
                                                 homes=["single"])
    assert local_committed["rows"] == committed["rows"]
    local_manifest = local_rt.manifest("crm", local_committed["run_key"])
    assert [t.content_hash for t in local_manifest.tables] == [t.content_hash for t in s3_manifest.tables]
    assert (tmp_path / "single" / "staging").is_dir()
