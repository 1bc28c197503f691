"""Run a table's rules on one Arrow chunk through GX and split the chunk into valid / quarantine.

Flow of ``validate_chunk``:

1. ``bind_rules`` matches rule columns to data columns by ``column_key``, checks that each check
   suits the column's Arrow type and normalises ``between`` bounds to that type.
2. The referenced columns (only those) are converted to a pandas DataFrame with a ``RangeIndex``,
   so GX's ``unexpected_index_list`` is the list of Arrow row positions (Custody asks GX for
   index positions rather than ``unexpected_index_column_names``: key values are data too).
3. One ``ExpectationSuite`` per call, one expectation per bound check, validated against the
   process-wide ephemeral GX context with ``result_format=COMPLETE`` and
   ``exclude_unexpected_values=True``; from each GX result only counts and row positions are
   read, the rest is dropped.
4. Uniqueness: first occurrence wins. Within the chunk, GX flags every occurrence of a repeated
   key; Custody keeps the first (in row order) and quarantines the later ones. Across chunks,
   ``KeyTracker`` flags keys seen in earlier chunks. The result does not depend on chunking.
5. ``valid`` and ``quarantine`` are built on the Arrow side (``Table.filter``), so they keep the
   exact input schema (decimals, dates, timestamps, metadata) and row order.

Arrow -> pandas conversion for GX (and why):
integers -> nullable ``Int64`` / ``UInt64`` (no float round trip, exact uniqueness);
decimals -> ``float64`` (GX coerces ``between`` bounds to float, and ``Decimal("1.10") >= 1.1``
is False in Python, so both sides must be floats; uniqueness of decimals is decided on the exact
Arrow values anyway); dictionary columns are decoded; strings use pandas' default ``str`` dtype;
dates stay ``datetime.date`` objects; timestamps become ``datetime64[unit, tz]``. Float NaN is a
null for every check (pandas semantics).
"""

from __future__ import annotations

import datetime as _dt
import logging
import time
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from custody.naming import column_key
from custody.validation.report import (
    QUARANTINE_REASONS_COLUMN,
    ChunkValidation,
    ExpectationSummary,
)
from custody.validation.rules import ColumnCheck, ColumnNotFoundError, RulesError, TableRules
from custody.validation.tracker import KeyTracker

__all__ = ["BoundCheck", "ValidationEngineError", "bind_rules", "validate_chunk"]

log = logging.getLogger(__name__)

_RESULT_FORMAT = {
    "result_format": "COMPLETE",
    "exclude_unexpected_values": True,
    "return_unexpected_index_query": False,
    "partial_unexpected_count": 0,
    "include_unexpected_rows": False,
}
_REASONS_TYPE = pa.list_(pa.string())


class ValidationEngineError(RuntimeError):
    """GX could not evaluate a check (for example an unsupported value type). The GX message is
    withheld because it may quote values. Attributes: ``table``, ``reason`` (``<check>:<column>``)."""

    def __init__(self, table: str, reason: str, detail: str = "details withheld: they may quote data values"):
        self.table, self.reason, self.detail = table, reason, detail
        super().__init__(f"table {table!r}: GX could not evaluate {reason!r} ({detail})")

    def __reduce__(self):
        return (type(self), (self.table, self.reason, self.detail))


@dataclass(frozen=True)
class BoundCheck:
    """A rule check resolved against one chunk schema.

    ``columns``: data column names (one, or several for a compound key). ``args``: normalised
    arguments (``between`` bounds converted to the column type). ``reason``: ``<check>:<column>``
    (``unique:a+b`` for a compound key). ``from_key``: created from ``TableRules.key_columns``.
    ``origin``: ``config`` or ``inventory`` (see ``ColumnCheck``).
    """

    check: str
    columns: tuple[str, ...]
    args: dict[str, Any] = field(default_factory=dict)
    from_key: bool = False
    origin: str = "config"

    @property
    def column(self) -> str:
        """Column label: the name, or names joined by ``+``."""
        return "+".join(self.columns)

    @property
    def reason(self) -> str:
        """Quarantine reason string, ``<check>:<column>``."""
        return f"{self.check}:{self.column}"


# --------------------------------------------------------------------------------- binding


def _is_nested(t: pa.DataType) -> bool:
    return pa.types.is_nested(t) or pa.types.is_union(t)


def _value_type(t: pa.DataType) -> pa.DataType:
    return t.value_type if pa.types.is_dictionary(t) else t


def _is_text(t: pa.DataType) -> bool:
    t = _value_type(t)
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)


def _type_ok(check: str, t: pa.DataType) -> bool:
    v = _value_type(t)
    if check == "not_null":
        return True
    if check == "unique":
        return not _is_nested(v)
    if check == "email":
        return _is_text(v)
    if check in ("regex", "cn_mobile", "cn_resident_id", "cn_bank_card"):
        return _is_text(v) or pa.types.is_integer(v)
    if check == "uscc":
        return _is_text(v)
    if check == "between":
        return (
            pa.types.is_integer(v)
            or pa.types.is_floating(v)
            or pa.types.is_decimal(v)
            or pa.types.is_date(v)
            or pa.types.is_timestamp(v)
        )
    return False


def _bound(value: Any, t: pa.DataType, fail) -> Any:
    """Convert one ``between`` bound to what GX compares against a column of Arrow type ``t``."""
    if value is None:
        return None
    t = _value_type(t)
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        if isinstance(value, bool) or isinstance(value, (_dt.date,)):
            fail("needs numeric bounds")
        if isinstance(value, str):
            try:
                value = Decimal(value.strip())
            except InvalidOperation:
                fail("needs numeric bounds")
        return float(value)
    if pa.types.is_date(t):
        if isinstance(value, _dt.datetime):
            fail("needs date bounds, not datetimes")
        if isinstance(value, _dt.date):
            return value
        try:
            return _dt.date.fromisoformat(str(value))
        except ValueError:
            fail("needs date bounds (ISO yyyy-mm-dd)")
    if pa.types.is_timestamp(t):
        if isinstance(value, _dt.datetime):
            moment = value
        elif isinstance(value, _dt.date):
            moment = _dt.datetime.combine(value, _dt.time())
        else:
            try:
                moment = _dt.datetime.fromisoformat(str(value))
            except ValueError:
                fail("needs datetime bounds (ISO 8601)")
        if t.tz:
            if moment.tzinfo is None:
                moment = pd.Timestamp(moment).tz_localize(t.tz).to_pydatetime()
        elif moment.tzinfo is not None:
            moment = moment.astimezone(_dt.timezone.utc).replace(tzinfo=None)
        return moment
    fail("is not supported for this column type")  # pragma: no cover - filtered by _type_ok


def bind_rules(rules: TableRules, schema: pa.Schema) -> list[BoundCheck]:
    """Resolve ``rules`` against a chunk ``schema``.

    Returns the bound checks in rule order, the key-uniqueness check (if ``key_columns`` is set
    and not already present as an explicit ``unique`` check) last.
    Raises ``ColumnNotFoundError`` for a rule column absent from the data, ``RulesError`` for a
    rule column matching several data columns, a check unsuitable for the column's Arrow type,
    unusable ``between`` bounds, or data that already has a ``_quarantine_reasons`` column.
    Checks with ``origin="inventory"`` are skipped, not raised, for the first three (the inventory
    may describe an earlier schema).
    """
    by_key: dict[str, list[str]] = {}
    for name in schema.names:
        by_key.setdefault(column_key(name), []).append(name)
    if QUARANTINE_REASONS_COLUMN in schema.names:
        raise RulesError(f"table {rules.table!r}: data already has a {QUARANTINE_REASONS_COLUMN!r} column")

    def resolve(column: str, check: str) -> str:
        names = by_key.get(column_key(column), [])
        if not names:
            raise ColumnNotFoundError(rules.table, column, check, schema.names)
        if len(names) > 1:
            raise RulesError(
                f"table {rules.table!r}: rule column {column!r} ({check}) matches several data columns: "
                + ", ".join(names)
            )
        return names[0]

    def suited(check: str, name: str) -> pa.DataType:
        t = schema.field(name).type
        if not _type_ok(check, t):
            raise RulesError(
                f"table {rules.table!r}: check {check!r} does not apply to column {name!r} of type {t}"
            )
        return t

    bound: list[BoundCheck] = []
    for check in rules.checks:
        if check.origin == "inventory":
            names = by_key.get(column_key(check.column), [])
            if len(names) != 1 or not _type_ok(check.check, schema.field(names[0]).type):
                continue
        name = resolve(check.column, check.check)
        t = suited(check.check, name)
        args = _normalise_args(rules.table, name, check, t)
        bound.append(BoundCheck(check.check, (name,), args, origin=check.origin))

    if rules.key_columns:
        names = tuple(resolve(c, "unique") for c in rules.key_columns)
        for name in names:
            suited("unique", name)
        if not any(b.check == "unique" and b.columns == names for b in bound):
            bound.append(BoundCheck("unique", names, {}, from_key=True))
    return bound


def _normalise_args(table: str, name: str, check: ColumnCheck, t: pa.DataType) -> dict[str, Any]:
    if check.check == "cn_mobile":
        return {"strict": bool(check.args.get("strict", False))}
    if check.check == "regex":
        return {"pattern": check.args["pattern"]}
    if check.check != "between":
        return {}

    def fail(why: str):
        raise RulesError(f"table {table!r}: check 'between' on column {name!r} (type {t}) {why}")

    lo = _bound(check.args.get("min"), t, fail)
    hi = _bound(check.args.get("max"), t, fail)
    if lo is not None and hi is not None and lo > hi:
        fail("has min greater than max")
    return {"min": lo, "max": hi}


# ------------------------------------------------------------------------------ GX side


def _expectation(b: BoundCheck, index: int):
    from custody.validation import expectations as cx  # first: imports GX (custody.validation._gx)

    import great_expectations.expectations as gxe

    meta = {"custody_rule": index}
    column = b.columns[0]
    if b.check == "not_null":
        return gxe.ExpectColumnValuesToNotBeNull(column=column, meta=meta)
    if b.check == "unique":
        if len(b.columns) == 1:
            return gxe.ExpectColumnValuesToBeUnique(column=column, meta=meta)
        return gxe.ExpectCompoundColumnsToBeUnique(
            column_list=list(b.columns), ignore_row_if="any_value_is_missing", meta=meta
        )
    if b.check == "email":
        return cx.ExpectColumnValuesToBeCustodyEmail(column=column, meta=meta)
    if b.check == "cn_mobile":
        return cx.ExpectColumnValuesToBeCustodyCnMobile(column=column, strict=b.args["strict"], meta=meta)
    if b.check == "cn_resident_id":
        return cx.ExpectColumnValuesToBeCustodyCnResidentId(column=column, meta=meta)
    if b.check == "cn_bank_card":
        return cx.ExpectColumnValuesToBeCustodyCnBankCard(column=column, meta=meta)
    if b.check == "uscc":
        return cx.ExpectColumnValuesToBeCustodyUscc(column=column, meta=meta)
    if b.check == "regex":
        return gxe.ExpectColumnValuesToMatchRegex(column=column, regex=b.args["pattern"], meta=meta)
    if b.check == "between":
        return gxe.ExpectColumnValuesToBeBetween(
            column=column, min_value=b.args["min"], max_value=b.args["max"], meta=meta
        )
    raise AssertionError(b.check)  # pragma: no cover - CheckName is closed


def _int_dtype(t: pa.DataType):
    if pa.types.is_integer(t):
        return pd.UInt64Dtype() if t == pa.uint64() else pd.Int64Dtype()
    return None


def _frame(table: pa.Table, names: list[str]) -> pd.DataFrame:
    """The GX view of ``names``: one pandas column each, ``RangeIndex`` = Arrow row positions."""
    arrays, fields = [], []
    for name in names:
        col = table.column(name)
        if pa.types.is_dictionary(col.type):
            col = col.cast(col.type.value_type)
        if pa.types.is_decimal(col.type):
            col = pc.cast(col, pa.float64(), safe=False)
        arrays.append(col)
        fields.append(pa.field(name, col.type))
    sub = pa.Table.from_arrays(arrays, schema=pa.schema(fields))
    frame = sub.to_pandas(types_mapper=_int_dtype)
    frame.index = pd.RangeIndex(len(frame))
    return frame


def _raised(info: Any) -> bool:
    if not isinstance(info, dict):
        return False
    if "raised_exception" in info:
        return bool(info["raised_exception"])
    return any(isinstance(v, dict) and v.get("raised_exception") for v in info.values())


@dataclass
class _GxOutcome:
    expectation: str
    evaluated: int
    missing: int
    unexpected: int
    positions: np.ndarray


def _run_gx(table_name: str, frame: pd.DataFrame, plan: list[BoundCheck]) -> list[_GxOutcome]:
    from custody.validation._gx import gx
    from custody.validation.expectations import gx_runtime

    runtime = gx_runtime()  # first: ExpectationSuite.add_expectation needs an active context
    suite = gx.ExpectationSuite(name=f"custody.{table_name}")
    for i, b in enumerate(plan):
        suite.add_expectation(_expectation(b, i))
    result = runtime.validate(frame, suite, _RESULT_FORMAT)

    outcomes: dict[int, _GxOutcome] = {}
    for r in result.results:
        idx = int(r.expectation_config.meta["custody_rule"])
        if _raised(r.exception_info):
            raise ValidationEngineError(table_name, plan[idx].reason)
        res = r.result or {}
        positions = np.asarray(res.get("unexpected_index_list") or [], dtype=np.int64)
        unexpected = int(res.get("unexpected_count") or 0)
        if positions.size != unexpected:
            raise ValidationEngineError(table_name, plan[idx].reason, "row positions and count disagree")
        outcomes[idx] = _GxOutcome(
            expectation=str(r.expectation_config.type),
            evaluated=int(res.get("element_count") or 0),
            missing=int(res.get("missing_count") or 0),
            unexpected=unexpected,
            positions=positions,
        )
    del result  # holds nothing we keep; make sure no reference outlives the call
    if sorted(outcomes) != list(range(len(plan))):
        raise ValidationEngineError(table_name, "suite", "GX returned an incomplete result set")
    if any(o.evaluated != len(frame) for o in outcomes.values()):
        raise ValidationEngineError(table_name, "suite", "GX evaluated a different number of rows")
    return [outcomes[i] for i in range(len(plan))]


# ---------------------------------------------------------------------------------- API


class WarmUp:
    """GX imported and its ephemeral context created in a thread of its own, started before the
    first chunk is read, so that the first ``validate_chunk`` does not wait for them.

    GX's import (about 1,000 modules) and context take about 1.1 s on the benchmark machine, and
    the first batch cannot be validated before they are done: without a warm-up, classification
    reads its second batch of chunks and then waits for that first validation (the stage holds at
    most two batches). Started with the stage, they run while the stage reads the manifest,
    decrypts and classifies the first chunks. ``validate_chunk`` needs nothing from this object:
    Python's import lock makes a validation that starts first wait for the import in progress, and
    ``gx_runtime`` creates the context once under its lock. A failure here is not raised: the
    first ``validate_chunk`` imports again and raises it where validation reports errors.
    """

    def __init__(self) -> None:
        import threading

        self.seconds: float | None = None
        self.failed = False
        self._thread = threading.Thread(target=self._run, name="custody-gx-warm-up")

    def start(self) -> WarmUp:
        self._thread.start()
        return self

    def __enter__(self) -> WarmUp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.join()

    def _run(self) -> None:
        started = time.perf_counter()
        try:
            from custody.validation.expectations import gx_runtime

            gx_runtime()
        except Exception as exc:  # noqa: BLE001 - raised again by the first validate_chunk
            self.failed = True
            # The class only, as everywhere in validation; the first validate_chunk raises it.
            log.warning("GX warm-up failed (%s); the first validation imports GX again", type(exc).__name__)
        self.seconds = time.perf_counter() - started

    def join(self) -> None:
        """Wait for the thread (the stage does before it returns or raises: no thread left behind)."""
        self._thread.join()


def warm_up() -> WarmUp:
    """Start GX's import and context in the background (:class:`WarmUp`); as a context manager
    it joins the thread on the way out."""
    return WarmUp().start()



def _sorted_runs(digests: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(order, ordered, first)`` of ``uint64`` digests: the permutation that sorts them, the
    sorted digests, and which sorted positions hold the first occurrence (lowest input position)
    of their digest. NumPy's quicksort (vectorised for 64-bit keys: a fifth of the stable sort's
    time) leaves equal digests in no particular order, so a chunk that repeats a key (rare: a
    quarantine case) is sorted again stably."""
    order = np.argsort(digests, kind="quicksort")
    ordered = digests[order]
    first = np.ones(ordered.size, dtype=bool)
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    if not first.all():
        order = np.argsort(digests, kind="stable")
        ordered = digests[order]
    return order, ordered, first


def validate_chunk(
    table: pa.Table | pa.RecordBatch, rules: TableRules, *, tracker: KeyTracker | None = None
) -> ChunkValidation:
    """Validate one chunk of ``rules.table`` and split it into valid and quarantined rows.

    ``table``: the chunk (``pyarrow.Table`` or ``RecordBatch``), any number of rows.
    ``rules``: the table's rules; columns matched by ``column_key``.
    ``tracker``: the table's ``KeyTracker``, shared by all its chunks in order, for uniqueness
      across chunks; ``None`` checks uniqueness within this chunk only.

    Returns a ``ChunkValidation`` (see there; ``rows_in == rows_valid + rows_quarantined``).
    Raises ``ColumnNotFoundError`` / ``RulesError`` when the rules do not fit the data,
    ``ValueError`` when ``tracker`` belongs to another table, ``ValidationEngineError`` when GX
    fails to evaluate a check. No exception message carries a cell value. The tracker is updated
    only when the call succeeds.
    """
    started = time.perf_counter()
    if isinstance(table, pa.RecordBatch):
        table = pa.Table.from_batches([table])
    plan = bind_rules(rules, table.schema)
    if tracker is not None:
        tracker.bind(rules.table)
    keys = tracker if tracker is not None else KeyTracker(rules.table)
    n = table.num_rows

    names = list(dict.fromkeys(c for b in plan for c in b.columns))
    outcomes = _run_gx(rules.table, _frame(table, names), plan) if plan else []

    failing = np.zeros((len(plan), n), dtype=bool)
    pending: list[tuple[str, np.ndarray]] = []
    for i, (b, out) in enumerate(zip(plan, outcomes, strict=True)):
        mask = np.zeros(n, dtype=bool)
        mask[out.positions] = True
        if b.check == "unique":
            digests, tracked = keys.digests([table.column(c) for c in b.columns])
            rows = np.flatnonzero(tracked)
            key_digests = digests[tracked]
            # One sort serves the three questions: a key's first occurrence in the chunk, whether
            # an earlier chunk held it (the tracker's lookup of sorted keys) and the chunk's new
            # distinct keys to register.
            order, ordered, first = _sorted_runs(key_digests)
            later = np.empty(rows.size, dtype=bool)
            later[order] = ~first
            repeat_in_chunk = np.zeros(n, dtype=bool)
            repeat_in_chunk[rows[later]] = True
            seen_sorted = keys.seen(b.reason, ordered)
            seen_before = np.zeros(n, dtype=bool)
            seen_before[rows[order]] = seen_sorted
            mask = (mask & repeat_in_chunk) | seen_before
            pending.append((b.reason, ordered[first & ~seen_sorted]))
        failing[i] = mask

    bad = failing.any(axis=0) if plan else np.zeros(n, dtype=bool)
    bad_rows = np.flatnonzero(bad)
    labels = [b.reason for b in plan]
    reasons = [[labels[i] for i in np.flatnonzero(failing[:, r])] for r in bad_rows]

    quarantine = table.filter(pa.array(bad)).append_column(
        pa.field(QUARANTINE_REASONS_COLUMN, _REASONS_TYPE, nullable=False),
        pa.array(reasons, type=_REASONS_TYPE),
    )
    results = [
        ExpectationSummary(
            expectation=out.expectation,
            column=b.column,
            check=b.check,
            reason=b.reason,
            evaluated=n,
            missing=out.missing,
            unexpected=int(failing[i].sum()),
            gx_unexpected=out.unexpected,
            success=not failing[i].any(),
            origin=b.origin,
            args=dict(b.args),
        )
        for i, (b, out) in enumerate(zip(plan, outcomes, strict=True))
    ]
    for reason, key_digests in pending:
        keys.add(reason, key_digests, new=True)

    outcome = ChunkValidation(
        table=rules.table,
        quarantine=quarantine,
        results=results,
        rows_in=n,
        rows_valid=n - bad_rows.size,
        rows_quarantined=quarantine.num_rows,
        seconds=time.perf_counter() - started,
        quarantine_positions=bad_rows.astype(np.int64),
        source=table,
        failing=bad,
    )
    log.info(
        "validated table=%s rows=%d valid=%d quarantined=%d checks=%d in %.3fs",
        rules.table,
        n,
        outcome.rows_valid,
        outcome.rows_quarantined,
        len(plan),
        outcome.seconds,
    )
    return outcome
