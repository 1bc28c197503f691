"""The pure planning function: (policy, clock, milestones, holds, inventory) -> purge plan.

No store, database or clock is read here: the caller passes the inventory (``InventoryItem``:
every staging object, snapshot document and object, S3 version and delete marker, scope key and,
when configured, source row) and the time. Decision for each item, in this order:

1. an exempt record kind (audit log, PIPIA, certificates, plans) is never an item: refused here;
2. no rule applies (source x category x lawful basis; date-column rules only to rows): kept;
3. expiry = the **latest** expiry of the rules that apply; a milestone not yet reached, or a row
   without its date, never expires: kept while ``clock < expiry``;
4. expired but covered by a legal hold in force: **blocked**, with the holds' ids and reasons;
5. a scope key whose scope still holds a kept or blocked item: kept (destroying it would destroy
   that item too);
6. otherwise: in the plan.

So no unexpired or held item is ever in a plan, and every expired unheld one is (the property
test in ``tests/retention/test_planning.py``). PIPL Art 19 and 47(1)(2); GB/T 35273-2020 6.1.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import UTC, date, datetime, timedelta

from pydantic import BaseModel, ConfigDict

from custody.canonical import canonical_json
from custody.documents.purge import BlockedItem, ItemKind, PurgeItem, PurgePlanDocument, ScopeProbe
from custody.retention.policy import LoadedPolicy, RetentionPolicyFile, RetentionRule


class InventoryItem(BaseModel):
    """One thing that could be purged, described without values.

    ``anchor_at``: UTC time the retention period counts from when anchored at extraction (for an
    object, its run's extraction; for a scope key, the end of its period, or the newest extraction
    of a scope without one). ``date_value``: a source row's date (date-column rules).
    ``date_column``: ``table.column`` of that date. ``lawful_basis``: the source's (PIPL Art 13).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: ItemKind
    ref: str
    source: str
    category: str
    lawful_basis: str
    anchor_at: datetime
    period: str | None = None
    scope: str | None = None
    store: str | None = None
    version_id: str | None = None
    table: str | None = None
    date_column: str | None = None
    date_value: date | None = None
    bytes: int = 0
    rows: int = 0
    content_hash: str | None = None

    def identity(self) -> tuple[str, str, str | None, str | None]:
        """What makes an item unique in an inventory: kind, ref, store, version id."""
        return (self.kind, self.ref, self.store, self.version_id)


class Judgement(BaseModel):
    """The decision for one item: ``purge``, ``blocked`` or ``keep``, with the reason."""

    model_config = ConfigDict(frozen=True)

    action: str
    reason: str
    rule: str | None = None
    expired_at: datetime | None = None
    hold_ids: tuple[str, ...] = ()


def _utc(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _day_start(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


def rule_expiry(rule: RetentionRule, item: InventoryItem, milestones: dict[str, date]) -> datetime | None:
    """When ``item`` expires under ``rule`` (UTC), or None when it cannot expire yet (milestone not
    reached, row without its date)."""
    delta = timedelta(days=rule.days)
    if rule.anchor == "extraction":
        return _utc(item.anchor_at) + delta
    if rule.anchor == "milestone":
        reached = milestones.get(rule.milestone or "")
        return _day_start(reached) + delta if reached is not None else None
    return _day_start(item.date_value) + delta if item.date_value is not None else None


def _applies(rule: RetentionRule, item: InventoryItem) -> bool:
    if rule.anchor == "date_column":
        return item.kind == "source_row" and item.date_column == rule.date_column
    return True


def judge(item: InventoryItem, policy: RetentionPolicyFile, clock: datetime,
          milestones: dict[str, date]) -> Judgement:
    """Steps 2-4 of the module docstring for one item (the scope-key step needs the whole inventory)."""
    if item.kind == "source_row" and not policy.purge_source_rows:
        return Judgement(action="keep", reason="source rows are not purged (purge_source_rows off)")
    rules = [r for r in policy.rules_for(item.source, item.category, item.lawful_basis) if _applies(r, item)]
    if not rules:
        return Judgement(action="keep", reason="no retention rule applies")
    expiries = [(rule_expiry(r, item, milestones), r) for r in rules]
    if any(e is None for e, _ in expiries):
        pending = next(r for e, r in expiries if e is None)
        return Judgement(action="keep", reason="anchor not reached", rule=pending.name)
    expiry, rule = max(expiries, key=lambda er: (er[0], er[1].name))
    assert expiry is not None
    if _utc(clock) < expiry:
        return Judgement(action="keep", reason="not expired", rule=rule.name, expired_at=expiry)
    holds = policy.holds_for(item.source, item.category, item.period, _utc(clock))
    if holds:
        return Judgement(action="blocked", reason="; ".join(f"legal hold {h.hold_id}: {h.reason}" for h in holds),
                         rule=rule.name, expired_at=expiry, hold_ids=tuple(h.hold_id for h in holds))
    return Judgement(action="purge", reason="expired", rule=rule.name, expired_at=expiry)


def judge_all(inventory: list[InventoryItem], policy: RetentionPolicyFile, clock: datetime,
              milestones: dict[str, date] | None = None) -> list[tuple[InventoryItem, Judgement]]:
    """Every item with its judgement (steps 2-5). ``milestones`` default to the policy's."""
    ms = dict(policy.milestones if milestones is None else milestones)
    judged = [(item, judge(item, policy, clock, ms)) for item in inventory]
    # Step 5: a scope key goes only when nothing of its scope stays.
    staying = {i.scope for i, j in judged if i.kind != "scope_key" and i.scope and j.action != "purge"}
    out = []
    for item, j in judged:
        if item.kind == "scope_key" and j.action == "purge" and item.scope in staying:
            j = Judgement(action="keep", reason="its scope still holds data that is kept", rule=j.rule,
                          expired_at=j.expired_at)
        out.append((item, j))
    return out


def _iso(t: datetime) -> str:
    return _utc(t).astimezone(UTC).isoformat(timespec="seconds")


def plan_purge(
    inventory: list[InventoryItem],
    loaded: LoadedPolicy,
    clock: datetime,
    *,
    requester: str,
    milestones: dict[str, date] | None = None,
    probes: list[ScopeProbe] | None = None,
    created_at: datetime | None = None,
    plan_id: str | None = None,
) -> PurgePlanDocument:
    """Make the (unsealed) purge plan. Pure: same arguments, same plan and same ``plan_hash``.

    ``plan_id`` defaults to ``<clock YYYYMMDDTHHMMSSZ>-<first 8 hex of the plan's content hash>``.
    ``probes``: headers of objects of the scopes whose keys are planned (only those are kept).
    Raises ``ValueError`` for two inventory items with one identity.
    """
    seen: set[tuple[str, str, str | None, str | None]] = set()
    for item in inventory:
        if item.identity() in seen:
            raise ValueError(f"inventory lists {item.kind} {item.ref} twice")
        seen.add(item.identity())
    policy = loaded.policy
    ms = dict(policy.milestones if milestones is None else milestones)
    items: list[PurgeItem] = []
    blocked: list[BlockedItem] = []
    kept: Counter[str] = Counter()
    for item, j in judge_all(inventory, policy, clock, ms):
        common = dict(kind=item.kind, ref=item.ref, source=item.source, category=item.category, period=item.period,
                      scope=item.scope, store=item.store, version_id=item.version_id)
        if j.action == "purge":
            items.append(PurgeItem(**common, table=item.table, bytes=item.bytes, rows=item.rows,
                                   content_hash=item.content_hash, rule=j.rule or "", expired_at=_iso(j.expired_at)))
        elif j.action == "blocked":
            blocked.append(BlockedItem(**common, hold_ids=list(j.hold_ids), reason=j.reason))
        else:
            kept[j.reason] += 1
    order = {k: n for n, k in enumerate(("scope_key", "s3_version", "s3_delete_marker", "store_snapshot",
                                         "store_object", "staging_object", "staging_document", "source_row"))}
    items.sort(key=lambda i: (order[i.kind], i.store or "", i.ref, i.version_id or ""))
    blocked.sort(key=lambda i: (order[i.kind], i.store or "", i.ref, i.version_id or ""))
    totals: Counter[str] = Counter()
    for i in items:
        totals[f"{i.kind}s"] += 1
        totals[f"{i.kind}_bytes"] += i.bytes
        totals["rows"] += i.rows if i.kind in ("staging_object", "source_row") else 0
    shredded = {i.scope for i in items if i.kind == "scope_key"}
    chosen = sorted((p for p in (probes or []) if p.scope in shredded), key=lambda p: (p.scope, p.object_id))
    one_each = list({p.scope: p for p in reversed(chosen)}.values())
    doc = PurgePlanDocument(
        plan_id="pending", created_at=_iso(created_at or clock), clock=_iso(clock),
        policy_version=policy.version, policy_sha256=loaded.sha256,
        milestones={k: v.isoformat() for k, v in sorted(ms.items())}, requester=requester,
        sources=sorted({i.source for i in inventory}), items=items, blocked=blocked, kept=dict(sorted(kept.items())),
        totals={k: v for k, v in sorted(totals.items()) if v}, probes=sorted(one_each, key=lambda p: p.scope),
    )
    if plan_id is None:
        digest = hashlib.sha256(canonical_json(doc.body())).hexdigest()[:8]
        plan_id = f"{_utc(clock):%Y%m%dT%H%M%SZ}-{digest}"
    return doc.model_copy(update={"plan_id": plan_id})
