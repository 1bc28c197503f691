"""Names of data scopes: source x retention class x period, and their parts.

A data key is wrapped by the key of its object's scope (``custody.crypto.scopes``). A scope is
``<source>/<retention_class>/<period>``, the period being the UTC month (``YYYY-MM``) the object
was staged in, so retention can expire one month at a time by destroying one key (rolling
retention, ``docs/format.md`` 1.10). Scopes written before periods existed are
``<source>/<retention_class>`` (legacy: no period) and stay readable.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import NamedTuple

PERIOD_FORMAT = "%Y-%m"


class ScopeParts(NamedTuple):
    """A data scope split into its parts; ``period`` is None for a legacy two-part scope."""

    source: str
    retention_class: str
    period: str | None


def period_of(when: datetime) -> str:
    """The retention period (``YYYY-MM``, UTC month) an object staged at ``when`` belongs to."""
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC).strftime(PERIOD_FORMAT)


def period_bounds(period: str) -> tuple[datetime, datetime]:
    """``[start, end)`` of a period in UTC. Raises ``ValueError`` for a malformed period."""
    start = datetime.strptime(period, PERIOD_FORMAT).replace(tzinfo=UTC)
    end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    return start, end


def scope_name(source: str, retention_class: str, period: str | None) -> str:
    """The scope of data of ``source`` in ``retention_class`` staged in ``period`` (``YYYY-MM``):
    ``<source>/<retention_class>/<period>``; without a period the legacy ``<source>/<retention_class>``."""
    if "/" in source or "/" in retention_class:
        raise ValueError("source and retention class are single path segments")
    if period is None:
        return f"{source}/{retention_class}"
    period_bounds(period)
    return f"{source}/{retention_class}/{period}"


def parse_scope(scope: str) -> ScopeParts | None:
    """Split a data scope (``scope_name``); None for a scope that is not a data scope (the seal
    scope ``custody/seal``, the key-store scope, ``default`` or any other shape)."""
    parts = scope.split("/")
    if parts[0] == "custody" or len(parts) not in (2, 3) or not all(parts):
        return None
    if len(parts) == 3:
        try:
            period_bounds(parts[2])
        except ValueError:
            return None
        return ScopeParts(parts[0], parts[1], parts[2])
    return ScopeParts(parts[0], parts[1], None)
