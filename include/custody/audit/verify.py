"""Verify the audit log as a third party would: from the entries, the checkpoints and a public key.

``verify_log`` follows ``docs/format.md`` section 8.6 and trusts nothing the database says about
itself:

1. every entry row is read in ``seq`` order; the sequence must run 0, 1, 2, ... without gaps; each
   entry must be the canonical encoding of a valid entry whose own ``seq`` is its row's, whose
   filter columns agree with it, and whose recorded leaf hash is ``SHA-256(0x00 || entry)``;
2. the leaves are recomputed from the entries (never read from the ``leaf_hash`` column) and the
   head row's size is compared with their number;
3. every checkpoint, in the catalog and in each store given (every S3 version), must carry a
   signature of a trusted key; the log's tree at its size must have its root; a checkpoint beyond
   the log's end means a truncated log;
4. consecutive checkpoints (by size) must be consistent: an RFC 9162 consistency proof between
   them, built from leaves that give the newer root, must verify (else the log forked);
5. where the log and a checkpoint disagree, the leaf hashes kept in the stores beside the
   checkpoints (which the checkpoint's root authenticates) name the first entry that differs.

The report names the first bad entry (lowest ``seq`` any finding implies) and every finding; no
finding carries an entry's content, only sequence numbers, ids, sizes and hash prefixes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from custody.audit.checkpoints import (
    Checkpoint,
    CheckpointError,
    catalog_notes,
    parse_checkpoint,
    read_store_checkpoints,
    roots_at,
    store_leaves,
)
from custody.audit.entries import EntryError, decode
from custody.audit.log import AuditLog
from custody.audit.merkle import ProofError, consistency_proof, root, verify_consistency
from custody.audit.signing import NoteError, Verifier


@dataclass(frozen=True)
class Finding:
    """One problem: ``kind`` (``entry``, ``head``, ``checkpoint``, ``store``, ``fork``), ``where``
    (``entry 17``, a checkpoint's place), ``message``; ``seq``: the first bad entry it implies."""

    kind: str
    where: str
    message: str
    seq: int | None = None


@dataclass
class AuditReport:
    """Outcome of ``verify_log``: ``size`` entries read, their ``root``, the checkpoints that
    verified, the ``latest`` of them, the stores read, the trusted keys and every ``findings``."""

    size: int = 0
    root: bytes = b""
    checkpoints: int = 0
    latest: Checkpoint | None = None
    stores: list[str] = field(default_factory=list)
    trusted: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing was found."""
        return not self.findings

    @property
    def first_bad_entry(self) -> int | None:
        """The lowest sequence number any finding implies, or None."""
        seqs = [f.seq for f in self.findings if f.seq is not None]
        return min(seqs) if seqs else None

    def first(self) -> Finding | None:
        """The finding about the first bad entry, else the first finding."""
        bad = self.first_bad_entry
        for f in self.findings:
            if f.seq == bad:
                return f
        return self.findings[0] if self.findings else None

    def summary(self) -> dict[str, Any]:
        """JSON-able summary (for reports and ``--json``): counts, hashes, sizes, messages."""
        latest = self.latest
        return {
            "ok": self.ok, "entries": self.size, "root": self.root.hex(), "checkpoints": self.checkpoints,
            "latest_checkpoint": None if latest is None else {
                "size": latest.size, "root": latest.root.hex(), "signed_at": latest.signed_at,
                "signers": list(latest.signers), "note_sha256": latest.digest},
            "stores": self.stores, "trusted_keys": self.trusted, "first_bad_entry": self.first_bad_entry,
            "findings": [{"kind": f.kind, "where": f.where, "message": f.message, "seq": f.seq}
                         for f in self.findings],
        }


def _check_entry(entry: Any, row: Any, previous_at: str, add: Any) -> None:
    """One decoded entry against its row: its own ``seq``, the filter columns, the time order."""
    where = f"entry {row.seq}"
    if entry.seq != row.seq:
        add(Finding("entry", where, f"{where} holds the entry numbered {entry.seq} (moved or swapped)", row.seq))
    columns = {"action": entry.action, "outcome": entry.outcome, "actor": entry.actor.label()[:400],
               "source": entry.source, "run_key": entry.run_key, "recorded_at": datetime.fromisoformat(entry.at)}
    stored = {"action": row.action, "outcome": row.outcome, "actor": row.actor, "source": row.source,
              "run_key": row.run_key, "recorded_at": row.recorded_at}
    for name in [n for n in columns if columns[n] != stored[n]]:
        add(Finding("entry", where, f"{where}: column {name!r} differs from the recorded entry", row.seq))
    if entry.at < previous_at:
        add(Finding("entry", where, f"{where} is dated before the entry preceding it (reordered)", row.seq))


def _check_entries(log: AuditLog, report: AuditReport, decode_entries: bool) -> list[bytes]:
    """Steps 1-2: the recomputed leaves, in row order; findings for every entry-level problem."""
    add = report.findings.append
    leaves: list[bytes] = []
    expected = 0
    previous_at = ""
    for row in log.rows():
        if row.seq != expected:
            add(Finding("entry", f"entry {expected}",
                        f"entries {expected}..{row.seq - 1} are missing: the sequence jumps from "
                        f"{expected - 1} to {row.seq}", expected))
            expected = row.seq
        leaf = row.computed_leaf()
        where = f"entry {row.seq}"
        try:
            entry = decode(row.data) if decode_entries else None
        except EntryError as exc:
            add(Finding("entry", where, f"{where} is not a valid entry: {exc}", row.seq))
        else:
            if entry is not None:
                _check_entry(entry, row, previous_at, add)
                previous_at = max(previous_at, entry.at)
        if row.leaf_hash != leaf.hex():
            add(Finding("entry", where, f"{where}: its recorded leaf hash does not match its content (edited)",
                        row.seq))
        leaves.append(leaf)
        expected += 1
    return leaves


def _first_difference(a: Sequence[bytes], b: Sequence[bytes], upto: int) -> int | None:
    for i in range(upto):
        if i >= len(a) or i >= len(b) or a[i] != b[i]:
            return i
    return None


def verify_log(log: AuditLog, verifiers: Sequence[Verifier], stores: Sequence[Any] = (), *,
               origin: str | None = None, decode_entries: bool = True) -> AuditReport:
    """Check the whole log against the checkpoints in the catalog and in ``stores``.

    ``verifiers``: the public keys trusted to sign checkpoints (a third party's own copy, or the
    deployment's signer); ``origin``: the expected checkpoint origin (None: any);
    ``decode_entries``: False skips step 1's decoding of each entry (its form, own ``seq``,
    columns and time order) and keeps the rest, about ten times cheaper (the run report's check).
    Returns an ``AuditReport``; raises only for I/O (``StoreError``, SQLAlchemy errors).
    """
    report = AuditReport(stores=[s.location for s in stores],
                         trusted=[f"{v.name}+{v.key_id.hex()}" for v in verifiers])
    add = report.findings.append
    leaves = _check_entries(log, report, decode_entries)
    report.size, report.root = len(leaves), root(leaves)
    head = log.size()
    if head > len(leaves):
        add(Finding("head", "head", f"the head records {head} entries but {len(leaves)} remain: entries "
                    f"{len(leaves)}..{head - 1} are missing (truncated)", len(leaves)))
    elif head < len(leaves):
        add(Finding("head", "head", f"the head records {head} entries but {len(leaves)} exist (entries added "
                    "outside the append function)", head))

    found: dict[str, Checkpoint] = {}  # by note digest: one note kept in several places is checked once
    places: dict[str, list[str]] = {}

    def keep(cp: Checkpoint) -> None:
        found.setdefault(cp.digest, cp)
        places.setdefault(cp.digest, []).append(cp.where)

    for note, _ in catalog_notes(log):
        try:
            keep(parse_checkpoint(note, verifiers, origin=origin, where="catalog"))
        except (NoteError, CheckpointError) as exc:
            add(Finding("checkpoint", "catalog", f"a checkpoint in the catalog is refused: {exc}"))
    store_lists: list[list[bytes]] = []
    for store in stores:
        good, bad = read_store_checkpoints(store, verifiers, origin=origin)
        for cp in good:
            keep(cp)
        for where, reason in bad:
            add(Finding("checkpoint", where, f"checkpoint {where} is refused: {reason}"))
        kept, problems = store_leaves(store)
        store_lists.append(kept)
        for p in problems:
            add(Finding("store", store.location, p))

    cps = sorted(found.values(), key=lambda c: (c.size, c.signed_at))
    report.checkpoints = len(cps)
    report.latest = cps[-1] if cps else None
    sizes = {c.size for c in cps}
    log_roots = roots_at(leaves, {s for s in sizes if s <= len(leaves)})
    store_roots = [roots_at(lst, {s for s in sizes if s <= len(lst)}) for lst in store_lists]

    def authentic(cp: Checkpoint) -> Sequence[bytes] | None:
        """Leaves that give ``cp``'s root at its size: the log's, else a store's."""
        if log_roots.get(cp.size) == cp.root:
            return leaves
        for lst, roots in zip(store_lists, store_roots):
            if roots.get(cp.size) == cp.root:
                return lst
        return None

    matched = 0  # the largest checkpoint size the log matched so far
    for cp in cps:
        where = ", ".join(places[cp.digest])
        cp = Checkpoint(cp.origin, cp.size, cp.root, cp.signed_at, cp.note, cp.signers, where)
        if cp.size > len(leaves):
            add(Finding("checkpoint", where, f"{cp.describe()} covers {cp.size} entries but the log has "
                        f"{len(leaves)}: entries {len(leaves)}..{cp.size - 1} are missing (truncated)", len(leaves)))
        elif log_roots[cp.size] == cp.root:
            matched = max(matched, cp.size)
            continue
        source = authentic(cp)
        first = _first_difference(leaves, source, cp.size) if source is not None else None
        if cp.size <= len(leaves):
            if first is not None:
                detail = f"first differing entry: {first} (leaves kept beside the checkpoint)"
            else:
                detail = f"the first differing entry is in {matched}..{cp.size - 1} (no stored leaves to name it)"
            add(Finding("checkpoint", where, f"the log's first {cp.size} entries do not match {cp.describe()}; "
                        f"{detail}", first if first is not None else matched))

    for older, newer in zip(cps, cps[1:]):
        source = authentic(newer)
        if source is None:
            continue  # the newer one matches nothing: already reported above
        try:
            verify_consistency(older.size, newer.size, older.root, newer.root,
                               consistency_proof(older.size, source[:newer.size]))
        except ProofError:
            base = authentic(older)
            first = _first_difference(base, source, older.size) if base is not None else None
            add(Finding("fork", older.where, f"{older.describe()} and {newer.describe()} are not consistent: "
                        "the log forked between them" + (f" at entry {first}" if first is not None else ""), first))
    return report
