"""Great Expectations (GX Core 1.x) side of validation: custom expectations and the GX runtime.

Importing this module imports GX (several seconds), so ``custody.validation`` only imports it on
first use (``gx_runtime()``).

Custom expectations (pandas engine), registered with GX when this module is imported. Each
metric's row condition is computed over the whole column at once (vectorised), not value by value
through ``Series.map``:

- ``ExpectColumnValuesToBeCustodyEmail``: metric ``column_values.custody_email``,
  condition ``checks.email_column`` (value rule ``checks.is_email``);
- ``ExpectColumnValuesToBeCustodyCnMobile`` (kwarg ``strict``): metric
  ``column_values.custody_cn_mobile``, condition ``checks.cn_mobile_column``;
- ``ExpectColumnValuesToBeCustodyCnResidentId``: metric ``column_values.custody_cn_resident_id``,
  condition ``checks.cn_resident_id_column``;
- ``ExpectColumnValuesToBeCustodyCnBankCard``: metric ``column_values.custody_cn_bank_card``,
  condition ``checks.cn_bank_card_column`` (16-19 digits, Luhn);
- ``ExpectColumnValuesToBeCustodyUscc``: metric ``column_values.custody_uscc``, condition
  ``checks.uscc_column`` (GB 32100 mod-31 check character).

Every condition is the "valid as a current identifier" rule of :mod:`custody.identifiers`
(``is_valid_column``, which hands the values it cannot read exactly to the per-value rule and its
library), reached through :mod:`custody.validation.checks` (looked up at call time), so the
classifier, these checks and the pseudonyms read each identifier the same way.

Privacy: GX results carry cell values (``partial_unexpected_list``, ``unexpected_list``,
``unexpected_index_query``, exception messages). The runner asks GX for
``exclude_unexpected_values`` and reads only counts and row positions out of each result; and
the GX loggers that print exception text while resolving metrics are passed through
``_RedactFilter`` so no value reaches a log line either.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from custody.validation._gx import gx  # first: GX imported with its unused parts deferred
import numpy as np
import pandas as pd
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.execution_engine import PandasExecutionEngine
from great_expectations.expectations.expectation import ColumnMapExpectation
from great_expectations.expectations.metrics import (
    ColumnMapMetricProvider,
    column_condition_partial,
)

from great_expectations.render import (
    LegacyRendererType,
    RenderedStringTemplateContent,
)
from great_expectations.render.renderer.renderer import renderer

from custody.validation import checks

__all__ = [
    "ExpectColumnValuesToBeCustodyCnBankCard",
    "ExpectColumnValuesToBeCustodyCnMobile",
    "ExpectColumnValuesToBeCustodyCnResidentId",
    "ExpectColumnValuesToBeCustodyEmail",
    "ExpectColumnValuesToBeCustodyUscc",
    "GxRuntime",
    "gx_runtime",
]

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- metrics


def _condition(column: pd.Series, valid: np.ndarray) -> pd.Series:
    """The row condition GX expects from a pandas ``column_condition_partial``: a bool Series on
    the column's index. ``valid`` comes from a column-level rule (``checks.*_column``)."""
    return pd.Series(np.asarray(valid, dtype=bool), index=column.index, dtype=bool)



class ColumnValuesCustodyEmail(ColumnMapMetricProvider):
    """Row condition: the value is a syntactically valid e-mail address (email-validator)."""

    condition_metric_name = "column_values.custody_email"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, **kwargs):
        return _condition(column, checks.email_column(column))


class ColumnValuesCustodyCnMobile(ColumnMapMetricProvider):
    """Row condition: the value is a mainland China mobile number (``strict`` adds phonenumbers)."""

    condition_metric_name = "column_values.custody_cn_mobile"
    condition_value_keys = ("strict",)

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, strict=False, **kwargs):
        return _condition(column, checks.cn_mobile_column(column, strict=bool(strict)))


class ColumnValuesCustodyCnResidentId(ColumnMapMetricProvider):
    """Row condition: the value is an 18-character PRC resident ID (checksum + birth date)."""

    condition_metric_name = "column_values.custody_cn_resident_id"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, **kwargs):
        return _condition(column, checks.cn_resident_id_column(column))


class ColumnValuesCustodyCnBankCard(ColumnMapMetricProvider):
    """Row condition: the value is a 16-19 digit bank card number passing Luhn (ISO/IEC 7812)."""

    condition_metric_name = "column_values.custody_cn_bank_card"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, **kwargs):
        return _condition(column, checks.cn_bank_card_column(column))


class ColumnValuesCustodyUscc(ColumnMapMetricProvider):
    """Row condition: the value is a unified social credit code with a valid check character (GB 32100)."""

    condition_metric_name = "column_values.custody_uscc"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, **kwargs):
        return _condition(column, checks.uscc_column(column))


# ---------------------------------------------------------------------- expectations


def _prescriptive(text: str):
    """A Data Docs sentence for a custom expectation (``$column values must ...``); column name only."""

    @renderer(renderer_type=LegacyRendererType.PRESCRIPTIVE)
    def _render(cls, configuration=None, result=None, runtime_configuration=None, **kwargs):
        runtime_configuration = runtime_configuration or {}
        include_column = runtime_configuration.get("include_column_name") is not False
        column = (configuration.kwargs or {}).get("column") if configuration is not None else None
        return [
            RenderedStringTemplateContent(
                content_block_type="string_template",
                string_template={
                    "template": ("$column " if include_column else "") + text,
                    "params": {"column": column},
                    "styling": runtime_configuration.get("styling"),
                },
            )
        ]

    return classmethod(_render)


class ExpectColumnValuesToBeCustodyEmail(ColumnMapExpectation):
    """Expect column values to be syntactically valid e-mail addresses (no DNS). Nulls are skipped."""

    map_metric = "column_values.custody_email"
    _prescriptive_renderer = _prescriptive("values must be e-mail addresses (RFC 5322 syntax, no DNS).")
    success_keys = ("mostly",)
    library_metadata = {"maturity": "experimental", "tags": ["custody", "pii"], "contributors": []}


class ExpectColumnValuesToBeCustodyCnMobile(ColumnMapExpectation):
    """Expect column values to be mainland China mobile numbers. Nulls are skipped.

    ``strict``: also require an allocated mobile range per libphonenumber metadata.
    """

    strict: bool = False
    map_metric = "column_values.custody_cn_mobile"
    _prescriptive_renderer = _prescriptive(
        "values must be mainland China mobile numbers (1[3-9] + 9 digits, optional +86)."
    )
    success_keys = ("mostly", "strict")
    library_metadata = {"maturity": "experimental", "tags": ["custody", "pii"], "contributors": []}


class ExpectColumnValuesToBeCustodyCnResidentId(ColumnMapExpectation):
    """Expect column values to be 18-character PRC resident ID numbers (GB 11643). Nulls are skipped.

    Checks the ISO 7064 MOD 11-2 check character and the birth date, not the address code.
    """

    map_metric = "column_values.custody_cn_resident_id"
    _prescriptive_renderer = _prescriptive(
        "values must be 18-character resident ID numbers (GB 11643: MOD 11-2 check character, birth date)."
    )
    success_keys = ("mostly",)
    library_metadata = {"maturity": "experimental", "tags": ["custody", "pii"], "contributors": []}


class ExpectColumnValuesToBeCustodyCnBankCard(ColumnMapExpectation):
    """Expect column values to be 16-19 digit bank card numbers passing the Luhn check (ISO/IEC 7812).
    Nulls are skipped. A failing card stays sensitive PI; the failure is a data-quality finding."""

    map_metric = "column_values.custody_cn_bank_card"
    _prescriptive_renderer = _prescriptive(
        "values must be 16-19 digit bank card numbers passing Luhn (ISO/IEC 7812)."
    )
    success_keys = ("mostly",)
    library_metadata = {"maturity": "experimental", "tags": ["custody", "pii"], "contributors": []}


class ExpectColumnValuesToBeCustodyUscc(ColumnMapExpectation):
    """Expect column values to be unified social credit codes (GB 32100-2015, mod-31 check character).
    Nulls are skipped."""

    map_metric = "column_values.custody_uscc"
    _prescriptive_renderer = _prescriptive(
        "values must be unified social credit codes (GB 32100 check character)."
    )
    success_keys = ("mostly",)
    library_metadata = {"maturity": "experimental", "tags": ["custody", "pii"], "contributors": []}


# --------------------------------------------------------------------------- runtime

# GX loggers that interpolate exception text (which can quote cell values) into their messages.
_REDACTED_LOGGERS = (
    "great_expectations.validator.validation_graph",
    "great_expectations.validator.metrics_calculator",
    "great_expectations.validator.validator",
    "great_expectations.expectations.expectation",
)


class _RedactFilter(logging.Filter):
    """Keep the record (level, logger) but replace its text, which may quote data values."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING or record.exc_info:
            record.msg = "GX reported a problem while validating; message withheld (may quote data values)"
            record.args = ()
            record.exc_info = None
            record.exc_text = None
        return True


def _install_redaction() -> None:
    for name in _REDACTED_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _RedactFilter) for f in logger.filters):
            logger.addFilter(_RedactFilter())


@dataclass
class GxRuntime:
    """The process-wide GX objects: one ephemeral context, one pandas datasource, one dataframe
    asset and its whole-dataframe batch definition. ``lock`` serialises validations (GX objects
    are not thread-safe). ``created_seconds`` is the wall time the context set-up took."""

    context: Any
    batch_definition: Any
    lock: threading.Lock
    created_seconds: float

    def validate(self, frame, suite, result_format: dict) -> Any:
        """Validate ``frame`` (pandas DataFrame) against ``suite``; returns the GX suite result."""
        with self.lock:
            batch = self.batch_definition.get_batch(batch_parameters={"dataframe": frame})
            return batch.validate(suite, result_format=result_format)


_RUNTIME: GxRuntime | None = None
_RUNTIME_LOCK = threading.Lock()


def gx_runtime() -> GxRuntime:
    """Return the process's ``GxRuntime``, creating it on first call (analytics and progress
    bars off, nothing written to disk)."""
    global _RUNTIME
    if _RUNTIME is None:
        with _RUNTIME_LOCK:
            if _RUNTIME is None:
                import time

                started = time.perf_counter()
                _install_redaction()
                context = gx.get_context(mode="ephemeral")
                context.variables.progress_bars = ProgressBarsConfig(
                    globally=False, metric_calculations=False
                )
                datasource = context.data_sources.add_pandas(name="custody_validation")
                asset = datasource.add_dataframe_asset(name="chunk")
                batch_definition = asset.add_batch_definition_whole_dataframe(name="whole_chunk")
                _RUNTIME = GxRuntime(
                    context=context,
                    batch_definition=batch_definition,
                    lock=threading.Lock(),
                    created_seconds=time.perf_counter() - started,
                )
                log.debug("GX ephemeral context ready in %.2fs", _RUNTIME.created_seconds)
    return _RUNTIME
