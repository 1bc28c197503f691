"""Scoring one column against the detectors, and picking the decision (classifier step 2).

For each detector: header evidence (strong / weak rule) and value evidence: the share ``m`` of the
sample matching the detector's RE2 shape (vectorised) and the quality-weighted share ``v`` its
validator passes (run on the matches only, once per distinct value, at most ``validate_limit``
distinct values, most frequent first). ``confidence = 1 - (1 - base * v) * (1 - w * m)`` with ``w``
the header rule's weight (0.6 for a strong word, 0.3 for a weak one, less for lexicon entries such
as pinyin initials), 0 without. Acceptance needs values, never a header alone: no header
``v >= min_value_rate`` (and the detector allows value-only detection); strong header
``m >= min_header_rate``; weak header ``v >= min_weak_rate``. A header-dependent detector with a
:class:`~custody.classification.registry.ValueModel` is scored without a header by that model
instead (:func:`score_values`: ``v`` its quality-weighted share, accepted at the model's rate,
lower in a table about people); a value-only detector's model is a second way to accept a column
its shape did not, also under a weak header, and its ``sample_check`` can veto a header-less
acceptance (versions are not IPv4 columns). The accepted detector with the highest confidence
wins (ties: registry order). An empty column with a strong header is accepted at confidence 0.3.

:func:`value_qualities` runs exactly this value path for given values, so tests can hold the
detectors to the identifier rules of :mod:`custody.identifiers`.

Internal to :mod:`custody.classification`; evidence holds rule names and rates, never values.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from custody.classification.registry import (
    Detector,
    DetectorRegistry,
    HeaderRule,
    Prep,
    Strength,
    ValueContext,
)
from custody.classification.sample import as_text

EMPTY_COLUMN_CONFIDENCE = 0.3
EPS = 1e-9  # rates are sums of float qualities: 40 x 0.8 / 50 may land just under 0.8


@dataclass
class Score:
    """One detector's evidence for one column."""

    detector: Detector
    header: HeaderRule | None
    strength: Strength | None
    n: int
    matched: int
    valid: int | None
    quality: float
    accepted: bool
    confidence: float
    reason: str
    context: str | None = None  # "people:<column>" when a person table lowered the bar

    @property
    def header_rule(self) -> str | None:
        return f"{self.detector.name}/{self.header.name}" if self.header else None

    @property
    def match_rate(self) -> float:
        return self.matched / self.n if self.n else 0.0

    @property
    def validated_rate(self) -> float | None:
        if self.valid is None or not self.matched:
            return None
        return self.valid / self.matched


@dataclass
class Decision:
    """A column's decision before the policy assigns a level (``pi_type`` None: not PI)."""

    pi_type: str | None
    confidence: float
    reason: str
    detector: str | None = None
    header_rule: str | None = None
    match_rate: float = 0.0
    validated_rate: float | None = None
    sample_size: int = 0
    context: str | None = None


def quality_of(det: Detector, value: str) -> float:
    """The detector's validator on one prepared value, clamped to ``[0, 1]``."""
    return min(1.0, max(0.0, float(det.validator(value))))  # type: ignore[misc]


def value_qualities(det: Detector, values: pa.Array, *, with_header: bool) -> list[float]:
    """Quality 0..1 the detector gives each value, on the classifier's own path: text as sampled
    (:func:`~custody.classification.sample.as_text`), the detector's preparation, its RE2 shape
    (``header_pattern`` when ``with_header``) and its validator (1.0 for a shape match when it has
    none). Nulls give 0."""
    arr = det.prepare(as_text(values))
    mask = pc.fill_null(pc.match_substring_regex(arr, det.shape(with_header)), False).to_pylist()
    out = []
    for ok, value in zip(mask, arr.to_pylist()):
        if not ok:
            out.append(0.0)
        else:
            out.append(1.0 if det.validator is None else quality_of(det, value))
    return out


def could_accept(det: Detector, strength: Strength | None, match_rate: float) -> bool:
    """False when the shape match rate alone rules acceptance out (validation cannot raise it)."""
    m = match_rate + EPS
    if strength == "strong":
        return m >= det.min_header_rate
    if strength == "weak":
        return m >= det.min_weak_rate or (det.value_only and m >= det.min_value_rate)
    return det.value_only and m >= det.min_value_rate


def validate(det: Detector, candidates: pa.Array, matched: int, limit: int) -> tuple[int, float]:
    """Run the validator on at most ``limit`` distinct candidates, most frequent first.

    Returns ``(valid, quality)`` as counts over all ``matched`` candidates; when the limit cuts
    the candidates, both are extrapolated from the validated ones (a sample of the sample).
    """
    counts = pc.value_counts(candidates)
    values = counts.field("values")
    freq = counts.field("counts")
    if len(values) > limit:
        order = pc.sort_indices(freq, sort_keys=[("", "descending")])[:limit]
        values, freq = values.take(order), freq.take(order)
    seen = valid = 0
    quality = 0.0
    for value, count in zip(values.to_pylist(), freq.to_pylist()):
        q = quality_of(det, value)
        seen += count
        if q > 0:
            valid += count
            quality += q * count
    if seen < matched:
        scale = matched / seen
        return round(valid * scale), quality * scale
    return valid, quality


def score_values(det: Detector, kind: str | None, sample: pa.Array, ctx: ValueContext) -> Score | None:
    """Evidence of a header-dependent detector from its value model alone (no header matched).

    None when the detector has no model or does not read this type family. ``v`` is the mean
    quality the model gives the sample, ``m`` the share it scores above 0; accepted when ``v``
    reaches the model's threshold in ``ctx`` and the sample has at least ``min_values`` values.
    ``reason`` is ``values``, or ``values+context`` when only the person-table threshold is met.
    """
    model = det.values
    if model is None or kind not in det.kinds:
        return None
    n = len(sample)
    q = np.clip(np.asarray(model.scorer(sample, ctx), dtype=np.float64), 0.0, 1.0) if n else np.zeros(0)
    quality = float(q.sum())
    matched = int((q > 0).sum())
    v = quality / n if n else 0.0
    accepted = n >= model.min_values and v + EPS >= model.threshold(ctx)
    # The classifier asks with a person-table context only for columns its first pass left without
    # a type, so an acceptance then rests on the context.
    context = f"people:{ctx.people}" if accepted and ctx.people is not None else None
    reason = "values" if context is None else "values+context"
    confidence = det.base_confidence * v
    return Score(det, None, None, n, matched, matched, quality, accepted, confidence, reason, context)


def score(
    det: Detector,
    column: str,
    kind: str | None,
    sample: pa.Array,
    prepared: dict[Prep, pa.Array],
    limit: int,
    ctx: ValueContext | None = None,
    *,
    models: bool = True,
    masks: Callable[[Detector], tuple[pa.Array, pa.Array]] | None = None,
) -> Score | None:
    """Evidence of ``det`` for the column ``column`` of type family ``kind`` from its ``sample``.

    ``prepared`` caches the sample prepared per :class:`Prep` across detectors of one column;
    ``limit`` is the classifier's ``validate_limit``; ``ctx`` the run date and table context for
    value models (default: today, no context). Without a header, a value-only detector's decision
    must also pass its ``sample_check``; without a header or with a weak one, when the shape does
    not accept the column the detector's value model (if any) may. ``models=False`` leaves value
    models out (the classifier asks them only for columns nothing else decided). ``masks``: for
    matching without a header, the prepared sample and its shape mask taken from a batch of the
    table's samples (one RE2 compile per pattern and table). None when the detector does not apply
    (header excluded, or neither header nor a value-only detector or value model of this type
    family).
    """
    if det.excluded(column):
        return None
    hit = det.header_hit(column)
    ctx = ctx or ValueContext(datetime.date.today())
    if hit is None and not det.value_only:
        if det.values is None or not models:
            return None
        return score_values(det, kind, sample, ctx)
    kind_ok = kind in det.kinds
    if hit is None and not kind_ok:
        return None
    rule, strength = hit if hit is not None else (None, None)
    n = len(sample)
    matched, valid, quality = 0, None, 0.0
    if n and kind_ok:
        if masks is not None and hit is None:
            arr, mask = masks(det)
        else:
            arr = prepared.get(det.prep)
            if arr is None:
                arr = prepared[det.prep] = det.prepare(sample)
            mask = pc.match_substring_regex(arr, det.shape(hit is not None))
        matched = int(pc.sum(mask).as_py() or 0)
        if det.validator is None:
            quality = float(matched)
        elif matched and could_accept(det, strength, matched / n):
            valid, quality = validate(det, pc.filter(arr, mask), matched, limit)
        else:
            quality = float(matched)  # upper bound; the column cannot be accepted anyway
    v = quality / n if n else 0.0
    m = matched / n if n else 0.0
    c_value = det.base_confidence * v
    c_header = rule.weight_for(strength) * m if rule is not None and strength else 0.0
    confidence = 1 - (1 - c_value) * (1 - c_header)
    if n == 0:
        accepted = strength == "strong" and (kind_ok or kind is None)
        confidence = EMPTY_COLUMN_CONFIDENCE if accepted else 0.0
        reason = "header_only:no_values"
    elif strength is None:
        accepted = v + EPS >= det.min_value_rate
        reason = "values"
        if accepted and det.sample_check is not None and not det.sample_check(pc.filter(arr, mask)):
            accepted, reason = False, "values:sample_check"
    elif strength == "strong":
        accepted = m + EPS >= det.min_header_rate
        reason = "header+values"
    else:
        accepted = v + EPS >= det.min_weak_rate or (det.value_only and v + EPS >= det.min_value_rate)
        reason = "weak_header+validated_values"
    if strength != "strong" and models and n and not accepted and det.values is not None:
        # A weak header (a pinyin syllable, a bare "name") that its values do not bear out is no
        # worse than none: the value model may still decide.
        by_model = score_values(det, kind, sample, ctx)
        if by_model is not None and by_model.accepted:
            return by_model
    return Score(det, rule, strength, n, matched, valid, quality, accepted, confidence, reason)


def first_header_hit(registry: DetectorRegistry, column: str) -> str | None:
    """``"<detector>/<rule>"`` of the first detector whose header rule matches ``column``, or None."""
    for det in registry:
        hit = det.header_hit(column)
        if hit is not None:
            return f"{det.name}/{hit[0].name}"
    return None


def pick(scores: list[Score], n: int) -> Decision:
    """The decision from one column's scores: the accepted detector with the highest confidence
    (earliest on ties), else not PI with the reason (a header without value support, or nothing)."""
    accepted = [s for s in scores if s.accepted]
    if accepted:
        best = max(enumerate(accepted), key=lambda p: (p[1].confidence, -p[0]))[1]
        return Decision(
            best.detector.pi_type,
            best.confidence,
            best.reason,
            detector=best.detector.name,
            header_rule=best.header_rule,
            match_rate=best.match_rate,
            validated_rate=best.validated_rate,
            sample_size=n,
            context=best.context,
        )
    top = max((s.confidence for s in scores), default=0.0)
    with_header = [s for s in scores if s.header is not None]
    if with_header:
        s = max(with_header, key=lambda x: x.confidence)
        return Decision(
            None,
            1 - top,
            f"not_pi:header_without_value_support:{s.detector.name}",
            header_rule=s.header_rule,
            match_rate=s.match_rate,
            validated_rate=s.validated_rate,
            sample_size=n,
        )
    return Decision(None, 1 - top, "not_pi:no_detector_matched", sample_size=n)
