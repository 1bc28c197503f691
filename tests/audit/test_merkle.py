"""RFC 6962 / 9162 Merkle tree: roots, inclusion and consistency proofs against the reference vectors
(the eight-leaf vectors of the Certificate Transparency reference implementation)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custody.audit.merkle import (
    EMPTY_ROOT,
    ProofError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root,
    verify_consistency,
    verify_inclusion,
)

LEAVES = [bytes.fromhex(h) for h in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                                      "606162636465666768696a6b6c6d6e6f")]
ROOTS = [bytes.fromhex(h) for h in (
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
)]
# (leaf index, tree size, proof)
INCLUSION = [
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    (0, 1, []),
]
# (old size, new size, proof)
CONSISTENCY = [
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    (6, 7, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
]
HASHES = [leaf_hash(e) for e in LEAVES]


def test_empty_tree_root():
    assert root([]) == EMPTY_ROOT == bytes.fromhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")


@pytest.mark.parametrize("size", range(1, 9))
def test_roots_match_the_reference_vectors(size):
    assert root(HASHES[:size]) == ROOTS[size - 1]


@pytest.mark.parametrize("index,size,proof", INCLUSION)
def test_inclusion_proofs_match_and_verify(index, size, proof):
    expected = [bytes.fromhex(p) for p in proof]
    assert inclusion_proof(index, HASHES[:size]) == expected
    verify_inclusion(index, size, HASHES[index], expected, ROOTS[size - 1])


@pytest.mark.parametrize("old,new,proof", CONSISTENCY)
def test_consistency_proofs_match_and_verify(old, new, proof):
    expected = [bytes.fromhex(p) for p in proof]
    assert consistency_proof(old, HASHES[:new]) == expected
    verify_consistency(old, new, ROOTS[old - 1], ROOTS[new - 1], expected)


@pytest.mark.parametrize("index,size,proof", [v for v in INCLUSION if v[2]])
def test_corrupted_inclusion_proofs_fail(index, size, proof):
    good = [bytes.fromhex(p) for p in proof]
    r, leaf = ROOTS[size - 1], HASHES[index]
    bad = [
        (index + 1, size, leaf, good, r), (index, size * 2, leaf, good, r), (index, size, HASHES[index - 1], good, r),
        (index, size, leaf, good + [r], r), (index, size, leaf, [r] + good, r), (index, size, leaf, good[:-1], r),
        (index, size, leaf, good, EMPTY_ROOT),
    ] + [(index, size, leaf, good[:i] + [bytes([good[i][0] ^ 8]) + good[i][1:]] + good[i + 1:], r)
         for i in range(len(good))]
    for args in bad:
        with pytest.raises(ProofError):
            verify_inclusion(*args)


@pytest.mark.parametrize("old,new,proof", [v for v in CONSISTENCY if v[2]])
def test_corrupted_consistency_proofs_fail(old, new, proof):
    good = [bytes.fromhex(p) for p in proof]
    r1, r2 = ROOTS[old - 1], ROOTS[new - 1]
    bad = [
        (old - 1 or 2, new, r1, r2, good), (old + 1, new, r1, r2, good), (old, new * 2, r1, r2, good),
        (old, new, r2, r1, good), (old, new, r1, r2, []), (old, new, r1, r2, good + [r1]),
        (old, new, r1, r2, [r2] + good), (old, new, r1, r2, good[:-1]),
    ] + [(old, new, r1, r2, good[:i] + [bytes([good[i][0] ^ 16]) + good[i][1:]] + good[i + 1:])
         for i in range(len(good))]
    for args in bad:
        with pytest.raises(ProofError):
            verify_consistency(*args)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=8), min_size=1, max_size=70), st.data())
def test_every_proof_of_random_trees_verifies(entries, data):
    hashes = [leaf_hash(e) for e in entries]
    n = len(hashes)
    index = data.draw(st.integers(0, n - 1))
    old = data.draw(st.integers(0, n))
    verify_inclusion(index, n, hashes[index], inclusion_proof(index, hashes), root(hashes))
    verify_consistency(old, n, root(hashes[:old]), root(hashes), consistency_proof(old, hashes))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=8), max_size=70))
def test_compact_range_gives_the_same_root_at_every_size(entries):
    from custody.audit.merkle import append_leaf, range_root

    compact: list[bytes] = []
    hashes = [leaf_hash(e) for e in entries]
    assert range_root(compact) == EMPTY_ROOT
    for n, h in enumerate(hashes):
        compact = append_leaf(compact, n, h)
        assert len(compact) == bin(n + 1).count("1")
        assert range_root(compact) == root(hashes[: n + 1])


def test_compact_range_matches_the_reference_roots_and_refuses_a_misfit():
    from custody.audit.merkle import append_leaf, range_root

    compact: list[bytes] = []
    for n, h in enumerate(HASHES):
        compact = append_leaf(compact, n, h)
        assert range_root(compact) == ROOTS[n]
    with pytest.raises(ProofError):
        append_leaf([HASHES[0]], 3, HASHES[1])
