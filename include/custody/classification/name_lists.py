"""Person names in Latin script and in Japanese, from name lists, over a column sample.

Chinese names are scored from character statistics (:mod:`~custody.classification.names`); names
in Latin script and Japanese family-then-given names have no such statistics here, so they are
scored against name lists: Faker's given-name and surname lists of sixteen European and American
locales (:func:`custody.classification._lexicon.latin_given_names`, ``latin_surnames``; ~5,000
and ~6,000 names) and Faker's ``ja_JP`` family names plus the Chinese surname table.

Per value (:func:`latin_name_quality`), after dropping honorifics, academic titles and generational
suffixes (``Dr.``, ``Herr``, ``Ing.``, ``B.Sc.``, ``Jr.``, ``Univ.Prof.``; an initial such as ``F.``):

- one to four name-shaped tokens (capitalised or all upper-case letters, hyphens, apostrophes;
  lower-case particles such as ``van``/``de`` inside); anything else scores 0: digits, ``@``,
  lists (``,`` ``&`` ``/`` ``;`` ``and`` ``und`` ``e`` ``y``), other lower-case words (song and
  album titles: ``Balls to the Wall``), so a composer credit naming several people is not *a*
  person's name;
- two or more tokens: first token a known given name and last a known surname 1.0; given name
  only 0.8 (surnames are the sparser list); two or three surnames and nothing else 0.8 (the
  Spanish and Portuguese custom of paternal and maternal surnames); last token a surname 0.5;
  neither 0.1;
- a single token: 1.0 when it is a known given name or surname (first-name and last-name
  columns), else 0.2.

Single tokens are weak evidence (Faker's surnames include Black, White, Brown, Rose ...), so
:func:`diverse_enough` asks a column of mostly single tokens for at least
``MIN_DISTINCT_SINGLE`` distinct values (or half its sample): a customer's first or last names
vary, a column of colours or grades does not.

Japanese (:func:`japanese_name_quality`): two parts of CJK characters (Han, kana) separated by one
space, the first of 1-3 and the second of 1-4 characters: 1.0 when the first part is a listed
Japanese family name or starts with a Chinese surname, else 0.5.

Thresholds and the calibration that set them: the ``person_name`` value model in
:mod:`~custody.classification.attributes`. Values stay in memory; nothing is logged.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from custody.classification import _lexicon

#: Distinct values a column of mostly single-token names needs (or half its sample, if less).
MIN_DISTINCT_SINGLE = 20

# Honorifics, titles and generational or academic suffixes written without dots (case-folded);
# any word of at most four letters ending in a dot (Dr., Ing., Jr., B.Sc., an initial) is dropped too.
_TITLES = frozenset(
    "mr mrs ms miss mx dr prof sir dame madam herr frau mme mlle sr sra srta don dona ing dipl univ mag "
    "jr ii iii iv phd md dds esq rev bsc msc mba beng meng llb llm".split()
)
_PARTICLES = frozenset(
    "de da do dos das di du del della der den van von le la ten ter bin ibn al el y st mac".split()
)
# Several people (or a title) in one value: list separators and conjunctions.
_LIST = re.compile(r"[,;&/+|()\[\]@\d]| (?:and|und|et|e|y|i|og|och|en|with|feat\.?|ft\.?) ", re.IGNORECASE)
_NAME_TOKEN = re.compile(r"^[^\W\d_]+(?:[-'’.][^\W\d_]+)*\.?$")
_CJK_PART = re.compile(r"^[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff々]+$")


def fold(text: str) -> str:
    """Case-folded text without diacritics (``Luís`` -> ``luis``), how names are looked up."""
    return "".join(c for c in unicodedata.normalize("NFKD", text.casefold()) if not unicodedata.combining(c))


@lru_cache(maxsize=1)
def _lists() -> tuple[frozenset[str], frozenset[str]]:
    given = frozenset(fold(n) for n in _lexicon.latin_given_names())
    surnames = frozenset(fold(n) for n in _lexicon.latin_surnames())
    return given, surnames


@lru_cache(maxsize=1)
def _japanese_family_names() -> frozenset[str]:
    try:
        from faker.providers.person.ja_JP import Provider
    except ImportError:  # the list only raises the quality of a listed family name
        return frozenset()
    return frozenset(str(n) for n in Provider.last_names)


def _is_title(token: str) -> bool:
    parts = [p for p in re.split(r"[.\-]", token) if p]
    if token.endswith(".") and sum(len(p) for p in parts) <= 4:
        return True
    return bool(parts) and all(fold(p) in _TITLES for p in parts)


def _in(token: str, names: frozenset[str]) -> bool:
    """A token is in a list as a whole, or with each part of a double-barrelled name."""
    key = fold(token.rstrip("."))
    return key in names or ("-" in key and all(p in names for p in key.split("-") if p))


def latin_quality_of(value: str) -> float:
    """Quality 0..1 of one NFKC-normalised, trimmed value being a person's name in Latin script
    (rules in the module docstring)."""
    if len(value) > 60 or _LIST.search(value):
        return 0.0
    tokens = [t for t in value.split() if not _is_title(t)]
    if not 1 <= len(tokens) <= 4:
        return 0.0
    for i, tok in enumerate(tokens):
        if 0 < i < len(tokens) - 1 and tok.casefold() in _PARTICLES:
            continue
        if not _NAME_TOKEN.match(tok) or not (tok[0].isupper() or tok.isupper()):
            return 0.0
    given, surnames = _lists()
    if len(tokens) == 1:
        return 1.0 if _in(tokens[0], given) or _in(tokens[0], surnames) else 0.2
    first, last = _in(tokens[0], given), _in(tokens[-1], surnames)
    if first and last:
        return 1.0
    if first:
        return 0.8
    if last and len(tokens) <= 3 and all(_in(t, surnames) for t in tokens if t.casefold() not in _PARTICLES):
        return 0.8  # two surnames (Spanish and Portuguese custom: paternal, maternal)
    return 0.5 if last else 0.1


def japanese_quality_of(value: str) -> float:
    """Quality 0..1 of one value being a Japanese-style name, family name first (module docstring)."""
    parts = value.split(" ")
    if len(parts) != 2 or not (1 <= len(parts[0]) <= 3 and 1 <= len(parts[1]) <= 4):
        return 0.0
    if not all(_CJK_PART.match(p) for p in parts):
        return 0.0
    family = parts[0]
    if family in _japanese_family_names() or family[0] in _lexicon.CN_SURNAMES:
        return 1.0
    return 0.5


def _per_distinct(values: pa.Array, quality, candidates: np.ndarray) -> np.ndarray:
    """``quality`` of each candidate value, computed once per distinct value."""
    out = np.zeros(len(values))
    idx = np.flatnonzero(candidates)
    if idx.size == 0:
        return out
    picked = values.take(pa.array(idx))
    distinct = pc.unique(picked)
    scores = np.array([quality(v) for v in distinct.to_pylist()] + [0.0])
    pos = pc.fill_null(pc.index_in(picked, value_set=distinct), len(distinct)).to_numpy(zero_copy_only=False)
    out[idx] = scores[pos]
    return out


def latin_name_quality(values: pa.Array) -> np.ndarray:
    """Quality per value of ``values`` (``pa.string()``, as the classifier samples them) being a
    person's name in Latin script; 0 for values with a digit or a CJK character."""
    letters = pc.fill_null(pc.match_substring_regex(values, r"^[^0-9\x{3000}-\x{9fff}]+$"), False)
    return _per_distinct(values, latin_quality_of, letters.to_numpy(zero_copy_only=False))


def japanese_name_quality(values: pa.Array) -> np.ndarray:
    """Quality per value of ``values`` being a Japanese-style name (two CJK parts and one space)."""
    spaced = pc.fill_null(pc.match_substring(values, " "), False).to_numpy(zero_copy_only=False)
    return _per_distinct(values, japanese_quality_of, spaced)


def diverse_enough(values: pa.Array) -> bool:
    """False for a column of mostly single tokens with fewer than ``MIN_DISTINCT_SINGLE`` distinct
    values (and fewer than half its sample): single-token name evidence needs variety."""
    n = len(values)
    if n == 0:
        return False
    single = pc.sum(pc.invert(pc.fill_null(pc.match_substring(values, " "), False))).as_py() or 0
    if single < n / 2:
        return True
    return pc.count_distinct(values).as_py() >= min(MIN_DISTINCT_SINGLE, n / 2)
