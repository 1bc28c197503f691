"""Envelope format: round trips, tampering, wrong keys, key commitment, rotation."""

from __future__ import annotations

import base64
import io
import json
import os
import struct

import pytest

from custody.crypto import (
    CustodyFormatError,
    IntegrityError,
    LocalKeyring,
    UnknownKeyError,
    WrongKeyError,
    decrypt_bytes,
    encrypt_bytes,
    read_header,
)
from custody.crypto.keyring import KeyringError

SEG = 64  # tiny segments so every test crosses segment boundaries


@pytest.fixture
def keyring(tmp_path):
    return LocalKeyring.create(tmp_path / "keys" / "kek.json")


@pytest.mark.parametrize("size", [0, 1, SEG - 1, SEG, SEG + 1, 5 * SEG, 5 * SEG + 7])
def test_round_trip_at_segment_boundaries(keyring, size):
    plaintext = os.urandom(size)
    blob, info = encrypt_bytes(plaintext, object_id="o", binding={"rows": 3}, keyring=keyring, segment_size=SEG)
    assert info.plaintext_bytes == size
    assert info.ciphertext_bytes == len(blob)
    assert decrypt_bytes(blob, keyring=keyring, object_id="o", binding={"rows": 3}) == plaintext


def test_key_file_created_owner_only(tmp_path):
    path = tmp_path / "k" / "kek.json"
    LocalKeyring.create(path)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert oct(path.parent.stat().st_mode & 0o777) == "0o700"


def test_key_file_readable_by_others_is_refused(tmp_path):
    path = tmp_path / "kek.json"
    LocalKeyring.create(path)
    path.chmod(0o644)
    with pytest.raises(KeyringError, match="0600"):
        LocalKeyring(path)


def _split(blob: bytes) -> tuple[int, dict]:
    hlen = struct.unpack(">I", blob[5:9])[0]
    return 9 + hlen, json.loads(blob[9 : 9 + hlen])


def test_every_flipped_byte_is_detected(keyring):
    plaintext = os.urandom(3 * SEG + 5)
    blob, _ = encrypt_bytes(plaintext, object_id="obj-1", binding={}, keyring=keyring, segment_size=SEG)
    body, _ = _split(blob)
    # one position in the prefix, the header and each segment
    for pos in [0, 4, 7, 20, body - 2, body, body + SEG + 3, len(blob) - 1]:
        tampered = bytearray(blob)
        tampered[pos] ^= 0x01
        with pytest.raises((IntegrityError, CustodyFormatError, WrongKeyError)):
            decrypt_bytes(bytes(tampered), keyring=keyring)


def test_truncation_and_reordering_are_detected(keyring):
    blob, _ = encrypt_bytes(os.urandom(4 * SEG), object_id="o", binding={}, keyring=keyring, segment_size=SEG)
    body, _ = _split(blob)
    seg = SEG + 16
    # dropping the final segment: the new last one was not encrypted with the "last" flag
    with pytest.raises(IntegrityError, match="segment"):
        decrypt_bytes(blob[: body + 3 * seg], keyring=keyring)
    swapped = blob[:body] + blob[body + seg : body + 2 * seg] + blob[body : body + seg] + blob[body + 2 * seg :]
    with pytest.raises(IntegrityError, match="segment 0"):
        decrypt_bytes(swapped, keyring=keyring)


def test_binding_and_object_id_must_match_the_manifest(keyring):
    blob, _ = encrypt_bytes(b"data", object_id="crm/run/contacts/chunk-00000", binding={"rows": 1}, keyring=keyring)
    with pytest.raises(IntegrityError, match="different manifest entry"):
        decrypt_bytes(blob, keyring=keyring, binding={"rows": 2})
    with pytest.raises(IntegrityError, match="another object"):
        decrypt_bytes(blob, keyring=keyring, object_id="crm/run/contacts/chunk-00001")


def test_wrong_key_encryption_key_gives_clear_error(tmp_path, keyring):
    blob, _ = encrypt_bytes(b"secret rows", object_id="o", binding={}, keyring=keyring)
    other = LocalKeyring.create(tmp_path / "other.json")
    with pytest.raises(UnknownKeyError, match="not in key file"):
        decrypt_bytes(blob, keyring=other)
    # Same key id, different material (a replaced key file): the wrap does not open.
    doc = json.loads(other.path.read_text())
    doc["keys"][0]["kek_id"] = doc["active"] = keyring.active_kek_id()
    other.path.write_text(json.dumps(doc))
    with pytest.raises(WrongKeyError, match=keyring.active_kek_id()):
        decrypt_bytes(blob, keyring=LocalKeyring(other.path))


def test_key_commitment_rejects_a_substituted_commitment(keyring):
    blob, _ = encrypt_bytes(b"x" * 100, object_id="o", binding={}, keyring=keyring)
    body, header = _split(blob)
    header["commitment"] = base64.b64encode(os.urandom(32)).decode()
    raw = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    forged = blob[:5] + struct.pack(">I", len(raw)) + raw + blob[body:]
    with pytest.raises(IntegrityError, match="key commitment"):
        decrypt_bytes(forged, keyring=keyring)


def test_wrapped_key_is_bound_to_its_object(keyring):
    a, _ = encrypt_bytes(b"a" * 10, object_id="a", binding={}, keyring=keyring)
    b, _ = encrypt_bytes(b"b" * 10, object_id="b", binding={}, keyring=keyring)
    _, ha = _split(a)
    body_b, hb = _split(b)
    hb["key"]["wrapped_dek"] = ha["key"]["wrapped_dek"]
    raw = json.dumps(hb, sort_keys=True, separators=(",", ":")).encode()
    with pytest.raises(WrongKeyError):
        decrypt_bytes(b[:5] + struct.pack(">I", len(raw)) + raw + b[body_b:], keyring=keyring)


def test_header_names_object_and_key_but_no_plaintext(keyring):
    blob, _ = encrypt_bytes("张三 13812345678".encode(), object_id="o", binding={"table": "t"}, keyring=keyring)
    header = read_header(io.BytesIO(blob))
    assert header.object_id == "o" and header.kek_id == keyring.active_kek_id()
    assert "13812345678".encode() not in blob and "张三".encode() not in blob


def test_rotation_keeps_old_objects_readable_until_destroyed(keyring):
    old = keyring.active_kek_id()
    blob, _ = encrypt_bytes(b"before rotation", object_id="o", binding={}, keyring=keyring)
    new = keyring.add_key()
    assert new != old and keyring.active_kek_id() == new
    assert decrypt_bytes(blob, keyring=keyring) == b"before rotation"
    fresh, info = encrypt_bytes(b"after", object_id="p", binding={}, keyring=keyring)
    assert info.kek_id == new
    with pytest.raises(KeyringError):
        keyring.destroy_key(new)
    keyring.destroy_key(old)
    with pytest.raises(UnknownKeyError):
        decrypt_bytes(blob, keyring=keyring)
    assert decrypt_bytes(fresh, keyring=keyring) == b"after"


def test_not_a_custody_object(keyring):
    with pytest.raises(CustodyFormatError, match="magic"):
        decrypt_bytes(b"PAR1" + b"\0" * 40, keyring=keyring)
    with pytest.raises(CustodyFormatError, match="prefix"):
        decrypt_bytes(b"CS", keyring=keyring)
