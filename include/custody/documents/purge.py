"""Documents of a purge: the sealed plan, the guarded approval, the execution record, the certificate.

All live in staging under ``purge/<plan_id>/`` (``custody.documents.layout``); the certificate is
also written to every snapshot store and appended to the audit log. Value-free: items are named
by store keys, S3 version ids, key ids, scopes, counts, bytes and content hashes, rows by their
row key only.
"""

from __future__ import annotations

import hashlib
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from custody.canonical import canonical_json
from custody.documents.base import Document
from custody.documents.layout import document_key

ItemKind = Literal["scope_key", "staging_object", "staging_document", "store_snapshot", "store_object",
                   "s3_version", "s3_delete_marker", "source_row"]
"""What a plan item is: a scope key in the key store; an object or document in staging; a snapshot
document or object in a snapshot store (the local one, or the current S3 object); one S3 object
version or delete marker; one source row (by row key)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PurgeItem(_Model):
    """One thing a plan destroys, with the rule that expired it and when."""

    kind: ItemKind
    ref: str
    source: str
    category: str
    period: str | None = None
    scope: str | None = None
    store: str | None = None
    version_id: str | None = None
    table: str | None = None
    bytes: int = 0
    rows: int = 0
    content_hash: str | None = None
    rule: str
    expired_at: str


class BlockedItem(_Model):
    """An expired item a legal hold keeps: the holds and their reasons."""

    kind: ItemKind
    ref: str
    source: str
    category: str
    period: str | None = None
    scope: str | None = None
    store: str | None = None
    version_id: str | None = None
    hold_ids: list[str]
    reason: str


class ScopeProbe(_Model):
    """The header of one object of a scope to be shredded (object id, scope key id, wrapped data
    key; no data): verification tries to open its data key after the purge, which must fail."""

    scope: str
    object_id: str
    kek_id: str
    wrapped_dek_b64: str


class PurgePlanDocument(Document):
    """``purge/<plan_id>/plan.json``: what a purge will destroy, sealed before anyone approves it.

    ``clock``: the time the plan was judged at; ``policy_version`` / ``policy_sha256``: the
    retention policy in force, frozen in; ``milestones``: the milestones it knew; ``requester``:
    who asked for it; ``items`` / ``blocked``; ``kept``: items judged and kept (counts by reason);
    ``totals``: counts and bytes per kind. ``plan_hash()`` is what the approver approves.
    """

    FORMAT = "custody-purge-plan"
    format: Literal["custody-purge-plan"] = "custody-purge-plan"
    plan_id: str
    created_at: str
    clock: str
    policy_version: str
    policy_sha256: str
    milestones: dict[str, str] = Field(default_factory=dict)
    requester: str
    sources: list[str] = Field(default_factory=list)
    items: list[PurgeItem] = Field(default_factory=list)
    blocked: list[BlockedItem] = Field(default_factory=list)
    kept: dict[str, int] = Field(default_factory=dict)
    totals: dict[str, int] = Field(default_factory=dict)
    probes: list[ScopeProbe] = Field(default_factory=list)

    def key(self) -> str:
        return document_key("purge-plan", plan_id=self.plan_id)

    def plan_hash(self) -> str:
        """SHA-256 (hex) of the canonical JSON of the plan without its seal: the approved identity."""
        return hashlib.sha256(canonical_json(self.body())).hexdigest()

    def summary(self) -> str:
        """One value-free paragraph for the approval body and logs (counts, bytes, scopes, hash)."""
        scopes = sorted({i.scope for i in self.items if i.kind == "scope_key" and i.scope})
        parts = [f"{k} {v}" for k, v in sorted(self.totals.items())]
        blocked = f"; {len(self.blocked)} blocked by legal hold" if self.blocked else ""
        return (f"purge plan {self.plan_id} (policy {self.policy_version}, clock {self.clock}): "
                f"{len(self.items)} items ({', '.join(parts) or 'nothing'}); scope keys: "
                f"{', '.join(scopes) or 'none'}{blocked}; plan sha256 {self.plan_hash()}")


class PurgeApprovalDocument(Document):
    """``purge/<plan_id>/approval.json``: an answer that passed the guard (``custody.purge.guard``).

    Written only by the guard; ``execute`` refuses a plan without it or with another plan hash.
    """

    FORMAT = "custody-purge-approval"
    format: Literal["custody-purge-approval"] = "custody-purge-approval"
    plan_id: str
    plan_sha256: str
    requester: str
    approver: str
    approver_name: str = ""
    approvers: list[str]
    answered_at: str
    checked_at: str
    channel: str = "airflow-hitl"

    def key(self) -> str:
        return document_key("purge-approval", plan_id=self.plan_id)


class StepRecord(_Model):
    """One execution step: counts, bytes and the keys / ids it touched (no values)."""

    step: Literal["keys", "s3", "local", "staging", "source_rows"]
    done: int = 0
    bytes: int = 0
    refused: int = 0
    followups: list[str] = Field(default_factory=list)
    key_ids: list[str] = Field(default_factory=list)
    details: dict[str, str] = Field(default_factory=dict)


class KeyDestruction(_Model):
    """A destroyed scope key: when, by whom, and the key-store certificate that proves it."""

    scope: str
    key_ids: list[str]
    destroyed_at: str
    certificate_id: str
    kek_ids: list[str] = Field(default_factory=list)
    kms_deletion_date: str | None = None
    residual_copies_expire_by: str | None = None


class PurgeExecutionDocument(Document):
    """``purge/<plan_id>/execution.json``: what execution did, step by step, and verification's result."""

    FORMAT = "custody-purge-execution"
    format: Literal["custody-purge-execution"] = "custody-purge-execution"
    plan_id: str
    plan_sha256: str
    started_at: str
    finished_at: str
    steps: list[StepRecord]
    keys: list[KeyDestruction] = Field(default_factory=list)
    verification: dict[str, str | int | bool] = Field(default_factory=dict)
    audit_seq: list[int] = Field(default_factory=list)

    def key(self) -> str:
        return document_key("purge-execution", plan_id=self.plan_id)


class DestructionCertificate(Document):
    """``purge/<plan_id>/certificate.json``: a destruction certificate in the manner of NIST SP 800-88
    Rev. 1 Appendix G, adapted to data (``docs/format.md`` 4.15).

    ``what``: sources, scopes, tables, rows, objects, versions, bytes, content hashes; ``method``
    (cryptographic erase + deletion), ``tool`` / ``tool_version``; ``keys`` (ids, destruction
    dates); ``verification`` (method, result); ``requester``, ``approvers``; ``times``; the audit
    sequence numbers of the purge and the checkpoint it was signed under.
    """

    FORMAT = "custody-destruction-certificate"
    format: Literal["custody-destruction-certificate"] = "custody-destruction-certificate"
    certificate_id: str
    plan_id: str
    plan_sha256: str
    policy_version: str
    issued_at: str
    what: dict[str, int | str | list[str]]
    content_hashes: list[str]
    method: str
    tool: str
    tool_version: str
    keys: list[KeyDestruction]
    verification: dict[str, str | int | bool]
    requester: str
    approvers: list[str]
    times: dict[str, str]
    audit: dict[str, int | str]

    def key(self) -> str:
        return document_key("purge-certificate", plan_id=self.plan_id)
