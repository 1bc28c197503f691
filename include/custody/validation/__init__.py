"""Validation of extracted chunks with Great Expectations (GX Core 1.x), plus quarantine.

Public API::

    from custody.validation import (
        TableRules, ColumnCheck, KeyTracker,
        validate_chunk, summarize, enforce_threshold,
    )

    rules = TableRules.model_validate(yaml_dict)
    # or: config checks merged with the checks the inventory implies (ID columns get their format)
    rules = derive_rules(cfg_checks, classification_columns, key_columns, 0.05, table="contacts")
    tracker = KeyTracker(rules.table)
    chunks = [validate_chunk(chunk, rules, tracker=tracker) for chunk in reader]
    report = enforce_threshold(summarize(chunks), rules)   # raises ValidationThresholdExceeded

    build_data_docs(validation_doc, report_dir / "datadocs")  # static GX site, counts only

Modules: ``rules`` (check and table-rule models), ``derive`` (checks the inventory implies),
``checks`` (value predicates: the "valid as a current identifier" rules of
:mod:`custody.identifiers`), ``expectations`` (the custom GX expectations on those predicates and
the GX runtime), ``runner`` (``validate_chunk``, quarantine), ``tracker`` (key uniqueness across
chunks), ``report`` (totals, threshold), ``datadocs`` (the static GX site), ``_gx`` (GX's first
import, with the modules Custody never uses deferred).

Importing this package is cheap; GX itself is imported on the first ``validate_chunk`` call
(``custody.validation.expectations``), which also creates the single ephemeral GX context the
process reuses. ``GX_ANALYTICS_ENABLED`` defaults to ``false``.

Privacy: ``ChunkValidation.valid`` / ``.quarantine`` / ``.source`` (the validated input, from which
``valid`` is taken on first use) hold data; everything else returned or raised here holds table
names, column names, rule names and counts only.
"""

from __future__ import annotations

import logging
import os

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
# GX logs one INFO line per internal function it skips while registering its public API (200+ per
# import, i.e. per task log); keep its warnings and errors only. Set here, before any submodule can
# import GX.
logging.getLogger("great_expectations._docs_decorators").setLevel(logging.WARNING)

from custody.validation.report import (  # noqa: E402
    QUARANTINE_REASONS_COLUMN,
    CheckTotal,
    ChunkSummary,
    ChunkValidation,
    ExpectationSummary,
    TableValidationReport,
    ValidationThresholdExceeded,
    enforce_threshold,
    summarize,
)
from custody.validation.datadocs import build_data_docs, value_free_result  # noqa: E402
from custody.validation.derive import DERIVED_CHECKS, derive_rules, derived_checks  # noqa: E402
from custody.validation.rules import (  # noqa: E402
    CHECK_NAMES,
    CheckName,
    CheckOrigin,
    ColumnCheck,
    ColumnNotFoundError,
    RulesError,
    TableRules,
)
from custody.validation.runner import (  # noqa: E402
    BoundCheck,
    ValidationEngineError,
    WarmUp,
    bind_rules,
    validate_chunk,
    warm_up,
)
from custody.validation.tracker import KeyTracker  # noqa: E402

__all__ = [
    "CHECK_NAMES",
    "DERIVED_CHECKS",
    "QUARANTINE_REASONS_COLUMN",
    "BoundCheck",
    "CheckName",
    "CheckOrigin",
    "CheckTotal",
    "ChunkSummary",
    "ChunkValidation",
    "ColumnCheck",
    "ColumnNotFoundError",
    "ExpectationSummary",
    "KeyTracker",
    "RulesError",
    "TableRules",
    "TableValidationReport",
    "ValidationEngineError",
    "ValidationThresholdExceeded",
    "WarmUp",
    "bind_rules",
    "build_data_docs",
    "derive_rules",
    "derived_checks",
    "enforce_threshold",
    "summarize",
    "validate_chunk",
    "warm_up",
    "value_free_result",
]
