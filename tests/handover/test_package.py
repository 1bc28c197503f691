"""The handover package: opens with the transferee's key only, equals the source rows, refuses
a wrong key and any flipped byte with a clear error."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from custody import hashing
from custody.handover import (
    HandoverError,
    build_package,
    check_receipt,
    generate_recipient_key,
    read_manifest,
    verify_package,
)
from custody.handover.package import MANIFEST
from custody.store import LocalStore, create_snapshot
from store._runs import rows_table, setup, stage_run

KEY = "snapshots/crm/r1.json"


@pytest.fixture
def built(tmp_path):
    keyring, staging = setup(tmp_path)
    manifest = stage_run(staging, tables={"contacts": [40, 25], "accounts": [30]})
    store = LocalStore(tmp_path / "backups")
    create_snapshot([store], staging, manifest, None, keyring)
    transferee = generate_recipient_key(tmp_path / "transferee" / "x25519.pem")
    folder, doc = build_package(store, KEY, keyring, tables=["contacts", "accounts"],
                                recipient_public=transferee.public, out_dir=tmp_path / "out",
                                deal="acme-2026", transferor="seller", transferee="buyer")
    return tmp_path, keyring, store, manifest, transferee, folder, doc


def test_package_opens_with_transferee_key_and_equals_source_rows(built):
    tmp_path, keyring, store, manifest, transferee, folder, doc = built
    receipt = verify_package(folder, transferee, extract_to=tmp_path / "received")
    by_table = {t["table"]: t for t in receipt["tables"]}
    # Counts and content hashes equal the source's (the snapshot manifest's) and the rows themselves.
    for tm in manifest.tables:
        assert (by_table[tm.table]["rows"], by_table[tm.table]["content_hash"]) == (tm.extracted_rows, tm.content_hash)
    got = pq.read_table(tmp_path / "received" / "contacts.parquet")
    assert got.num_rows == 65
    assert hashing.table_hash(got) == hashing.table_hash(rows_table(0, 65))
    assert receipt["totals"] == {"tables": 2, "rows": 95, "objects": 3}
    # The transferor accepts the receipt for this package only.
    manifest_sha = __import__("hashlib").sha256((folder / MANIFEST).read_bytes()).hexdigest()
    check_receipt({**doc, "manifest_sha256": manifest_sha}, receipt)
    forged = {**receipt, "proof": "00" * 32}
    with pytest.raises(HandoverError, match="not produced with the transferee key"):
        check_receipt({**doc, "manifest_sha256": manifest_sha}, forged)


def test_package_holds_no_plaintext_and_rebuild_is_idempotent(built):
    tmp_path, keyring, store, manifest, transferee, folder, doc = built
    blobs = b"".join(p.read_bytes() for p in folder.rglob("*") if p.is_file())
    assert "客户12".encode() not in blobs and b"contacts" in blobs  # names yes, values no
    again, doc2 = build_package(store, KEY, keyring, tables=["contacts", "accounts"],
                                recipient_public=transferee.public, out_dir=tmp_path / "out",
                                deal="acme-2026", transferor="seller", transferee="buyer")
    assert again == folder and doc2 == doc
    assert [p.name for p in (tmp_path / "out").iterdir()] == [folder.name]


def test_wrong_key_is_refused(built):
    tmp_path, keyring, store, manifest, transferee, folder, doc = built
    other = generate_recipient_key(tmp_path / "other.pem")
    expected = f"encrypted to recipient key {transferee.fingerprint}.*{other.fingerprint}"
    with pytest.raises(HandoverError, match=expected):
        verify_package(folder, other)
    # Even with the manifest edited to name the other key, the seal (and every object) refuses it.
    doc_edit = json.loads((folder / MANIFEST).read_bytes())
    doc_edit["recipient"]["key_id"] = other.fingerprint
    (folder / MANIFEST).write_text(json.dumps(doc_edit), encoding="utf-8")
    with pytest.raises(HandoverError, match="fails its seal"):
        verify_package(folder, other)


def _flip(path, offset):
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("where", ["manifest", "object_tail", "object_header"])
def test_flipped_byte_is_refused(built, where):
    tmp_path, keyring, store, manifest, transferee, folder, doc = built
    obj = folder / doc["tables"][0]["objects"][1]["path"]
    if where == "manifest":
        text = (folder / MANIFEST).read_bytes()
        _flip(folder / MANIFEST, text.index(b'"rows":') + 7)  # a digit of a row count
        match = "fails its seal"
    elif where == "object_tail":
        _flip(obj, obj.stat().st_size - 20)
        match = "SHA-256 differs"
    else:
        _flip(obj, 30)
        match = "SHA-256 differs"
    with pytest.raises(HandoverError, match=match):
        verify_package(folder, transferee)


def test_flipped_byte_with_matching_hash_fails_authentication(built):
    """A flipped byte whose SHA-256 was also rewritten in a re-sealed manifest is still refused by
    authenticated decryption (a forger without the seal key cannot even get that far)."""
    tmp_path, keyring, store, manifest, transferee, folder, doc = built
    from custody.handover.package import SEAL_INFO, seal_manifest
    from custody.handover.recipient import RecipientKeyring

    obj = folder / doc["tables"][1]["objects"][0]["path"]
    _flip(obj, obj.stat().st_size - 20)
    edited = json.loads((folder / MANIFEST).read_bytes())
    edited["tables"][1]["objects"][0]["sha256"] = __import__("hashlib").sha256(obj.read_bytes()).hexdigest()
    body = {k: v for k, v in edited.items() if k != "seal"}
    import base64
    key = RecipientKeyring.opener(transferee).agree(base64.b64decode(edited["recipient"]["ephemeral_public_key"]),
                                                    SEAL_INFO)
    edited["seal"]["hmac_sha256"] = seal_manifest(body, key)
    (folder / MANIFEST).write_text(json.dumps(edited), encoding="utf-8")
    with pytest.raises(HandoverError, match="fails authentication"):
        verify_package(folder, transferee)
    assert read_manifest(folder)["package_id"] == doc["package_id"]


def test_package_to_the_transferees_kms_key(tmp_path, moto_s3_endpoint):
    """The KMS option: DEKs and the package secret wrapped by the transferee's KMS key (moto over HTTP);
    opens with that key only; a flipped byte is refused."""
    import boto3

    from custody.crypto.kms import KmsKeyring

    kms = boto3.client("kms", endpoint_url=moto_s3_endpoint, region_name="us-east-1",
                       aws_access_key_id="test", aws_secret_access_key="test-secret")
    theirs = kms.create_key(Description="transferee")["KeyMetadata"]["KeyId"]
    other = kms.create_key(Description="someone else")["KeyMetadata"]["KeyId"]
    keyring, staging = setup(tmp_path)
    manifest = stage_run(staging, tables={"contacts": [40, 25]})
    store = LocalStore(tmp_path / "backups")
    create_snapshot([store], staging, manifest, None, keyring)
    folder, doc = build_package(store, KEY, keyring, tables=["contacts"], recipient_kms=KmsKeyring(kms, theirs),
                                out_dir=tmp_path / "out", deal="acme-2026", transferor="seller", transferee="buyer")
    assert doc["recipient"]["alg"] == "AWS-KMS-SYMMETRIC_DEFAULT-HKDF-SHA256"
    receipt = verify_package(folder, kms=KmsKeyring(kms, theirs))
    assert [(t["rows"], t["content_hash"]) for t in receipt["tables"]] == [(65, manifest.tables[0].content_hash)]
    manifest_sha = __import__("hashlib").sha256((folder / MANIFEST).read_bytes()).hexdigest()
    check_receipt({**doc, "manifest_sha256": manifest_sha}, receipt)
    with pytest.raises(HandoverError, match="encrypted to KMS key .*; the KMS key given is"):
        verify_package(folder, kms=KmsKeyring(kms, other))
    with pytest.raises(HandoverError, match="open it with that KMS key"):
        verify_package(folder, generate_recipient_key(tmp_path / "x.pem"))
    obj = folder / doc["tables"][0]["objects"][0]["path"]
    _flip(obj, obj.stat().st_size - 30)
    with pytest.raises(HandoverError, match="SHA-256 differs"):
        verify_package(folder, kms=KmsKeyring(kms, theirs))
