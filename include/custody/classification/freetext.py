"""Free text: when a column nobody claimed is text, and the full scan for identifiers inside it
(classifier step 4).

A string column no detector claimed whose values are long, varied and made of words is
``free_text`` (thresholds in :class:`~custody.classification.registry.FreeTextProfile`). Such a
column is scanned IN FULL, chunk by chunk: an RE2 prefilter joining every embedded rule's selects
candidate values vectorised, then each rule's pattern and validator (from
:mod:`custody.identifiers`) run on the candidates only. The first rule in registry order claims a
span (resident IDs before bank cards before mobiles). Counts are values (rows) holding each type;
nothing else about the values is kept.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from custody.classification.policy import FREE_TEXT
from custody.classification.registry import EmbeddedRule, FreeTextProfile
from custody.classification.sample import ColumnState, as_text
from custody.classification.scoring import Decision

FREE_TEXT_CONFIDENCE = 0.7
FREE_TEXT_HEADER_CONFIDENCE = 0.85


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
    candidates = pc.filter(values, pc.match_substring_regex(values, prefilter)).to_pylist()
    for text in candidates:
        claimed: list[tuple[int, int]] = []
        found: set[str] = set()
        for pi_type, rule in rules:
            for start, end, cand in rule.finditer(text):
                if any(start < e and s < end for s, e in claimed):
                    continue
                if rule.validator(cand):
                    claimed.append((start, end))
                    found.add(pi_type)
        for pi_type in found:
            st.embedded[pi_type] += 1
