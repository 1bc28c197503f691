"""Custody object format v1: streaming AES-256-GCM envelope encryption with key commitment.

Layout (all integers big-endian; the full specification is ``docs/format.md``)::

    magic   "CSTD"            4 bytes
    version 0x01              1 byte
    hlen    uint32            4 bytes
    header  canonical JSON    hlen bytes (UTF-8, sorted keys, no whitespace)
    segment_0 .. segment_n    each = AES-GCM(ciphertext of <= segment_size bytes) || 16-byte tag

Keys: a fresh 32-byte data key (DEK) per object, wrapped by the keyring with the object id and
scope as associated data: under a key-encryption key, or, with a ``ScopedKeyring``, under the key
of the object's scope (``docs/format.md`` section 1). HKDF-SHA256(DEK, salt=nonce_prefix,
info="custody/object/v1|"+object_id) yields 64 bytes: the segment key and a 32-byte key commitment
stored in the header, so a ciphertext cannot be opened under a second key (AES-GCM alone is not
key-committing).

Segments follow the STREAM construction (Hoang, Reyhanitabar, Rogaway, Vizár 2015): nonce =
nonce_prefix (7 bytes) || segment counter (uint32) || last-segment flag (1 byte); every segment's
associated data is SHA-256(magic || version || hlen || header), so the header (object id, binding to
the manifest entry, wrapped key) is authenticated by every segment, and truncation, reordering or
splicing fails.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import secrets
import struct
from dataclasses import dataclass
from typing import Any, BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from custody.canonical import canonical_json
from custody.crypto.keyring import Keyring

MAGIC = b"CSTD"
VERSION = 1
ALGORITHM = "AES-256-GCM-STREAM-HKDF-SHA256"
DEFAULT_SEGMENT_SIZE = 1 << 20  # 1 MiB: bounded memory per segment, tag overhead 0.0015 %
TAG_BYTES = 16
_MAX_HEADER = 1 << 20
_PREFIX = struct.Struct(">4sBI")


class CustodyFormatError(Exception):
    """The bytes are not a Custody object of a supported version, or the header is malformed."""


class IntegrityError(Exception):
    """Authentication failed: the object was altered, truncated, or bound to another manifest entry.

    The message names the object id; no plaintext is released.
    """


@dataclass(frozen=True)
class ObjectHeader:
    """Parsed header of a Custody object (see ``docs/format.md``).

    ``binding`` is the manifest entry the object belongs to (source, table, kind, chunk, rows, schema
    fingerprint): authenticated, so an object swapped for another fails to decrypt.
    """

    object_id: str
    binding: dict[str, Any]
    keyring: str
    kek_id: str
    scope: str
    wrapped_dek: bytes
    nonce_prefix: bytes
    commitment: bytes
    segment_size: int
    raw: bytes

    @property
    def digest(self) -> bytes:
        """SHA-256 over the prefix and header bytes: the associated data of every segment."""
        return hashlib.sha256(_PREFIX.pack(MAGIC, VERSION, len(self.raw)) + self.raw).digest()

    @property
    def wrap_context(self) -> bytes:
        """Associated data of the data-key wrap: object id and scope."""
        return canonical_json({"object_id": self.object_id, "scope": self.scope})


@dataclass(frozen=True)
class ObjectInfo:
    """What ``encrypt_stream`` wrote: sizes in bytes and the SHA-256 (hex) of the ciphertext file."""

    object_id: str
    plaintext_bytes: int
    ciphertext_bytes: int
    sha256: str
    kek_id: str


def _derive(dek: bytes, nonce_prefix: bytes, object_id: str) -> tuple[bytes, bytes]:
    okm = HKDF(SHA256(), 64, salt=nonce_prefix, info=b"custody/object/v1|" + object_id.encode()).derive(dek)
    return okm[:32], okm[32:]


def _nonce(prefix: bytes, counter: int, last: bool) -> bytes:
    if counter >= 2**32:
        raise CustodyFormatError("object exceeds 2^32 segments")
    return prefix + struct.pack(">IB", counter, 1 if last else 0)


def encrypt_stream(
    src: BinaryIO,
    dst: BinaryIO,
    *,
    object_id: str,
    binding: dict[str, Any],
    keyring: Keyring,
    scope: str = "default",
    segment_size: int = DEFAULT_SEGMENT_SIZE,
) -> ObjectInfo:
    """Encrypt ``src`` into ``dst`` as one Custody object, reading ``segment_size`` bytes at a time.

    ``binding`` must be JSON-serialisable and must not hold personal values (it is stored in clear).
    Memory is O(segment_size). Returns sizes and the SHA-256 of the bytes written to ``dst``.
    """
    dek = secrets.token_bytes(32)
    nonce_prefix = secrets.token_bytes(7)
    seg_key, commitment = _derive(dek, nonce_prefix, object_id)
    wrap_ctx = canonical_json({"object_id": object_id, "scope": scope})
    kek_id, wrapped = keyring.wrap(dek, wrap_ctx)
    header = {
        "format": "custody-object",
        "version": VERSION,
        "alg": ALGORITHM,
        "object_id": object_id,
        "binding": binding,
        "key": {
            "keyring": keyring.kind,
            "kek_id": kek_id,
            "scope": scope,
            "wrapped_dek": base64.b64encode(wrapped).decode(),
        },
        "nonce_prefix": base64.b64encode(nonce_prefix).decode(),
        "commitment": base64.b64encode(commitment).decode(),
        "segment_size": segment_size,
    }
    raw = canonical_json(header)
    prefix = _PREFIX.pack(MAGIC, VERSION, len(raw))
    aad = hashlib.sha256(prefix + raw).digest()
    sha = hashlib.sha256()
    written = 0

    def emit(chunk: bytes) -> None:
        nonlocal written
        dst.write(chunk)
        sha.update(chunk)
        written += len(chunk)

    emit(prefix + raw)
    aead = AESGCM(seg_key)
    counter = 0
    plain_total = 0
    current = src.read(segment_size)
    while True:
        following = src.read(segment_size) if len(current) == segment_size else b""
        last = not following
        emit(aead.encrypt(_nonce(nonce_prefix, counter, last), current, aad))
        plain_total += len(current)
        if last:
            break
        counter += 1
        current = following
    return ObjectInfo(object_id, plain_total, written, sha.hexdigest(), kek_id)


def _read_exact(src: BinaryIO, n: int) -> bytes:
    data = src.read(n)
    return data if data is not None else b""


def read_header(src: BinaryIO) -> ObjectHeader:
    """Read and parse the header at the current position of ``src``.

    Raises ``CustodyFormatError`` if the magic, version or header JSON is wrong.
    """
    prefix = _read_exact(src, _PREFIX.size)
    if len(prefix) != _PREFIX.size:
        raise CustodyFormatError("not a Custody object: shorter than its prefix")
    magic, version, hlen = _PREFIX.unpack(prefix)
    if magic != MAGIC:
        raise CustodyFormatError("not a Custody object: bad magic")
    if version != VERSION:
        raise CustodyFormatError(f"unsupported Custody object version {version}")
    if hlen > _MAX_HEADER:
        raise CustodyFormatError("header length out of range")
    raw = _read_exact(src, hlen)
    if len(raw) != hlen:
        raise CustodyFormatError("truncated header")
    try:
        doc = json.loads(raw)
        key = doc["key"]
        header = ObjectHeader(
            object_id=doc["object_id"],
            binding=doc["binding"],
            keyring=key["keyring"],
            kek_id=key["kek_id"],
            scope=key["scope"],
            wrapped_dek=base64.b64decode(key["wrapped_dek"]),
            nonce_prefix=base64.b64decode(doc["nonce_prefix"]),
            commitment=base64.b64decode(doc["commitment"]),
            segment_size=int(doc["segment_size"]),
            raw=raw,
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise CustodyFormatError(f"malformed header ({type(exc).__name__})") from None
    if doc.get("alg") != ALGORITHM or len(header.nonce_prefix) != 7 or header.segment_size <= 0:
        raise CustodyFormatError(f"object {header.object_id}: unsupported algorithm or parameters")
    return header


def decrypt_stream(
    src: BinaryIO,
    dst: BinaryIO,
    *,
    keyring: Keyring,
    object_id: str | None = None,
    binding: dict[str, Any] | None = None,
) -> ObjectHeader:
    """Decrypt one Custody object from ``src`` into ``dst``; return its header.

    ``object_id`` / ``binding``, when given, must equal the header's (the manifest's view of the
    object); otherwise ``IntegrityError``. Segments are authenticated before being written, and
    ``dst`` must be discarded by the caller if an exception is raised (``decrypt_to_path`` in
    ``custody.staging`` does this with a temporary file). Raises ``CustodyFormatError``,
    ``IntegrityError``, ``custody.crypto.keyring.WrongKeyError`` / ``UnknownKeyError``.
    """
    header = read_header(src)
    name = header.object_id
    if object_id is not None and object_id != header.object_id:
        raise IntegrityError(f"object {object_id}: header names another object ({header.object_id})")
    if binding is not None and canonical_json(binding) != canonical_json(header.binding):
        raise IntegrityError(f"object {name}: header is bound to a different manifest entry")
    dek = keyring.unwrap(header.kek_id, header.wrapped_dek, header.wrap_context)
    seg_key, commitment = _derive(dek, header.nonce_prefix, header.object_id)
    if not hmac.compare_digest(commitment, header.commitment):
        raise IntegrityError(f"object {name}: key commitment does not match the data key")
    aead = AESGCM(seg_key)
    aad = header.digest
    size = header.segment_size + TAG_BYTES
    counter = 0
    current = _read_exact(src, size)
    while True:
        following = _read_exact(src, size) if len(current) == size else b""
        last = not following
        if len(current) < TAG_BYTES:
            raise IntegrityError(f"object {name}: truncated at segment {counter}")
        try:
            dst.write(aead.decrypt(_nonce(header.nonce_prefix, counter, last), current, aad))
        except InvalidTag:
            raise IntegrityError(
                f"object {name}: segment {counter} fails authentication (altered, truncated or reordered)"
            ) from None
        if last:
            return header
        counter += 1
        current = following


def encrypt_bytes(
    plaintext: bytes,
    *,
    object_id: str,
    binding: dict[str, Any],
    keyring: Keyring,
    scope: str = "default",
    segment_size: int = DEFAULT_SEGMENT_SIZE,
) -> tuple[bytes, ObjectInfo]:
    """In-memory form of ``encrypt_stream``: returns ``(ciphertext, info)``."""
    out = io.BytesIO()
    info = encrypt_stream(
        io.BytesIO(plaintext), out, object_id=object_id, binding=binding, keyring=keyring,
        scope=scope, segment_size=segment_size,
    )
    return out.getvalue(), info


def decrypt_bytes(
    ciphertext: bytes,
    *,
    keyring: Keyring,
    object_id: str | None = None,
    binding: dict[str, Any] | None = None,
) -> bytes:
    """In-memory form of ``decrypt_stream``: the whole plaintext, or an exception and nothing."""
    out = io.BytesIO()
    decrypt_stream(io.BytesIO(ciphertext), out, keyring=keyring, object_id=object_id, binding=binding)
    return out.getvalue()
