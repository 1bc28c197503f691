"""Key-encryption keys (KEKs) that wrap data keys (DEKs) and key-store keys.

A keyring holds one or more KEKs, each with a stable ``kek_id``; one is *active* and wraps new
keys, the others only unwrap (rotation re-wraps keys without touching data).

Implementations of ``Keyring``:

- ``LocalKeyring`` keeps its KEKs in one JSON file with mode 0600 inside a 0700 directory; the
  file lives under ``CUSTODY_HOME`` (outside git). It is created only by the explicit step
  ``LocalKeyring.create`` (``custody keys init``); opening a missing file raises
  ``KeyMissingError`` instead of putting a fresh key in its place, which would make everything
  wrapped by the lost key unreadable while looking like a working keyring. Wrapping is AES-256-GCM
  (NIST SP 800-38D) with the wrap context (object id, scope) as associated data, so a wrapped key
  moved to another object's header fails to unwrap.
- ``custody.crypto.kms.KmsKeyring``: KEKs in AWS KMS, the wrap context as KMS encryption context.
- ``custody.crypto.scopes.ScopedKeyring``: per-scope keys in the key store, wrapped by one of the
  above; what the pipeline uses (crypto-shredding by scope, rotation without rewriting objects).

This module holds the protocol, the errors and ``LocalKeyring`` and imports neither of the other
two (they import it). ``custody.crypto.open.open_keyring`` builds any of them from
``CUSTODY_KEYRING``; ``docs/format.md`` section 1 is the specification.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol, runtime_checkable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_BYTES = 32
_WRAP_PREFIX = b"custody/dek-wrap/v1|"
_MAC_INFO = b"custody/manifest-mac/v1"


class KeyringError(Exception):
    """A keyring cannot do what was asked (missing file, bad permissions, malformed content)."""


class KeyMissingError(KeyringError):
    """The key-encryption key is not where the keyring spec says it is.

    Never answered by creating a new key: objects, seals and the key store wrapped by the missing
    key would stay unreadable behind a keyring that seems to work. The message names the expected
    place and says to restore the key from its offline copy (``docs/format.md`` section 1.2).
    """


class UnknownKeyError(KeyringError):
    """The key-encryption key named by an object is not in this keyring."""


class WrongKeyError(KeyringError):
    """A wrapped data key does not open under the named key-encryption key.

    Raised when the keyring file was replaced, the KEK material differs, or the wrapped key was
    moved to another object's header. No plaintext is produced.
    """


@runtime_checkable
class Keyring(Protocol):
    """What the envelope layer needs from a keyring.

    ``kind`` is written to object headers (``local``, ``aws-kms``, ``scoped``). ``wrap(dek,
    context)`` returns ``(id of the wrapping key, wrapped bytes)``; ``context`` is associated data
    bound into the wrap (canonical JSON from the envelope) and must be given again to ``unwrap``.
    ``mac`` returns ``(key id, hex HMAC-SHA256)``. Errors: ``UnknownKeyError`` (key not held),
    ``WrongKeyError`` (wrap does not open), ``KeyringError`` (anything else); never plaintext.
    """

    kind: str

    def active_kek_id(self) -> str: ...

    def wrap(self, dek: bytes, context: bytes) -> tuple[str, bytes]: ...

    def unwrap(self, kek_id: str, wrapped: bytes, context: bytes) -> bytes: ...

    def mac(self, data: bytes) -> tuple[str, str]: ...

    def verify_mac(self, kek_id: str, data: bytes, tag: str) -> bool: ...


def missing_key_message(where: str) -> str:
    """The text of ``KeyMissingError``: where the key was expected and what to do (no value)."""
    return (
        f"key-encryption key not found: {where} does not exist. Custody does not create a new key in "
        "its place (snapshots, staging and the key store wrapped by the old key would not open): "
        "restore the key from its offline copy to that place (mode 0600). Only a new deployment "
        "without data creates one, with `custody keys init`."
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


class LocalKeyring:
    """KEKs in a local JSON key file.

    File shape: ``{"format": "custody-keyring", "version": 1, "active": kek_id,
    "keys": [{"kek_id", "created_at", "state": "active"|"retired", "material": base64(32 bytes)}]}``.

    Opening never creates the file: a missing one raises ``KeyMissingError`` (restore it from its
    offline copy); ``LocalKeyring.create`` is the one way to make a new one. Raises
    ``KeyringError`` when the file is unreadable, malformed, or readable by group/others.
    """

    kind = "local"

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise KeyMissingError(missing_key_message(f"key file {self.path}"))
        self._load()

    @classmethod
    def create(cls, path: Path | str) -> LocalKeyring:
        """Create a new key file at ``path`` with one active KEK and open it (``custody keys init``).

        The file is written with ``O_EXCL`` and mode 0600 in a 0700 folder, so it never replaces an
        existing key file, also when two processes race. Raises ``KeyringError`` when a file is
        already there.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(path.parent, 0o700)
        doc = {"format": "custody-keyring", "version": 1, "active": None, "keys": []}
        cls._append_key(doc)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise KeyringError(
                f"key file {path} already exists; Custody never replaces a key-encryption key"
            ) from None
        with os.fdopen(fd, "wb") as fh:
            fh.write(json.dumps(doc, indent=1).encode())
            fh.flush()
            os.fsync(fh.fileno())
        return cls(path)

    # -- file handling -------------------------------------------------------------------------

    @staticmethod
    def _append_key(doc: dict) -> str:
        kek_id = f"kek-{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(4)}"
        for key in doc["keys"]:
            key["state"] = "retired"
        doc["keys"].append(
            {
                "kek_id": kek_id,
                "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "state": "active",
                "material": _b64(secrets.token_bytes(KEY_BYTES)),
            }
        )
        doc["active"] = kek_id
        return kek_id

    def _load(self) -> None:
        mode = self.path.stat().st_mode & 0o777
        if mode & 0o077:
            raise KeyringError(f"key file {self.path} has mode {mode:o}; it must be 0600 (owner only)")
        try:
            doc = json.loads(self.path.read_text())
            keys = {k["kek_id"]: _unb64(k["material"]) for k in doc["keys"]}
            active = doc["active"]
        except (ValueError, KeyError, TypeError) as exc:
            raise KeyringError(f"key file {self.path} is malformed ({type(exc).__name__})") from None
        if active not in keys or any(len(v) != KEY_BYTES for v in keys.values()):
            raise KeyringError(f"key file {self.path} is malformed (active key or key length)")
        self._doc = doc
        self._keys = keys
        self._active = active

    def _save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(json.dumps(self._doc, indent=1).encode())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)

    # -- public API ----------------------------------------------------------------------------
    @property
    def kek_ids(self) -> list[str]:
        """All KEK ids in the file, oldest first."""
        return list(self._keys)

    def active_kek_id(self) -> str:
        """The id of the KEK that wraps new data keys."""
        return self._active

    def add_key(self) -> str:
        """Create a new active KEK (older ones become retired, still able to unwrap); return its id."""
        kek_id = self._append_key(self._doc)
        self._save()
        self._load()
        return kek_id

    def destroy_key(self, kek_id: str) -> None:
        """Remove a retired KEK from the file. Raises ``KeyringError`` for the active one."""
        if kek_id == self._active:
            raise KeyringError("the active key-encryption key cannot be destroyed; add a new one first")
        if kek_id not in self._keys:
            raise UnknownKeyError(f"key-encryption key {kek_id} is not in {self.path}")
        self._doc["keys"] = [k for k in self._doc["keys"] if k["kek_id"] != kek_id]
        self._save()
        self._load()

    def _material(self, kek_id: str) -> bytes:
        try:
            return self._keys[kek_id]
        except KeyError:
            raise UnknownKeyError(
                f"key-encryption key {kek_id} is not in key file {self.path} (destroyed or wrong keyring)"
            ) from None

    def wrap(self, dek: bytes, context: bytes) -> tuple[str, bytes]:
        """Wrap a 32-byte data key under the active KEK; returns ``(kek_id, nonce||ciphertext||tag)``."""
        nonce = secrets.token_bytes(12)
        aad = _WRAP_PREFIX + self._active.encode() + b"|" + context
        return self._active, nonce + AESGCM(self._material(self._active)).encrypt(nonce, dek, aad)

    def unwrap(self, kek_id: str, wrapped: bytes, context: bytes) -> bytes:
        """Open a wrapped data key. Raises ``UnknownKeyError`` or ``WrongKeyError``."""
        key = self._material(kek_id)
        aad = _WRAP_PREFIX + kek_id.encode() + b"|" + context
        try:
            return AESGCM(key).decrypt(wrapped[:12], wrapped[12:], aad)
        except InvalidTag:
            raise WrongKeyError(
                f"data key does not open under key-encryption key {kek_id} from {self.path}"
            ) from None

    def _mac_key(self, kek_id: str) -> bytes:
        return HKDF(SHA256(), KEY_BYTES, salt=None, info=_MAC_INFO).derive(self._material(kek_id))

    def mac(self, data: bytes) -> tuple[str, str]:
        """HMAC-SHA256 of ``data`` under a key derived (HKDF) from the active KEK; ``(kek_id, hex)``."""
        return self._active, hmac.new(self._mac_key(self._active), data, hashlib.sha256).hexdigest()

    def verify_mac(self, kek_id: str, data: bytes, tag: str) -> bool:
        """Constant-time check of a tag made by ``mac``. Raises ``UnknownKeyError`` for a missing KEK."""
        expected = hmac.new(self._mac_key(kek_id), data, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, tag)
