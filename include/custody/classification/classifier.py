"""Column classification: decide each column's PI type and protection level from a sample.

Streaming use (tables arrive in chunks of at most ``chunk_rows`` rows)::

    clf = TableClassifier(policy, sample_size=1000, sample_method="head", seed=0,
                          source="crm", table="contacts")
    for chunk in chunks:          # pyarrow.Table or RecordBatch
        clf.observe(chunk)
    results = clf.result()        # list[ColumnClassification], one per column, in column order

How a column is decided (rule names appear in ``evidence.reason``):

1. A bounded sample of at most ``sample_size`` non-null, non-blank values per column is kept
   (``head``: the first values; ``random``: reservoir sampling with ``seed``). Strings are NFKC
   normalised (full-width digits become ASCII) and trimmed; integers, decimals of scale 0, dates and
   timestamps are compared as text.
2. Every detector of the registry (:mod:`custody.classification.detectors`) scores the column:
   header evidence (strong / weak rule) and value evidence (share of the sample matching the
   detector's RE2 shape, vectorised; library validator on the matches only, once per distinct
   value). With ``v`` the quality-weighted validated share and ``m`` the share matching the shape:
   ``confidence = 1 - (1 - base * v) * (1 - w * m)`` with ``w`` = 0.6 for a strong header, 0.3 for
   a weak one, 0 without. Acceptance needs values, never a header alone:
   no header: ``v >= min_value_rate`` and the detector allows value-only detection;
   strong header: ``m >= min_header_rate`` (a bank-account column failing Luhn stays bank_account);
   weak header: ``v >= min_weak_rate``. The accepted detector with the highest confidence wins.
   An entirely empty column with a strong header is classified from the header at confidence 0.3,
   so an empty ``身份证号`` column is not left unprotected.
3. Detectors with ``requires_column`` (address parts: city, state, postal code) are scored only when
   another column of the same table was found to be a postal address.
4. A string column nothing claimed, whose values are long, varied and made of words, is
   ``free_text``. Free-text columns are scanned IN FULL, chunk by chunk, for embedded resident IDs
   (valid check character), mainland mobiles, e-mails and Luhn-valid bank cards (vectorised RE2
   prefilter over every value, Python checks on candidates only); ``evidence.embedded_counts``
   counts the values (rows) holding each type, ``evidence.scanned_rows`` the values scanned. Whether
   a column is free text is decided once its sample is full (values seen before are held and scanned
   then); if the final decision differs from that early one, the reason ends in ``:partial_scan``.
5. Level: the policy's rule for the PI type (PIPL Art 28 / GB/T 35273-2020 Annex B for sensitive);
   free text embedding any of ``policy.free_text.embedded_types`` gets
   ``policy.free_text.level_with_embedded``; non-PI columns get a matching ``business_data`` rule's
   level or ``policy.non_pi_level``; finally a per-column override wins and is recorded.
6. Minors (record level, PIPL Art 28/31): when the policy has a ``minors`` rule, every row's birth
   date is read from the columns that end up classified as ``birth_date`` or ``resident_id``
   (digits 7-14), over ALL chunks, and :meth:`TableClassifier.minors` counts the rows of
   individuals under ``policy.minors.under_age`` on ``as_of`` (see :mod:`custody.classification.minors`).
   Which columns qualify is only known once they are classified, so candidate columns (a birth
   header, or any string/integer column for resident IDs) record the row positions of minors as
   chunks arrive; with head sampling a candidate is dropped as soon as its sample is full and it is
   neither type.

Evidence holds only rule names, detector names, column names, counts and rates: never a value.

Decisions worth knowing (each is visible in ``evidence.reason``):

- City, state/province and postal code are parts of a postal address (``postal_address``,
  internal) when the same table has a street-address column (``context:postal_address:<column>``);
  on their own they are not PI (``not_pi:address_part_without_postal_address_column``).
- Country is never PI on its own (``not_pi:country_reference``): coarse, reference data.
- Hire dates and job titles are not PI on their own; the policy's ``business_data`` rules keep them
  internal (job titles only in employee tables, so album titles stay public).
- A bare ``name`` header is weak: Chinese values must start with a known surname, Latin values with
  a known given name, for 75 % of the sample; artist, track, genre and product names stay non-PI.
- ``开户行``/``bank_name`` holding bank names is not an account number (no digit run): the names end
  in 银行/分行 and classify as ``org_name``.
"""

from __future__ import annotations

import datetime
import zlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from custody.classification.detectors import (
    Detector,
    DetectorRegistry,
    HeaderRule,
    Prep,
    Strength,
    default_registry,
)
from custody.classification import minors as _minors
from custody.classification.minors import MinorBasis, MinorsCount
from custody.classification.policy import FREE_TEXT, Policy, PolicyError
from custody.documents import ColumnClassification, Evidence, OverrideRecord

SampleMethod = Literal["head", "random"]

_HEADER_WEIGHT: dict[str, float] = {"strong": 0.6, "weak": 0.3}
_EMPTY_COLUMN_CONFIDENCE = 0.3
_FREE_TEXT_CONFIDENCE = 0.7
_FREE_TEXT_HEADER_CONFIDENCE = 0.85
_ROUND = 4
_EPS = 1e-9  # rates are sums of float qualities: 40 x 0.8 / 50 may land just under 0.8


@dataclass
class _Score:
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
class _Decision:
    pi_type: str | None
    confidence: float
    reason: str
    detector: str | None = None
    header_rule: str | None = None
    match_rate: float = 0.0
    validated_rate: float | None = None
    sample_size: int = 0


@dataclass
class _ColumnState:
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
    cache: tuple[int, _Decision] | None = None
    text_decided: bool = False
    is_text: bool = False
    pending: list[tuple[pa.Array, int]] = field(default_factory=list)
    scanned: int = 0  # non-null values of the chunks scanned in full
    embedded: Counter = field(default_factory=Counter)


@dataclass
class _MinorState:
    """Row positions of minors per basis type for one candidate column (``TableClassifier.minors``)."""

    modes: set[str]
    positions: dict[str, list[np.ndarray]] = field(default_factory=dict)
    settled: bool = False  # head sampling: the column's type is known and it is a basis column

    def add(self, mode: str, offset: int, rows: np.ndarray) -> None:
        if rows.size:
            self.positions.setdefault(mode, []).append(rows + offset)

    def rows(self, mode: str) -> np.ndarray:
        parts = self.positions.get(mode)
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def _kind_of(t: pa.DataType) -> str | None:
    if pa.types.is_dictionary(t):
        return _kind_of(t.value_type)
    if pa.types.is_string(t) or pa.types.is_large_string(t) or getattr(pa.types, "is_string_view", bool)(t):
        return "string"
    if pa.types.is_integer(t) or (pa.types.is_decimal(t) and t.scale == 0):
        return "integer"
    if pa.types.is_date(t) or pa.types.is_timestamp(t):
        return "temporal"
    return None


def _values(col: pa.ChunkedArray | pa.Array, kind: str) -> pa.Array:
    """Non-null values of one chunk column; strings as ``string``, trimmed, blanks dropped.

    Non-string values keep their type: casting (timestamps to text costs ~2.5 us a value) and NFKC
    normalisation are left to :func:`_as_text`, which runs on the few values actually sampled.
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


def _as_text(values: pa.Array) -> pa.Array:
    """Values as the text detectors see: NFKC-normalised strings (full-width digits become ASCII)."""
    if pa.types.is_string(values.type):
        return pc.utf8_trim_whitespace(pc.utf8_normalize(values, "NFKC"))
    return values.cast(pa.string())


class TableClassifier:
    """Classify the columns of one table from chunks, keeping a bounded sample per column.

    ``policy``: a loaded :class:`~custody.classification.policy.Policy`.
    ``sample_size``: non-null values kept per column (default 1000, >= 1).
    ``sample_method``: ``"head"`` (first values) or ``"random"`` (reservoir sample, reproducible
    with ``seed``). ``source``/``table`` name the table for policy overrides and business rules.
    ``registry``: detectors to use (default :func:`~custody.classification.detectors.default_registry`).
    ``validate_limit``: most distinct candidate values per detector and column handed to a Python
    validator (default 256, most frequent first); rates over more candidates are extrapolated.

    ``as_of``: the date ages are computed on for the minors count (default: today, UTC); the
    pipeline passes the run date.

    Memory: ``O(columns x sample_size)`` values plus counters, plus 8 bytes per row of a minor per
    candidate birth-date / resident-ID column. Free-text columns are scanned in full as chunks
    arrive (their values are not kept). Raises ``ValueError`` for a bad sample setting and
    :class:`~custody.classification.policy.PolicyError` when a detector's PI type has no level rule
    in the policy.
    """

    def __init__(
        self,
        policy: Policy,
        sample_size: int = 1000,
        sample_method: SampleMethod = "head",
        seed: int = 0,
        *,
        source: str | None = None,
        table: str | None = None,
        registry: DetectorRegistry | None = None,
        validate_limit: int = 256,
        as_of: datetime.date | None = None,
    ) -> None:
        if sample_size < 1:
            raise ValueError("sample_size must be >= 1")
        if sample_method not in ("head", "random"):
            raise ValueError("sample_method must be 'head' or 'random'")
        self.policy = policy
        self.sample_size = int(sample_size)
        self.validate_limit = max(1, int(validate_limit))
        self.sample_method = sample_method
        self.seed = int(seed)
        self.source = source
        self.table = table
        self.registry = registry if registry is not None else default_registry()
        missing = [t for t in self.registry.pi_types() if t not in policy.levels]
        if missing:
            raise PolicyError(f"policy {policy.label} has no level rule for pi_type(s) {missing}")
        self._columns: dict[str, _ColumnState] = {}
        self._rows = 0
        self.as_of = as_of or datetime.datetime.now(datetime.UTC).date()
        self._minor_rule = policy.minors
        self._minor_cols: dict[str, _MinorState] = {}
        rules = self.registry.embedded_rules()
        self._embedded = rules
        self._prefilter = "|".join(f"(?:{r.prefilter})" for _, r in rules) if rules else None

    # ---------------------------------------------------------------- observing chunks
    @property
    def rows_observed(self) -> int:
        """Rows seen so far across all chunks."""
        return self._rows

    def observe(self, chunk: pa.Table | pa.RecordBatch) -> None:
        """Take one chunk: update each column's sample and scan free-text columns in full.

        Columns may appear in a later chunk; a column of an unsupported type (float, bool, binary,
        decimal with a scale) is recorded and later reported as not PI. Once a head sample is full,
        a column that is not free text costs only a null count per chunk.
        """
        if isinstance(chunk, pa.RecordBatch):
            chunk = pa.Table.from_batches([chunk])
        offset = self._rows
        self._rows += chunk.num_rows
        for name, col in zip(chunk.column_names, chunk.columns):
            st = self._columns.get(name)
            if st is None:
                st = self._columns[name] = _ColumnState(name=name)
            kind = _kind_of(col.type)
            if st.type_name is None and not pa.types.is_null(col.type):
                st.type_name = str(col.type)
            if kind is None:
                continue
            if st.kind is None:
                st.kind = kind
            nonnull = len(col) - col.null_count
            if nonnull == 0:
                continue
            st.nonnull += nonnull
            wants_sample = self.sample_method == "random" or st.head_n < self.sample_size
            wants_scan = kind == "string" and (not st.text_decided or st.is_text)
            if wants_sample or wants_scan:
                values = _values(col, kind)
                if wants_sample and len(values):
                    self._add_to_sample(st, values)
                if wants_scan:
                    self._free_text_step(st, values, nonnull)
            if self._minor_rule is not None:
                self._minor_step(st, col, offset)

    def _add_to_sample(self, st: _ColumnState, values: pa.Array) -> None:
        k = self.sample_size
        m = len(values)
        if self.sample_method == "head":
            if st.head_n < k:
                part = _as_text(values.slice(0, k - st.head_n))
                st.head.append(part)
                st.head_n += len(part)
                st.version += 1
        else:
            if st.rng is None:
                st.rng = np.random.default_rng([self.seed, zlib.crc32(st.name.encode("utf-8"))])
            start = 0
            if len(st.reservoir) < k:
                start = min(k - len(st.reservoir), m)
                st.reservoir.extend(_as_text(values.slice(0, start)).to_pylist())
                st.version += 1
            if start < m:
                # Algorithm R, vectorised: item t (1-based over the whole column) replaces slot j < k.
                t = np.arange(st.seen + start + 1, st.seen + m + 1, dtype=np.float64)
                j = (st.rng.random(m - start) * t).astype(np.int64)
                hit = np.nonzero(j < k)[0]
                if hit.size:
                    picked = _as_text(values.take(pa.array(hit + start))).to_pylist()
                    for slot, v in zip(j[hit].tolist(), picked):
                        st.reservoir[slot] = v
                    st.version += 1
        st.seen += m

    def _sample(self, st: _ColumnState) -> pa.Array:
        if self.sample_method == "head":
            return pa.concat_arrays(st.head) if st.head else pa.array([], pa.string())
        return pa.array(st.reservoir, pa.string())

    def _sample_len(self, st: _ColumnState) -> int:
        return st.head_n if self.sample_method == "head" else len(st.reservoir)

    # ---------------------------------------------------------------- free text
    def _free_text_step(self, st: _ColumnState, values: pa.Array, nonnull: int) -> None:
        if not st.text_decided:
            st.pending.append((values, nonnull))
            if self._sample_len(st) >= self.sample_size:
                self._decide_text(st)
        elif st.is_text:
            self._scan(st, values, nonnull)

    def _decide_text(self, st: _ColumnState) -> None:
        st.text_decided = True
        st.is_text = self._decide(st).pi_type == FREE_TEXT
        if st.is_text:
            for arr, nonnull in st.pending:
                self._scan(st, arr, nonnull)
        st.pending = []

    def _scan(self, st: _ColumnState, values: pa.Array, nonnull: int) -> None:
        """Count values embedding identifiers; vectorised prefilter, Python checks on candidates only.

        ``nonnull`` is the chunk's non-null count (blank strings included), added to ``scanned``.
        """
        st.scanned += nonnull
        if self._prefilter is None or len(values) == 0:
            return
        values = _as_text(values)
        candidates = pc.filter(values, pc.match_substring_regex(values, self._prefilter)).to_pylist()
        for text in candidates:
            claimed: list[tuple[int, int]] = []
            found: set[str] = set()
            for pi_type, rule in self._embedded:
                for start, end, cand in rule.finditer(text):
                    if any(start < e and s < end for s, e in claimed):
                        continue
                    if rule.validator(cand):
                        claimed.append((start, end))
                        found.add(pi_type)
            for pi_type in found:
                st.embedded[pi_type] += 1

    # ---------------------------------------------------------------- minors (full scan)
    def _final_type(self, st: _ColumnState, decided: str | None) -> str | None:
        ov = self.policy.find_override(self.source, self.table, st.name)
        return ov.pi_type if ov is not None and ov.pi_type is not None else decided

    def _minor_modes(self, st: _ColumnState) -> set[str]:
        basis = set(self._minor_rule.basis_types)  # type: ignore[union-attr]
        modes: set[str] = set()
        forced = self._final_type(st, None)
        if forced is not None:
            return {forced} & basis
        if "birth_date" in basis and any(
            det.pi_type == "birth_date" and det.header_hit(st.name) is not None for det in self.registry
        ):
            modes.add("birth_date")
        if "resident_id" in basis and st.kind in ("string", "integer"):
            modes.add("resident_id")
        return modes

    def _minor_step(self, st: _ColumnState, col: pa.ChunkedArray, offset: int) -> None:
        mst = self._minor_cols.get(st.name)
        if mst is None:
            mst = self._minor_cols[st.name] = _MinorState(modes=self._minor_modes(st))
        if not mst.modes:
            return
        if self.sample_method == "head" and not mst.settled and st.head_n >= self.sample_size:
            # The head sample is complete: pass 1 is final for this column (address-part context
            # never yields a basis type), so keep scanning only if it is a basis column.
            final = self._final_type(st, self._decide(st).pi_type)
            mst.modes &= {final} if final is not None else set()
            mst.positions = {m: v for m, v in mst.positions.items() if m in mst.modes}
            mst.settled = True
            if not mst.modes:
                return
        rule = self._minor_rule
        for mode in mst.modes:
            births = (
                _minors.birth_ymd_from_dates(col)
                if mode == "birth_date"
                else _minors.birth_ymd_from_resident_ids(col)
            )
            mst.add(mode, offset, _minors.minor_positions(births, self.as_of, rule.under_age))  # type: ignore[union-attr]

    def minors(self, results: list[ColumnClassification] | None = None) -> MinorsCount | None:
        """Records of minors in the rows observed so far (PIPL Art 28, 31), or None without a
        ``minors`` rule in the policy.

        ``results``: this classifier's :meth:`result` if already computed (saves recomputing it).
        A row counts once even when several basis columns say it is a minor's. Basis columns are
        those finally classified (overrides included) as one of ``policy.minors.basis_types``.
        """
        rule = self._minor_rule
        if rule is None:
            return None
        results = results if results is not None else self.result()
        seen = np.zeros(self._rows, dtype=bool)
        basis: list[MinorBasis] = []
        for r in results:
            mst = self._minor_cols.get(r.column)
            if r.pi_type not in rule.basis_types:
                continue
            rows = mst.rows(r.pi_type) if mst is not None else np.zeros(0, dtype=np.int64)
            seen[rows] = True
            basis.append(MinorBasis(column=r.column, pi_type=r.pi_type, rows=int(rows.size)))  # type: ignore[arg-type]
        return MinorsCount(
            under_age=rule.under_age,
            as_of=self.as_of.isoformat(),
            rows=int(seen.sum()),
            rows_scanned=self._rows,
            counted=bool(basis),
            basis=basis,
            level=rule.level,
            ref=rule.ref,
        )

    # ---------------------------------------------------------------- scoring
    def _score(
        self, det: Detector, st: _ColumnState, sample: pa.Array, prepared: dict[Prep, pa.Array]
    ) -> _Score | None:
        if det.excluded(st.name):
            return None
        hit = det.header_hit(st.name)
        if hit is None and not det.value_only:
            return None
        kind_ok = st.kind in det.kinds
        if hit is None and not kind_ok:
            return None
        rule, strength = hit if hit is not None else (None, None)
        n = len(sample)
        matched, valid, quality = 0, None, 0.0
        if n and kind_ok:
            arr = prepared.get(det.prep)
            if arr is None:
                arr = sample
                if det.prep.remove:
                    arr = pc.replace_substring_regex(arr, det.prep.remove, "")
                if det.prep.upper:
                    arr = pc.utf8_upper(arr)
                prepared[det.prep] = arr
            pattern = det.header_pattern if (hit is not None and det.header_pattern) else det.pattern
            mask = pc.match_substring_regex(arr, pattern)
            matched = int(pc.sum(mask).as_py() or 0)
            if det.validator is None:
                quality = float(matched)
            elif matched and self._could_accept(det, strength, matched / n):
                valid, quality = self._validate(det, pc.filter(arr, mask), matched)
            else:
                quality = float(matched)  # upper bound; the column cannot be accepted anyway
        v = quality / n if n else 0.0
        m = matched / n if n else 0.0
        c_value = det.base_confidence * v
        c_header = _HEADER_WEIGHT[strength] * m if strength else 0.0
        confidence = 1 - (1 - c_value) * (1 - c_header)
        if n == 0:
            accepted = strength == "strong" and (kind_ok or st.kind is None)
            confidence = _EMPTY_COLUMN_CONFIDENCE if accepted else 0.0
            reason = "header_only:no_values"
        elif strength is None:
            accepted = v + _EPS >= det.min_value_rate
            reason = "values"
        elif strength == "strong":
            accepted = m + _EPS >= det.min_header_rate
            reason = "header+values"
        else:
            accepted = v + _EPS >= det.min_weak_rate or (det.value_only and v + _EPS >= det.min_value_rate)
            reason = "weak_header+validated_values"
        return _Score(det, rule, strength, n, matched, valid, quality, accepted, confidence, reason)

    @staticmethod
    def _could_accept(det: Detector, strength: Strength | None, match_rate: float) -> bool:
        """False when the shape match rate alone rules acceptance out (validation cannot raise it)."""
        m = match_rate + _EPS
        if strength == "strong":
            return m >= det.min_header_rate
        if strength == "weak":
            return m >= det.min_weak_rate or (det.value_only and m >= det.min_value_rate)
        return det.value_only and m >= det.min_value_rate

    def _validate(self, det: Detector, candidates: pa.Array, matched: int) -> tuple[int, float]:
        """Run the validator on at most ``validate_limit`` distinct candidates, most frequent first.

        Returns ``(valid, quality)`` as counts over all ``matched`` candidates; when the limit cuts
        the candidates, both are extrapolated from the validated ones (a sample of the sample).
        """
        counts = pc.value_counts(candidates)
        values = counts.field("values")
        freq = counts.field("counts")
        if len(values) > self.validate_limit:
            order = pc.sort_indices(freq, sort_keys=[("", "descending")])[: self.validate_limit]
            values, freq = values.take(order), freq.take(order)
        seen = valid = 0
        quality = 0.0
        for value, count in zip(values.to_pylist(), freq.to_pylist()):
            q = min(1.0, max(0.0, float(det.validator(value))))  # type: ignore[misc]
            seen += count
            if q > 0:
                valid += count
                quality += q * count
        if seen < matched:
            scale = matched / seen
            return round(valid * scale), quality * scale
        return valid, quality

    def _decide(self, st: _ColumnState) -> _Decision:
        """Pass-1 decision for one column (no cross-column context); cached per sample version."""
        if st.cache is not None and st.cache[0] == st.version:
            return st.cache[1]
        sample = self._sample(st) if st.kind is not None else pa.array([], pa.string())
        n = len(sample)
        if st.kind is None and st.type_name is not None:
            hit = self._first_header_hit(st.name)
            decision = _Decision(None, 1.0, f"not_pi:type:{st.type_name}", header_rule=hit)
            st.cache = (st.version, decision)
            return decision
        prepared: dict[Prep, pa.Array] = {}
        scores = [
            s
            for det in self.registry
            if det.requires_column is None
            for s in [self._score(det, st, sample, prepared)]
            if s is not None
        ]
        decision = self._pick(scores, n)
        if decision.pi_type is None and st.kind == "string" and n:
            decision = self._free_text_decision(st, sample, decision)
        if decision.pi_type is None and decision.reason == "not_pi:no_detector_matched":
            hint = next((h for h in self.registry.non_pi_hints if h.search(st.name)), None)
            if hint is not None:
                decision.reason = f"not_pi:{hint.name}"
        st.cache = (st.version, decision)
        return decision

    def _first_header_hit(self, column: str) -> str | None:
        for det in self.registry:
            hit = det.header_hit(column)
            if hit is not None:
                return f"{det.name}/{hit[0].name}"
        return None

    @staticmethod
    def _pick(scores: list[_Score], n: int) -> _Decision:
        accepted = [s for s in scores if s.accepted]
        if accepted:
            best = max(enumerate(accepted), key=lambda p: (p[1].confidence, -p[0]))[1]
            return _Decision(
                best.detector.pi_type,
                best.confidence,
                best.reason,
                detector=best.detector.name,
                header_rule=best.header_rule,
                match_rate=best.match_rate,
                validated_rate=best.validated_rate,
                sample_size=n,
            )
        top = max((s.confidence for s in scores), default=0.0)
        with_header = [s for s in scores if s.header is not None]
        if with_header:
            s = max(with_header, key=lambda x: x.confidence)
            return _Decision(
                None,
                1 - top,
                f"not_pi:header_without_value_support:{s.detector.name}",
                header_rule=s.header_rule,
                match_rate=s.match_rate,
                validated_rate=s.validated_rate,
                sample_size=n,
            )
        return _Decision(None, 1 - top, "not_pi:no_detector_matched", sample_size=n)

    def _free_text_decision(self, st: _ColumnState, sample: pa.Array, fallback: _Decision) -> _Decision:
        prof = self.registry.free_text
        rule = prof.header_hit(st.name)
        min_chars = prof.min_median_chars_with_header if rule else prof.min_median_chars
        lengths = pc.utf8_length(sample).to_numpy(zero_copy_only=False)
        n = len(sample)
        n_distinct = pc.count_distinct(sample).as_py()
        min_ratio = prof.min_distinct_ratio_with_header if rule else prof.min_distinct_ratio
        if (
            float(np.median(lengths)) < min_chars
            or n_distinct / n < min_ratio
            or (rule is None and n_distinct < prof.min_distinct_values)
        ):
            return fallback
        tokens = pc.list_value_length(pc.utf8_split_whitespace(sample)).to_numpy(zero_copy_only=False)
        han = pc.count_substring_regex(sample, r"\p{Han}").to_numpy(zero_copy_only=False)
        min_words = prof.min_median_words_with_header if rule else prof.min_median_words
        if float(np.median(tokens + han)) < min_words:
            return fallback
        return _Decision(
            FREE_TEXT,
            _FREE_TEXT_HEADER_CONFIDENCE if rule else _FREE_TEXT_CONFIDENCE,
            "free_text",
            detector="free_text",
            header_rule=f"free_text/{rule.name}" if rule else fallback.header_rule,
            match_rate=float(np.mean(lengths >= min_chars)),
            sample_size=n,
        )

    def _context_decision(self, st: _ColumnState, present: dict[str, str]) -> _Decision | None:
        """Pass 2: detectors that need another column of the table (address parts)."""
        sample = None
        prepared: dict[Prep, pa.Array] = {}
        for det in self.registry:
            if det.requires_column is None or det.header_hit(st.name) is None:
                continue
            sibling = present.get(det.requires_column)
            if sibling is None:
                return _Decision(
                    None,
                    1.0,
                    f"not_pi:{det.name}_without_{det.requires_column}_column",
                    header_rule=f"{det.name}/{det.header_hit(st.name)[0].name}",  # type: ignore[index]
                    sample_size=self._sample_len(st) if st.kind else 0,
                )
            if sample is None:
                sample = self._sample(st) if st.kind is not None else pa.array([], pa.string())
            s = self._score(det, st, sample, prepared)
            if s is not None and s.accepted:
                return _Decision(
                    det.pi_type,
                    s.confidence,
                    f"context:{det.requires_column}:{sibling}",
                    detector=det.name,
                    header_rule=s.header_rule,
                    match_rate=s.match_rate,
                    validated_rate=s.validated_rate,
                    sample_size=len(sample),
                )
        return None

    # ---------------------------------------------------------------- result
    def result(self) -> list[ColumnClassification]:
        """Classify every column seen so far, in first-seen order.

        May be called more than once (e.g. after more chunks). Returns one
        :class:`ColumnClassification` per column.
        """
        for st in self._columns.values():
            if st.kind == "string" and not st.text_decided:
                self._decide_text(st)
        decisions = {name: self._decide(st) for name, st in self._columns.items()}
        present: dict[str, str] = {}
        for name, d in decisions.items():
            det = self.registry.get(d.detector) if d.detector and d.detector != "free_text" else None
            if det is not None and det.requires_column is None:
                present.setdefault(d.pi_type, name)  # type: ignore[arg-type]
        out: list[ColumnClassification] = []
        for name, st in self._columns.items():
            d = decisions[name]
            if d.pi_type is None:
                ctx = self._context_decision(st, present)
                if ctx is not None and (ctx.pi_type is not None or d.reason == "not_pi:no_detector_matched"):
                    d = ctx
            out.append(self._finish(st, d))
        return out

    def _finish(self, st: _ColumnState, d: _Decision) -> ColumnClassification:
        policy = self.policy
        embedded: dict[str, int] = {}
        scanned = 0
        reason = d.reason
        if d.pi_type == FREE_TEXT:
            embedded = dict(sorted(st.embedded.items()))
            scanned = st.scanned
            if scanned < st.nonnull:
                reason = f"{reason}:partial_scan"
            triggering = [t for t in policy.free_text.embedded_types if embedded.get(t)]
            if triggering:
                level, ref = policy.free_text.level_with_embedded, policy.free_text.ref
                reason = reason.replace("free_text", "free_text:embedded_identifiers", 1)
            else:
                rule = policy.rule_for(FREE_TEXT)
                level, ref = rule.level, rule.ref
        elif d.pi_type is not None:
            rule = policy.rule_for(d.pi_type)
            level, ref = rule.level, rule.ref
        else:
            biz = policy.business_rule(self.table, st.name)
            if biz is not None:
                level, ref, reason = biz.level, biz.ref, f"business_data:{biz.name}"
            else:
                level, ref = policy.non_pi_level, policy.non_pi_ref
        pi_type, confidence, override = d.pi_type, d.confidence, None
        ov = policy.find_override(self.source, self.table, st.name)
        if ov is not None:
            pi_type = ov.pi_type if ov.pi_type is not None else pi_type
            level, confidence = ov.level, 1.0
            ref = f"override: {ov.why}"
            override = OverrideRecord(who=ov.who, why=ov.why)
        evidence = Evidence(
            header_rule=d.header_rule,
            detector=d.detector,
            match_rate=round(d.match_rate, _ROUND),
            validated_rate=None if d.validated_rate is None else round(d.validated_rate, _ROUND),
            sample_size=d.sample_size,
            embedded_counts=embedded,
            scanned_rows=scanned,
            reason=reason,
            override=override,
        )
        return ColumnClassification(
            column=st.name,
            pi_type=pi_type,
            level=level,
            confidence=round(min(1.0, max(0.0, confidence)), _ROUND),
            evidence=evidence,
            policy_version=policy.version,
            policy_standard=policy.standard,
            policy_ref=ref,
        )


def classify_table(
    table: pa.Table,
    policy: Policy,
    *,
    sample_size: int = 1000,
    sample_method: SampleMethod = "head",
    seed: int = 0,
    source: str | None = None,
    table_name: str | None = None,
    registry: DetectorRegistry | None = None,
    chunk_rows: int = 50_000,
) -> list[ColumnClassification]:
    """Classify every column of an in-memory ``pyarrow.Table`` (fed in ``chunk_rows`` batches).

    Same rules and errors as :class:`TableClassifier`; ``table_name`` is the table's name for
    policy overrides and business-data rules.
    """
    clf = TableClassifier(
        policy, sample_size, sample_method, seed, source=source, table=table_name, registry=registry
    )
    if table.num_rows == 0:
        clf.observe(table)
    for batch in table.to_batches(max_chunksize=chunk_rows):
        clf.observe(batch)
    return clf.result()
