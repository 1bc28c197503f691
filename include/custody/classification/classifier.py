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
   normalised (full-width digits become ASCII), trimmed and unwrapped from Excel's ``="…"``;
   integers, decimals of scale 0, dates and timestamps are compared as text
   (:mod:`custody.classification.sample`).
2. Every detector of the registry (:mod:`custody.classification.detectors`) scores the column
   (:mod:`custody.classification.scoring`):
   header evidence (strong / weak rule) and value evidence (share of the sample matching the
   detector's RE2 shape, vectorised; library validator on the matches only, once per distinct
   value). With ``v`` the quality-weighted validated share and ``m`` the share matching the shape:
   ``confidence = 1 - (1 - base * v) * (1 - w * m)`` with ``w`` = 0.6 for a strong header, 0.3 for
   a weak one, 0 without. Acceptance needs values, never a header alone:
   no header: ``v >= min_value_rate`` and the detector allows value-only detection;
   strong header: ``m >= min_header_rate`` (a bank-account column failing Luhn stays bank_account);
   weak header: ``v >= min_weak_rate``. The accepted detector with the highest confidence wins.
   An entirely empty column with a strong header is classified from the header at confidence 0.3,
   so an empty ``身份证号`` column is not left unprotected. Shapes without a header are matched
   over one batch of all the table's samples (:class:`~custody.classification.sample.SampleBatch`:
   Arrow compiles an RE2 pattern on every call). Only a column this leaves undecided is offered to
   the value models (names, birth dates, gender, organisations, street lines, national phone
   numbers: :mod:`~custody.classification.attributes`), again at their person-table bars when
   another column makes the table about people (``table_context`` ``people:<column>``).
3. Detectors with ``requires_column`` (address parts: city, state, postal code) are scored only when
   another column of the same table was found to be a postal address: by their header, or without
   one by their values when they sit in the run of columns beside the street-address column
   (:func:`~custody.classification.addresses.part_decisions`, ``table_context`` ``address:<column>``).
4. A string column nothing claimed, whose values are long, varied and made of words, is
   ``free_text`` (:mod:`custody.classification.freetext`). Free-text columns are scanned IN FULL,
   chunk by chunk, for embedded resident IDs
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

import numpy as np
import pyarrow as pa

from custody.classification import addresses, freetext
from custody.classification import minors as _minors
from custody.classification import sample as sampling
from custody.classification import scoring
from custody.classification.detectors import default_registry
from custody.classification.minors import MinorBasis, MinorsCount, MinorState
from custody.classification.policy import FREE_TEXT, Policy, PolicyError
from custody.classification.registry import DetectorRegistry, Prep, ValueContext
from custody.classification.sample import ColumnState, SampleMethod
from custody.classification.scoring import Decision
from custody.documents import ColumnClassification, Evidence, OverrideRecord, PublicBasis

_ROUND = 4


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
        self._columns: dict[str, ColumnState] = {}
        self._rows = 0
        self.as_of = as_of or datetime.datetime.now(datetime.UTC).date()
        self._minor_rule = policy.minors
        self._sample_batch: sampling.SampleBatch | None = None
        self._minor_cols: dict[str, MinorState] = {}
        rules = self.registry.embedded_rules()
        self._embedded = rules
        self._prefilter = "|".join(f"(?:{r.prefilter})" for _, r in rules) if rules else None


    # ---------------------------------------------------------------- observing chunks
    @property
    def rows_observed(self) -> int:
        """Rows seen so far across all chunks."""
        return self._rows

    @property
    def settled(self) -> bool:
        """True when ``result()`` now decides nothing early: every text column's free-text
        decision was made from a full sample. Before that, ``result()`` would decide text columns
        on a partial sample and change what later chunks scan."""
        return all(st.kind != "string" or st.text_decided for st in self._columns.values())

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
        steps: list[tuple[ColumnState, pa.ChunkedArray, pa.Array | None, int]] = []
        for name, col in zip(chunk.column_names, chunk.columns):
            st = self._columns.get(name)
            if st is None:
                st = self._columns[name] = ColumnState(name=name)
            kind = sampling.kind_of(col.type)
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
            values = None
            if wants_sample or wants_scan:
                values = sampling.column_values(col, kind)
                if wants_sample and len(values):
                    sampling.add_to_sample(
                        st, values, size=self.sample_size, method=self.sample_method, seed=self.seed
                    )
            steps.append((st, col, values if wants_scan else None, nonnull))
        # Decisions only once every column took the chunk: the samples are then matched as one batch.
        for st, col, values, nonnull in steps:
            if values is not None:
                self._free_text_step(st, values, nonnull)
            if self._minor_rule is not None:
                self._minor_step(st, col, offset)


    def _sample(self, st: ColumnState) -> pa.Array:
        return sampling.sample_of(st, self.sample_method)

    def _sample_len(self, st: ColumnState) -> int:
        return sampling.sample_len(st, self.sample_method)

    # ---------------------------------------------------------------- free text
    def _free_text_step(self, st: ColumnState, values: pa.Array, nonnull: int) -> None:
        if not st.text_decided:
            st.pending.append((values, nonnull))
            if self._sample_len(st) >= self.sample_size:
                self._decide_text(st)
        elif st.is_text:
            freetext.scan(st, values, nonnull, self._prefilter, self._embedded)

    def _decide_text(self, st: ColumnState) -> None:
        st.text_decided = True
        st.is_text = self._decide(st).pi_type == FREE_TEXT
        if st.is_text:
            for arr, nonnull in st.pending:
                freetext.scan(st, arr, nonnull, self._prefilter, self._embedded)
        st.pending = []


    # ---------------------------------------------------------------- minors (full scan)
    def _final_type(self, st: ColumnState, decided: str | None) -> str | None:
        ov = self.policy.find_override(self.source, self.table, st.name)
        return ov.pi_type if ov is not None and ov.pi_type is not None else decided

    def _minor_modes(self, st: ColumnState) -> set[str]:
        basis = set(self._minor_rule.basis_types)  # type: ignore[union-attr]
        modes: set[str] = set()
        forced = self._final_type(st, None)
        if forced is not None:
            return {forced} & basis
        if "birth_date" in basis and any(
            det.pi_type == "birth_date"
            and not det.excluded(st.name)
            and (det.header_hit(st.name) is not None or (det.values is not None and st.kind in det.kinds))
            for det in self.registry
        ):
            modes.add("birth_date")
        if "resident_id" in basis and st.kind in ("string", "integer"):
            modes.add("resident_id")
        return modes

    def _minor_step(self, st: ColumnState, col: pa.ChunkedArray, offset: int) -> None:
        mst = self._minor_cols.get(st.name)
        if mst is None:
            mst = self._minor_cols[st.name] = MinorState(modes=self._minor_modes(st))
        if not mst.modes:
            return
        if self.sample_method == "head" and not mst.settled and st.head_n >= self.sample_size:
            # The head sample is complete: pass 1 is final for this column (address-part context
            # never yields a basis type), so keep scanning only if it is a basis column.
            final = self._final_type(st, self._decide_in_table(st).pi_type)
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

    # ---------------------------------------------------------------- decisions
    def _decide(self, st: ColumnState) -> Decision:
        """Pass-1 decision for one column (no cross-column context); cached per sample version."""
        if st.cache is not None and st.cache[0] == st.version:
            return st.cache[1]
        sample = self._sample(st) if st.kind is not None else pa.array([], pa.string())
        n = len(sample)
        if st.kind is None and st.type_name is not None:
            hit = scoring.first_header_hit(self.registry, st.name)
            decision = Decision(None, 1.0, f"not_pi:type:{st.type_name}", header_rule=hit)
            st.cache = (st.version, decision)
            return decision
        prepared: dict[Prep, pa.Array] = {}
        ctx = ValueContext(self.as_of)
        limit = self.validate_limit
        batch = self._batch()

        def matched(det):  # shapes without a header: one RE2 compile per pattern and table
            return batch.matched(det.prep, det.prepare, det.pattern, st.name)

        scores = [
            s
            for det in self.registry
            if det.requires_column is None
            for s in [scoring.score(det, st.name, st.kind, sample, prepared, limit, ctx, models=False, masks=matched)]
            if s is not None
        ]
        decision = scoring.pick(scores, n)
        if decision.pi_type is None and n:
            # Value models cost more than shapes: asked only when no header or shape decided.
            decision = scoring.pick(scores + self._model_scores(st, sample, ctx), n)
        if decision.pi_type is None and st.kind == "string" and n:
            decision = freetext.free_text_decision(self.registry.free_text, st.name, sample, decision)
        if decision.pi_type is None and st.kind == "string" and n:
            decision = freetext.embedded_share_decision(
                self.registry.free_text, st.name, sample, self._prefilter, self._embedded, decision
            )
        if decision.pi_type is None and decision.reason == "not_pi:no_detector_matched":
            hint = next((h for h in self.registry.non_pi_hints if h.search(st.name)), None)
            if hint is not None:
                decision.reason = f"not_pi:{hint.name}"
        st.cache = (st.version, decision)
        return decision


    def _people_column(self, decisions: dict[str, Decision]) -> str | None:
        """The first column whose pass-1 type makes the table about people, or None."""
        kinds = set(self.registry.person_types)
        return next((name for name, d in decisions.items() if d.pi_type in kinds), None)

    def _batch(self) -> sampling.SampleBatch:
        """The current samples of all columns as one batch (rebuilt when a sample changed)."""
        key = tuple((name, st.version) for name, st in self._columns.items() if st.kind is not None)
        if self._sample_batch is None or self._sample_batch.key != key:
            samples = {name: self._sample(st) for name, st in self._columns.items() if st.kind is not None}
            self._sample_batch = sampling.SampleBatch(key, samples)
        return self._sample_batch

    def _model_scores(self, st: ColumnState, sample: pa.Array, ctx: ValueContext) -> list[scoring.Score]:
        """Scores of the value models of detectors without a strong header rule for the column."""
        return [
            s
            for det in self.registry
            if det.values is not None and det.requires_column is None and not det.excluded(st.name)
            and (det.header_hit(st.name) or (None, "weak"))[1] == "weak"
            for s in [scoring.score_values(det, st.kind, sample, ctx)]
            if s is not None
        ]

    def _people_decision(self, st: ColumnState, people: str) -> Decision | None:
        """Pass 2 in a table about people: value models at their person-table thresholds."""
        if st.kind is None or st.name == people:
            return None
        sample = self._sample(st)
        d = scoring.pick(self._model_scores(st, sample, ValueContext(self.as_of, people)), len(sample))
        return d if d.pi_type is not None else None

    def _decide_in_table(self, st: ColumnState) -> Decision:
        """The column's decision with the table context known so far (pass 1, then pass 2 if the
        table is about people); used while chunks still arrive (minors)."""
        d = self._decide(st)
        if d.pi_type is not None:
            return d
        decisions = {name: self._decide(other) for name, other in self._columns.items()}
        people = self._people_column(decisions)
        lifted = self._people_decision(st, people) if people is not None else None
        return lifted or d

    def _context_decision(self, st: ColumnState, present: dict[str, str]) -> Decision | None:
        """Pass 2: detectors that need another column of the table (address parts)."""
        sample = None
        prepared: dict[Prep, pa.Array] = {}
        for det in self.registry:
            if det.requires_column is None or det.header_hit(st.name) is None:
                continue
            sibling = present.get(det.requires_column)
            if sibling is None:
                return Decision(
                    None,
                    1.0,
                    f"not_pi:{det.name}_without_{det.requires_column}_column",
                    header_rule=f"{det.name}/{det.header_hit(st.name)[0].name}",  # type: ignore[index]
                    sample_size=self._sample_len(st) if st.kind else 0,
                )
            if sample is None:
                sample = self._sample(st) if st.kind is not None else pa.array([], pa.string())
            s = scoring.score(det, st.name, st.kind, sample, prepared, self.validate_limit)
            if s is not None and s.accepted:
                return Decision(
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
        people = self._people_column(decisions)
        final: dict[str, Decision] = {}
        for name, st in self._columns.items():
            d = decisions[name]
            if d.pi_type is None and people is not None and not d.reason.startswith("not_pi:type:"):
                d = self._people_decision(st, people) or d
            if d.pi_type is None:
                ctx = self._context_decision(st, present)
                if ctx is not None and (ctx.pi_type is not None or d.reason == "not_pi:no_detector_matched"):
                    d = ctx
            final[name] = d
        self._address_block(final, people)
        return [self._finish(st, final[name], people) for name, st in self._columns.items()]

    def _address_block(self, final: dict[str, Decision], people: str | None) -> None:
        """Pass 3: address parts beside a street-address column, by their values
        (:func:`custody.classification.addresses.part_decisions`); updates ``final``."""
        det = next((d for d in self.registry if d.requires_column is not None and d.values is not None), None)
        if det is None:
            return
        streets = {
            name
            for name, d in final.items()
            if d.pi_type == det.requires_column and d.detector is not None
            and self.registry.get(d.detector).requires_column is None
        }

        def column(name: str) -> tuple[str | None, pa.Array]:
            st = self._columns[name]
            return st.kind, (self._sample(st) if st.kind is not None else pa.array([], pa.string()))

        addresses.part_decisions(list(self._columns), final, streets, det, column, ValueContext(self.as_of, people))

    def _finish(self, st: ColumnState, d: Decision, people: str | None = None) -> ColumnClassification:
        policy = self.policy
        context = d.context
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
            if rule.in_person_tables is not None and people is not None:
                # Organisation data in a person's record relates to that person (PIPL Art 4).
                level, ref = rule.in_person_tables.level, rule.in_person_tables.ref
                context = f"people:{people}"
        else:
            biz = policy.business_rule(self.table, st.name)
            if biz is not None:
                level, ref, reason = biz.level, biz.ref, f"business_data:{biz.name}"
            else:
                level, ref = policy.non_pi_level, policy.non_pi_ref
        pi_type, confidence, override = d.pi_type, d.confidence, None
        basis = PublicBasis(by="detector", detector=d.detector, ref=ref) if level == "public" else None
        ov = policy.find_override(self.source, self.table, st.name)
        if ov is not None:
            pi_type = ov.pi_type if ov.pi_type is not None else pi_type
            level, confidence = ov.level, 1.0
            ref = f"override: {ov.why}"
            override = OverrideRecord(who=ov.who, why=ov.why)
            basis = PublicBasis(by="override", who=ov.who, ref=ov.why) if level == "public" else None
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
            table_context=context,
            public_basis=basis,
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
