"""AWS KMS keyring against moto's KMS over real HTTP (the session's ThreadedMotoServer)."""

from __future__ import annotations

import base64
import io

import pytest

from custody.crypto import (
    KeyringError,
    UnknownKeyError,
    WrongKeyError,
    decrypt_bytes,
    decrypt_stream,
    encrypt_bytes,
    open_keyring,
    read_header,
)
from custody.crypto.kms import KmsKeyring, encryption_context
from custody.crypto.scopes import ScopedKeyring, crypto_key_wrap, key_context
from custody.documents import DocumentError, seal, verify_seal
from custody.restore import restore_table
from custody.staging import StagingStore
from custody.store import LocalStore, create_snapshot, list_snapshots


def _key(kms_client, **kwargs) -> str:
    return kms_client.create_key(Description="custody test", **kwargs)["KeyMetadata"]["KeyId"]


def _arn(kms_client, key_id: str) -> str:
    return kms_client.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"]


def test_round_trip_header_names_the_key_arn(kms_client):
    key_id = _key(kms_client)
    alias = f"alias/custody-{key_id[:8]}"
    kms_client.create_alias(AliasName=alias, TargetKeyId=key_id)
    keyring = KmsKeyring(kms_client, alias)
    blob, info = encrypt_bytes(b"rows" * 100, object_id="crm/r/t/chunk-00000", binding={"rows": 4},
                               keyring=keyring, scope="crm/customer_contract", segment_size=64)
    header = read_header(io.BytesIO(blob))
    assert header.keyring == "aws-kms" and header.kek_id == info.kek_id == _arn(kms_client, key_id)
    assert decrypt_bytes(blob, keyring=keyring, binding={"rows": 4}) == b"rows" * 100
    # the encryption context is the wrap context, field by field (docs/format.md 1.3)
    assert encryption_context(header.wrap_context) == {
        "custody:wrap": "custody/dek-wrap/v1", "custody:object_id": "crm/r/t/chunk-00000",
        "custody:scope": "crm/customer_contract"}
    plain = kms_client.decrypt(CiphertextBlob=header.wrapped_dek, KeyId=header.kek_id,
                               EncryptionContext=encryption_context(header.wrap_context))["Plaintext"]
    assert len(plain) == 32


def test_wrong_context_or_key_gives_a_clear_error_and_no_plaintext(kms_client):
    k1, k2 = _key(kms_client), _key(kms_client)
    keyring = KmsKeyring(kms_client, k1, retired=[k2])
    blob, _ = encrypt_bytes(b"secret rows", object_id="a", binding={}, keyring=keyring, scope="crm/x")
    header = read_header(io.BytesIO(blob))
    other_ctx = header.wrap_context.replace(b'"a"', b'"b"')
    with pytest.raises(WrongKeyError, match="encryption context"):
        keyring.unwrap(header.kek_id, header.wrapped_dek, other_ctx)
    # a header naming another (allowed) KMS key: KMS refuses, the message names that key
    with pytest.raises(WrongKeyError, match=_arn(kms_client, k2)):
        keyring.unwrap(_arn(kms_client, k2), header.wrapped_dek, header.wrap_context)
    # a keyring that does not hold the KEK refuses before calling KMS
    out = io.BytesIO()
    with pytest.raises(UnknownKeyError, match="not one of this keyring's"):
        decrypt_stream(io.BytesIO(blob), out, keyring=KmsKeyring(kms_client, k2))
    assert out.getvalue() == b""
    with pytest.raises(UnknownKeyError, match="does not exist"):
        KmsKeyring(kms_client, "alias/custody-missing").active_kek_id()
    with pytest.raises(KeyringError, match="not JSON"):
        keyring.wrap(b"k" * 32, b"not json")
    with pytest.raises(KeyringError, match="canonical JSON"):
        keyring.wrap(b"k" * 32, b'{"scope": "crm/x"}')


def test_seals_with_a_kms_hmac_key(kms_client):
    mac_key = _key(kms_client, KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")
    keyring = KmsKeyring(kms_client, _key(kms_client), mac_key_id=mac_key)
    doc = seal({"format": "custody-run-manifest", "rows": 65, "note": "x" * 5000}, keyring)
    assert doc["seal"]["kek_id"] == _arn(kms_client, mac_key)
    verify_seal(doc, keyring, name="manifest")
    with pytest.raises(DocumentError, match="does not verify"):
        verify_seal({**doc, "rows": 64}, keyring, name="manifest")
    assert not keyring.verify_mac(doc["seal"]["kek_id"], b"x", "zz")
    with pytest.raises(KeyringError, match="no HMAC key"):
        KmsKeyring(kms_client, _key(kms_client)).mac(b"x")


def test_open_keyring_kms_spec(kms_client, moto_s3_endpoint, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
    key_id, old = _key(kms_client), _key(kms_client)
    keyring = open_keyring(f"kms:{key_id}?endpoint_url={moto_s3_endpoint}&region=us-east-1&retired={old}")
    assert isinstance(keyring, KmsKeyring) and keyring.kek_ids == [_arn(kms_client, key_id), _arn(kms_client, old)]
    blob, _ = encrypt_bytes(b"x", object_id="o", binding={}, keyring=keyring)
    assert decrypt_bytes(blob, keyring=keyring) == b"x"
    arn_spec = f"kms:{_arn(kms_client, key_id)}?endpoint_url={moto_s3_endpoint}&region=us-east-1"
    assert open_keyring(arn_spec).active_kek_id() == _arn(kms_client, key_id)
    with pytest.raises(KeyringError, match="unknown option"):
        open_keyring(f"kms:{key_id}?endpoint={moto_s3_endpoint}")


def test_scoped_keyring_over_kms_rotation_to_a_new_kms_key(tmp_path, kms_client, make_run, catalog_url):
    k1 = _key(kms_client)
    first = ScopedKeyring(KmsKeyring(kms_client, k1), catalog_url)
    staging = StagingStore(tmp_path / "staging", first)
    manifest = make_run(staging, "r1", {"contacts": ("crm/customer_contract", [(0, 25)])})
    store = LocalStore(tmp_path / "backups")
    create_snapshot([store], staging, manifest, None, first)
    # the scope key's wrap carries the key-store context in KMS
    with first.engine.connect() as conn:
        wrap = conn.execute(crypto_key_wrap.select()).first()
    ctx = encryption_context(key_context(wrap.key_id, "scope" if wrap.key_id.startswith("sk-") else "seal",
                                         "crm/customer_contract" if wrap.key_id.startswith("sk-") else "custody/seal"))
    plain = kms_client.decrypt(CiphertextBlob=base64.b64decode(wrap.wrapped), EncryptionContext=ctx)["Plaintext"]
    assert len(plain) == 32

    k2 = _key(kms_client)
    report = ScopedKeyring(KmsKeyring(kms_client, k2, retired=[k1]), catalog_url).rotate()
    assert report["rewrapped"] == 2 and report["retired_kek_ids"] == [_arn(kms_client, k1)]
    # the old KMS key leaves the keyring and is scheduled for deletion (moto still serves keys
    # pending deletion, so the keyring's own list is what proves the old key is no longer used)
    kms_client.schedule_key_deletion(KeyId=k1, PendingWindowInDays=7)
    after = ScopedKeyring(KmsKeyring(kms_client, k2), catalog_url)
    key = list_snapshots(store)[0]
    assert restore_table(store, key, "contacts", after).num_rows == 25
    stale = ScopedKeyring(KmsKeyring(kms_client, k1), catalog_url)
    with pytest.raises(Exception, match="none of which opens"):
        restore_table(store, key, "contacts", stale)
