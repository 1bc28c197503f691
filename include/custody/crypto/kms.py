"""AWS KMS as the keyring: key-encryption keys that never leave KMS.

``KmsKeyring(client, key_id)`` wraps a data key (or a scope key, see ``custody.crypto.scopes``) with
KMS ``Encrypt`` under a symmetric KMS key and opens it with ``Decrypt``. The wrap context becomes
the KMS *encryption context* (associated data that KMS authenticates and writes to CloudTrail), so a
wrapped key copied into another object's header does not decrypt, and key policies can restrict
``kms:Decrypt`` by scope with the ``kms:EncryptionContext:custody:scope`` condition key.

Several KEKs: one *active* KMS key wraps; *retired* keys (still enabled in KMS) only unwrap, until
rotation has re-wrapped everything they protect (``docs/format.md`` section 1.6). Keys are named in
headers by their key ARN, resolved once with ``DescribeKey`` (so an alias given at start-up cannot
silently change what a header refers to).

Sealed documents: ``mac`` / ``verify_mac`` use KMS ``GenerateMac`` / ``VerifyMac`` with an
``HMAC_256`` KMS key (``mac_key_id``) over SHA-256 of the message, because KMS accepts messages of
at most 4096 bytes and manifests are longer. Without ``mac_key_id`` sealing raises
``KeyringError``; the pipeline seals through a ``ScopedKeyring``, whose seal key lives in the key
store and is wrapped by this keyring, so it needs no HMAC key in KMS.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from custody.crypto.keyring import KeyringError, UnknownKeyError, WrongKeyError

WRAP_LABEL = "custody/dek-wrap/v1"
MAC_ALGORITHM = "HMAC_SHA_256"
_CONTEXT_PREFIX = "custody:"


class KmsKeyDisabledError(UnknownKeyError):
    """The KMS key exists but is disabled, pending deletion or otherwise unusable (KMS key state).

    A key scheduled for deletion is unusable at once in AWS KMS and destroyed after its waiting
    period; either way, data keys wrapped only under it can no longer be opened.
    """


def encryption_context(context: bytes) -> dict[str, str]:
    """KMS encryption context for a Custody wrap context.

    ``context`` must be canonical JSON of an object whose values are strings (what the envelope and
    the key store pass: ``{"object_id", "scope"}`` or ``{"key_id", "purpose", "scope"}``). Returns
    ``{"custody:wrap": "custody/dek-wrap/v1", "custody:<field>": <value>, ...}``.
    Raises ``KeyringError`` for anything else (KMS contexts are string-to-string maps, and a
    non-canonical encoding would let two byte strings name one context).
    """
    from custody.canonical import canonical_json

    try:
        doc = json.loads(context)
    except ValueError:
        raise KeyringError("wrap context is not JSON; a KMS encryption context needs string fields") from None
    if (
        not isinstance(doc, dict)
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in doc.items())
        or canonical_json(doc) != context
    ):
        raise KeyringError("wrap context must be canonical JSON with string values for a KMS encryption context")
    return {f"{_CONTEXT_PREFIX}wrap": WRAP_LABEL, **{f"{_CONTEXT_PREFIX}{k}": v for k, v in doc.items()}}


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", type(exc).__name__))


def _keyring_error(op: str, key: str, exc: Exception) -> KeyringError:
    """The Custody error for a failed KMS call: names the operation, key and KMS error code only."""
    code = _error_code(exc)
    if code == "NotFoundException":
        return UnknownKeyError(f"KMS {op}: key {key} does not exist in KMS")
    if code in ("DisabledException", "KMSInvalidStateException"):
        return KmsKeyDisabledError(f"KMS {op}: key {key} is disabled or pending deletion ({code})")
    if code in ("InvalidCiphertextException", "IncorrectKeyException", "AccessDeniedException"):
        return WrongKeyError(
            f"KMS {op}: wrapped key does not open under KMS key {key} with this encryption context ({code})"
        )
    return KeyringError(f"KMS {op} with key {key} failed: {code}")


class KmsKeyring:
    """Key-encryption keys held in AWS KMS (or any endpoint speaking the KMS API).

    ``client``: a boto3 KMS client (``boto3.client("kms", region_name=..., endpoint_url=...)``).
    ``key_id``: the active symmetric KMS key (key id, key ARN, alias name or alias ARN).
    ``retired``: further KMS keys that may still unwrap (after a rotation, until re-wrapped).
    ``mac_key_id``: an ``HMAC_256`` KMS key for ``mac`` / ``verify_mac`` (optional).

    Wraps are AES-256-GCM inside KMS (``SYMMETRIC_DEFAULT``); KMS limits a plaintext to 4096 bytes,
    so only keys (32 bytes) are wrapped here, never data. Every call is one KMS request.
    Errors: ``UnknownKeyError`` (key not in this keyring or not found in KMS),
    ``KmsKeyDisabledError`` (disabled or pending deletion), ``WrongKeyError`` (ciphertext or
    encryption context does not match), ``KeyringError`` (any other KMS or network failure; the
    message names the operation and the KMS error code, never key material).
    """

    kind = "aws-kms"

    def __init__(
        self, client: Any, key_id: str, *, retired: list[str] | tuple[str, ...] = (), mac_key_id: str | None = None
    ) -> None:
        self.client = client
        self._key_spec = key_id
        self._retired_specs = tuple(retired)
        self._mac_spec = mac_key_id
        self._arns: dict[str, str] = {}

    # -- key names -----------------------------------------------------------------------------
    def _arn(self, spec: str) -> str:
        if spec not in self._arns:
            meta = self._call("DescribeKey", spec, self.client.describe_key, KeyId=spec)["KeyMetadata"]
            self._arns[spec] = meta["Arn"]
        return self._arns[spec]

    def active_kek_id(self) -> str:
        """Key ARN of the active KMS key (one ``DescribeKey`` request on first use)."""
        return self._arn(self._key_spec)

    @property
    def kek_ids(self) -> list[str]:
        """Key ARNs of the active key, then the retired ones."""
        return [self._arn(s) for s in (self._key_spec, *self._retired_specs)]

    def _check_known(self, kek_id: str) -> None:
        if kek_id == self.active_kek_id():
            return
        for spec in self._retired_specs:
            try:
                if self._arn(spec) == kek_id:
                    return
            except UnknownKeyError:
                continue  # a retired key already deleted from KMS cannot match any header
        raise UnknownKeyError(
            f"KMS key {kek_id} is not one of this keyring's key-encryption keys "
            f"(active {self.active_kek_id()}; retired {len(self._retired_specs)}): destroyed or wrong keyring"
        )

    def _call(self, op: str, key: str, fn: Any, **kwargs: Any) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise _keyring_error(op, key, exc) from None

    # -- wrapping ------------------------------------------------------------------------------
    def wrap(self, dek: bytes, context: bytes) -> tuple[str, bytes]:
        """Wrap a key (≤ 4096 bytes; Custody wraps 32) under the active KMS key.

        Returns ``(key ARN, CiphertextBlob)``; the blob is KMS's own format, opaque to Custody.
        The encryption context is ``encryption_context(context)``.
        """
        arn = self.active_kek_id()
        resp = self._call(
            "Encrypt", arn, self.client.encrypt, KeyId=arn, Plaintext=dek,
            EncryptionContext=encryption_context(context), EncryptionAlgorithm="SYMMETRIC_DEFAULT",
        )
        return arn, resp["CiphertextBlob"]

    def unwrap(self, kek_id: str, wrapped: bytes, context: bytes) -> bytes:
        """Open a wrapped key with KMS ``Decrypt`` naming ``kek_id`` (so KMS refuses any other key).

        Raises ``UnknownKeyError`` when ``kek_id`` is not active or retired here, ``WrongKeyError``
        when the blob or context does not match, ``KmsKeyDisabledError`` for a disabled key.
        """
        self._check_known(kek_id)
        resp = self._call(
            "Decrypt", kek_id, self.client.decrypt, CiphertextBlob=wrapped, KeyId=kek_id,
            EncryptionContext=encryption_context(context), EncryptionAlgorithm="SYMMETRIC_DEFAULT",
        )
        return resp["Plaintext"]

    # -- sealing -------------------------------------------------------------------------------
    def _mac_arn(self) -> str:
        if not self._mac_spec:
            raise KeyringError(
                "this KMS keyring has no HMAC key: give mac_key=<HMAC_256 key> or seal through a ScopedKeyring"
            )
        return self._arn(self._mac_spec)

    def mac(self, data: bytes) -> tuple[str, str]:
        """KMS ``GenerateMac`` (HMAC-SHA256, RFC 2104) over SHA-256(``data``); returns ``(key ARN, hex)``."""
        arn = self._mac_arn()
        resp = self._call(
            "GenerateMac", arn, self.client.generate_mac, KeyId=arn, MacAlgorithm=MAC_ALGORITHM,
            Message=hashlib.sha256(data).digest(),
        )
        return arn, bytes(resp["Mac"]).hex()

    def verify_mac(self, kek_id: str, data: bytes, tag: str) -> bool:
        """KMS ``VerifyMac``; False for a tag that does not verify. Raises ``UnknownKeyError`` for another key."""
        from botocore.exceptions import ClientError

        arn = self._mac_arn()
        if kek_id != arn:
            raise UnknownKeyError(f"seal names KMS key {kek_id}; this keyring's HMAC key is {arn}")
        try:
            mac = bytes.fromhex(tag)
        except ValueError:
            return False
        try:
            resp = self.client.verify_mac(
                KeyId=arn, MacAlgorithm=MAC_ALGORITHM, Message=hashlib.sha256(data).digest(), Mac=mac
            )
        except ClientError as exc:
            if _error_code(exc) == "KMSInvalidMacException":
                return False
            raise _keyring_error("VerifyMac", arn, exc) from None
        return bool(resp.get("MacValid"))
