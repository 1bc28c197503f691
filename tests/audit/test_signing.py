"""Signed notes (C2SP signed-note): the Go reference vector, trust rules, verifier keys, KMS ECDSA."""

from __future__ import annotations

import base64

import pytest

from custody.audit.signing import (
    ECDSA,
    Ed25519Signer,
    KmsSigner,
    NoteError,
    SignerError,
    Verifier,
    file_seed,
    open_note,
    open_signer,
    sign_note,
)

# golang.org/x/mod/sumdb/note, the package's documented example (note.go and note_test.go).
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
GO_NOTE = (GO_TEXT + "\n\u2014 PeterNeumann "
           "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n")
# An ECDSA P-256 verifier key of type 0x02 (the Pixel 6 transparency log), from transparency-dev/formats.
PIXEL_VKEY = ("pixel6_transparency_log+91c16e30+AjBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABN+4x0Jk1yTwvLFI9A4NDdGZc"
              "X0aiWVdWM5XJVy0M4VWD3AvyW5Q6Hs9A0mcDkpUoYgn+KKPNzFC0H3nN3q6JQ8=")


def go_signer() -> Ed25519Signer:
    seed = base64.b64decode(GO_SKEY.split("+", 4)[4])[1:]
    return Ed25519Signer("PeterNeumann", seed)


def test_signing_reproduces_the_go_reference_note_byte_for_byte():
    signer = go_signer()
    assert signer.verifier().vkey() == GO_VKEY
    assert sign_note(GO_TEXT, [signer]) == GO_NOTE
    text, good = open_note(GO_NOTE, [Verifier.parse(GO_VKEY)])
    assert text == GO_TEXT and [v.name for v in good] == ["PeterNeumann"]


def test_open_note_trust_rules():
    trusted = Verifier.parse(GO_VKEY)
    with pytest.raises(NoteError, match="does not verify"):
        open_note(GO_NOTE.replace("cryptography", "cryptographY"), [trusted])
    stranger = Ed25519Signer("PeterNeumann", b"\x07" * 32)  # same name, other key: ignored, not trusted
    with pytest.raises(NoteError, match="no signature by a trusted key"):
        open_note(sign_note(GO_TEXT, [stranger]), [trusted])
    both = sign_note(GO_TEXT, [stranger, go_signer()])
    assert open_note(both, [trusted])[1] == [trusted]
    for bad in (GO_TEXT, GO_NOTE.replace("\u2014", "--"), GO_NOTE.replace("\n\n", "\n\x01\n")):
        with pytest.raises(NoteError):
            open_note(bad, [trusted])
    with pytest.raises(NoteError):
        sign_note("two\n\nparagraphs\n", [go_signer()])


def test_verifier_keys_parse_and_refuse_mismatched_ids():
    pixel = Verifier.parse(PIXEL_VKEY)
    assert (pixel.alg, pixel.key_id.hex()) == (ECDSA, "91c16e30")
    assert pixel.vkey() == PIXEL_VKEY
    for bad in (GO_VKEY.replace("c74f20a3", "c74f20a4"), "PeterNeumann+c74f20a3", "a b+c74f20a3+AAAA",
                GO_VKEY[:-4]):
        with pytest.raises(SignerError):
            Verifier.parse(bad)


def test_local_key_file_is_private_and_stable(tmp_path):
    path = tmp_path / "keys" / "audit.json"
    s1 = open_signer(f"local:{path}", name="custody/audit")
    assert (path.stat().st_mode & 0o777, path.parent.stat().st_mode & 0o777) == (0o600, 0o700)
    assert open_signer(f"local:{path}", name="custody/audit").verifier() == s1.verifier()
    path.chmod(0o644)
    with pytest.raises(SignerError, match="0600"):
        file_seed(path)


def test_keystore_signer_lives_in_the_key_store(tmp_path, catalog_url):
    from custody.crypto import init_keyring, open_keyring

    init_keyring(f"local:{tmp_path / 'kek.json'}")
    keyring = open_keyring(f"local:{tmp_path / 'kek.json'}", key_store=catalog_url)
    signer = open_signer("keystore", name="custody/audit", keyring=keyring)
    again = open_signer("keystore", name="custody/audit",
                        keyring=open_keyring(f"local:{tmp_path / 'kek.json'}", key_store=catalog_url))
    assert signer.verifier() == again.verifier() and signer.key_ref.startswith("ak-")
    row = [k for k in keyring.inventory() if k["purpose"] == "signing"]
    assert [(k["scope"], k["state"]) for k in row] == [("custody/audit", "active")] and row[0]["kek_ids"]
    with pytest.raises(SignerError, match="key store"):
        open_signer("keystore", name="custody/audit", keyring=None)


@pytest.fixture
def kms(moto_s3_endpoint):
    import boto3

    return boto3.client("kms", endpoint_url=moto_s3_endpoint, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test-secret")


def test_kms_ecdsa_signer_signs_notes_a_verifier_key_checks(kms):
    key = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    signer = KmsSigner(kms, key, "custody.test/audit")
    note = sign_note("custody.test/audit\n3\nAAAA\n", [signer])
    vkey = signer.verifier().vkey()
    assert vkey.startswith("custody.test/audit+") and Verifier.parse(vkey).alg == ECDSA
    text, good = open_note(note, [Verifier.parse(vkey)])
    assert text == "custody.test/audit\n3\nAAAA\n" and len(good) == 1
    with pytest.raises(NoteError):
        open_note(note.replace("\n3\n", "\n4\n"), [Verifier.parse(vkey)])
    other = kms.create_key(KeySpec="ECC_NIST_P384", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    with pytest.raises(SignerError, match="ECC_NIST_P256"):
        KmsSigner(kms, other, "custody.test/audit")
