"""A Custody home with two demo CRM sources extracted, validated and backed up to the local store
and to a versioned S3 bucket on the moto server (real HTTP), for the purge tests."""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

CONFIG = Path(__file__).resolve().parents[2] / "include" / "config"

RETENTION = {
    "version": "test-1",
    "rules": [
        {"name": "crm_short", "source": "crm", "category": "customer_contract", "lawful_basis": "contract",
         "anchor": "extraction", "days": 30},
        {"name": "archive_long", "source": "archive", "anchor": "extraction", "days": 3650},
    ],
    "exempt": [{"record": "audit_log", "keep_years": 3}, {"record": "pipia", "keep_years": 3}],
    "approvals": {"approvers": ["dpo", "security_officer"], "timeout_hours": 1},
}


def write_config(folder: Path, retention: dict | None = None) -> Path:
    """``sources.yaml`` with the demo CRM as ``crm`` and again as ``archive``, and ``retention.yaml``."""
    folder.mkdir(parents=True, exist_ok=True)
    sources = yaml.safe_load((CONFIG / "sources.yaml").read_text(encoding="utf-8"))
    crm = next(s for s in sources["sources"] if s["name"] == "crm")
    archive = {**crm, "name": "archive", "retention_class": "customer_archive"}
    sources["sources"] = [crm, archive]
    (folder / "sources.yaml").write_text(yaml.safe_dump(sources, allow_unicode=True), encoding="utf-8")
    (folder / "retention.yaml").write_text(yaml.safe_dump(retention or RETENTION), encoding="utf-8")
    for policy in CONFIG.glob("policy*.yaml"):
        shutil.copy(policy, folder / policy.name)
    return folder


@pytest.fixture
def purge_home(tmp_path, new_catalog, s3_client, monkeypatch):
    """``(runtime, s3 client, bucket, {source: run_key})``: both sources extracted and backed up."""
    from custody.crypto import init_keyring
    from custody.demo import generate_crm
    from custody.demo.loaders import load_tables
    from custody.stages import Runtime, stage_backup, stage_classify_and_validate, stage_extract

    home = tmp_path / "home"
    bucket = f"purge-{secrets.token_hex(4)}"
    monkeypatch.setenv("CUSTODY_HOME", str(home))
    monkeypatch.setenv("CUSTODY_CONFIG_DIR", str(write_config(tmp_path / "config")))
    monkeypatch.setenv("CUSTODY_S3_BUCKET", bucket)
    monkeypatch.setenv("CUSTODY_S3_PREFIX", "custody")
    # The command line builds its own S3 client (``custody audit verify --store all``).
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for var in ("CUSTODY_KEYRING", "CUSTODY_CATALOG_URL", "CUSTODY_AUDIT_SIGNER", "CUSTODY_AUDIT_ORIGIN"):
        monkeypatch.delenv(var, raising=False)
    new_catalog(home / "catalog.db")
    s3_client.create_bucket(Bucket=bucket)
    s3_client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'crm.sqlite'}")
    load_tables(engine, generate_crm(contacts=120))
    rt = Runtime.from_env()
    init_keyring(rt.settings.keyring)
    runs = {}
    for source in ("crm", "archive"):
        run_key = stage_extract(rt, engine, source, f"manual__{source}")["run_key"]
        stage_classify_and_validate(rt, source, run_key)
        stage_backup(rt, source, run_key, s3_client)
        runs[source] = run_key
    engine.dispose()
    yield rt, s3_client, bucket, runs
