"""Signed notes (C2SP ``signed-note``): the checkpoint signing keys and their verifier keys.

A signed note is UTF-8 text ending in a newline, a blank line, then one line per signature::

    — <key name> base64(key ID (4 bytes, big-endian) || signature)

The key ID names ``(key name, algorithm, public key)``; a verifier holds the public keys it
trusts, ignores signatures of other keys, and rejects a note whose trusted signature fails or
that has none (``open_note``). ``docs/format.md`` section 8.4 restates the rules Custody uses.

Signers (``open_signer``, ``CUSTODY_AUDIT_SIGNER``):

- ``keystore`` (default): Ed25519 (RFC 8032, signature type ``0x01``) with a seed kept in the key
  store (``ScopedKeyring.signing_key``, purpose ``signing``), wrapped by the KEK like every other
  key-store key; key ID ``SHA-256(name || 0x0A || 0x01 || public key)[:4]``.
- ``local:<path>``: Ed25519 with the seed in a local key file (mode 0600, created on first use).
- ``kms:<key id | ARN | alias>[?endpoint_url=<url>&region=<region>]``: an asymmetric AWS KMS key
  of spec ``ECC_NIST_P256`` signing with ``ECDSA_SHA_256`` (type ``0x02``, key ID
  ``SHA-256(DER SubjectPublicKeyInfo)[:4]``); the private key never leaves KMS. KMS offers no
  Ed25519 in every region and test double, so ECDSA P-256 is the KMS option.

A verifier key (``vkey``) is ``<name>+<hex key ID>+<base64(type || public key)>``, the text a
third party is given to check checkpoints; for ECDSA the public key is the DER SPKI.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ED25519 = 0x01
ECDSA = 0x02
DASH = "\u2014"
_NAME = re.compile(r"^[^\s+]+$")
_SIG_LINE = re.compile(r"^\u2014 (\S+) ([A-Za-z0-9+/]+={0,2})$")
MAX_SIGNATURES = 16
KEY_FILE_FORMAT = "custody-audit-signing-key"


class NoteError(Exception):
    """A signed note is malformed, or no trusted key's signature verifies on it."""


class SignerError(Exception):
    """A signing key cannot be opened or used (bad spec, unsafe file, wrong KMS key spec)."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _check_name(name: str) -> str:
    if not name or not _NAME.match(name):
        raise SignerError("a key name must be non-empty, without spaces or '+'")
    return name


def key_id_for(name: str, alg: int, public: bytes) -> bytes:
    """The 4-byte key ID of ``(name, alg, public)`` (C2SP signed-note; ECDSA: hash of the DER SPKI)."""
    if alg == ECDSA:
        return hashlib.sha256(public).digest()[:4]
    return hashlib.sha256(name.encode() + b"\n" + bytes([alg]) + public).digest()[:4]


@dataclass(frozen=True)
class Verifier:
    """A public key trusted to sign notes: ``name``, 4-byte ``key_id``, ``alg`` (0x01 or 0x02),
    ``public`` (32 raw bytes for Ed25519, DER SubjectPublicKeyInfo for ECDSA)."""

    name: str
    key_id: bytes
    alg: int
    public: bytes

    def verify(self, message: bytes, signature: bytes) -> bool:
        """True when ``signature`` is this key's signature of ``message``."""
        try:
            if self.alg == ED25519:
                Ed25519PublicKey.from_public_bytes(self.public).verify(signature, message)
            elif self.alg == ECDSA:
                key = serialization.load_der_public_key(self.public)
                if not isinstance(key, ec.EllipticCurvePublicKey):
                    return False
                key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
            else:
                return False
        except (InvalidSignature, ValueError):
            return False
        return True

    def vkey(self) -> str:
        """The verifier key text: ``<name>+<hex key ID>+<base64(alg || public key)>``."""
        return f"{self.name}+{self.key_id.hex()}+{_b64(bytes([self.alg]) + self.public)}"

    @classmethod
    def parse(cls, vkey: str) -> Verifier:
        """Read a verifier key; its key ID must match its name and key. Raises ``SignerError``."""
        parts = vkey.strip().split("+", 2)
        if len(parts) != 3 or not re.fullmatch(r"[0-9a-f]{8}", parts[1]):
            raise SignerError("a verifier key is <name>+<8 hex>+<base64>")
        name, kid, blob = parts
        try:
            raw = base64.b64decode(blob, validate=True)
        except ValueError:
            raise SignerError("verifier key: the key is not base64") from None
        if not raw or raw[0] not in (ED25519, ECDSA) or (raw[0] == ED25519 and len(raw) != 33):
            raise SignerError("verifier key: unknown algorithm or key length")
        v = cls(_check_name(name), bytes.fromhex(kid), raw[0], raw[1:])
        if key_id_for(name, v.alg, v.public) != v.key_id:
            raise SignerError(f"verifier key {name}: key ID does not match the key")
        return v


class Signer(Protocol):
    """What signs checkpoints: ``name``, ``key_id``, ``sign(message) -> signature``, ``verifier()``."""

    name: str
    key_id: bytes

    def sign(self, message: bytes) -> bytes: ...

    def verifier(self) -> Verifier: ...


class Ed25519Signer:
    """Ed25519 (RFC 8032) from a 32-byte seed; ``key_ref`` names where the seed lives."""

    def __init__(self, name: str, seed: bytes, *, key_ref: str = "") -> None:
        if len(seed) != 32:
            raise SignerError("an Ed25519 seed is 32 bytes")
        self.name = _check_name(name)
        self._key = Ed25519PrivateKey.from_private_bytes(seed)
        self.public = self._key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.key_id = key_id_for(name, ED25519, self.public)
        self.key_ref = key_ref

    def sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``message``."""
        return self._key.sign(message)

    def verifier(self) -> Verifier:
        """This key's public half."""
        return Verifier(self.name, self.key_id, ED25519, self.public)


class KmsSigner:
    """ECDSA P-256 / SHA-256 by AWS KMS ``Sign`` (message type ``RAW``, at most 4096 bytes).

    ``client``: a boto3 KMS client; ``key_id``: id, ARN or alias of an ``ECC_NIST_P256`` key with
    usage ``SIGN_VERIFY``. The public key is read once (``GetPublicKey``). Raises ``SignerError``
    for a key of another spec.
    """

    def __init__(self, client: Any, key_id: str, name: str) -> None:
        self.client, self.name = client, _check_name(name)
        resp = client.get_public_key(KeyId=key_id)
        if resp.get("KeySpec", resp.get("CustomerMasterKeySpec")) != "ECC_NIST_P256":
            raise SignerError("a KMS signing key for checkpoints must have key spec ECC_NIST_P256")
        self.kms_key = resp["KeyId"]  # the ARN: an alias moved later cannot change what signs
        self.public = bytes(resp["PublicKey"])
        self.key_id = key_id_for(name, ECDSA, self.public)
        self.key_ref = self.kms_key

    def sign(self, message: bytes) -> bytes:
        """DER-encoded ECDSA signature of ``message`` made inside KMS."""
        if len(message) > 4096:
            raise SignerError("KMS signs at most 4096 bytes (RAW messages)")
        resp = self.client.sign(KeyId=self.kms_key, Message=message, MessageType="RAW",
                                SigningAlgorithm="ECDSA_SHA_256")
        return bytes(resp["Signature"])

    def verifier(self) -> Verifier:
        """This key's public half (DER SPKI)."""
        return Verifier(self.name, self.key_id, ECDSA, self.public)


def file_seed(path: Path) -> bytes:
    """The Ed25519 seed in a local key file, created (mode 0600, directory 0700) on first use.

    File: ``{"format": "custody-audit-signing-key", "version": 1, "seed": base64(32 bytes)}``.
    Raises ``SignerError`` when the file is readable by group or others or is malformed.
    """
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        doc = {"format": KEY_FILE_FORMAT, "version": 1, "seed": _b64(secrets.token_bytes(32))}
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process created it first: read theirs
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(json.dumps(doc))
                fh.flush()
                os.fsync(fh.fileno())
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise SignerError(f"signing key file {path} has mode {mode:o}; it must be 0600 (owner only)")
    try:
        doc = json.loads(path.read_text())
        seed = base64.b64decode(doc["seed"], validate=True)
        ok = doc.get("format") == KEY_FILE_FORMAT and len(seed) == 32
    except (ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        raise SignerError(f"signing key file {path} is malformed")
    return seed


def open_signer(spec: str, *, name: str, keyring: Any = None) -> Signer:
    """The checkpoint signer named by ``spec`` (``CUSTODY_AUDIT_SIGNER``; module docstring).

    ``name``: the key name (the log's origin); ``keyring``: a ``ScopedKeyring`` for ``keystore``.
    Raises ``SignerError``.
    """
    scheme, _, rest = spec.partition(":")
    if scheme == "keystore" and not rest:
        if keyring is None or not hasattr(keyring, "signing_key"):
            raise SignerError("signer 'keystore' needs a keyring with a key store (CUSTODY_CATALOG_URL)")
        key_id, seed = keyring.signing_key(name)
        return Ed25519Signer(name, seed, key_ref=key_id)
    if scheme == "local" and rest:
        return Ed25519Signer(name, file_seed(Path(rest)), key_ref=f"local:{rest}")
    if scheme == "kms" and rest:
        import boto3

        key, _, query = rest.partition("?")
        opts = {k: v[-1] for k, v in parse_qs(query).items()}
        unknown = sorted(set(opts) - {"endpoint_url", "region"})
        if unknown or not key:
            raise SignerError(f"kms signer spec: unknown option(s) {unknown} or no key id")
        client = boto3.client("kms", endpoint_url=opts.get("endpoint_url"), region_name=opts.get("region"))
        return KmsSigner(client, key, name)
    raise SignerError(f"unknown signer spec {scheme!r}: expected 'keystore', 'local:<path>' or 'kms:<key id>'")


# -- notes -----------------------------------------------------------------------------------------
def sign_note(text: str, signers: list[Signer]) -> str:
    """``text`` (ending in a newline, no blank line, no control character) signed by each signer."""
    if not text.endswith("\n") or "\n\n" in text or re.search(r"[\x00-\x09\x0b-\x1f]", text):
        raise NoteError("note text must end in a newline and hold no blank line or control character")
    lines = "".join(f"{DASH} {s.name} {_b64(s.key_id + s.sign(text.encode('utf-8')))}\n" for s in signers)
    return f"{text}\n{lines}"


def open_note(note: str, verifiers: list[Verifier]) -> tuple[str, list[Verifier]]:
    """Split a signed note and check its signatures against the trusted ``verifiers``.

    Returns ``(text, verifiers whose signature verified)``. Signatures of unknown keys are
    ignored. Raises ``NoteError`` when the note is malformed, a trusted key's signature fails,
    or no trusted key signed it (the message lists the keys that did sign, by name and ID).
    """
    if re.search(r"[\x00-\x09\x0b-\x1f]", note) or not note.endswith("\n"):
        raise NoteError("malformed note (control characters, or no final newline)")
    cut = note.rfind("\n\n")
    if cut < 0:
        raise NoteError("malformed note: no blank line before the signatures")
    text, block = note[: cut + 1], note[cut + 2:]
    lines = block.splitlines()
    if not lines or len(lines) > MAX_SIGNATURES:
        raise NoteError(f"malformed note: {len(lines)} signature lines")
    trusted = {(v.name, v.key_id): v for v in verifiers}
    good: list[Verifier] = []
    seen: list[str] = []
    for line in lines:
        m = _SIG_LINE.match(line)
        if not m:
            raise NoteError("malformed signature line")
        raw = base64.b64decode(m.group(2))
        if len(raw) < 5:
            raise NoteError("malformed signature: too short")
        seen.append(f"{m.group(1)}+{raw[:4].hex()}")
        v = trusted.get((m.group(1), raw[:4]))
        if v is None:
            continue
        if not v.verify(text.encode("utf-8"), raw[4:]):
            raise NoteError(f"signature of trusted key {m.group(1)}+{raw[:4].hex()} does not verify")
        good.append(v)
    if not good:
        raise NoteError(f"no signature by a trusted key (signed by {', '.join(seen)})")
    return text, good
