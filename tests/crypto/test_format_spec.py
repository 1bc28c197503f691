"""docs/format.md section 1 is enough to read a backup: a second reader built from primitives only."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import struct

import sqlalchemy as sa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from custody.crypto import encrypt_bytes
from custody.documents import seal


def _canonical(value) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _open_gcm(key: bytes, wrapped: bytes, key_id: str, context: bytes) -> bytes:
    return AESGCM(key).decrypt(wrapped[:12], wrapped[12:], b"custody/dek-wrap/v1|" + key_id.encode() + b"|" + context)


def test_an_object_and_a_seal_open_from_the_spec_alone(scoped, catalog_url):
    plaintext = "客户 13812345678 ".encode() * 50
    blob, _ = encrypt_bytes(plaintext, object_id="crm/r/contacts/chunk-00000", binding={"rows": 1},
                            keyring=scoped, scope="crm/customer_contract", segment_size=100)
    doc = seal({"format": "custody-run-manifest", "rows": 1}, scoped)

    # 1.2 key file, 1.4 key store, 1.3 KEK wrap of a key-store key (key context)
    key_file = json.loads(scoped.base.path.read_text())
    keks = {k["kek_id"]: base64.b64decode(k["material"]) for k in key_file["keys"]}
    with sa.create_engine(catalog_url).connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT k.key_id, k.purpose, k.scope, w.kek_id, w.wrapped FROM crypto_key k "
            "JOIN crypto_key_wrap w ON w.key_id = k.key_id WHERE k.state = 'active'")).all()
    store_keys = {
        r.key_id: _open_gcm(keks[r.kek_id], base64.b64decode(r.wrapped), r.kek_id,
                            _canonical({"key_id": r.key_id, "purpose": r.purpose, "scope": r.scope}))
        for r in rows
    }

    # section 2 prefix and header; 1.3 scope-key wrap of the DEK (object context)
    magic, version, hlen = struct.unpack(">4sBI", blob[:9])
    assert (magic, version) == (b"CSTD", 1)
    header = json.loads(blob[9 : 9 + hlen])
    key = header["key"]
    assert key["keyring"] == "scoped" and key["kek_id"] in store_keys
    dek = _open_gcm(store_keys[key["kek_id"]], base64.b64decode(key["wrapped_dek"]), key["kek_id"],
                    _canonical({"object_id": header["object_id"], "scope": key["scope"]}))
    nonce_prefix = base64.b64decode(header["nonce_prefix"])
    okm = HKDF(SHA256(), 64, salt=nonce_prefix, info=b"custody/object/v1|" + header["object_id"].encode()).derive(dek)
    assert okm[32:] == base64.b64decode(header["commitment"])
    aad = hashlib.sha256(blob[: 9 + hlen]).digest()
    size, body, out, i = header["segment_size"] + 16, blob[9 + hlen :], b"", 0
    while body:
        seg, body = body[:size], body[size:]
        nonce = nonce_prefix + struct.pack(">IB", i, 0 if body else 1)
        out += AESGCM(okm[:32]).decrypt(nonce, seg, aad)
        i += 1
    assert out == plaintext

    # 1.9 seal key
    seal_key = store_keys[doc["seal"]["kek_id"]]
    body_doc = {k: v for k, v in doc.items() if k != "seal"}
    assert hmac.new(seal_key, _canonical(body_doc), hashlib.sha256).hexdigest() == doc["seal"]["hmac_sha256"]
