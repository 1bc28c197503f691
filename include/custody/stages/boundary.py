"""The stage boundary: every error leaves a stage function value-free (``custody.errors``).

``stage_boundary(name)`` wraps a stage function: Custody's own errors pass with their chain cut;
anything else (a driver's ``DataError``, a parser's ``ValueError``, a bug) is re-raised as a
``ValueFreeError`` naming the stage, the source, the table and part when the call names them,
and the original exception's class, never its message. The wrapped function's signature and
docstring stay as they were. Retries are not affected: the ``ValueFreeError`` carries whether
the original was transient and its SQLSTATE / errno, which ``custody.stages.failures`` reads.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from custody.errors import ValueFreeError, value_free
from custody.sources.transient import database_code, is_transient

F = TypeVar("F", bound=Callable[..., Any])


def _where(sig: inspect.Signature, args: tuple, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Source, table and part named by a stage call (``source_name`` / ``source`` / a part dict)."""
    try:
        bound = sig.bind_partial(*args, **kwargs).arguments
    except TypeError:
        return {}
    where: dict[str, Any] = {}
    source = bound.get("source_name", bound.get("source"))
    if isinstance(source, str):
        where["source"] = source
    part = bound.get("part")
    if isinstance(part, dict):
        if isinstance(part.get("table"), str):
            where["table"] = part["table"]
        if isinstance(part.get("part"), int):
            where["part"] = part["part"]
        key = part.get("plan_key")
        if "source" not in where and isinstance(key, str):
            where["source"] = key.split("/", 1)[0]
    return where


def stage_boundary(stage: str) -> Callable[[F], F]:
    """Decorate a stage function so that no error leaves it with a value in its message."""

    def wrap(fn: F) -> F:
        sig = inspect.signature(fn)

        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - every error crosses this boundary value-free
                safe = value_free(exc, "failed", stage=stage, **_where(sig, args, kwargs))
                if isinstance(safe, ValueFreeError):
                    # What the retry policy and the failure report need of the original.
                    safe.transient, safe.code = is_transient(exc), database_code(exc)
            raise safe  # outside the except block: the original is not even the context

        return run  # type: ignore[return-value]

    return wrap
