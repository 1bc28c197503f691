"""The handover package: selected tables of a snapshot re-encrypted to the transferee's key.

At closing (PIPL Art 22: the receiving party takes over the transferor's obligations), the rows
of the tables a deal transfers leave Custody only as a package the transferee alone can open:

- ``recipient``: the transferee's X25519 key (generate, load, fingerprint) and the keyring that
  wraps each object's data key to it (X25519 key agreement + HKDF-SHA256 + AES-256-GCM);
- ``package``: ``build_package`` reads a snapshot (every chunk checked), writes one Custody object
  per chunk and a sealed manifest with rows and content hashes per table;
- ``verify``: ``verify_package`` (the transferee's side, with the private key) opens every object,
  recomputes rows and content hashes and writes a receipt; ``check_receipt`` (the transferor's
  side) accepts the receipt only if it proves the private key opened this very package.

Byte layouts: ``docs/format.md`` section 10.
"""

from custody.handover.package import HandoverError, build_package, read_manifest
from custody.handover.recipient import (
    RecipientKey,
    RecipientKeyring,
    generate_recipient_key,
    load_private_key,
    parse_public_key,
)
from custody.handover.verify import check_receipt, verify_package

__all__ = [
    "HandoverError",
    "RecipientKey",
    "RecipientKeyring",
    "build_package",
    "check_receipt",
    "generate_recipient_key",
    "load_private_key",
    "parse_public_key",
    "read_manifest",
    "verify_package",
]
