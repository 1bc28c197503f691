"""Data-subject requests: intake, due dates per regime, and the lifecycle with its audit entries.

A request (``dsr_request`` in the catalog) is an access request (PIPL Art 45, GDPR Art 15/20:
a copy of the subject's rows) or a deletion request (PIPL Art 47, GDPR Art 17). Its subject is
held only as keyed pseudonyms (``custody.dsr.subjects``). The lifecycle::

    received ──verify──▶ verified ──approve──▶ approved ──execute──▶ executed ──close──▶ closed
        │                   │                     │
        ├── reject ─────────┴─────────────────────┴──▶ rejected ──close──▶ closed
        └── extend (once, with a reason) from received / verified / approved ──▶ extended

``extended`` resumes where the request stood: verify when it was not verified, approve when it
was verified, execute when it was approved, or reject. Any other move raises
``TransitionError`` and changes nothing. The approver must be named, must differ from whoever
received and verified the request (a request is never approved by default or by its handler),
and reasons are codes from a fixed list (``EXTENSION_REASONS``, ``REJECTION_REASONS``), never
free text, so nothing a person wrote reaches the catalog or the log.

Every transition, intake included, appends one ``dsr.transition`` audit entry (subject
``request_id``, details ``kind``, ``regime``, ``from``, ``to``, ``due`` (the due date after the
move), reason code, ``data_subject`` the audit pseudonym) in the same call; the state row is updated
only if the entry was written first (the row update runs after the append, so a failed append leaves
the state unchanged; the update is a compare-and-set on the state, and a move that loses a race with
another process is refused and recorded again with outcome ``refused``).

Due dates: ``received + due_days + due_months`` of the request's regime (``include/config/dsr.yaml``,
``custody.config.RegimeConfig``); an extension adds the regime's extension to the due date.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa
from dateutil.relativedelta import relativedelta

from custody.catalog.schema import dsr_request
from custody.config import DsrConfig, RegimeConfig
from custody.dsr.subjects import Subject, pseudonymise

Kind = Literal["access", "deletion"]
KINDS = ("access", "deletion")
STATES = ("received", "verified", "approved", "executed", "closed", "rejected", "extended")
OPEN_STATES = ("received", "verified", "approved", "extended", "executed")

#: GDPR Art 12(3): an extension where necessary, "taking into account the complexity and number of the requests".
EXTENSION_REASONS = ("complexity", "number_of_requests", "identity_check_pending", "data_in_many_systems")
#: Why a request is refused (PIPL Art 50: a refusal states its reason; GDPR Art 12(4), 17(3)).
REJECTION_REASONS = ("identity_not_verified", "manifestly_unfounded", "excessive", "legal_retention_duty",
                     "legal_claims", "no_data_found", "withdrawn")

_USER = re.compile(r"^[\w.@+-]{1,128}$")

# action -> (states it may start from, state it leads to)
_MOVES: dict[str, tuple[tuple[str, ...], str]] = {
    "verify": (("received", "extended"), "verified"),
    "approve": (("verified", "extended"), "approved"),
    "execute": (("approved", "extended"), "executed"),
    "close": (("executed", "rejected"), "closed"),
    "reject": (("received", "verified", "approved", "extended"), "rejected"),
    "extend": (("received", "verified", "approved"), "extended"),
}


class TransitionError(Exception):
    """A lifecycle move that is not allowed from the request's state (nothing was changed)."""


class RequestNotFound(KeyError):
    """No request with that id in the catalog."""


@dataclass(frozen=True)
class Request:
    """One ``dsr_request`` row (times are UTC)."""

    request_id: str
    kind: str
    regime: str
    state: str
    pseudonyms: dict[str, str]
    audit_subject: str
    source: str | None
    received_at: datetime
    due_at: datetime
    received_by: str
    verified_at: datetime | None
    verified_by: str | None
    approved_at: datetime | None
    approved_by: str | None
    executed_at: datetime | None
    closed_at: datetime | None
    extension_reason: str | None
    rejection_reason: str | None

    def days_left(self, now: datetime | None = None) -> int:
        """Whole days until the due date (negative when overdue; a started day counts as one)."""
        seconds = (self.due_at - (now or datetime.now(UTC))).total_seconds()
        days = int(seconds // 86400)
        return days + 1 if seconds % 86400 else days

    def next_moves(self) -> list[str]:
        """The actions allowed from the request's state (``_allowed``)."""
        return [a for a in _MOVES if _allowed(self, a) is None]


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def due_date(received_at: datetime, regime: RegimeConfig) -> datetime:
    """``received_at + due_days days + due_months calendar months`` (month end clamped)."""
    return received_at + relativedelta(months=regime.due_months) + timedelta(days=regime.due_days)


def extended_due(due_at: datetime, regime: RegimeConfig) -> datetime:
    """The due date after the regime's one extension."""
    return due_at + relativedelta(months=regime.extension_months) + timedelta(days=regime.extension_days)


def _allowed(req: Request, action: str) -> str | None:
    """None when ``action`` is allowed on ``req``, else why not (names and states only)."""
    sources, _ = _MOVES[action]
    if req.state not in sources:
        return f"request {req.request_id}: cannot {action} a request in state {req.state}"
    if req.state == "extended":
        done = {"verify": req.verified_at, "approve": req.approved_at, "execute": req.executed_at}
        needs = {"approve": req.verified_at, "execute": req.approved_at}
        if action in done and done[action] is not None:
            return f"request {req.request_id}: already past {action}"
        if action in needs and needs[action] is None:
            before = "verified" if action == "approve" else "approved"
            return f"request {req.request_id}: cannot {action} a request that was not {before}"
    if action == "extend" and req.extension_reason is not None:
        return f"request {req.request_id}: already extended once"
    return None


class RequestBook:
    """The data-subject requests in the catalog at ``url``, with the audit log they write to.

    ``keyring``: a ``ScopedKeyring`` (pseudonym keys); ``audit``: a ``custody.audit.log.AuditLog``
    (default: the catalog's); ``config``: ``DsrConfig`` (default: ``dsr.yaml`` of the config dir).
    Raises ``CatalogNotMigrated`` when the catalog is not at this Custody's revision.
    """

    def __init__(self, url: str | sa.Engine, keyring: Any, *, audit: Any = None, config: DsrConfig | None = None,
                 clock: Any = None) -> None:
        from custody.catalog import require_head

        self.engine = url if isinstance(url, sa.Engine) else sa.create_engine(url)
        require_head(self.engine)
        self.keyring = keyring
        if audit is None:
            from custody.audit.log import AuditLog

            audit = AuditLog(self.engine)
        self.audit = audit
        if config is None:
            from custody.config import load_dsr

            config = load_dsr()
        self.config = config
        self.clock = clock or (lambda: datetime.now(UTC))

    # -- reading ---------------------------------------------------------------------------------
    def get(self, request_id: str) -> Request:
        """The request ``request_id``. Raises ``RequestNotFound``."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(dsr_request).where(dsr_request.c.request_id == request_id)).first()
        if row is None:
            raise RequestNotFound(request_id)
        return _request(row)

    def list(self, *, states: tuple[str, ...] | None = None) -> list[Request]:
        """Requests (optionally only those in ``states``), by due date."""
        stmt = sa.select(dsr_request).order_by(dsr_request.c.due_at, dsr_request.c.request_id)
        if states:
            stmt = stmt.where(dsr_request.c.state.in_(states))
        with self.engine.connect() as conn:
            return [_request(r) for r in conn.execute(stmt)]

    # -- intake ----------------------------------------------------------------------------------
    def receive(self, kind: Kind, identifiers: Mapping[str, Any], *, regime: str | None = None,
                source: str | None = None, actor: Any = None, received_at: datetime | None = None) -> Request:
        """Record a new request (state ``received``) and its first audit entry; returns it.

        ``identifiers``: ``{resident_id | mobile_phone | email: value}``, pseudonymised at once
        (``custody.dsr.subjects.pseudonymise``) and then dropped. ``regime``: a name in
        ``dsr.yaml`` (default its ``default_regime``); ``source``: limit the request to one source
        (None: every source). Raises ``ValueError`` for an unknown kind, ``SubjectError``,
        ``ConfigError`` for an unknown regime.
        """
        if kind not in KINDS:
            raise ValueError(f"unknown request kind {kind!r}; expected {' or '.join(KINDS)}")
        regime_name = regime or self.config.default_regime
        rule = self.config.regime(regime_name)
        subject: Subject = pseudonymise(self.keyring, identifiers)
        now = _utc(received_at) or self.clock()
        request_id = "dsr-" + secrets.token_hex(8)
        actor = actor or _actor()
        due_at = due_date(now, rule)
        self._append(request_id, kind, regime_name, subject.audit, "none", "received", actor, source=source,
                     counts={"identifiers": len(subject.pseudonyms)}, due=due_at)
        with self.engine.begin() as conn:
            conn.execute(sa.insert(dsr_request).values(
                request_id=request_id, kind=kind, regime=regime_name, state="received",
                pseudonyms=json.dumps(subject.pseudonyms, sort_keys=True), audit_subject=subject.audit,
                source=source, received_at=now, due_at=due_at, received_by=_who(actor),
                updated_at=now,
            ))
        return self.get(request_id)

    # -- transitions -----------------------------------------------------------------------------
    def verify(self, request_id: str, *, actor: Any = None) -> Request:
        """``received`` (or ``extended``) -> ``verified``: the requester's identity was checked."""
        return self._move(request_id, "verify", actor)

    def approve(self, request_id: str, *, approver: str, actor: Any = None) -> Request:
        """``verified`` (or ``extended``) -> ``approved`` by ``approver``, who must be named and must
        not be whoever received or verified the request. Raises ``TransitionError``."""
        approver = (approver or "").strip()
        if not approver:
            raise TransitionError(f"request {request_id}: an approval names its approver (never a default)")
        if not _USER.match(approver):
            raise TransitionError(f"request {request_id}: an approver is a user name (letters, digits, . _ @ -)")
        req = self.get(request_id)
        if approver in {req.received_by, req.verified_by}:
            raise TransitionError(f"request {request_id}: the approver received or verified the request; "
                                  "another person approves it")
        return self._move(request_id, "approve", actor, approver=approver)

    def mark_executed(self, request_id: str, *, counts: dict[str, int] | None = None, actor: Any = None,
                      hashes: dict[str, str] | None = None) -> Request:
        """``approved`` (or ``extended`` after approval) -> ``executed``; ``counts`` go into the entry.

        Called by ``custody.dsr.execute`` once the deletion or export is done.
        """
        return self._move(request_id, "execute", actor, counts=counts, hashes=hashes)

    def close(self, request_id: str, *, actor: Any = None) -> Request:
        """``executed`` or ``rejected`` -> ``closed``: the subject was answered."""
        return self._move(request_id, "close", actor)

    def reject(self, request_id: str, reason: str, *, actor: Any = None) -> Request:
        """-> ``rejected`` with a reason code from ``REJECTION_REASONS``. Raises ``TransitionError``."""
        if reason not in REJECTION_REASONS:
            raise TransitionError(f"rejection reason must be one of {', '.join(REJECTION_REASONS)}")
        return self._move(request_id, "reject", actor, reason=reason)

    def extend(self, request_id: str, reason: str, *, actor: Any = None) -> Request:
        """-> ``extended`` once, with a reason code from ``EXTENSION_REASONS``; moves the due date by the
        regime's extension. Raises ``TransitionError`` (no extension in the regime, second extension)."""
        if reason not in EXTENSION_REASONS:
            raise TransitionError(f"extension reason must be one of {', '.join(EXTENSION_REASONS)}")
        req = self.get(request_id)
        if not self.config.regime(req.regime).extendable:
            raise TransitionError(f"request {request_id}: regime {req.regime} allows no extension")
        return self._move(request_id, "extend", actor, reason=reason)

    def _move(self, request_id: str, action: str, actor: Any, *, reason: str | None = None,
              approver: str | None = None, counts: dict[str, int] | None = None,
              hashes: dict[str, str] | None = None) -> Request:
        actor = actor or _actor()
        req = self.get(request_id)
        why = _allowed(req, action)
        if why is not None:
            raise TransitionError(why)
        target = _MOVES[action][1]
        now = self.clock()
        values: dict[str, Any] = {"state": target, "updated_at": now}
        if action == "verify":
            values.update(verified_at=now, verified_by=_who(actor))
        elif action == "approve":
            values.update(approved_at=now, approved_by=approver)
        elif action == "execute":
            values.update(executed_at=now)
        elif action == "close":
            values.update(closed_at=now)
        elif action == "reject":
            values.update(rejection_reason=reason)
        elif action == "extend":
            values.update(extension_reason=reason, due_at=extended_due(req.due_at, self.config.regime(req.regime)))
        self._append(req.request_id, req.kind, req.regime, req.audit_subject, req.state, target, actor,
                     source=req.source, reason=reason, counts=counts, hashes=hashes, approver=approver,
                     due=values.get("due_at", req.due_at))
        with self.engine.begin() as conn:
            # Compare-and-set on the state: a concurrent move of the same request loses, not both.
            done = conn.execute(sa.update(dsr_request).where(
                dsr_request.c.request_id == request_id, dsr_request.c.state == req.state).values(**values)).rowcount
        if done != 1:
            # The entry above recorded a move that lost the race: say so in the log too.
            self._append(req.request_id, req.kind, req.regime, req.audit_subject, req.state, target, actor,
                         source=req.source, reason="ConcurrentChange", outcome="refused")
            raise TransitionError(f"request {request_id}: changed by another process while moving to {target}")
        return self.get(request_id)

    def _append(self, request_id: str, kind: str, regime: str, audit_subject: str, old: str, new: str, actor: Any,
                *, source: str | None, reason: str | None = None, counts: dict[str, int] | None = None,
                hashes: dict[str, str] | None = None, approver: str | None = None, outcome: str = "success",
                due: datetime | None = None) -> None:
        details: dict[str, Any] = {"kind": kind, "regime": regime, "from": old, "to": new}
        if due is not None:
            details["due"] = _utc(due).date().isoformat()
        if approver:
            details["approver"] = approver[:128]
        self.audit.append("dsr.transition", actor=actor, outcome=outcome,
                          subject={"request_id": request_id, "source": source},
                          data_subject=audit_subject, reason=reason, counts=counts or {}, hashes=hashes or {},
                          details=details)


def _actor() -> Any:
    from custody.audit.entries import Actor

    return Actor.from_env()


def _who(actor: Any) -> str:
    """The person behind an actor: the Airflow or operating-system user, else its label."""
    return (getattr(actor, "user", None) or actor.label())[:128]


def _request(row: Any) -> Request:
    return Request(
        request_id=row.request_id, kind=row.kind, regime=row.regime, state=row.state,
        pseudonyms=json.loads(row.pseudonyms), audit_subject=row.audit_subject, source=row.source,
        received_at=_utc(row.received_at), due_at=_utc(row.due_at), received_by=row.received_by,
        verified_at=_utc(row.verified_at), verified_by=row.verified_by, approved_at=_utc(row.approved_at),
        approved_by=row.approved_by, executed_at=_utc(row.executed_at), closed_at=_utc(row.closed_at),
        extension_reason=row.extension_reason, rejection_reason=row.rejection_reason,
    )
