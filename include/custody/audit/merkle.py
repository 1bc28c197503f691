"""Merkle tree hashes and proofs of RFC 9162 (Certificate Transparency 2.0), section 2.1.

Leaves are hashed ``SHA-256(0x00 || entry)`` and interior nodes ``SHA-256(0x01 || left || right)``;
the tree over ``n`` entries splits at ``k``, the largest power of two smaller than ``n``
(RFC 9162 2.1.1). The root of the empty tree is ``SHA-256()`` of nothing.

An append-only log keeps only the **compact range** of its tree (``append_leaf``,
``range_root``): the roots of the perfect subtrees that the binary digits of ``n`` decompose the
``n`` leaves into, largest first, at most ``log2(n) + 1`` hashes. Appending one leaf costs one
hash per trailing 1-bit of ``n`` (amortised one), the root ``len(range) - 1`` hashes.

Inclusion proofs (2.1.3) and consistency proofs (2.1.4) are generated from leaf hashes and
verified with the RFC's own verification algorithms (2.1.3.2, 2.1.4.2), so a third party can check
them with nothing but SHA-256. The functions work on lists of 32-byte leaf hashes in memory:
``O(n)`` hashing for a root, ``O(log n)`` nodes per proof.

This is written here rather than taken from a library because no maintained Python package
fits (see ``docs/audit.md``); it is tested against the RFC 6962 reference vectors.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


class ProofError(Exception):
    """A proof does not verify, or its sizes or indexes are impossible."""


def leaf_hash(entry: bytes) -> bytes:
    """``SHA-256(0x00 || entry)`` (RFC 9162 2.1.1)."""
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)`` (RFC 9162 2.1.1)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """Largest power of two strictly smaller than ``n`` (``n >= 2``)."""
    return 1 << ((n - 1).bit_length() - 1)


def root(leaves: Sequence[bytes]) -> bytes:
    """Merkle tree hash ``MTH(D[n])`` of the leaf hashes ``leaves`` (RFC 9162 2.1.1).

    Computed bottom-up in ``O(n)`` with one list of at most ``n / 2`` hashes.
    """
    n = len(leaves)
    if n == 0:
        return EMPTY_ROOT
    level = list(leaves)
    while len(level) > 1:
        # Pair from the left; an odd last node is carried up unchanged, which gives exactly the
        # RFC's split at the largest power of two.
        nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def append_leaf(compact: Sequence[bytes], size: int, leaf: bytes) -> list[bytes]:
    """The compact range of a tree of ``size + 1`` leaves from that of ``size`` leaves plus ``leaf``.

    ``compact``: subtree roots of the tree of ``size`` leaves, largest subtree first (one per
    1-bit of ``size``). Raises ``ProofError`` when ``compact`` does not fit ``size``.
    """
    if len(compact) != bin(size).count("1"):
        raise ProofError(f"a compact range of {len(compact)} hashes does not fit a tree of {size} leaves")
    out = list(compact)
    node, s = leaf, size
    while s & 1:  # each trailing 1-bit is a perfect subtree of the new leaf's size: merge
        node = node_hash(out.pop(), node)
        s >>= 1
    out.append(node)
    return out


def range_root(compact: Sequence[bytes]) -> bytes:
    """``MTH`` of the tree whose compact range is ``compact`` (equal to ``root`` of its leaves)."""
    if not compact:
        return EMPTY_ROOT
    r = compact[-1]
    for left in reversed(compact[:-1]):
        r = node_hash(left, r)
    return r


def inclusion_proof(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """Audit path ``PATH(index, D[n])`` for the leaf at ``index`` (RFC 9162 2.1.3.1).

    Raises ``ProofError`` when ``index`` is outside the tree.
    """
    n = len(leaves)
    if not 0 <= index < n:
        raise ProofError(f"leaf {index} is not in a tree of {n} entries")
    return _path(index, leaves)


def _path(m: int, d: Sequence[bytes]) -> list[bytes]:
    n = len(d)
    if n <= 1:
        return []
    k = _split(n)
    if m < k:
        return _path(m, d[:k]) + [root(d[k:])]
    return _path(m - k, d[k:]) + [root(d[:k])]


def consistency_proof(old_size: int, leaves: Sequence[bytes]) -> list[bytes]:
    """``PROOF(m, D[n])``: that the tree of the first ``old_size`` leaves is a prefix of this one
    (RFC 9162 2.1.4.1). Empty when ``old_size`` is 0 or equal to the tree size.

    Raises ``ProofError`` when ``old_size`` is larger than the tree.
    """
    n = len(leaves)
    if not 0 <= old_size <= n:
        raise ProofError(f"a tree of {n} entries has no prefix of {old_size}")
    if old_size in (0, n):
        return []
    return _subproof(old_size, leaves, True)


def _subproof(m: int, d: Sequence[bytes], complete: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if complete else [root(d)]
    k = _split(n)
    if m <= k:
        return _subproof(m, d[:k], complete) + [root(d[k:])]
    return _subproof(m - k, d[k:], False) + [root(d[:k])]


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], expected_root: bytes) -> None:
    """Check an inclusion proof with RFC 9162 2.1.3.2. Raises ``ProofError`` if it fails."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of {size} entries")
    if len(leaf) != HASH_SIZE or any(len(p) != HASH_SIZE for p in proof):
        raise ProofError("proof hashes must be 32 bytes")
    fn, sn = index, size - 1
    r = leaf
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof is shorter than the tree is deep")
    if r != expected_root:
        raise ProofError("inclusion proof does not lead to the expected root")


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes,
                       proof: Sequence[bytes]) -> None:
    """Check a consistency proof with RFC 9162 2.1.4.2. Raises ``ProofError`` if it fails."""
    if not 0 <= old_size <= new_size:
        raise ProofError(f"a tree of {new_size} entries cannot extend one of {old_size}")
    if any(len(p) != HASH_SIZE for p in proof):
        raise ProofError("proof hashes must be 32 bytes")
    if old_size == new_size:
        if proof or old_root != new_root:
            raise ProofError("equal sizes need equal roots and an empty proof")
        return
    if old_size == 0:
        if proof:
            raise ProofError("a consistency proof from the empty tree must be empty")
        return
    if not proof:
        raise ProofError("empty consistency proof")
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is a node of the new tree
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof is shorter than the tree is deep")
    if fr != old_root or sr != new_root:
        raise ProofError("consistency proof does not lead to both roots")
