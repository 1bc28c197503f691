"""Chinese person names from character statistics, vectorised over a column sample.

A Chinese name is a surname (one character, or a compound such as 欧阳) followed by a given name
of one or two characters, so a value of 2-4 Han characters without digits is scored by a
log-likelihood ratio of two character models:

- *name*: the surname's share of the population (``data/cn_surnames.tsv``, from Faker's zh_CN
  provider; surnames of the table in :mod:`~custody.classification._lexicon` without a share get a
  floor) times, per given-name character, its frequency in given names;
- *other*: the frequency of the same characters in ordinary words;

plus the log ratio of the length in names (mostly 3) to the length of other short Han strings
(company short names, products, places and job titles are as often 2 or 4 characters). Character
frequencies come from ``data/cn_name_chars.tsv`` (derived from jieba's dictionary by
``scripts/build_name_stats.py``; see that file's header for source and licence).

:func:`name_quality` turns the ratio into a quality per value (a logistic curve calibrated on
negatives: city and county names of GB/T 2260, job titles, company short names and products,
``tests/classification/test_values_only.py``). Everything runs on Arrow arrays and numpy; values
stay in memory, nothing is logged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from custody.classification import _lexicon

#: Values the model reads: Han characters only (length 2-4 is checked separately: a counted repeat of a
#: Unicode class costs RE2 tens of milliseconds to compile).
HAN_ONLY = r"^\p{Han}+$"
#: Logistic curve of the log-likelihood ratio: quality 0.5 at ``MIDPOINT``, ``SLOPE`` per nat.
MIDPOINT = 2.0
SLOPE = 1.5
_SMOOTH = 0.5  # additive smoothing of character counts
_SURNAME_FLOOR = 0.002  # percent share of a table surname Faker's list lacks
_UNKNOWN_SURNAME = 1e-5  # percent share of any other first character
# Length of a name (surname + given name) against other short Han strings; names are mostly three
# characters (one-character surname, two-character given name).
_LEN_NAME = {2: 0.13, 3: 0.82, 4: 0.05}
_LEN_OTHER = {2: 0.40, 3: 0.30, 4: 0.30}


@dataclass(frozen=True)
class _Tables:
    chars: pa.Array  # vocabulary, string
    given: np.ndarray  # log P(char | given name), aligned with chars, plus one slot for unknown
    other: np.ndarray  # log P(char | other words), same
    surnames: pa.Array  # single and compound surnames, string
    surname_lp: np.ndarray  # log share of each surname, plus one slot for unknown


def _rows(name: str) -> list[list[str]]:
    text = resources.files("custody.classification").joinpath("data", name).read_text(encoding="utf-8")
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    return [ln.split("\t") for ln in lines[1:]]


@lru_cache(maxsize=1)
def tables() -> _Tables:
    """The character and surname tables, loaded once (about 12,000 characters, 400 surnames)."""
    rows = _rows("cn_name_chars.tsv")
    chars = [r[0] for r in rows]
    given = np.array([int(r[1]) for r in rows], dtype=np.float64)
    other = np.array([int(r[2]) for r in rows], dtype=np.float64)
    v = len(chars) + 1

    def logp(counts: np.ndarray) -> np.ndarray:
        total = counts.sum() + _SMOOTH * v
        return np.log(np.append(counts + _SMOOTH, _SMOOTH) / total)

    shares = {r[0]: float(r[1]) for r in _rows("cn_surnames.tsv")}
    for s in list(_lexicon.CN_SURNAMES) + list(_lexicon.CN_COMPOUND_SURNAMES):
        shares.setdefault(s, _SURNAME_FLOOR)
    names = sorted(shares)
    surname_lp = np.log(np.array([shares[s] for s in names] + [_UNKNOWN_SURNAME]) / 100.0)
    return _Tables(pa.array(chars, pa.string()), logp(given), logp(other), pa.array(names, pa.string()), surname_lp)


def _lookup(values: pa.Array, vocab: pa.Array, table: np.ndarray) -> np.ndarray:
    """``table[index of value in vocab]``, the last slot for values not in it (nulls included)."""
    idx = pc.fill_null(pc.index_in(values, value_set=vocab), len(table) - 1)
    return table[idx.to_numpy(zero_copy_only=False)]


def name_llr(values: pa.Array) -> np.ndarray:
    """Log-likelihood ratio (nats) of each value being a Chinese person name rather than another short
    Han string; ``-inf`` for values that are not 2-4 Han characters. ``values``: ``pa.string()``,
    NFKC-normalised and trimmed (a middle dot or spaces make a value not a candidate)."""
    t = tables()
    n = len(values)
    out = np.full(n, -np.inf)
    if n == 0:
        return out
    length = pc.fill_null(pc.utf8_length(values), 0).to_numpy(zero_copy_only=False)
    han = pc.fill_null(pc.match_substring_regex(values, HAN_ONLY), False).to_numpy(zero_copy_only=False)
    ok = han & (length >= 2) & (length <= 4)
    if not ok.any():
        return out
    idx = np.flatnonzero(ok)
    vals = values.take(pa.array(idx))
    length = length[idx]
    first2 = pc.utf8_slice_codeunits(vals, 0, 2)
    compound = pc.fill_null(pc.is_in(first2, value_set=pa.array(sorted(_lexicon.CN_COMPOUND_SURNAMES))), False)
    compound = compound.to_numpy(zero_copy_only=False) & (length >= 3)
    first = pc.utf8_slice_codeunits(vals, 0, 1)
    surname = pc.if_else(pa.array(compound), first2, first)
    score = _lookup(surname, t.surnames, t.surname_lp)
    # The surname's characters under the other model (a compound surname: both characters).
    score = score - _lookup(first, t.chars, t.other)
    second = pc.utf8_slice_codeunits(vals, 1, 2)
    score = score - np.where(compound, _lookup(second, t.chars, t.other), 0.0)
    for pos in (1, 2, 3):
        char = pc.utf8_slice_codeunits(vals, pos, pos + 1)
        in_given = (pos < length) & ~(compound & (pos == 1))
        ratio = _lookup(char, t.chars, t.given) - _lookup(char, t.chars, t.other)
        score = score + np.where(in_given, ratio, 0.0)
    len_name = np.array([math.log(_LEN_NAME[int(k)]) for k in length])
    len_other = np.array([math.log(_LEN_OTHER[int(k)]) for k in length])
    # A four-character value is a name mostly with a compound surname.
    len_name = np.where((length == 4) & compound, math.log(0.5), len_name)
    out[idx] = score + len_name - len_other
    return out


def name_quality(values: pa.Array) -> np.ndarray:
    """Quality 0..1 per value of being a Chinese person's name: the logistic of :func:`name_llr`
    (0.5 at ``MIDPOINT`` nats); 0 for values that are not 2-4 Han characters."""
    llr = name_llr(values)
    with np.errstate(over="ignore"):
        q = 1.0 / (1.0 + np.exp(-SLOPE * (llr - MIDPOINT)))
    return np.where(np.isfinite(llr), q, 0.0)
