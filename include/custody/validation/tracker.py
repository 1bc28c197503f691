"""Cross-chunk key memory for uniqueness checks.

A table arrives in chunks, so a key that repeats in chunk 7 of a key first seen in chunk 2 is
invisible to a per-chunk GX run. ``KeyTracker`` keeps, per uniqueness rule, the 64-bit digests
of every key seen so far and answers "seen before?" for the next chunk.

Digest of a one-column key of integers or text (the common case), computed over the whole column
at once: for integers a keyed bijection of the 64-bit value (``_mix``: a xor key and two odd
multipliers drawn per tracker, with xor-shifts), so two distinct integers never share a digest;
for text SipHash-2-4 (``pandas.util.hash_array``, in C) of the value, keyed with a random key
drawn per tracker. An integer's and a text's digest coincide with chance 2**-64, so ``5`` and
``"5"`` stay different keys. Any other key (several columns, floats, decimals, dates, ...):
8-byte BLAKE2b, keyed with a random 16-byte salt drawn per tracker, over ``repr`` of the key tuple
(``-0.0`` folded to ``0.0``), one row at a time. A rule's key columns keep their type across the
chunks of a table, so one rule always uses one kind of digest.

Digests, keys and salt live only in this process's memory: nothing here is written, logged or
returned beyond "seen before?". The random keys keep a dump of the digests from being reversed by
enumeration without them (for text and compound keys: SipHash and BLAKE2b are keyed PRFs). The
integer bijection is not cryptographic: it hides integers from a casual look, not from an analyst
who also holds some known key-digest pairs of the same process. Memory is 8 bytes per distinct key
(sorted ``uint64`` runs merged geometrically, so at most ~log2(n) runs and O(log n) lookups per
run). With n text or compound keys the chance of any false "seen before" is about n**2 / 2**65
(10 million keys: ~3e-6); integer keys have none.
"""

from __future__ import annotations

import base64
import hashlib
import math
import os
from collections.abc import Sequence

import numpy as np
import pyarrow as pa

__all__ = ["KeyTracker"]


def _canonical(value: object) -> object:
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return value + 0.0  # -0.0 -> 0.0, equal under pandas as well
    return value


def _sorted_distinct(values: np.ndarray) -> np.ndarray:
    """The distinct values of a ``uint64`` array, sorted.

    What ``np.unique`` returns, by a sort and a neighbour comparison: numpy 2's hash-table
    ``unique`` is about ten times slower on 64-bit digests (it was a third of validation time).
    """
    if values.size < 2:
        return np.sort(values)
    if bool((values[1:] > values[:-1]).all()):  # already sorted and distinct (validate_chunk's)
        return values
    ordered = np.sort(values)
    keep = np.empty(ordered.size, dtype=bool)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


class KeyTracker:
    """Memory of keys already seen in earlier chunks of ONE table.

    Create one per table per run and pass it to every ``validate_chunk`` call of that table, in
    chunk order. ``validate_chunk`` binds it to ``rules.table`` on first use; using it for another
    table raises ``ValueError``. Keys are registered only after a chunk validated without error.
    Every non-null key of a chunk is registered, including keys of rows quarantined for other
    reasons, so the outcome does not depend on where chunk boundaries fall: a row is flagged
    ``unique:<col>`` exactly when an earlier row of the table had the same key.
    Not thread-safe; not persisted (lives as long as the object).
    """

    def __init__(self, table: str | None = None):
        self._table = table
        self._salt = os.urandom(16)
        # SipHash keys for pandas.util.hash_array: 16 ASCII characters (96 random bits) each.
        self._column_keys = {"text": base64.b64encode(os.urandom(12)).decode("ascii")}
        # Integer keys: a xor key and two odd multipliers for the keyed bijection ``_mix``.
        words = np.frombuffer(os.urandom(24), dtype=np.uint64).copy()
        words[1:] |= np.uint64(1)
        self._int_keys = tuple(np.uint64(w) for w in words)
        self._runs: dict[str, list[np.ndarray]] = {}

    @property
    def table(self) -> str | None:
        """The table this tracker belongs to (``None`` until first bound)."""
        return self._table

    def bind(self, table: str) -> None:
        """Attach the tracker to ``table``; ``ValueError`` if it already belongs to another one."""
        if self._table is None:
            self._table = table
        elif self._table != table:
            raise ValueError(f"KeyTracker belongs to table {self._table!r}, not {table!r}")

    def digests(self, columns: Sequence[pa.ChunkedArray | pa.Array]) -> tuple[np.ndarray, np.ndarray]:
        """Digest the key tuple of every row.

        ``columns``: the key columns, equal length n. Returns ``(digests, tracked)``: ``uint64[n]``
        and ``bool[n]``; ``tracked`` is ``False`` where any key part is null (or float NaN) and the
        digest there is 0 and meaningless.
        """
        n = len(columns[0]) if columns else 0
        if len(columns) == 1:
            fast = self._column_digests(columns[0])
            if fast is not None:
                return fast
        values = [[_canonical(v) for v in col.to_pylist()] for col in columns]
        out = np.zeros(n, dtype=np.uint64)
        tracked = np.ones(n, dtype=bool)
        salt = self._salt
        single = len(values) == 1
        for i, key in enumerate(zip(*values, strict=True)):
            if any(v is None for v in key):
                tracked[i] = False
                continue
            payload = repr(key[0] if single else key).encode("utf-8", "surrogatepass")
            out[i] = int.from_bytes(hashlib.blake2b(payload, digest_size=8, key=salt).digest(), "little")
        return out, tracked

    def _column_digests(self, column: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray] | None:
        """Vectorised digests of a one-column key of integers or text; None for other types."""
        import pandas as pd
        import pyarrow.compute as pc

        arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        if pa.types.is_dictionary(arr.type):
            arr = arr.dictionary_decode()
        t = arr.type
        if pa.types.is_integer(t):
            tracked = np.asarray(pc.is_valid(arr).to_numpy(zero_copy_only=False), dtype=bool)
            wide = pa.uint64() if t == pa.uint64() else pa.int64()
            values = pc.fill_null(pc.cast(arr, wide), 0).to_numpy(zero_copy_only=False).view(np.uint64)
            return np.where(tracked, self._mix(values), np.uint64(0)), tracked
        if not (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)):
            return None
        tracked = np.asarray(pc.is_valid(arr).to_numpy(zero_copy_only=False), dtype=bool)
        values = pc.fill_null(arr, "").to_numpy(zero_copy_only=False).astype(object)
        out = pd.util.hash_array(values, encoding="utf8", hash_key=self._column_keys["text"], categorize=False)
        return np.where(tracked, out.astype(np.uint64), np.uint64(0)), tracked

    def _mix(self, values: np.ndarray) -> np.ndarray:
        """A keyed bijection of 64-bit integers: xor with a key, multiply by an odd key, xor-shift,
        multiply, xor-shift. Every step is invertible, so distinct integers keep distinct digests
        (no false "seen before" at all). Not a cryptographic hash (module docstring)."""
        x = values ^ self._int_keys[0]
        x *= self._int_keys[1]
        x ^= x >> np.uint64(29)
        x *= self._int_keys[2]
        x ^= x >> np.uint64(32)
        return x

    def seen(self, rule: str, digests: np.ndarray) -> np.ndarray:
        """``bool`` mask: which ``digests`` were registered earlier under ``rule``.

        The digests are looked up in sorted order (and the answers put back in row order): a
        binary search for sorted keys walks each run forwards, about ten times faster than for
        keys in row order, which are random digests (at 10M keys it was most of validation).
        """
        digests = np.asarray(digests, dtype=np.uint64)
        n = len(digests)
        runs = self._runs.get(rule, ())
        if not runs or n == 0:
            return np.zeros(n, dtype=bool)
        ordered_input = n < 2 or bool((digests[1:] >= digests[:-1]).all())
        order = None if ordered_input else np.argsort(digests)
        keys = digests if order is None else digests[order]
        hit = np.zeros(n, dtype=bool)
        for run in runs:
            pos = np.searchsorted(run, keys)
            inside = np.flatnonzero(pos < run.size)
            hit[inside] |= run[pos[inside]] == keys[inside]
        if order is None:
            return hit
        mask = np.empty(n, dtype=bool)
        mask[order] = hit
        return mask

    def add(self, rule: str, digests: np.ndarray, *, new: bool = False) -> None:
        """Register ``digests`` (``uint64``) under ``rule``. ``new``: the caller vouches that they
        are sorted, distinct and not registered yet (``validate_chunk`` has just looked them up),
        so they are neither sorted nor looked up again."""
        if len(digests) == 0:
            return
        if new:
            fresh = np.asarray(digests, dtype=np.uint64)
        else:
            fresh = _sorted_distinct(np.asarray(digests, dtype=np.uint64))
            fresh = fresh[~self.seen(rule, fresh)]
        if fresh.size == 0:
            return
        runs = self._runs.setdefault(rule, [])
        runs.append(fresh)
        while len(runs) >= 2 and runs[-2].size < 2 * runs[-1].size:
            # Runs are disjoint (``fresh`` holds no key of an earlier run): a sort of both is their
            # union. The two runs are let go once copied and the copy is sorted in place (timsort:
            # two sorted runs cost one linear merge), so a merge holds little beyond its result.
            merged = np.concatenate((runs.pop(-2), runs.pop()))
            merged.sort(kind="stable")
            runs.append(merged)

    def count(self, rule: str) -> int:
        """Number of distinct keys registered under ``rule``."""
        return int(sum(run.size for run in self._runs.get(rule, ())))

    def rules(self) -> list[str]:
        """Rule labels (``unique:<col>``) that have registered keys."""
        return sorted(self._runs)

    def __repr__(self) -> str:
        counts = ", ".join(f"{r}={self.count(r)}" for r in self.rules())
        return f"KeyTracker(table={self._table!r}, {counts or 'empty'})"
