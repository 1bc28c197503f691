"""Carrying out an approved request: deletion (staging + ledger) or access (encrypted export).

Both hold rows while they work, so they run behind ``custody.stages.boundary.stage_boundary``:
an error leaves them without a value in its message (Custody's own errors pass as they are).
Both check that the request may move to ``executed`` before doing anything, do their work
idempotently (the ledger ignores pseudonyms it holds, staging finds nothing left to drop, an
export is written once) and then move the request, whose audit entry carries the counts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from custody.dsr.ledger import DeletionLedger
from custody.dsr.requests import RequestBook, TransitionError, _allowed
from custody.stages.boundary import stage_boundary


def _approved(book: RequestBook, request_id: str, kind: str) -> Any:
    req = book.get(request_id)
    if req.kind != kind:
        raise TransitionError(f"request {request_id} is a {req.kind} request, not {kind}")
    why = _allowed(req, "execute")
    if why is not None:
        raise TransitionError(why)
    return req


@stage_boundary("dsr.execute_deletion")
def execute_deletion(book: RequestBook, request_id: str, staging: Any, *, actor: Any = None) -> dict[str, Any]:
    """Add the subject to the deletion ledger, remove their rows from staging, mark the request executed.

    ``staging``: the ``StagingStore``. Returns ``{"ledger_rows", "runs", "rows", "objects", "tables"}``
    (counts; ``tables`` maps ``<source>/<table>`` to rows erased). Raises ``TransitionError``
    when the request is not an approved deletion request.
    """
    from custody.dsr.staging import erase_from_staging

    req = _approved(book, request_id, "deletion")
    added = DeletionLedger(book.engine).record(req.request_id, req.pseudonyms, source=req.source)
    wanted = {k: {v} for k, v in req.pseudonyms.items()}
    got = erase_from_staging(staging, wanted, book.keyring, source=req.source, tag=req.request_id[-8:])
    book.mark_executed(request_id, actor=actor, counts={
        "ledger_rows": len(req.pseudonyms), "staged_runs": got["runs"], "staged_rows_erased": got["rows"],
        "objects_rewritten": got["objects"]})
    return {"ledger_rows": added, **got}


@stage_boundary("dsr.execute_access")
def execute_access(book: RequestBook, request_id: str, store: Any, snapshot_keys: list[str], out_dir: Path, *,
                   actor: Any = None) -> dict[str, Any]:
    """Export the subject's rows in ``snapshot_keys`` of ``store`` to ``out_dir/<request id>.cdyx``.

    Returns ``custody.dsr.access.write_export``'s result (with the key, shown once). Raises
    ``TransitionError`` when the request is not an approved access request.
    """
    from custody.dsr.access import collect, write_export

    req = _approved(book, request_id, "access")
    wanted = {k: {v} for k, v in req.pseudonyms.items()}
    tables = collect(store, snapshot_keys, book.keyring, wanted)
    out = write_export(Path(out_dir), req.request_id, tables)
    book.mark_executed(request_id, actor=actor, counts={"rows_exported": out["rows"], "tables": out["tables"],
                                                        "snapshots": len(snapshot_keys)},
                       hashes={"export_sha256": out["sha256"], "key_sha256": out["key_sha256"]})
    return out


def approved_deletions(book: RequestBook) -> list[str]:
    """Ids of the deletion requests an approver has approved and that are not executed yet, by due date."""
    return [r.request_id for r in book.list(states=("approved", "extended"))
            if r.kind == "deletion" and r.approved_at is not None and r.executed_at is None]
