"""The actions a recorded milestone starts (``deal.yaml``: ``milestones.<name>.actions``).

- ``inventory_summary`` (due diligence): ``deal/<deal>/<milestone_id>/inventory_summary.json``,
  columns by source, PI type, level and lawful basis from the catalog's inventory, minors (names,
  counts);
- ``pipia_draft`` (due diligence): ``pipia.zh-CN.md``, ``pipia.en.md`` (PIPL Art 55-56, GB/T 39335);
- ``notification_list`` (signing): the PIPL Art 22 list of subjects to tell, encrypted with
  pseudonymous ids, counts by channel, and the notices in Chinese and English;
- ``handover_package`` (closing): the handover package of the configured tables of the source's
  newest snapshot (``custody.handover``), recorded in the catalog;
- ``retention_rules`` (post-closing): ``deal/<deal>/<milestone_id>/retention_rules.json``, one rule
  per handed-over source scope, expiring the transferor's copies
  ``transferor_copies_expire_after_days`` after the milestone.

Paths are under ``CUSTODY_HOME``. Each action appends ``milestone.action`` with the SHA-256 of what
it wrote, and is idempotent (same inputs, same file; the handover package is found, not rebuilt).
The purge does not read ``retention_rules.json``: it is the statement, for the deal's people, of what
expires when. The purge counts from the milestone itself: ``custody.stages.purge`` takes each
milestone's recorded date from the catalog, so the ``retention.yaml`` rules anchored on it (e.g.
``closing`` + 30 days) start to run, and recording post-closing also starts a purge run (its
Asset schedules ``custody_purge``); nothing is destroyed before a person approves the plan.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Any


from custody.canonical import canonical_json
from custody.deal.config import DealConfig
from custody.deal.record import MilestoneRecord
from custody.fsio import atomic_write_bytes
from custody.settings import Settings

RETENTION_FORMAT = "custody-deal-retention"


class ActionError(Exception):
    """An action cannot run (missing configuration, no snapshot); the message names what is missing."""


def output_dir(settings: Settings, record: MilestoneRecord) -> Path:
    """``<home>/deal/<deal>/<milestone_id>``: where a milestone's documents go."""
    return settings.home / "deal" / record.deal / record.milestone_id


def run_milestone_actions(settings: Settings, deal: DealConfig, record: MilestoneRecord, *,
                          store: Any = None, keyring: Any = None) -> dict[str, dict[str, Any]]:
    """Run every action configured for ``record``'s milestone; return ``{action: result}``.

    ``store`` / ``keyring``: the snapshot store and Custody's keyring for ``handover_package``
    (default: the local store under ``CUSTODY_HOME`` and ``CUSTODY_KEYRING``). Results hold paths,
    ids, counts and hashes. Raises ``ActionError`` and the errors of the action's own module.
    """
    results: dict[str, dict[str, Any]] = {}
    for action in deal.actions(record.milestone):
        if action == "inventory_summary":
            results[action] = inventory_summary(settings, deal, record, store=store, keyring=keyring)
        elif action == "pipia_draft":
            results[action] = pipia_draft(settings, deal, record, store=store, keyring=keyring)
        elif action == "notification_list":
            results[action] = notification_list(settings, deal, record, store=store, keyring=keyring)
        elif action == "handover_package":
            results[action] = handover_package(settings, deal, record, store=store, keyring=keyring)
        elif action == "retention_rules":
            results[action] = retention_rules(settings, deal, record)
        _audit(settings, record, action, results[action])
    return results


def _audit(settings: Settings, record: MilestoneRecord, action: str, result: dict[str, Any]) -> None:
    from custody.audit.log import AuditLog

    with AuditLog(settings.catalog_url) as log:
        log.append("milestone.action", subject={"deal": record.deal, "milestone_id": record.milestone_id},
                   hashes={"output_sha256": result["sha256"]}, counts=result.get("counts", {}),
                   details={"action": action, "milestone": record.milestone})


def _write(path: Path, doc: dict[str, Any]) -> dict[str, Any]:
    data = canonical_json(doc)
    atomic_write_bytes(path, data)
    return {"path": str(path), "sha256": hashlib.sha256(data).hexdigest()}


def inventory_summary(settings: Settings, deal: DealConfig, record: MilestoneRecord, *, store: Any = None,
                      keyring: Any = None) -> dict[str, Any]:
    """The value-free data-room summary (``custody.deal.due_diligence``; PIPL Art 51, 55; GDPR Art 30)."""
    from custody.crypto.open import open_keyring
    from custody.deal.due_diligence import inventory_summary_doc
    from custody.store import LocalStore

    keyring = keyring or open_keyring(settings.keyring, key_store=settings.catalog_url)
    store = store or LocalStore(settings.backup_dir)
    doc = inventory_summary_doc(settings, deal.id, record.milestone_id, store=store, keyring=keyring)
    out = _write(output_dir(settings, record) / "inventory_summary.json", doc)
    return {**out, "counts": {"columns": doc["totals"]["columns"], "tables": doc["totals"]["tables"],
                              "minors_under_14": doc["totals"]["minors_under_14"]}}


def pipia_draft(settings: Settings, deal: DealConfig, record: MilestoneRecord, *, store: Any = None,
                keyring: Any = None) -> dict[str, Any]:
    """The PIPIA draft in Chinese and English (``pipia.zh-CN.md``, ``pipia.en.md``; PIPL Art 55-56)."""
    from custody.crypto.open import open_keyring
    from custody.deal.due_diligence import inventory_summary_doc, render_pipia, risk_level
    from custody.store import LocalStore

    keyring = keyring or open_keyring(settings.keyring, key_store=settings.catalog_url)
    store = store or LocalStore(settings.backup_dir)
    summary = inventory_summary_doc(settings, deal.id, record.milestone_id, store=store, keyring=keyring)
    hashes = {}
    for language in ("zh-CN", "en"):
        text = render_pipia(summary, deal, language).encode("utf-8")
        atomic_write_bytes(output_dir(settings, record) / f"pipia.{language}.md", text, mode=0o640)
        hashes[language] = hashlib.sha256(text).hexdigest()
    return {"path": str(output_dir(settings, record) / "pipia.zh-CN.md"),
            "sha256": hashlib.sha256((hashes["zh-CN"] + hashes["en"]).encode()).hexdigest(),
            "files": hashes, "risk": risk_level(summary), "counts": {"languages": 2}}


def notification_list(settings: Settings, deal: DealConfig, record: MilestoneRecord, *, store: Any = None,
                      keyring: Any = None) -> dict[str, Any]:
    """The PIPL Art 22 notification list (encrypted, pseudonymous) and notices (``custody.deal.signing``)."""
    from custody.crypto.open import open_keyring
    from custody.deal.signing import notification_list as build
    from custody.store import LocalStore

    if deal.milestone("closing").handover is None:
        raise ActionError(f"deal {deal.id}: milestones.closing.handover names no tables to notify about")
    keyring = keyring or open_keyring(settings.keyring, key_store=settings.catalog_url)
    store = store or LocalStore(settings.backup_dir)
    return build(settings, deal, record.milestone_id, output_dir(settings, record), store=store, keyring=keyring)


def handover_package(settings: Settings, deal: DealConfig, record: MilestoneRecord, *, store: Any = None,
                     keyring: Any = None) -> dict[str, Any]:
    """Build (or find) the closing's handover package and record it (``custody.handover``)."""
    from custody.crypto.open import open_keyring
    from custody.handover.ledger import record_package
    from custody.handover.package import build_package
    from custody.store import LocalStore, latest_snapshot

    cfg = deal.milestone(record.milestone).handover
    if cfg is None:
        raise ActionError(f"deal {deal.id}: milestones.{record.milestone}.handover is not configured")
    kms = deal.transferee.recipient_kms()
    recipient = None if kms is not None else deal.transferee.recipient_public()
    keyring = keyring or open_keyring(settings.keyring, key_store=settings.catalog_url)
    store = store or LocalStore(settings.backup_dir)
    snapshot = latest_snapshot(store, keyring, cfg.source)
    folder, manifest = build_package(store, snapshot, keyring, tables=list(cfg.tables), recipient_public=recipient,
                                     recipient_kms=kms, out_dir=settings.home / "handover", deal=deal.id,
                                     transferor=deal.transferor.name, transferee=deal.transferee.name)
    rec = record_package(settings.catalog_url, folder, manifest)
    return {"path": str(folder), "sha256": rec["manifest_sha256"], "package_id": rec["package_id"],
            "snapshot": snapshot, "counts": {"tables": len(rec["tables"]), "rows": rec["rows"]}}


def retention_rules(settings: Settings, deal: DealConfig, record: MilestoneRecord) -> dict[str, Any]:
    """The rules that make the transferor's copies expire after closing (PIPL Art 22, 47(1); GDPR Art 5(1)(e)).

    One rule per source handed over (or listed in ``retention.sources``), on its key scope
    ``<source>/<retention_class>``: expires ``transferor_copies_expire_after_days`` after the
    milestone's date; the purge crypto-shreds the scope after approval.
    """
    from custody.config import ConfigError, load_sources

    cfg = deal.milestone(record.milestone).retention
    days = cfg.transferor_copies_expire_after_days if cfg else 30
    sources = list(cfg.sources) if cfg and cfg.sources else []
    if not sources:
        handover = deal.milestone("closing").handover
        sources = [handover.source] if handover else []
    if not sources:
        raise ActionError(f"deal {deal.id}: no source to expire (retention.sources or closing.handover)")
    try:
        classes = {s.name: s.retention_class for s in load_sources(settings=settings).sources}
    except ConfigError:
        classes = {}
    start = dt.date.fromisoformat(record.date)
    rules = [{"source": s, "scope": f"{s}/{classes.get(s, 'customer_contract')}",
              "expires_on": (start + dt.timedelta(days=days)).isoformat(), "action": "crypto_shred",
              "approval": "required"} for s in sources]
    doc = {"format": RETENTION_FORMAT, "version": 1, "deal": deal.id, "milestone_id": record.milestone_id,
           "milestone_date": record.date, "after_days": days, "rules": rules,
           "rule": "PIPL Art 22, 47(1): the transferor deletes what it no longer needs; GDPR Art 5(1)(e), 17"}
    out = _write(output_dir(settings, record) / "retention_rules.json", doc)
    return {**out, "counts": {"rules": len(rules)}}


def act_on_milestone(settings: Settings, milestone: str, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What ``custody_milestone_<milestone>`` runs: find the milestone(s) the run is for, record any
    that came straight from the REST API (an Asset event nobody recorded), run their actions.

    ``events``: the ``extra`` of the run's triggering Asset events (the scheduler may fold several
    into one run; each distinct deal and date is acted on once, oldest first); empty for a manual
    run, which acts on the newest recorded ``milestone``. Returns one ``{"milestone": record,
    "actions": {action: result}}`` per milestone (ids, paths, counts, hashes). Raises
    ``ActionError`` when there is nothing to act on, ``ConfigError``, ``MilestoneError``.
    """
    from custody.deal.config import load_deals
    from custody.deal.record import latest_milestone, record_milestone

    deals = load_deals(settings=settings)
    todo: list[tuple[DealConfig, MilestoneRecord]] = []
    seen: set[tuple[str, str]] = set()
    for extra in events:
        if not extra.get("deal") or not extra.get("date") or (str(extra["deal"]), str(extra["date"])) in seen:
            continue
        seen.add((str(extra["deal"]), str(extra["date"])))
        deal = deals.deal(str(extra["deal"]))
        via = "asset" if extra.get("from_rest_api") else str(extra.get("via") or "form")
        todo.append((deal, record_milestone(settings.catalog_url, deal, milestone, extra["date"],
                                            via=via if via in ("form", "api", "asset", "cli") else "asset")))
    if not todo:
        record = latest_milestone(settings.catalog_url, milestone)
        if record is None:
            raise ActionError(f"no {milestone} milestone has been recorded: record it first")
        todo.append((deals.deal(record.deal), record))
    return [{"milestone": rec.as_dict(), "actions": run_milestone_actions(settings, deal, rec)} for deal, rec in todo]
