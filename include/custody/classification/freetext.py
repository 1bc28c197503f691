"""Free text: when a column nobody claimed is text, and the full scan for identifiers inside it
(classifier step 4).

A string column no detector claimed whose values are long, varied and made of words is
``free_text`` (thresholds in :class:`~custody.classification.registry.FreeTextProfile`). Such a
column is scanned IN FULL, chunk by chunk: an RE2 prefilter joining every embedded rule's selects
candidate values vectorised, each rule's own prefilter then the candidates it can match, and each
rule's pattern and validator (from :mod:`custody.identifiers`) run on those only. The first rule
in registry order claims a span (resident IDs before bank cards before mobiles). Counts are values
(rows) holding each type; nothing else about the values is kept.

Regardless of its header and of its length, a string column nothing else claimed is PI-bearing
free text when a meaningful share of its rows embed a checksummed identifier or a mobile
(:func:`embedded_share_decision`): at least ``EMBEDDED_MIN_SHARE`` (5 %) of the sample's non-blank
values, and at least ``EMBEDDED_MIN_VALUES`` of them, found by the same embedded rules; the basis
is the sample (head or random, as configured), and the full scan then counts every row. Only
columns of text qualify (at least half of the values hold a letter or a Han character), so a code
column whose numbers happen to pass Luhn is not text.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from custody.classification.policy import FREE_TEXT
from custody.classification.registry import EmbeddedRule, FreeTextProfile
from custody.classification.sample import ColumnState, as_text
from custody.classification.scoring import Decision
from custody.collector import paused

FREE_TEXT_CONFIDENCE = 0.7
FREE_TEXT_HEADER_CONFIDENCE = 0.85
#: Share of the sample's values that must embed an identifier for a short-text column to be PI.
EMBEDDED_MIN_SHARE = 0.05
EMBEDDED_MIN_VALUES = 3
EMBEDDED_SHARE_CONFIDENCE = 0.8


def embedded_share_decision(
    profile: FreeTextProfile,
    column: str,
    sample: pa.Array,
    prefilter: str | None,
    rules: list[tuple[str, EmbeddedRule]],
    fallback: Decision,
) -> Decision:
    """``free_text`` (reason ``free_text:embedded_share``) when at least ``EMBEDDED_MIN_SHARE`` of
    the sample of a text column embed an identifier of ``rules`` (see the module docstring), else
    ``fallback``. ``match_rate`` is that share."""
    n = len(sample)
    if prefilter is None or n == 0:
        return fallback
    if _with_letters(sample) < n / 2:
        return fallback
    hits = _rows_with_any(sample, prefilter, rules)
    if hits < max(EMBEDDED_MIN_VALUES, EMBEDDED_MIN_SHARE * n):
        return fallback
    rule = profile.header_hit(column)
    return Decision(
        FREE_TEXT,
        EMBEDDED_SHARE_CONFIDENCE,
        "free_text:embedded_share",
        detector="free_text",
        header_rule=f"free_text/{rule.name}" if rule else fallback.header_rule,
        match_rate=hits / n,
        sample_size=n,
    )


def _with_letters(values: pa.Array) -> int:
    """Values holding a letter or a Han character. ASCII letters first: the Unicode classes cost RE2
    ~2 ms to compile and are asked only of the values with non-ASCII characters."""
    latin = pc.fill_null(pc.match_substring_regex(values, r"[A-Za-z]"), False)
    rest = pc.filter(values, pc.and_(pc.invert(latin), pc.invert(pc.fill_null(pc.string_is_ascii(values), True))))
    found = pc.sum(latin).as_py() or 0
    if len(rest):
        found += pc.sum(pc.fill_null(pc.match_substring_regex(rest, r"[\p{L}\p{Han}]"), False)).as_py() or 0
    return found


def _rows_with_any(values: pa.Array, prefilter: str, rules: list[tuple[str, EmbeddedRule]]) -> int:
    """Values embedding at least one identifier of ``rules`` (claimed spans as in :func:`scan`)."""
    candidates = pc.filter(values, pc.match_substring_regex(values, prefilter))
    return sum(1 for found in _found_all(candidates.to_pylist(), rules, _rule_masks(candidates, rules)) if found)


def _rule_masks(candidates: pa.Array, rules: list[tuple[str, EmbeddedRule]]) -> list[np.ndarray]:
    """Per rule, which candidates its own prefilter matches (the only ones its pattern can match:
    :class:`~custody.classification.registry.EmbeddedRule`'s contract)."""
    return [np.asarray(pc.fill_null(pc.match_substring_regex(candidates, rule.prefilter), False)
                       .to_numpy(zero_copy_only=False), dtype=bool) for _, rule in rules]


def free_text_decision(profile: FreeTextProfile, column: str, sample: pa.Array, fallback: Decision) -> Decision:
    """``free_text`` when the sample of string column ``column`` reads as text, else ``fallback``."""
    rule = profile.header_hit(column)
    min_chars = profile.min_median_chars_with_header if rule else profile.min_median_chars
    lengths = pc.utf8_length(sample).to_numpy(zero_copy_only=False)
    n = len(sample)
    n_distinct = pc.count_distinct(sample).as_py()
    min_ratio = profile.min_distinct_ratio_with_header if rule else profile.min_distinct_ratio
    if (
        float(np.median(lengths)) < min_chars
        or n_distinct / n < min_ratio
        or (rule is None and n_distinct < profile.min_distinct_values)
    ):
        return fallback
    tokens = pc.list_value_length(pc.utf8_split_whitespace(sample)).to_numpy(zero_copy_only=False)
    han = pc.count_substring_regex(sample, r"\p{Han}").to_numpy(zero_copy_only=False)
    min_words = profile.min_median_words_with_header if rule else profile.min_median_words
    if float(np.median(tokens + han)) < min_words:
        return fallback
    return Decision(
        FREE_TEXT,
        FREE_TEXT_HEADER_CONFIDENCE if rule else FREE_TEXT_CONFIDENCE,
        "free_text",
        detector="free_text",
        header_rule=f"free_text/{rule.name}" if rule else fallback.header_rule,
        match_rate=float(np.mean(lengths >= min_chars)),
        sample_size=n,
    )


def scan(
    st: ColumnState,
    values: pa.Array,
    nonnull: int,
    prefilter: str | None,
    rules: list[tuple[str, EmbeddedRule]],
) -> None:
    """Count the values of one chunk embedding identifiers into ``st.embedded``.

    ``values``: the chunk's non-blank strings; ``nonnull``: its non-null count (blank strings
    included), added to ``st.scanned``; ``prefilter``: the joined RE2 prefilter of ``rules``
    (``(pi_type, rule)`` in registry order), None when there are none.
    """
    st.scanned += nonnull
    if prefilter is None or len(values) == 0:
        return
    values = as_text(values)
    candidates = pc.filter(values, pc.match_substring_regex(values, prefilter))
    masks = _rule_masks(candidates, rules)
    # Two containers per candidate text live until the chunk is done: without the pause the
    # collector walked the heap a dozen times per million rows (custody.collector).
    with paused():
        for found in _found_all(candidates.to_pylist(), rules, masks):
            for pi_type in found:
                st.embedded[pi_type] += 1


def _found_all(texts: list[str], rules: list[tuple[str, EmbeddedRule]],
               masks: list[np.ndarray] | None = None) -> list[set[str]]:
    """:func:`_found` of every text, with each rule's validator run once over all its candidates
    (:meth:`EmbeddedRule.validate_many`, vectorised) instead of once per candidate.

    Rules go in registry order, as in :func:`_found`: a rule's candidates overlapping a span an
    earlier rule claimed in the same text are dropped before validation; one rule's matches never
    overlap each other, so validating them together decides exactly what one by one would.
    ``masks`` (:func:`_rule_masks`): per rule, the texts its pattern is run on; the others hold no
    match of it (the rules' contract), so the result is the same as without.
    """
    claimed: dict[int, list[tuple[int, int]]] = {}
    found: list[set[str]] = [set() for _ in texts]
    for k, (pi_type, rule) in enumerate(rules):
        where: list[tuple[int, int, int]] = []
        candidates: list[str] = []
        rows = range(len(texts)) if masks is None else np.flatnonzero(masks[k]).tolist()
        for i in rows:
            spans = claimed.get(i)
            for start, end, cand in rule.finditer(texts[i]):
                if spans and any(start < e and s < end for s, e in spans):
                    continue
                where.append((i, start, end))
                candidates.append(cand)
        if not candidates:
            continue
        for (i, start, end), ok in zip(where, rule.validate_many(candidates), strict=True):
            if ok:
                claimed.setdefault(i, []).append((start, end))
                found[i].add(pi_type)
    return found


def _found(text: str, rules: list[tuple[str, EmbeddedRule]]) -> set[str]:
    """PI types embedded in ``text``; the first rule in registry order claims a span."""
    claimed: list[tuple[int, int]] = []
    found: set[str] = set()
    for pi_type, rule in rules:
        for start, end, cand in rule.finditer(text):
            if any(start < e and s < end for s, e in claimed):
                continue
            if rule.validator(cand):
                claimed.append((start, end))
                found.add(pi_type)
    return found
