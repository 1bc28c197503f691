"""Validation of extracted chunks with Great Expectations (GX Core 1.x), plus quarantine.

Public API::

    from custody.validation import (
        TableRules, ColumnCheck, KeyTracker,
        validate_chunk, summarize, enforce_threshold,
    )

    rules = TableRules.model_validate(yaml_dict)
    tracker = KeyTracker(rules.table)
    chunks = [validate_chunk(chunk, rules, tracker=tracker) for chunk in reader]
    report = enforce_threshold(summarize(chunks), rules)   # raises ValidationThresholdExceeded

Importing this package is cheap; GX itself is imported on the first ``validate_chunk`` call
(``custody.validation.expectations``), which also creates the single ephemeral GX context the
process reuses. ``GX_ANALYTICS_ENABLED`` defaults to ``false``.

Privacy: ``ChunkValidation.valid`` / ``.quarantine`` hold data; everything else returned or
raised here holds table names, column names, rule names and counts only.
"""

from __future__ import annotations

import os

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

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
from custody.validation.rules import (  # noqa: E402
    CHECK_NAMES,
    CheckName,
    ColumnCheck,
    ColumnNotFoundError,
    RulesError,
    TableRules,
)
from custody.validation.runner import (  # noqa: E402
    BoundCheck,
    ValidationEngineError,
    bind_rules,
    validate_chunk,
)
from custody.validation.tracker import KeyTracker  # noqa: E402

__all__ = [
    "CHECK_NAMES",
    "QUARANTINE_REASONS_COLUMN",
    "BoundCheck",
    "CheckName",
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
    "bind_rules",
    "enforce_threshold",
    "summarize",
    "validate_chunk",
]
