"""The data-subject requests section of a report: open requests with days left, value-free.

``requests_section`` returns a typed model (``RequestsSection``) that the run and compliance
reports embed (JSON through ``model_dump``, HTML through their templates). It carries request
ids, kinds, regimes, states, dates, days left and reason codes: never an identifier, nor even
a pseudonym (a report travels further than the catalog).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from custody.dsr.requests import OPEN_STATES, STATES

REFERENCES = ["PIPL Art 44-47 (access, copy, deletion)", "PIPL Art 50 (requests handled promptly; refusals "
              "give reasons)", "GDPR Art 12(3) (one month, extendable by two)", "GDPR Art 15, 17"]


class OpenRequest(BaseModel):
    """One request not yet closed. ``days_left``: whole days to the due date (negative: overdue)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    request_id: str
    kind: str
    regime: str
    state: str
    source: str | None
    received_at: datetime
    due_at: datetime
    days_left: int
    overdue: bool
    extension_reason: str | None = None


class RequestsSection(BaseModel):
    """Open requests by due date, and counts of every request by state."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    as_of: datetime
    open: list[OpenRequest] = Field(default_factory=list)
    by_state: dict[str, int] = Field(default_factory=dict)
    overdue: int = 0
    due_within_3_days: int = 0
    references: list[str] = Field(default_factory=lambda: list(REFERENCES))


def requests_section(book: Any, now: datetime | None = None) -> RequestsSection:
    """The section for the requests of ``book`` (a ``custody.dsr.requests.RequestBook``) at ``now``.

    ``executed`` requests are still open: the subject has not been answered until ``closed``.
    """
    now = now or datetime.now(UTC)
    every = book.list()
    by_state = {s: 0 for s in STATES}
    for r in every:
        by_state[r.state] += 1
    rows = [OpenRequest(request_id=r.request_id, kind=r.kind, regime=r.regime, state=r.state, source=r.source,
                        received_at=r.received_at, due_at=r.due_at, days_left=r.days_left(now),
                        overdue=r.due_at < now, extension_reason=r.extension_reason)
            for r in every if r.state in OPEN_STATES]
    return RequestsSection(as_of=now, open=rows, by_state=by_state, overdue=sum(o.overdue for o in rows),
                           due_within_3_days=sum(0 <= o.days_left <= 3 and not o.overdue for o in rows))


def write_section(book: Any, path: Any, now: datetime | None = None) -> RequestsSection:
    """Write the section as JSON to ``path`` (atomically, 0600) and return it: what the DAG leaves
    for the reports and the UI. Value-free by construction (see the module docstring)."""
    from pathlib import Path

    from custody.fsio import atomic_write_bytes

    section = requests_section(book, now)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(target, section.model_dump_json(indent=1).encode("utf-8"))
    return section
