"""Per-column state of the classifier and its bounded value sample.

A :class:`ColumnState` keeps, for one column, at most ``sample_size`` non-null, non-blank values
(``head``: the first ones; ``random``: reservoir sampling, Algorithm R, reproducible from the seed
and the column name), plus the counters and free-text scan state the classifier updates as chunks
arrive. Sampled strings are held as the detectors read them (:func:`as_text`): NFKC-normalised,
trimmed, Excel's ``="…"`` text-forcing form unwrapped (the rule of :mod:`custody.identifiers`);
integers, decimals of scale 0, dates and timestamps as their text.

Internal to :mod:`custody.classification`; values never leave memory.
"""

from __future__ import annotations

import zlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from custody.identifiers import EXCEL_TEXT, _nfkc

SampleMethod = Literal["head", "random"]


@dataclass
class ColumnState:
    """What the classifier knows about one column (see the module docstring)."""

    name: str
    kind: str | None = None
    type_name: str | None = None
    nonnull: int = 0  # non-null values observed (blank strings included)
    seen: int = 0  # values offered to the sampler (non-blank)
    head: list[pa.Array] = field(default_factory=list)
    head_n: int = 0
    reservoir: list[str] = field(default_factory=list)
    rng: np.random.Generator | None = None
    version: int = 0
    cache: tuple[int, object] | None = None  # (version, scoring.Decision)
    text_decided: bool = False
    is_text: bool = False
    pending: list[tuple[pa.Array, int]] = field(default_factory=list)
    scanned: int = 0  # non-null values of the chunks scanned in full
    embedded: Counter = field(default_factory=Counter)


def kind_of(t: pa.DataType) -> str | None:
    """Type family of an Arrow type: ``string``, ``integer`` (incl. decimal of scale 0),
    ``temporal`` (date, timestamp), or None for types no detector reads."""
    if pa.types.is_dictionary(t):
        return kind_of(t.value_type)
    if pa.types.is_string(t) or pa.types.is_large_string(t) or getattr(pa.types, "is_string_view", bool)(t):
        return "string"
    if pa.types.is_integer(t) or (pa.types.is_decimal(t) and t.scale == 0):
        return "integer"
    if pa.types.is_date(t) or pa.types.is_timestamp(t):
        return "temporal"
    return None


def column_values(col: pa.ChunkedArray | pa.Array, kind: str) -> pa.Array:
    """Non-null values of one chunk column; strings as ``string``, trimmed, blanks dropped.

    Non-string values keep their type: casting (timestamps to text costs ~2.5 us a value) and NFKC
    normalisation are left to :func:`as_text`, which runs on the few values actually sampled.
    """
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    arr = pc.drop_null(arr)
    if kind != "string":
        return arr
    if not pa.types.is_string(arr.type):
        arr = arr.cast(pa.string())
    arr = pc.utf8_trim_whitespace(arr)
    return pc.filter(arr, pc.greater(pc.utf8_length(arr), 0))


def nfkc(values: pa.Array) -> pa.Array:
    """``pc.utf8_normalize(values, "NFKC")``, skipped when every value is ASCII and mapped byte by
    byte on CJK text (:mod:`custody.identifiers._nfkc`)."""
    return _nfkc.nfkc(values)


def as_text(values: pa.Array) -> pa.Array:
    """Values as the detectors see them: strings NFKC-normalised (full-width digits become ASCII),
    trimmed and unwrapped from Excel's ``="…"``; other types cast to text."""
    if not pa.types.is_string(values.type):
        return values.cast(pa.string())
    text = pc.utf8_trim_whitespace(nfkc(values))
    if not pc.any(pc.starts_with(text, '="')).as_py():  # the usual case: one cheap pass, no regex
        return text
    return pc.utf8_trim_whitespace(pc.replace_substring_regex(text, EXCEL_TEXT, r"\1"))


def add_to_sample(st: ColumnState, values: pa.Array, *, size: int, method: SampleMethod, seed: int) -> None:
    """Offer one chunk's values (from :func:`column_values`) to the column's sample of ``size``."""
    k = size
    m = len(values)
    if method == "head":
        if st.head_n < k:
            part = as_text(values.slice(0, k - st.head_n))
            st.head.append(part)
            st.head_n += len(part)
            st.version += 1
    else:
        if st.rng is None:
            st.rng = np.random.default_rng([seed, zlib.crc32(st.name.encode("utf-8"))])
        start = 0
        if len(st.reservoir) < k:
            start = min(k - len(st.reservoir), m)
            st.reservoir.extend(as_text(values.slice(0, start)).to_pylist())
            st.version += 1
        if start < m:
            # Algorithm R, vectorised: item t (1-based over the whole column) replaces slot j < k.
            t = np.arange(st.seen + start + 1, st.seen + m + 1, dtype=np.float64)
            j = (st.rng.random(m - start) * t).astype(np.int64)
            hit = np.nonzero(j < k)[0]
            if hit.size:
                picked = as_text(values.take(pa.array(hit + start))).to_pylist()
                for slot, v in zip(j[hit].tolist(), picked):
                    st.reservoir[slot] = v
                st.version += 1
    st.seen += m


def sample_of(st: ColumnState, method: SampleMethod) -> pa.Array:
    """The column's current sample as one ``pa.string()`` array."""
    if method == "head":
        return pa.concat_arrays(st.head) if st.head else pa.array([], pa.string())
    return pa.array(st.reservoir, pa.string())


def sample_len(st: ColumnState, method: SampleMethod) -> int:
    """Number of values in the column's sample."""
    return st.head_n if method == "head" else len(st.reservoir)


class SampleBatch:
    """The samples of one table's columns as one ``pa.string()`` array, so that a detector's shape
    (an RE2 pattern, compiled on every Arrow call: up to a few milliseconds for Unicode classes)
    and its preparation run once per table instead of once per column. ``key`` identifies the
    samples it was built from (column names and sample versions); ``samples``: column -> sample.
    """

    def __init__(self, key: tuple, samples: dict[str, pa.Array]) -> None:
        self.key = key
        self._slices: dict[str, tuple[int, int]] = {}
        offset = 0
        for name, arr in samples.items():
            self._slices[name] = (offset, len(arr))
            offset += len(arr)
        arrays = list(samples.values())
        self._all = pa.concat_arrays(arrays) if arrays else pa.array([], pa.string())
        self._prepared: dict[object, pa.Array] = {}
        self._masks: dict[tuple[object, str], pa.Array] = {}

    def matched(self, prep: object, prepare, pattern: str, column: str) -> tuple[pa.Array, pa.Array]:
        """``(prepared sample, mask)`` of ``column``: its sample after ``prepare`` (cached per
        ``prep``) and whether each value matches the RE2 ``pattern`` (cached per pair)."""
        arr = self._prepared.get(prep)
        if arr is None:
            arr = self._prepared[prep] = prepare(self._all)
        mask = self._masks.get((prep, pattern))
        if mask is None:
            mask = self._masks[(prep, pattern)] = pc.match_substring_regex(arr, pattern)
        offset, n = self._slices[column]
        return arr.slice(offset, n), mask.slice(offset, n)
