"""Retention of snapshots: which to keep, recorded before anything is deleted, then pruning.

Rules work like restic's ``forget --keep-last/--keep-daily/--keep-weekly/--keep-monthly/--keep-yearly``,
per source: snapshots are walked newest first; ``keep_last=n`` keeps the n newest; a calendar rule
(``keep_daily=n`` ...) keeps the newest snapshot of each of the n most recent days (ISO weeks,
months, years) that have one. A snapshot is kept if any rule keeps it, and the plan lists every
rule that did. Calendar buckets are in UTC.

Order of ``apply_retention`` (each step only after the previous one succeeded):

1. plan: every snapshot, keep or forget, with its reasons (``plan_retention``);
2. record: the sealed plan written to ``retention/<plan_id>.json`` in the store and read back
   (and, given a catalog engine, inserted there) BEFORE anything is deleted;
3. forget: delete the forgotten snapshot documents;
4. prune: delete objects no remaining snapshot references (the referenced set is built from the
   documents still present after step 3, all of which must load with a valid seal).

Nothing referenced by a kept snapshot is deleted: prune reads the referenced set fresh from the
store under an exclusive ``prune`` lock that excludes running backups. PIPL Art 19 and Art 47(1)(2):
retain no longer than necessary; GB/T 35273-2020 §6.1 storage limitation; GDPR Art 5(1)(e).
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from custody.crypto.keyring import Keyring
from custody.documents import RetentionDecision, RetentionPlanDocument
from custody.store.backends import ObjectStore, StoreError
from custody.store.locks import stale_locks, store_lock
from custody.store.snapshots import SnapshotError, list_snapshots, load_snapshot

log = logging.getLogger(__name__)

OBJECT_PREFIX = "objects/"


class RetentionError(Exception):
    """A retention plan cannot be made or applied (empty policy, unreadable snapshot, lock held)."""


class RetentionPolicy(BaseModel):
    """How many snapshots to keep per source, by rule (0 disables a rule).

    ``keep_last``: the n newest. ``keep_daily`` / ``keep_weekly`` / ``keep_monthly`` /
    ``keep_yearly``: the newest snapshot in each of the n most recent UTC days / ISO weeks /
    months / years that have one. At least one rule must be positive (an empty policy would forget
    everything, so it is refused, as restic does). Raises ``pydantic.ValidationError``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    keep_last: int = Field(default=0, ge=0)
    keep_daily: int = Field(default=0, ge=0)
    keep_weekly: int = Field(default=0, ge=0)
    keep_monthly: int = Field(default=0, ge=0)
    keep_yearly: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _not_empty(self) -> RetentionPolicy:
        if not any((self.keep_last, self.keep_daily, self.keep_weekly, self.keep_monthly, self.keep_yearly)):
            raise ValueError("a retention policy needs at least one keep_* rule above 0")
        return self


_RULES: list[tuple[str, Callable[[datetime, str], str]]] = [
    ("last", lambda t, key: key),
    ("daily", lambda t, key: t.strftime("%Y-%m-%d")),
    ("weekly", lambda t, key: "%04d-W%02d" % t.isocalendar()[:2]),
    ("monthly", lambda t, key: t.strftime("%Y-%m")),
    ("yearly", lambda t, key: t.strftime("%Y")),
]


@dataclass(frozen=True)
class Decision:
    """One snapshot in a plan: ``action`` keep/forget and the rules that kept it.

    ``reasons`` are rule names with their bucket, e.g. ``("last", "daily 2026-11-30")``.
    """

    snapshot_key: str
    snapshot_id: str
    source: str
    created_at: str
    action: Literal["keep", "forget"]
    reasons: tuple[str, ...] = ()


@dataclass
class RetentionPlan:
    """A retention plan for one store: ``decisions`` newest first per source, no values."""

    plan_id: str
    location: str
    created_at: str
    policy: RetentionPolicy
    decisions: list[Decision] = field(default_factory=list)

    @property
    def keep(self) -> list[Decision]:
        """Decisions to keep."""
        return [d for d in self.decisions if d.action == "keep"]

    @property
    def forget(self) -> list[Decision]:
        """Decisions to forget."""
        return [d for d in self.decisions if d.action == "forget"]

    def to_doc(self) -> RetentionPlanDocument:
        """The plan as its sealed-document model (``retention/<plan_id>.json``)."""
        return RetentionPlanDocument(
            plan_id=self.plan_id, location=self.location, created_at=self.created_at,
            policy=self.policy.model_dump(),
            decisions=[RetentionDecision(snapshot_key=d.snapshot_key, snapshot_id=d.snapshot_id, source=d.source,
                                         created_at=d.created_at, action=d.action, reasons=list(d.reasons))
                       for d in self.decisions],
        )

    def render(self) -> str:
        """Plain-text table of the plan for logs and the CLI (ids, dates, reasons; never values)."""
        lines = [
            f"retention plan {self.plan_id} for {self.location}: keep {len(self.keep)}, "
            f"forget {len(self.forget)}"
        ]
        for d in self.decisions:
            lines.append(f"  {d.action:<6} {d.snapshot_id:<60} {d.created_at}  {', '.join(d.reasons)}")
        return "\n".join(lines)


def _parse_time(text: str) -> datetime:
    t = datetime.fromisoformat(text)
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).astimezone(UTC)


def decide(snapshots: list[tuple[str, str, str, str]], policy: RetentionPolicy) -> list[Decision]:
    """Apply ``policy`` to ``(snapshot_key, snapshot_id, source, created_at ISO)`` tuples.

    Pure function (no store access). Returns decisions grouped by source, newest first within each.
    """
    limits = {
        "last": policy.keep_last,
        "daily": policy.keep_daily,
        "weekly": policy.keep_weekly,
        "monthly": policy.keep_monthly,
        "yearly": policy.keep_yearly,
    }
    out: list[Decision] = []
    for source in sorted({s[2] for s in snapshots}):
        group = sorted(
            (s for s in snapshots if s[2] == source), key=lambda s: (_parse_time(s[3]), s[0]), reverse=True
        )
        left = dict(limits)
        last_bucket: dict[str, str | None] = {name: None for name in limits}
        for key, sid, src, created in group:
            t = _parse_time(created)
            reasons = []
            for name, bucket_of in _RULES:
                if left[name] <= 0:
                    continue
                bucket = bucket_of(t, key)
                if bucket != last_bucket[name]:
                    last_bucket[name] = bucket
                    left[name] -= 1
                    reasons.append(name if name == "last" else f"{name} {bucket}")
            out.append(Decision(key, sid, src, created, "keep" if reasons else "forget", tuple(reasons)))
    return out


def plan_retention(
    store: ObjectStore,
    keyring: Keyring,
    policy: RetentionPolicy,
    *,
    source: str | None = None,
) -> RetentionPlan:
    """Make a retention plan for the snapshots in ``store`` (optionally one source). Deletes nothing.

    Every snapshot document must load with a valid seal, else ``RetentionError`` (a document that
    cannot be read cannot be judged, and its objects cannot be known).
    """
    rows = []
    for key in list_snapshots(store, source):
        try:
            doc = load_snapshot(store, key, keyring)
        except SnapshotError as exc:
            raise RetentionError(f"cannot plan retention: {exc}") from None
        rows.append((key, doc.snapshot_id, doc.source, doc.created_at))
    now = datetime.now(UTC)
    return RetentionPlan(
        plan_id=f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}",
        location=store.location,
        created_at=now.isoformat(timespec="seconds"),
        policy=policy,
        decisions=decide(rows, policy),
    )


def record_plan(store: ObjectStore, plan: RetentionPlan, keyring: Keyring) -> str:
    """Write the sealed plan to ``retention/<plan_id>.json`` and read it back; returns the key.

    Raises ``StoreError`` / ``RetentionError`` if it cannot be stored intact.
    """
    doc = plan.to_doc()
    key = doc.key()
    data = json.dumps(doc.sealed(keyring), indent=1, ensure_ascii=False).encode()
    store.put_bytes(key, data)
    if store.get_bytes(key) != data:
        raise RetentionError(f"{store.location}: retention plan {key} read back differently")
    return key


def referenced_objects(store: ObjectStore, keyring: Keyring) -> set[str]:
    """Object keys referenced by every snapshot document now in ``store``.

    Raises ``RetentionError`` if any document fails to load: pruning must then stop.
    """
    refs: set[str] = set()
    for key in list_snapshots(store):
        try:
            doc = load_snapshot(store, key, keyring)
        except SnapshotError as exc:
            raise RetentionError(f"prune stopped, a snapshot cannot be read: {exc}") from None
        refs.update(item.key for item in doc.objects)
    return refs


def prune(store: ObjectStore, keyring: Keyring, *, dry_run: bool = False) -> dict[str, int]:
    """Delete objects that no snapshot document in ``store`` references. Call under a ``prune`` lock.

    Returns ``{"referenced", "unreferenced", "deleted"}`` (counts). Raises ``RetentionError``.
    """
    refs = referenced_objects(store, keyring)
    unreferenced = [k for k in store.list_keys(OBJECT_PREFIX) if k not in refs]
    deleted = 0
    if not dry_run:
        for k in unreferenced:
            store.delete(k)
            deleted += 1
    return {"referenced": len(refs), "unreferenced": len(unreferenced), "deleted": deleted}


@dataclass
class RetentionResult:
    """What ``apply_retention`` did: the plan, where it was recorded, and deletion counts."""

    plan: RetentionPlan
    plan_key: str
    forgotten: int
    pruned: dict[str, int]
    stale_locks_removed: int = 0
    temporary_removed: int = 0

    def summary(self) -> dict[str, Any]:
        """Small JSON-able summary (XCom, logs): ids and counts only."""
        return {
            "plan_id": self.plan.plan_id,
            "plan_key": self.plan_key,
            "location": self.plan.location,
            "kept": len(self.plan.keep),
            "forgotten": self.forgotten,
            **{f"objects_{k}": v for k, v in self.pruned.items()},
            "stale_locks_removed": self.stale_locks_removed,
            "temporary_removed": self.temporary_removed,
        }


def apply_retention(
    store: ObjectStore,
    keyring: Keyring,
    policy: RetentionPolicy,
    *,
    source: str | None = None,
    dry_run: bool = False,
    catalog_engine: Any | None = None,
    on_plan: Callable[[RetentionPlan], None] | None = None,
) -> RetentionResult:
    """Plan, record, forget and prune, in that order, under an exclusive ``prune`` lock; then remove
    the locks and temporary files (``sweep_temporary``) that killed processes left.

    ``on_plan`` receives the plan after it is recorded and before any deletion (the CLI prints it).
    ``catalog_engine`` (SQLAlchemy engine of the catalog) also records the plan there first.
    ``dry_run`` records nothing and deletes nothing but still returns the plan and prune counts.
    Raises ``RetentionError``, ``StoreError`` (``StoreLockedError`` while a backup runs).
    """
    with store_lock(store, "prune"):
        plan = plan_retention(store, keyring, policy, source=source)
        if dry_run:
            if on_plan:
                on_plan(plan)
            pruned = prune(store, keyring, dry_run=True)
            # In a dry run the forgotten documents still exist; count what forgetting would free.
            forgotten_refs: set[str] = set()
            for d in plan.forget:
                forgotten_refs.update(
                    i.key for i in load_snapshot(store, d.snapshot_key, keyring).objects
                )
            kept_refs: set[str] = set()
            for d in plan.keep:
                kept_refs.update(i.key for i in load_snapshot(store, d.snapshot_key, keyring).objects)
            pruned["unreferenced"] += len(forgotten_refs - kept_refs)
            return RetentionResult(plan, "", 0, pruned)
        plan_key = record_plan(store, plan, keyring)
        if catalog_engine is not None:
            from custody.store.ledger import record_retention_plan

            record_retention_plan(catalog_engine, plan.to_doc(), plan_key)
        log.info("%s", plan.render())
        if on_plan:
            on_plan(plan)
        forgotten = 0
        for d in plan.forget:
            store.delete(d.snapshot_key)
            forgotten += 1
        pruned = prune(store, keyring)
        stale = 0
        for k in stale_locks(store):
            try:
                store.delete(k)
                stale += 1
            except StoreError:
                pass
        # What killed writers left: partial files (local) or incomplete uploads (S3).
        sweep = getattr(store, "sweep_temporary", None)
        swept = sweep() if sweep else 0
        if catalog_engine is not None:
            from custody.store.ledger import mark_plan_applied

            mark_plan_applied(catalog_engine, plan.plan_id, forgotten, pruned["deleted"])
    log.info(
        "%s: retention %s forgot %d snapshots, pruned %d objects",
        store.location,
        plan.plan_id,
        forgotten,
        pruned["deleted"],
    )
    return RetentionResult(plan, plan_key, forgotten, pruned, stale, swept)
