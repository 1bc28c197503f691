"""Detector records and their registry: what a detector is, not which detectors exist.

A :class:`Detector` says which PI type it finds, which column headers are evidence for it
(:class:`HeaderRule`), which value shape it accepts (an RE2 regex run vectorised over a column
sample), how values are prepared first (:class:`Prep`), which validator grades the candidates
(quality 0..1) and, optionally, how to find it inside free text (:class:`EmbeddedRule`).
:class:`DetectorRegistry` is the ordered collection the classification engine iterates, with the
free-text profile (:class:`FreeTextProfile`) and non-PI explanations (:class:`NonPiHint`).

The built-in detectors are in :mod:`custody.classification.detectors`; the engine holds no
per-type logic, so adding a detector never touches it.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from custody.naming import column_tokens

Kind = Literal["string", "integer", "temporal"]
Strength = Literal["strong", "weak"]
#: value (already NFKC-normalised, trimmed and prepared by the detector's :class:`Prep`) -> quality 0..1
Validator = Callable[[str], float]

KINDS: frozenset[str] = frozenset({"string", "integer", "temporal"})
#: Default header weights per strength (a full-word header).
HEADER_WEIGHT: dict[str, float] = {"strong": 0.6, "weak": 0.3}

# Qualifier words turn a strong header into weak evidence: `phone_verified`, `email_count`,
# `是否手机验证` describe a PI field but do not hold one.
_QUALIFIERS = re.compile(
    r"\b(?:verified|verify|validated|confirmed|flag|flags|count|cnt|status|type|enabled|optin|opt|"
    r"consent|hash|hashed|masked|md5|sha1|sha256|len|length|format|is|has|exists|bounced)\b"
    r"|是否|状态|标志|类型|数量|次数|验证|校验"
)


def header_text(column: str) -> str:
    """Header form that header rules are matched against: word tokens joined by one space.

    ``"PhoneNumber"`` -> ``"phone number"``, ``"email_verified"`` -> ``"email verified"``,
    ``"身份证号"`` -> ``"身份证号"`` (see :func:`custody.naming.column_tokens`).
    """
    return " ".join(column_tokens(column))


def _check_re2(pattern: str, owner: str) -> None:
    try:
        pc.match_substring_regex(pa.array([""], pa.string()), pattern)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise ValueError(f"{owner}: pattern is not valid RE2 ({exc})") from None


@dataclass(frozen=True)
class HeaderRule:
    """Header evidence: a Python regex searched in :func:`header_text` of a column name.

    ``name`` is recorded in evidence (``"<detector>/<name>"``); ``strength`` is ``strong`` (the
    header names the field) or ``weak`` (it may, e.g. a bare ``name``). Strong rules whose header
    also carries a qualifier word (``verified``, ``count``, ``是否`` ...) count as weak.
    ``weight`` is the header's share of the confidence (``confidence = 1 - (1 - base * v) * (1 -
    weight * m)``); None takes the strength's default (0.6 strong, 0.3 weak). Entries of the header
    lexicon (pinyin, abbreviations) carry a lower weight than full words.
    """

    name: str
    pattern: str
    strength: Strength = "strong"
    weight: float | None = None

    def __post_init__(self) -> None:
        if self.weight is not None and not 0 < self.weight <= 1:
            raise ValueError(f"header rule {self.name}: weight must be in (0, 1]")
        object.__setattr__(self, "_re", re.compile(self.pattern))

    def weight_for(self, strength: Strength) -> float:
        """The header weight to use at the effective ``strength`` (a qualifier may weaken a rule)."""
        default = HEADER_WEIGHT[strength]
        return default if self.weight is None else min(self.weight, default)

    def search(self, text: str) -> bool:
        """True when the rule matches the header text."""
        return self._re.search(text) is not None  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Prep:
    """How a detector prepares values before matching: drop separator characters, upper-case.

    ``remove`` is an RE2 character class (``r"[\\s\\-]"``) removed vectorised; all values are
    NFKC-normalised (full-width digits become ASCII) and trimmed before this step.
    """

    remove: str | None = None
    upper: bool = False


@dataclass(frozen=True)
class EmbeddedRule:
    """How to find this detector's identifiers inside free text (full scan, every value).

    ``prefilter`` (RE2) selects candidate values vectorised; ``pattern`` (Python regex, group 1 or
    the whole match is the candidate) and ``validator`` (bool) run only on those candidates.
    ``column_validator`` (optional): the same decision over a list of candidates at once (NumPy
    bool array), vectorised; the full scan uses it when given.

    Contract: a text in which ``pattern`` finds a match is a text ``prefilter`` matches (the full
    scan runs a rule's pattern only on the values its own prefilter selects). ``pattern`` is
    compiled with ``re.ASCII``, so ``\d`` is ``[0-9]`` as in RE2: digits of other scripts, which
    NFKC does not fold and no identifier rule accepts, neither start nor extend a match.
    """

    prefilter: str
    pattern: str
    validator: Callable[[str], bool]
    column_validator: Callable[[list[str]], np.ndarray] | None = None

    def __post_init__(self) -> None:
        _check_re2(self.prefilter, "EmbeddedRule.prefilter")
        object.__setattr__(self, "_re", re.compile(self.pattern, re.ASCII))

    def validate_many(self, candidates: list[str]) -> np.ndarray:
        """``validator`` over ``candidates`` (through ``column_validator`` when given), as bools."""
        if self.column_validator is not None:
            return np.asarray(self.column_validator(candidates), dtype=bool)
        return np.fromiter((bool(self.validator(c)) for c in candidates), dtype=bool, count=len(candidates))

    def finditer(self, text: str) -> Iterator[tuple[int, int, str]]:
        """Yield ``(start, end, candidate)`` for each pattern match in ``text``."""
        rx = self._re  # type: ignore[attr-defined]
        g = 1 if rx.groups else 0
        for m in rx.finditer(text):
            start, end = m.span(g)
            yield start, end, m.group(g)


@dataclass(frozen=True)
class ValueContext:
    """What a value model may know besides the sample: ``as_of`` (the run date: ages, future dates)
    and ``people``: the column that makes the table about people (a resident ID or mobile column,
    see :attr:`DetectorRegistry.person_types`), or None."""

    as_of: datetime.date
    people: str | None = None


#: sample (``pa.string()``, as the detectors read it), context -> quality 0..1 per value (numpy).
ValueScorer = Callable[[pa.Array, ValueContext], np.ndarray]


@dataclass(frozen=True)
class ValueModel:
    """Values-only evidence for a detector whose values carry no check digit (names, birth dates,
    gender): a vectorised scorer over the whole sample, so it can judge the column as well as each
    value (the spread of birth dates, both genders present).

    Without header evidence the column is accepted when the quality-weighted share of the sample
    reaches ``min_rate``, or ``min_rate_in_context`` in a table about people (None: the context
    does not lower it). ``min_values``: fewest sample values to judge a column at all.
    """

    name: str
    scorer: ValueScorer
    min_rate: float = 0.8
    min_rate_in_context: float | None = None
    min_values: int = 5

    def __post_init__(self) -> None:
        for rate in (self.min_rate, self.min_rate_in_context):
            if rate is not None and not 0 < rate <= 1:
                raise ValueError(f"value model {self.name}: rates must be in (0, 1]")

    def threshold(self, ctx: ValueContext) -> float:
        """The share needed in ``ctx``."""
        if ctx.people is not None and self.min_rate_in_context is not None:
            return self.min_rate_in_context
        return self.min_rate


@dataclass(frozen=True)
class Detector:
    """One PI detector (a declarative record; the engine holds no per-type logic).

    Fields:
      ``name`` detector id recorded in evidence; ``pi_type`` the type it assigns (a key of the
      policy's ``levels``); ``headers`` header rules; ``header_exclude`` a Python regex on the header
      text that rules the detector out for the column (``会员卡号`` is a membership card, not a bank
      card, even if its numbers pass Luhn);
      ``pattern`` RE2 shape a value must have for value-only detection (searched, so anchor it);
      ``header_pattern`` looser RE2 shape used instead when the header matched (default ``pattern``);
      ``validator`` quality 0..1 per candidate value; ``prep`` value preparation;
      ``kinds`` Arrow type families accepted (``string``, ``integer`` incl. decimal scale 0,
      ``temporal`` = date/timestamp, compared as ISO text); ``base_confidence`` 0..1;
      ``value_only`` whether values alone may decide (False: header evidence required, e.g.
      passports, which have no check digit); ``min_value_rate`` share of the sample (quality-weighted)
      needed without a header; ``min_header_rate`` share of the sample matching ``header_pattern``
      needed with a strong header; ``min_weak_rate`` quality-weighted share needed with a weak
      header; ``requires_column`` a PI type another column of the same table must have (address
      parts such as ``city`` need a street-address column); ``embedded`` rule for free text;
      ``values`` a :class:`ValueModel` that lets a header-dependent detector (``value_only`` False)
      decide from values alone when it is strong enough, or gives a value-only detector a second
      way to accept a column its shape alone did not (street lines written in many ways);
      ``sample_check`` a whole-sample test a decision without header evidence must also pass
      (``True``: keep it), given the prepared values that match the shape (four-part version
      numbers are valid IPv4 addresses one by one, not as a column).

    Raises ``ValueError`` at construction for an invalid RE2 pattern, kind or confidence.
    """

    name: str
    pi_type: str
    description: str
    pattern: str
    headers: tuple[HeaderRule, ...] = ()
    header_exclude: str | None = None
    header_pattern: str | None = None
    validator: Validator | None = None
    prep: Prep = field(default_factory=Prep)
    kinds: frozenset[str] = frozenset({"string"})
    base_confidence: float = 0.8
    value_only: bool = True
    min_value_rate: float = 0.8
    min_header_rate: float = 0.5
    min_weak_rate: float = 0.75
    requires_column: str | None = None
    embedded: EmbeddedRule | None = None
    values: ValueModel | None = None
    sample_check: Callable[[pa.Array], bool] | None = None

    def __post_init__(self) -> None:
        if not self.kinds or not self.kinds <= KINDS:
            raise ValueError(f"detector {self.name}: kinds must be a non-empty subset of {sorted(KINDS)}")
        if not 0 < self.base_confidence <= 1:
            raise ValueError(f"detector {self.name}: base_confidence must be in (0, 1]")
        for rate in (self.min_value_rate, self.min_header_rate, self.min_weak_rate):
            if not 0 <= rate <= 1:
                raise ValueError(f"detector {self.name}: rates must be in [0, 1]")
        _check_re2(self.pattern, f"detector {self.name}.pattern")
        if self.header_pattern is not None:
            _check_re2(self.header_pattern, f"detector {self.name}.header_pattern")
        if self.prep.remove is not None:
            _check_re2(self.prep.remove, f"detector {self.name}.prep.remove")
        if not self.value_only and not self.headers:
            raise ValueError(f"detector {self.name}: value_only=False needs at least one header rule")
        object.__setattr__(self, "_exclude", re.compile(self.header_exclude) if self.header_exclude else None)

    def shape(self, with_header: bool) -> str:
        """The RE2 shape values must match: ``header_pattern`` when the header matched and one is
        set, else ``pattern``."""
        return self.header_pattern if (with_header and self.header_pattern) else self.pattern

    def prepare(self, values: pa.Array) -> pa.Array:
        """Apply :class:`Prep` to NFKC-normalised, trimmed string values, vectorised: drop the
        ``remove`` characters, upper-case if asked. Returns a new ``pa.string()`` array."""
        if self.prep.remove:
            values = pc.replace_substring_regex(values, self.prep.remove, "")
        if self.prep.upper:
            values = pc.utf8_upper(values)
        return values

    def excluded(self, column: str) -> bool:
        """True when ``header_exclude`` matches: the header says the column is *not* this type."""
        return self._exclude is not None and self._exclude.search(header_text(column)) is not None  # type: ignore[attr-defined]

    def header_hit(self, column: str) -> tuple[HeaderRule, Strength] | None:
        """The first header rule matching ``column`` and its effective strength, or None."""
        text = header_text(column)
        if self.excluded(column):
            return None
        for rule in self.headers:
            if rule.search(text):
                strength: Strength = rule.strength
                if strength == "strong" and _QUALIFIERS.search(text):
                    strength = "weak"
                return rule, strength
        return None


@dataclass(frozen=True)
class FreeTextProfile:
    """When a string column no detector claimed counts as free text (long, varied values).

    Without a free-text header: median length in characters (after NFKC) of at least
    ``min_median_chars``, at least ``min_distinct_ratio`` of the sample distinct and at least
    ``min_distinct_values`` distinct values (small lookup tables are not free text). With a header
    rule matching (``备注``, ``notes``, ``remark`` ...): ``min_median_chars_with_header`` and
    ``min_distinct_ratio_with_header``, because real follow-up notes repeat a lot of boilerplate.
    Text is made of words: the median value must also hold ``min_median_words`` words (without a
    header) or ``min_median_words_with_header`` (with one), counting whitespace-separated tokens
    plus Han characters (Chinese is written without spaces). Identifiers and codes that are long
    and unique (UUIDs, hashes, host names) and short labels (job titles) are therefore not text.
    """

    headers: tuple[HeaderRule, ...] = ()
    min_median_chars: int = 20
    min_median_chars_with_header: int = 8
    min_distinct_ratio: float = 0.5
    min_distinct_ratio_with_header: float = 0.05
    min_distinct_values: int = 20
    min_median_words: int = 6
    min_median_words_with_header: int = 2

    def header_hit(self, column: str) -> HeaderRule | None:
        """The first free-text header rule matching ``column``, or None."""
        text = header_text(column)
        return next((r for r in self.headers if r.search(text)), None)


@dataclass(frozen=True)
class NonPiHint:
    """Explains a non-PI decision in evidence (``not_pi:<name>``); never decides anything."""

    name: str
    pattern: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "_re", re.compile(self.pattern))

    def search(self, column: str) -> bool:
        """True when the hint's pattern matches the header text of ``column``."""
        return self._re.search(header_text(column)) is not None  # type: ignore[attr-defined]


class DetectorRegistry:
    """Ordered collection of detectors plus the free-text profile, non-PI hints and the PI types
    that make a table about people (``person_types``: a column of one of them lifts borderline
    columns of the same table, and keeps organisation data in it from being public).

    Order matters only to break confidence ties (earlier wins) and to decide which embedded rule
    claims a span of free text first (resident IDs before bank cards before mobiles).
    """

    def __init__(
        self,
        detectors: tuple[Detector, ...] | list[Detector] = (),
        *,
        free_text: FreeTextProfile | None = None,
        non_pi_hints: tuple[NonPiHint, ...] = (),
        person_types: tuple[str, ...] = (),
    ) -> None:
        self._detectors: list[Detector] = []
        self.free_text = free_text or FreeTextProfile()
        self.non_pi_hints = tuple(non_pi_hints)
        self.person_types = tuple(person_types)
        for d in detectors:
            self.register(d)

    def register(self, detector: Detector, *, replace: bool = False, before: str | None = None) -> None:
        """Add ``detector`` (at the end, or before the detector named ``before``).

        Raises ``ValueError`` if a detector of the same name exists and ``replace`` is False, or
        ``KeyError`` if ``before`` names no detector.
        """
        existing = next((i for i, d in enumerate(self._detectors) if d.name == detector.name), None)
        if existing is not None:
            if not replace:
                raise ValueError(f"detector '{detector.name}' is already registered")
            self._detectors[existing] = detector
            return
        if before is None:
            self._detectors.append(detector)
            return
        idx = next((i for i, d in enumerate(self._detectors) if d.name == before), None)
        if idx is None:
            raise KeyError(f"no detector named '{before}'")
        self._detectors.insert(idx, detector)

    def get(self, name: str) -> Detector:
        """The detector called ``name``; raises ``KeyError``."""
        for d in self._detectors:
            if d.name == name:
                return d
        raise KeyError(f"no detector named '{name}'")

    def __iter__(self) -> Iterator[Detector]:
        return iter(self._detectors)

    def __len__(self) -> int:
        return len(self._detectors)

    def pi_types(self) -> list[str]:
        """Distinct PI types the detectors assign, in registry order."""
        return list(dict.fromkeys(d.pi_type for d in self._detectors))

    def embedded_rules(self) -> list[tuple[str, EmbeddedRule]]:
        """``(pi_type, rule)`` for every detector with an embedded rule, in registry order."""
        return [(d.pi_type, d.embedded) for d in self._detectors if d.embedded is not None]

    def copy(self) -> DetectorRegistry:
        """A registry with the same records that can be extended independently."""
        return DetectorRegistry(
            list(self._detectors),
            free_text=self.free_text,
            non_pi_hints=self.non_pi_hints,
            person_types=self.person_types,
        )
