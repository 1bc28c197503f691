"""Inclusion proofs a third party can check with ``docs/format.md`` section 8.7 and nothing else.

A proof bundle is a JSON object::

    {"format": "custody-audit-proof", "version": 1, "seq": 17,
     "entry": "<the entry's canonical JSON, as text>", "leaf_hash": "<64 hex>",
     "tree_size": 40, "root": "<64 hex>", "inclusion_proof": ["<64 hex>", ...],
     "checkpoint": "<the signed note of a checkpoint of tree_size entries>"}

To check it: verify the checkpoint's signature with the log's verifier key (C2SP signed-note),
read its size and root (they must equal ``tree_size`` and ``root``), hash the entry as
``SHA-256(0x00 || UTF-8 bytes of entry)`` and run RFC 9162 section 2.1.3.2 with the proof.
``check_proof`` does exactly that.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from custody.audit.checkpoints import latest_catalog_checkpoint, parse_checkpoint
from custody.audit.entries import decode
from custody.audit.log import AuditLog
from custody.audit.merkle import ProofError, inclusion_proof, root, verify_inclusion
from custody.audit.signing import Verifier

FORMAT = "custody-audit-proof"


def build_proof(log: AuditLog, seq: int, verifiers: Sequence[Verifier], *, origin: str | None = None
                ) -> dict[str, Any]:
    """The proof bundle of entry ``seq`` against the newest trusted checkpoint that includes it.

    Raises ``ProofError`` when the entry does not exist, no checkpoint includes it yet (write one
    with ``custody audit checkpoint``), or the log no longer matches that checkpoint (run
    ``custody audit verify``).
    """
    cp = latest_catalog_checkpoint(log, verifiers, origin=origin, covering=seq)
    rows = list(log.rows(seq, seq + 1))
    if not rows:
        raise ProofError(f"entry {seq} is not in the audit log")
    if cp is None:
        raise ProofError(f"no checkpoint includes entry {seq} yet: run `custody audit checkpoint`")
    leaves = log.leaf_hashes(cp.size)
    if len(leaves) != cp.size or root(leaves) != cp.root:
        raise ProofError(f"the log does not match the checkpoint of {cp.size} entries: run `custody audit verify`")
    entry = rows[0].data
    decode(entry)  # refuse to prove an entry that is not well-formed
    return {
        "format": FORMAT, "version": 1, "seq": seq, "entry": entry.decode("utf-8"),
        "leaf_hash": leaves[seq].hex(), "tree_size": cp.size, "root": cp.root.hex(),
        "inclusion_proof": [p.hex() for p in inclusion_proof(seq, leaves)], "checkpoint": cp.note,
    }


def check_proof(bundle: dict[str, Any], verifiers: Sequence[Verifier], *, origin: str | None = None) -> int:
    """Check a proof bundle; returns the entry's ``seq``. Raises ``ProofError`` or the checkpoint's
    ``NoteError`` / ``CheckpointError`` (untrusted or altered checkpoint)."""
    if bundle.get("format") != FORMAT or bundle.get("version") != 1:
        raise ProofError(f"not a {FORMAT} version 1 bundle")
    cp = parse_checkpoint(bundle["checkpoint"], verifiers, origin=origin, where="proof")
    if cp.size != bundle["tree_size"] or cp.root.hex() != bundle["root"]:
        raise ProofError("the bundle's tree size or root differs from its checkpoint")
    leaf = hashlib.sha256(b"\x00" + bundle["entry"].encode("utf-8")).digest()
    if leaf.hex() != bundle["leaf_hash"]:
        raise ProofError("the entry does not hash to the bundle's leaf hash")
    seq = int(bundle["seq"])
    verify_inclusion(seq, cp.size, leaf, [bytes.fromhex(p) for p in bundle["inclusion_proof"]], cp.root)
    return seq
