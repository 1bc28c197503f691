"""An incident's life cycle: open (72-hour clock), contain (reversible revocation), way back, close.

Every step appends to the audit log and updates the incident's row in the catalog (``incident``):

| step | audit action | state after |
|---|---|---|
| ``open_incident`` | ``incident.open`` (kind, scopes, ``notify_by``) | ``open`` |
| ``contain`` | ``key.revoke`` per scope (key ids), and per KMS key disabled | ``contained`` |
| ``way_back`` ``reenable`` | ``key.reenable`` per scope (and KMS ``EnableKey``) | ``restored`` |
| ``way_back`` ``rotate`` | ``key.reenable`` per scope, then ``key.rotate`` (new KEK) | ``restored`` |
| ``close_incident`` | ``incident.close`` (resolution) | ``closed`` |

Rotation: a new KEK wraps every key-store key and the old KEK's wraps are dropped.

``notify_by`` = detection + 72 hours: GDPR Art 33(1) (the supervisory authority "without undue
delay and, where feasible, not later than 72 hours after having become aware"); PIPL Art 57 asks
for immediate remedial measures and notification of the authority and the individuals. Keeping
the scopes revoked is also a way out: destroying their keys then goes through the purge, after
approval, never from here.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from custody.catalog.schema import incident as incident_table

NOTIFY_WITHIN = timedelta(hours=72)
KINDS = ("breach", "key_exposure", "unauthorised_access", "loss", "drill")
WAYS_BACK = ("reenable", "rotate")


class IncidentError(Exception):
    """An incident step that cannot run (unknown incident, wrong state, unknown kind or scope)."""


@dataclass(frozen=True)
class Incident:
    """An incident as recorded: ids, times (UTC ISO 8601), state and the scopes it revoked."""

    incident_id: str
    kind: str
    detected_at: str
    opened_at: str
    notify_by: str
    state: str
    scopes: list[str]
    closed_at: str | None
    resolution: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _engine(url: str) -> sa.Engine:
    return sa.create_engine(url, poolclass=sa.pool.NullPool)


def _utc(v: datetime | None) -> str | None:
    if v is None:
        return None
    return (v if v.tzinfo else v.replace(tzinfo=UTC)).isoformat(timespec="seconds")


def _audit(catalog_url: str, action: str, incident_id: str, **fields: Any) -> int:
    from custody.audit.log import AuditLog

    subject = {"incident_id": incident_id, **fields.pop("subject", {})}
    with AuditLog(catalog_url) as log:
        return log.append(action, subject=subject, **fields).seq


def load_incident(catalog_url: str, incident_id: str) -> Incident:
    """The incident ``incident_id``. Raises ``IncidentError`` when there is none."""
    engine = _engine(catalog_url)
    try:
        with engine.connect() as conn:
            r = conn.execute(sa.select(incident_table).where(incident_table.c.incident_id == incident_id)).first()
    finally:
        engine.dispose()
    if r is None:
        raise IncidentError(f"no incident {incident_id!s:.40}")
    return Incident(r.incident_id, r.kind, _utc(r.detected_at), _utc(r.opened_at), _utc(r.notify_by), r.state,
                    json.loads(r.scopes), _utc(r.closed_at), r.resolution)


def _set(catalog_url: str, incident_id: str, **values: Any) -> None:
    engine = _engine(catalog_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.update(incident_table).where(incident_table.c.incident_id == incident_id).values(**values))
    finally:
        engine.dispose()


def open_incident(catalog_url: str, kind: str, scopes: list[str], *, detected_at: datetime | None = None,
                  incident_id: str | None = None) -> Incident:
    """Open an incident over ``scopes`` (``<source>/<retention_class>``); idempotent on ``incident_id``.

    ``detected_at``: when Custody's operator became aware (default now): the 72-hour clock starts
    there. Raises ``IncidentError`` for an unknown kind or no scope.
    """
    from custody.catalog import require_head

    if kind not in KINDS:
        raise IncidentError(f"unknown incident kind {kind!r}; one of {', '.join(KINDS)}")
    if not scopes:
        raise IncidentError("an incident names at least one scope (<source>/<retention_class>)")
    incident_id = incident_id or uuid.uuid4().hex
    engine = _engine(catalog_url)
    try:
        require_head(engine)
    finally:
        engine.dispose()
    try:
        return load_incident(catalog_url, incident_id)
    except IncidentError:
        pass
    now = datetime.now(UTC).replace(microsecond=0)
    detected = (detected_at or now).astimezone(UTC).replace(microsecond=0)
    notify_by = detected + NOTIFY_WITHIN
    _audit(catalog_url, "incident.open", incident_id, counts={"scopes": len(scopes)}, refs=list(scopes),
           details={"kind": kind, "detected_at": detected.isoformat(), "notify_by": notify_by.isoformat()})
    engine = _engine(catalog_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.insert(incident_table).values(
                incident_id=incident_id, kind=kind, detected_at=detected, opened_at=now, notify_by=notify_by,
                state="open", scopes=json.dumps(sorted(set(scopes)))))
    finally:
        engine.dispose()
    return load_incident(catalog_url, incident_id)


def contain(catalog_url: str, incident_id: str, keyring: Any, *, kms: bool = False) -> dict[str, Any]:
    """Revoke every scope of the incident (reversible); with ``kms``, also KMS ``DisableKey`` on the KEK.

    Returns ``{"revoked": {scope: [key ids]}, "kms_disabled": arn or None}``. Idempotent (a revoked
    scope stays revoked). Raises ``IncidentError``, ``UnknownKeyError`` for a scope without keys.
    """
    from custody.crypto.revocation import disable_kms_key, revoke_scope

    inc = load_incident(catalog_url, incident_id)
    if inc.state == "closed":
        raise IncidentError(f"incident {incident_id} is closed")
    revoked = {}
    for scope in inc.scopes:
        ids = revoke_scope(keyring, scope)
        revoked[scope] = ids
        _audit(catalog_url, "key.revoke", incident_id, subject={"scope": scope}, key_ids=ids,
               counts={"keys": len(ids)})
    arn = disable_kms_key(keyring) if kms else None
    if arn:
        _audit(catalog_url, "key.revoke", incident_id, subject={"kek_id": arn}, key_ids=[arn],
               details={"kms": "DisableKey"})
    _set(catalog_url, incident_id, state="contained")
    return {"revoked": revoked, "kms_disabled": arn}


def way_back(catalog_url: str, incident_id: str, keyring: Any, *, how: str = "reenable") -> dict[str, Any]:
    """Restore access: ``reenable`` the revoked scope keys (and a disabled KMS key), or ``rotate``:
    re-enable, then rotate the KEK (a local keyring gets a new KEK; a KMS keyring must be opened
    with the new KMS key active and the old one retired) so the key store is re-wrapped and the
    old KEK protects nothing. Returns what was done (ids, counts). Raises ``IncidentError``.
    """
    from custody.crypto.revocation import enable_kms_key, enable_scope

    if how not in WAYS_BACK:
        raise IncidentError(f"the way back is one of {', '.join(WAYS_BACK)}")
    inc = load_incident(catalog_url, incident_id)
    if inc.state == "closed":
        raise IncidentError(f"incident {incident_id} is closed")
    enabled = {}
    for scope in inc.scopes:
        ids = enable_scope(keyring, scope)
        enabled[scope] = ids
        _audit(catalog_url, "key.reenable", incident_id, subject={"scope": scope}, key_ids=ids,
               counts={"keys": len(ids)})
    arn = enable_kms_key(keyring)
    if arn:
        _audit(catalog_url, "key.reenable", incident_id, subject={"kek_id": arn}, key_ids=[arn],
               details={"kms": "EnableKey"})
    result: dict[str, Any] = {"enabled": enabled, "kms_enabled": arn, "rotation": None}
    if how == "rotate":
        base = keyring.base
        if hasattr(base, "add_key"):
            base.add_key()
        rot = keyring.rotate()
        _audit(catalog_url, "key.rotate", incident_id, subject={"kek_id": rot["kek_id"]},
               key_ids=[rot["kek_id"], *rot["retired_kek_ids"]],
               counts={"keys": rot["keys"], "rewrapped": rot["rewrapped"], "wraps_dropped": rot["wraps_dropped"]})
        result["rotation"] = rot
    _set(catalog_url, incident_id, state="restored", resolution=how)
    return result


def close_incident(catalog_url: str, incident_id: str, *, resolution: str) -> Incident:
    """Close the incident with ``resolution`` (``reenable``, ``rotate`` or ``kept_revoked``)."""
    inc = load_incident(catalog_url, incident_id)
    if inc.state == "closed":
        return inc
    now = datetime.now(UTC).replace(microsecond=0)
    _audit(catalog_url, "incident.close", incident_id, counts={"scopes": len(inc.scopes)},
           details={"resolution": resolution, "state_before": inc.state})
    _set(catalog_url, incident_id, state="closed", closed_at=now, resolution=resolution)
    return load_incident(catalog_url, incident_id)


def incident_dir(home: Any, incident_id: str) -> Any:
    """``<CUSTODY_HOME>/incidents/<incident_id>``: the affected inventory and the drafts."""
    from pathlib import Path

    return Path(home) / "incidents" / incident_id


def assess(catalog_url: str, home: Any, incident_id: str, *, store: Any, keyring: Any) -> dict[str, Any]:
    """Write the affected inventory (``affected.json``, ``custody.incident.affected``) before containment;
    appends a ``report`` entry with its SHA-256. Returns ``{"path", "sha256", "totals"}``."""
    import hashlib

    from custody.canonical import canonical_json
    from custody.fsio import atomic_write_bytes
    from custody.incident.affected import affected_inventory

    inc = load_incident(catalog_url, incident_id)
    doc = affected_inventory(catalog_url, inc.scopes, store=store, keyring=keyring, incident_id=incident_id)
    data = canonical_json(doc)
    path = incident_dir(home, incident_id) / "affected.json"
    atomic_write_bytes(path, data, mode=0o640)
    sha = hashlib.sha256(data).hexdigest()
    _audit(catalog_url, "report", incident_id, subject={"report": "incident/affected"},
           hashes={"affected_sha256": sha}, counts={"rows": doc["totals"]["rows"],
                                                     "subjects": doc["totals"]["subjects"]})
    return {"path": str(path), "sha256": sha, "totals": doc["totals"]}


def draft(catalog_url: str, home: Any, incident_id: str) -> dict[str, dict[str, str]]:
    """Write the PIPL Art 57 and GDPR Art 33 drafts (zh-CN, en) from the incident and ``affected.json``;
    appends a ``report`` entry with each file's SHA-256. Raises ``IncidentError`` without an assessment."""
    from custody.incident.drafts import write_drafts

    inc = load_incident(catalog_url, incident_id)
    folder = incident_dir(home, incident_id)
    try:
        affected = json.loads((folder / "affected.json").read_bytes())
    except FileNotFoundError:
        raise IncidentError(f"incident {incident_id} has no affected inventory yet: assess it first") from None
    out = write_drafts(folder, inc.as_dict(), affected)
    _audit(catalog_url, "report", incident_id, subject={"report": "incident/notification-drafts"},
           hashes={k.replace("-", "_").replace(".", "_").lower(): v["sha256"] for k, v in out.items()})
    return out
