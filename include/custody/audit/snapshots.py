"""The record of snapshots that must exist, read from the audit log's ``backup`` and ``forget`` entries.

Each successful ``backup`` entry names one store (``subject.store``, the store's location), the
snapshot document's key (``subject.snapshot``) and the SHA-256 of the document bytes written
there (``hashes.snapshot_sha256``); a later backup of the same run replaces the record, and a
``forget`` entry (``refs``: the snapshot keys a retention plan forgot) removes it. Because the
log is tamper-evident (checkpoints outside the database), the record cannot be quietly edited to
match a store in which a snapshot was rolled back or deleted: ``custody.store.snapshots``
compares the store with it (``check_recorded``), so ``custody verify`` names such a snapshot and
``latest`` refuses to fall back to an older one.
"""

from __future__ import annotations

from custody.audit.entries import EntryError, decode
from custody.audit.log import AuditLog
from custody.store.snapshots import RecordedSnapshot


def recorded_snapshots(log: AuditLog, location: str, source: str | None = None) -> list[RecordedSnapshot]:
    """The snapshots the log says must exist in the store at ``location`` (of ``source``), by key.

    Entries that do not decode are skipped here; ``custody audit verify`` reports them.
    """
    record: dict[str, RecordedSnapshot] = {}
    for row in log.find(actions=["backup", "forget"], source=source):
        try:
            entry = decode(row.data)
        except EntryError:
            continue
        if entry.subject.get("store") != location:
            continue
        if entry.action == "forget":
            for key in entry.refs:
                record.pop(key, None)
            continue
        key, digest = entry.subject.get("snapshot"), entry.hashes.get("snapshot_sha256")
        if entry.outcome == "success" and key and digest:
            record[key] = RecordedSnapshot(key, digest, entry.seq, entry.subject.get("source", ""))
    return sorted(record.values(), key=lambda r: r.seq)
