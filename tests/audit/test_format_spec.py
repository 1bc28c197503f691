"""docs/format.md section 8 is enough: the entry encoding, the checkpoint note and an inclusion proof
are checked from the spec's own text, the proof by an independent verifier written from 8.4 and 8.7."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path

from typer.testing import CliRunner

from custody.crypto import init_keyring
from custody.audit.entries import SUBJECT_KEYS, decode
from custody.audit.signing import Ed25519Signer, Verifier, open_note

SPEC = (Path(__file__).resolve().parents[2] / "docs" / "format.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    m = re.search(rf"^(#+) {re.escape(title)}.*?$(.*?)(?=^#+ )", SPEC, re.S | re.M)
    assert m, title
    return m.group(2)


def blocks(text: str) -> list[str]:
    return re.findall(r"^```\n(.*?)^```", text, re.S | re.M)


def test_the_example_entry_is_canonical_and_has_the_stated_leaf_hash():
    text = section("8.1 Entries")
    example = blocks(text)[0].strip()
    entry = decode(example.encode())
    assert entry.seq == 17 and entry.action == "backup"
    stated = re.search(r"has leaf hash `([0-9a-f]{64})`", text).group(1)
    assert hashlib.sha256(b"\x00" + example.encode()).hexdigest() == stated == entry.leaf_hash().hex()


def test_the_subject_vocabulary_is_the_one_the_spec_lists():
    row = next(r for r in section("8.1 Entries").splitlines() if r.startswith("| `subject`"))
    listed = set(re.findall(r"`(\w+)`", row.split("keys from:")[1]))
    assert listed == SUBJECT_KEYS


def test_the_example_checkpoint_verifies_under_the_example_key():
    text = section("8.4 Checkpoints")
    note = blocks(text)[1]
    vkey = re.search(r"verifier key `([^`]+)`", text).group(1)
    body, good = open_note(note, [Verifier.parse(vkey)])
    assert body.splitlines()[:2] == ["custody.example/audit", "18"] and len(good) == 1
    signer = Ed25519Signer("custody.example/audit", bytes(range(32)))  # the seed 000102…1f the spec names
    assert signer.verifier().vkey() == vkey


# -- an independent verifier, written from docs/format.md 8.4 and 8.7 only ----------------------------
def _verify_note(note: str, vkey: str) -> str:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    name, key_id, blob = vkey.split("+", 2)
    raw = base64.b64decode(blob)
    assert raw[0] == 1 and hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4].hex() == key_id
    text, _, sigs = note.rpartition("\n\n")
    text += "\n"
    for line in sigs.splitlines():
        dash, signer, sig = line.split(" ")
        sig = base64.b64decode(sig)
        if dash == "\u2014" and signer == name and sig[:4].hex() == key_id:
            Ed25519PublicKey.from_public_bytes(raw[1:]).verify(sig[4:], text.encode())  # raises if bad
            return text
    raise AssertionError("no signature by the trusted key")


def _root_from_inclusion(index: int, size: int, leaf: bytes, path: list[bytes]) -> bytes:
    def node(a: bytes, b: bytes) -> bytes:
        return hashlib.sha256(b"\x01" + a + b).digest()

    fn, sn, r = index, size - 1, leaf
    for p in path:  # RFC 9162 2.1.3.2
        if fn & 1 or fn == sn:
            r = node(p, r)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node(r, p)
        fn, sn = fn >> 1, sn >> 1
    assert sn == 0
    return r


def test_a_proof_bundle_checks_with_the_procedure_of_the_spec_alone(tmp_path, monkeypatch, new_catalog):
    from custody.audit.log import AuditLog
    from custody.cli import app
    from custody.settings import Settings

    monkeypatch.setenv("CUSTODY_HOME", str(tmp_path))
    for var in ("CUSTODY_KEYRING", "CUSTODY_CATALOG_URL", "CUSTODY_AUDIT_SIGNER", "CUSTODY_AUDIT_ORIGIN"):
        monkeypatch.delenv(var, raising=False)
    settings = Settings.from_env()
    new_catalog(settings.home / "catalog.db")
    init_keyring(settings.keyring)
    with AuditLog(settings.catalog_url) as log:
        for i in range(13):
            log.append("extract.part", subject={"source": "crm", "run_key": "r", "table": "t", "part": i})
    runner = CliRunner()
    assert runner.invoke(app, ["audit", "checkpoint"]).exit_code == 0
    vkey = runner.invoke(app, ["audit", "key"]).output.strip()
    for seq in (0, 6, 12):
        res = runner.invoke(app, ["audit", "proof", str(seq), "--out", str(tmp_path / f"p{seq}.json")])
        assert res.exit_code == 0, res.output
        bundle = json.loads((tmp_path / f"p{seq}.json").read_text())
        lines = _verify_note(bundle["checkpoint"], vkey).splitlines()
        size, root = int(lines[1]), base64.b64decode(lines[2])
        assert (size, root.hex()) == (bundle["tree_size"], bundle["root"]) == (13, bundle["root"])
        leaf = hashlib.sha256(b"\x00" + bundle["entry"].encode("utf-8")).digest()
        assert leaf.hex() == bundle["leaf_hash"] and json.loads(bundle["entry"])["seq"] == seq
        path = [bytes.fromhex(p) for p in bundle["inclusion_proof"]]
        assert _root_from_inclusion(seq, size, leaf, path) == root
        ok = runner.invoke(app, ["audit", "check-proof", str(tmp_path / f"p{seq}.json"), "--key", vkey])
        assert ok.exit_code == 0 and f"entry {seq} is in the signed tree" in ok.output
    # An altered entry no longer checks, independently or with the CLI.
    bundle["entry"] = bundle["entry"].replace('"part":"12"', '"part":"11"')
    (tmp_path / "bad.json").write_text(json.dumps(bundle))
    bad = runner.invoke(app, ["audit", "check-proof", str(tmp_path / "bad.json"), "--key", vkey])
    assert bad.exit_code == 1 and "does not hash to the bundle's leaf hash" in bad.output
