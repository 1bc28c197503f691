"""Tampering with the audit log, each caught by ``custody audit verify`` naming the first bad entry.

The log is written and checkpointed the way a deployment does it (key-store signing key,
checkpoints in the catalog and the local store, or S3 with Object Lock); the tampering is done
with SQL on the catalog, as someone with database access would.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from custody.crypto import init_keyring
from custody.audit.checkpoints import Checkpoint, checkpoint_text, publish, roots_at
from custody.audit.log import AuditLog
from custody.audit.signing import Ed25519Signer, sign_note
from custody.catalog.schema import audit_checkpoint
from custody.cli import app
from custody.settings import Settings
from custody.store import LocalStore, S3Store

from .conftest import fill

runner = CliRunner()


@pytest.fixture
def home(tmp_path, monkeypatch, new_catalog):
    monkeypatch.setenv("CUSTODY_HOME", str(tmp_path / "custody"))
    for var in ("CUSTODY_KEYRING", "CUSTODY_CATALOG_URL", "CUSTODY_AUDIT_SIGNER", "CUSTODY_AUDIT_ORIGIN"):
        monkeypatch.delenv(var, raising=False)
    settings = Settings.from_env()
    new_catalog(settings.home / "catalog.db")
    init_keyring(settings.keyring)
    return settings


def cli(*args: str):
    return runner.invoke(app, list(args))


@pytest.fixture
def logged(home):
    """40 entries with checkpoints at 20 and 40 (catalog and local store); yields (settings, vkey)."""
    with AuditLog(home.catalog_url) as log:
        fill(log, 20)
        assert cli("audit", "checkpoint").exit_code == 0
        fill(log, 20, start=20)
        assert cli("audit", "checkpoint").exit_code == 0
    vkey = cli("audit", "key").output.strip()
    ok = cli("audit", "verify", "--key", vkey)
    assert ok.exit_code == 0 and "OK 40 entries" in ok.output and "2 checkpoint(s)" in ok.output
    return home, vkey


def sql(settings: Settings, statement: str, **params) -> None:
    engine = sa.create_engine(settings.catalog_url)
    with engine.begin() as conn:
        conn.execute(sa.text(statement), params)
    engine.dispose()


def entry_text(settings: Settings, seq: int) -> tuple[str, str]:
    engine = sa.create_engine(settings.catalog_url)
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT entry, leaf_hash FROM audit_entry WHERE seq = :s"), {"s": seq}).one()
    engine.dispose()
    return row.entry, row.leaf_hash


def failed(vkey: str, *extra: str):
    res = cli("audit", "verify", "--key", vkey, *extra)
    assert res.exit_code == 1, res.output
    return res.output


def test_one_field_of_a_middle_entry_edited(logged):
    settings, vkey = logged
    text, _ = entry_text(settings, 17)
    sql(settings, "UPDATE audit_entry SET entry = :t WHERE seq = 17",
        t=text.replace('"extracted_rows":117', '"extracted_rows":118'))
    out = failed(vkey)
    assert "first bad entry: 17" in out and "edited" in out


def test_an_edit_with_its_leaf_hash_recomputed_is_caught_by_the_checkpoints(logged):
    import hashlib

    settings, vkey = logged
    text, _ = entry_text(settings, 17)
    forged = text.replace('"extracted_rows":117', '"extracted_rows":118')
    sql(settings, "UPDATE audit_entry SET entry = :t, leaf_hash = :h WHERE seq = 17", t=forged,
        h=hashlib.sha256(b"\x00" + forged.encode()).hexdigest())
    out = failed(vkey)
    assert "first bad entry: 17" in out and "first differing entry: 17" in out


def test_an_entry_deleted(logged):
    settings, vkey = logged
    sql(settings, "DELETE FROM audit_entry WHERE seq = 17")
    out = failed(vkey)
    assert "first bad entry: 17" in out and "entries 17..17 are missing" in out


def test_two_entries_swapped(logged):
    settings, vkey = logged
    (a, ha), (b, hb) = entry_text(settings, 17), entry_text(settings, 18)
    sql(settings, "UPDATE audit_entry SET entry = :t, leaf_hash = :h WHERE seq = 17", t=b, h=hb)
    sql(settings, "UPDATE audit_entry SET entry = :t, leaf_hash = :h WHERE seq = 18", t=a, h=ha)
    out = failed(vkey)
    assert "first bad entry: 17" in out and "holds the entry numbered 18" in out


def test_the_tail_truncated_after_a_checkpoint(logged):
    settings, vkey = logged
    with AuditLog(settings.catalog_url) as log:
        fill(log, 5, start=40)
    sql(settings, "DELETE FROM audit_entry WHERE seq >= 30")
    sql(settings, "UPDATE audit_head SET size = 30")  # a careful attacker fixes the head too
    out = failed(vkey)
    assert "first bad entry: 30" in out and "entries 30..39 are missing (truncated)" in out


def _rebuild_under_a_new_key(settings: Settings, stores: list) -> None:
    """Rewrite the whole log with entry 17 changed, consistently: rows, leaf hashes, head, and new
    checkpoints signed by a key the attacker made, in the catalog and the stores."""
    import hashlib

    engine = sa.create_engine(settings.catalog_url)
    with engine.begin() as conn:
        rows = conn.execute(sa.text("SELECT * FROM audit_entry ORDER BY seq")).mappings().all()
        conn.execute(sa.text("DELETE FROM audit_entry"))
        conn.execute(sa.text("DELETE FROM audit_checkpoint"))
        for row in rows:
            row = dict(row)
            if row["seq"] == 17:
                row["entry"] = row["entry"].replace('"extracted_rows":117', '"extracted_rows":118')
                row["leaf_hash"] = hashlib.sha256(b"\x00" + row["entry"].encode()).hexdigest()
            conn.execute(sa.text("INSERT INTO audit_entry VALUES (:seq, :recorded_at, :action, :outcome, :actor, "
                                 ":source, :run_key, :entry, :leaf_hash)"), row)
    engine.dispose()
    with AuditLog(settings.catalog_url) as log:
        forger = Ed25519Signer(settings.audit_origin, random.randbytes(32))
        leaves = log.stored_leaves()
        root = roots_at(leaves, {len(leaves)})[len(leaves)]
        note = sign_note(checkpoint_text(settings.audit_origin, len(leaves), root, "2030-01-01T00:00:00Z"), [forger])
        cp = Checkpoint(settings.audit_origin, len(leaves), root, "2030-01-01T00:00:00Z", note)
        for store in stores:
            publish(store, cp, leaves, forger.verifier())
        with log.engine.begin() as conn:
            conn.execute(sa.insert(audit_checkpoint).values(
                note_sha256=cp.digest, size=cp.size, root=root.hex(), signed_at=sa.func.now(), origin=cp.origin,
                key_id=forger.key_id.hex(), reason="forged", note=note, stores="[]"))


def test_the_whole_table_rebuilt_under_a_new_signing_key(logged):
    settings, vkey = logged
    _rebuild_under_a_new_key(settings, [LocalStore(settings.backup_dir)])
    out = failed(vkey)
    assert "first bad entry: 17" in out
    assert "a checkpoint in the catalog is refused: no signature by a trusted key" in out


def test_a_rebuild_that_also_rewrites_and_deletes_the_s3_checkpoints_is_caught_by_their_locked_versions(
        home, s3_client, moto_s3_endpoint, monkeypatch):
    bucket = f"audit-{random.randrange(16**8):08x}"
    s3_client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    monkeypatch.setenv("CUSTODY_S3_BUCKET", bucket)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_s3_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    settings = Settings.from_env()
    with AuditLog(settings.catalog_url) as log:
        fill(log, 30)
    assert cli("audit", "checkpoint", "--store", "s3").exit_code == 0
    vkey = cli("audit", "key").output.strip()
    s3 = S3Store(s3_client, bucket, settings.s3_prefix)
    listed = s3_client.list_objects_v2(Bucket=bucket)["Contents"]
    heads = [s3_client.head_object(Bucket=bucket, Key=o["Key"]) for o in listed]  # note, leaves, verifier key
    assert len(listed) == 3 and {h["ObjectLockMode"] for h in heads} == {"COMPLIANCE"}
    days = {(h["ObjectLockRetainUntilDate"] - datetime.now(UTC)).days for h in heads}
    assert days <= {1094, 1095}  # CUSTODY_AUDIT_LOCK_DAYS: three years (PIPL Art 56)
    # The attacker rebuilds the log under a new key, overwrites the store's leaves and hides the
    # checkpoint behind a delete marker: Object Lock keeps the signed versions.
    _rebuild_under_a_new_key(settings, [s3])
    with AuditLog(settings.catalog_url) as log:
        forged_leaves = b"".join(log.stored_leaves())
    for o in listed:
        if o["Key"].endswith(".note"):
            s3_client.delete_object(Bucket=bucket, Key=o["Key"])
        if o["Key"].endswith(".bin"):
            s3_client.put_object(Bucket=bucket, Key=o["Key"], Body=forged_leaves)
    out = failed(vkey, "--store", "s3")
    assert "a checkpoint in the catalog is refused" in out
    assert "the log's first 30 entries do not match checkpoint of 30 entries" in out
    assert "rewritten after it was first written" in out  # the overwritten leaves are named
    assert "first bad entry: 17" in out


def test_a_fork_between_two_checkpoints(home):
    import hashlib

    settings = home
    with AuditLog(settings.catalog_url) as log:
        fill(log, 20)
        assert cli("audit", "checkpoint").exit_code == 0
        vkey = cli("audit", "key").output.strip()
        # Entry 5 rewritten consistently in the catalog (its leaf hash too) ...
        text, _ = entry_text(settings, 5)
        forged = text.replace('"extracted_rows":105', '"extracted_rows":150')
        sql(settings, "UPDATE audit_entry SET entry = :t, leaf_hash = :h WHERE seq = 5", t=forged,
            h=hashlib.sha256(b"\x00" + forged.encode()).hexdigest())
        fill(log, 20, start=20)
        # ... which the checkpoint writer refuses to sign,
        refused = cli("audit", "checkpoint")
        assert refused.exit_code == 1 and "refusing to sign a fork" in refused.output
        # so the insider signs the forked tree with the real key directly, into the catalog only.
        from custody.crypto import open_keyring
        from custody.audit.signing import open_signer

        signer = open_signer("keystore", name=settings.audit_origin,
                             keyring=open_keyring(settings.keyring, key_store=settings.catalog_url))
        leaves = log.stored_leaves()
        root = roots_at(leaves, {40})[40]
        note = sign_note(checkpoint_text(settings.audit_origin, 40, root, "2030-01-01T00:00:00Z"), [signer])
        with log.engine.begin() as conn:
            conn.execute(sa.insert(audit_checkpoint).values(
                note_sha256=hashlib.sha256(note.encode()).hexdigest(), size=40, root=root.hex(),
                signed_at=sa.func.now(), origin=settings.audit_origin, key_id=signer.key_id.hex(), reason="fork",
                note=note, stores="[]"))
    out = failed(vkey)
    assert "are not consistent: the log forked between them at entry 5" in out
    assert "first bad entry: 5" in out
