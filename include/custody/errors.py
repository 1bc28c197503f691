"""Errors safe to show anywhere: ``ValueFreeError``, and the rule that turns any error into one.

Where rows are in hand (readers, converters, classification, validation, restore), an exception
raised by a library can quote the row: a driver's ``DataError`` ("invalid input syntax for type
date: '...'"), a parser's ``ValueError``, Arrow's "Could not convert '...'". Airflow writes a
task's exception, its message and its chain into the task log, which every Viewer of the DAG
reads; the command line prints it. So no error crosses a stage boundary
(``custody.stages.boundary``) or leaves the command line with a message Custody did not compose:

- Custody's own errors (classes defined under ``custody.``: ``ExtractError``, ``SchemaError``,
  ``StageError``, ``RestoreError``, ...) build their messages from names, counts, positions and
  hashes, never values; they pass with their chain cut;
- any other error becomes a ``ValueFreeError`` that says where it happened (stage, source,
  table, column, part, row ordinal), the reason, and the original exception's class (for a
  database error also its driver class and SQLSTATE or error number), and nothing else: not
  the original message, not its chain.

Rule: contracts ("Nothing that holds a value may reach a log line, an exception message, XCom
or a report"); PIPL Art 51 (security measures against leaks of personal information).
"""

from __future__ import annotations

from typing import Any


class ValueFreeError(Exception):
    """An error re-raised without its message or chain (see the module docstring).

    Attributes: ``reason`` (what failed, in Custody's words), ``error`` (the original exception's
    class, for database errors with the driver's class and code), ``error_type`` (that class),
    and where: ``stage``, ``source``, ``table``, ``column``, ``part``, ``row`` (row ordinal in the
    part, or the file line), each None when unknown. ``transient`` (a retry may succeed) and
    ``code`` (SQLSTATE / errno) are what retry decisions and failure reports need of the
    original, set by the stage boundary; None when not known.
    """

    transient: bool | None = None
    code: str | None = None

    def __init__(self, reason: str, *, error: str, error_type: type[BaseException] | None = None,
                 stage: str | None = None, source: str | None = None, table: str | None = None,
                 column: str | None = None, part: int | None = None, row: int | None = None) -> None:
        self.reason, self.error, self.error_type = reason, error, error_type
        self.stage, self.source, self.table, self.column, self.part, self.row = (
            stage, source, table, column, part, row)
        where = ".".join(x for x in (source, table) if x) or "custody"
        if column:
            where += f" column {column}"
        if part is not None:
            where += f" part {part}"
        if row is not None:
            where += f" row {row}"
        prefix = f"{stage}: " if stage else ""
        super().__init__(f"{prefix}{where}: {reason} ({error}; the original message is withheld, it may "
                         "quote a value)")


def is_custody_error(exc: BaseException) -> bool:
    """Whether Custody composed the message of ``exc`` (its class is defined under ``custody.``)."""
    return type(exc).__module__.startswith("custody.")


def error_class(exc: BaseException) -> str:
    """``<class>`` of ``exc``; for a database error (SQLAlchemy ``DBAPIError``) ``<class>
    (<driver class> <SQLSTATE or error number>)``. Never the message."""
    name = type(exc).__name__
    orig = getattr(exc, "orig", None)
    if orig is None or not isinstance(orig, BaseException):
        return name
    code: Any = getattr(orig, "pgcode", None) or getattr(orig, "sqlstate", None)
    if code is None and getattr(orig, "args", None) and isinstance(orig.args[0], int):
        code = orig.args[0]
    return f"{name} ({type(orig).__name__}{f' {code}' if code is not None else ''})"


def value_free(exc: BaseException, reason: str = "failed", **where: Any) -> BaseException:
    """``exc`` itself when Custody composed its message, else a ``ValueFreeError`` with ``reason``
    and ``where`` (``stage``, ``source``, ``table``, ``column``, ``part``, ``row``). Either way
    the returned error has no chain: raise it outside the ``except`` block (or ``from None``)."""
    if is_custody_error(exc):
        safe = exc
    else:
        safe = ValueFreeError(reason, error=error_class(exc), error_type=type(exc), **where)
        safe.__traceback__ = exc.__traceback__  # code locations only: the frames, not the message
    safe.__cause__ = None
    safe.__context__ = None
    safe.__suppress_context__ = True
    return safe
