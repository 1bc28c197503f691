"""Audit entries: what one custody action records, and the canonical bytes its leaf is hashed over.

An entry is a JSON object (``docs/format.md`` section 8.1)::

    {"format": "custody-audit-entry", "version": 1, "seq": 17,
     "at": "2026-12-01T09:00:00.123456Z", "actor": {...}, "action": "backup", "outcome": "success",
     "subject": {"source": "crm", "run_key": "...", "store": "...", "snapshot": "..."},
     "counts": {"objects": 12}, "hashes": {"snapshot_sha256": "<64 hex>"}, "key_ids": ["sk-..."],
     "policy_version": null, "data_subject": null, "refs": [], "reason": null, "details": {}}

Its encoding is canonical JSON (``custody.canonical``: sorted keys, no whitespace, UTF-8), and
its Merkle leaf is ``SHA-256(0x00 || encoding)`` (RFC 9162 2.1.1). ``decode`` refuses bytes that
are not exactly the canonical encoding of a valid entry, so one entry has one leaf.

Never a personal value (PIPL Art 51, GB/T 35273-2020 11.x): subjects are names and ids from a
fixed vocabulary, counts are integers, hashes are hex, a data subject appears only as a keyed
pseudonym (``subject_pseudonym``: 32 hex digits, ``custody.crypto.pseudonym``), a failure only as
the exception's class name. Free text is refused by construction: every string field has a
length limit and no control characters, and ``details`` takes short identifiers only.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import socket
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator

from custody.audit.merkle import leaf_hash
from custody.canonical import canonical_json

FORMAT = "custody-audit-entry"
VERSION = 1
PSEUDONYM_SCOPE = "custody/audit"
"""Deal id of the key-store key under which data subjects are pseudonymised in the audit log."""

# Every action the log knows, with what it records. A writer passing another name is refused, so
# a report or auditor can rely on the vocabulary (docs/format.md section 8.1).
ACTIONS: dict[str, str] = {
    "extract.plan": "a run planned: tables, parts, watermarks",
    "extract.part": "one part extracted and encrypted: rows, content hash",
    "extract.commit": "the run manifest sealed, watermarks advanced: rows per run, manifest hash",
    "classify": "every column classified: counts by level, policy version, document hash",
    "validate": "every row validated: valid and quarantined rows, document hash",
    "drift.alert": "inventory drift checked: new sensitive, changed, vanished columns",
    "backup": "a snapshot written to one store and read back: snapshot key and document SHA-256",
    "verify": "snapshots or the audit log read back and checked",
    "restore.files": "a snapshot restored to files",
    "restore.database": "a snapshot restored into a database",
    "forget": "snapshots forgotten by a retention plan",
    "prune": "unreferenced objects deleted from a store",
    "key.create": "a key created",
    "key.rotate": "a key-encryption key rotated (key-store keys re-wrapped)",
    "key.revoke": "a key revoked",
    "key.reenable": "a revoked key enabled again",
    "key.destroy": "a key destroyed (crypto-shredding): certificate id",
    "key.backup": "the key store exported to a store",
    "policy.change": "a classification policy changed",
    "retention.change": "a retention policy changed",
    "report": "a run or compliance report written: file hashes",
    "approval.answer": "a human answered an approval (human-in-the-loop task)",
    "purge.plan": "a purge planned",
    "purge.execute": "a purge executed",
    "purge.certificate": "a purge certificate issued",
    "dsr.transition": "a data-subject request changed state",
    "milestone.record": "a deal milestone recorded",
    "milestone.action": "an action a milestone started, with the SHA-256 of what it wrote",
    "handover.build": "a handover package built for the transferee: tables, rows, manifest hash",
    "handover.acknowledge": "the transferee's receipt of a handover package checked and accepted",
    "incident.open": "an incident opened",
    "incident.close": "an incident closed",
    "transfer.record": "a cross-border transfer recorded: individuals, sensitive individuals, mechanism",
    "pipia.record": "a personal information impact assessment recorded",
    "task.success": "an Airflow task instance succeeded",
    "task.failed": "an Airflow task instance failed (or is up for retry)",
    "task.skipped": "an Airflow task instance skipped itself",
}
OUTCOMES = ("success", "failure", "skipped", "refused")

# What a subject may name. Values are identifiers (a run key, a table name, a store location),
# never a field of a row.
SUBJECT_KEYS = frozenset({
    "source", "run_key", "run_id", "table", "part", "store", "snapshot", "scope", "deal", "key_id",
    "kek_id", "plan_id", "policy", "request_id", "milestone_id", "incident_id", "certificate_id",
    "dag_id", "task_id", "report", "target", "log",
})

_TEXT = r"^[^\x00-\x1f\x7f]*$"  # no control characters: one line per value, no smuggled layout
Text = Annotated[str, StringConstraints(max_length=512, pattern=_TEXT)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_.]*$")]
Hex = Annotated[str, StringConstraints(min_length=8, max_length=128, pattern=r"^[0-9a-f]+$")]
Token = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]
Short = Annotated[str, StringConstraints(max_length=128, pattern=r"^[\w.:/@+=,#-]*$")]
TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")


class EntryError(ValueError):
    """Bytes or fields that are not a valid audit entry; the message names fields, never values."""


def utc_now() -> str:
    """The current UTC time as an entry's ``at``: ``YYYY-MM-DDTHH:MM:SS.ffffffZ``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Actor(BaseModel):
    """Who acted: an Airflow task (DAG, run, task, try, map index) or a command-line user.

    ``kind``: ``airflow`` (a task, or the Airflow UI/API for approvals), ``cli`` (``user@host``) or
    ``process`` (any other caller). ``user``: the Airflow user or the operating-system user.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["airflow", "cli", "process"]
    user: Text | None = None
    host: Text | None = None
    dag_id: Text | None = None
    run_id: Text | None = None
    task_id: Text | None = None
    try_number: int | None = None
    map_index: int | None = None

    def label(self) -> str:
        """One line naming the actor: ``airflow:<dag>/<run>/<task>[<map>]#<try>`` or ``cli:user@host``."""
        if self.kind == "airflow" and self.dag_id:
            where = "/".join(p for p in (self.dag_id, self.run_id, self.task_id) if p)
            if self.map_index is not None and self.map_index >= 0:
                where += f"[{self.map_index}]"
            if self.try_number:
                where += f"#{self.try_number}"
            return f"airflow:{where}" + (f" by {self.user}" if self.user else "")
        return f"{self.kind}:{self.user or '?'}@{self.host or '?'}"

    @classmethod
    def cli(cls) -> Actor:
        """The operating-system user at this host (``user@host``)."""
        try:
            user = getpass.getuser()
        except (KeyError, OSError):  # no passwd entry (containers)
            user = str(os.getuid()) if hasattr(os, "getuid") else "?"
        return cls(kind="cli", user=user[:128], host=socket.gethostname()[:255])

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Actor:
        """The Airflow task when the variables Airflow sets for a running task are present
        (``AIRFLOW_CTX_DAG_ID``, ``..._DAG_RUN_ID``, ``..._TASK_ID``, ``..._TRY_NUMBER``), else ``cli``."""
        env = os.environ if environ is None else environ
        dag_id = env.get("AIRFLOW_CTX_DAG_ID")
        if not dag_id:
            return cls.cli()
        try_number = env.get("AIRFLOW_CTX_TRY_NUMBER", "")
        return cls(kind="airflow", dag_id=dag_id, run_id=env.get("AIRFLOW_CTX_DAG_RUN_ID"),
                   task_id=env.get("AIRFLOW_CTX_TASK_ID"), host=socket.gethostname()[:255],
                   try_number=int(try_number) if try_number.isdigit() else None)


class AuditEntry(BaseModel):
    """One audit-log entry (``docs/format.md`` section 8.1); ``encode`` gives its leaf input.

    Raises ``pydantic.ValidationError`` for an unknown action or outcome, a subject key outside
    ``SUBJECT_KEYS``, a negative count, a hash that is not lower-case hex, a data subject that is
    not a 32-hex pseudonym, or text with control characters or over its length limit.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["custody-audit-entry"] = FORMAT
    version: Literal[1] = VERSION
    seq: int = Field(ge=0)
    at: str
    actor: Actor
    action: str
    outcome: Literal["success", "failure", "skipped", "refused"] = "success"
    subject: dict[str, Text] = Field(default_factory=dict)
    counts: dict[Name, int] = Field(default_factory=dict)
    hashes: dict[Name, Hex] = Field(default_factory=dict)
    key_ids: list[Annotated[str, StringConstraints(max_length=255, pattern=r"^[\w:/.+=@-]+$")]] = Field(
        default_factory=list)
    policy_version: Short | None = None
    data_subject: Token | None = None
    refs: list[Text] = Field(default_factory=list)
    reason: Annotated[str, StringConstraints(max_length=128, pattern=r"^[A-Za-z_][\w.]*$")] | None = None
    details: dict[Name, Short | int | bool | None] = Field(default_factory=dict)

    @field_validator("at")
    @classmethod
    def _utc(cls, v: str) -> str:
        if not TIME.match(v):
            raise ValueError("at must be UTC as YYYY-MM-DDTHH:MM:SS.ffffffZ")
        return v

    @field_validator("action")
    @classmethod
    def _known_action(cls, v: str) -> str:
        if v not in ACTIONS:
            raise ValueError("unknown action")
        return v

    @field_validator("subject")
    @classmethod
    def _subject_keys(cls, v: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(v) - SUBJECT_KEYS)
        if unknown:
            raise ValueError(f"subject keys not in the vocabulary: {unknown}")
        return v

    @field_validator("counts")
    @classmethod
    def _non_negative(cls, v: dict[str, int]) -> dict[str, int]:
        if any(n < 0 for n in v.values()):
            raise ValueError("counts are never negative")
        return v

    def body(self) -> dict[str, Any]:
        """The entry as a JSON-able dict (every field, defaults included)."""
        return self.model_dump(mode="json")

    def encode(self) -> bytes:
        """The canonical encoding: canonical JSON of ``body`` (docs/format.md 4.1), the leaf input."""
        return canonical_json(self.body())

    def leaf_hash(self) -> bytes:
        """``SHA-256(0x00 || encode())``: this entry's leaf in the RFC 9162 tree."""
        return leaf_hash(self.encode())

    @property
    def source(self) -> str | None:
        """The subject's ``source``, if any (a filter column of the log)."""
        return self.subject.get("source")

    @property
    def run_key(self) -> str | None:
        """The subject's ``run_key``, if any (a filter column of the log)."""
        return self.subject.get("run_key")


def decode(data: bytes) -> AuditEntry:
    """Parse an entry's stored bytes; refuse anything but the canonical encoding of a valid entry.

    Raises ``EntryError`` naming the field paths that fail (never their values).
    """
    try:
        raw = json.loads(data)
    except ValueError:
        raise EntryError("not JSON") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise EntryError(f"not a {FORMAT} object")
    if raw.get("version") != VERSION:
        raise EntryError(f"{FORMAT} version {raw.get('version')!r} is not one this Custody reads (1)")
    try:
        entry = AuditEntry.model_validate(raw)
    except ValidationError as exc:
        fields = ", ".join(".".join(str(p) for p in e["loc"]) or "<root>" for e in exc.errors()[:5])
        raise EntryError(f"invalid field(s): {fields}") from None
    # Every field present (defaults are not implied) and the bytes exactly the canonical form:
    # validated values are plain JSON types, so the raw object's encoding is the entry's.
    if (raw.keys() != AuditEntry.model_fields.keys() or not isinstance(raw.get("actor"), dict)
            or raw["actor"].keys() != Actor.model_fields.keys() or canonical_json(raw) != data):
        raise EntryError("not in canonical form (key order, spacing, escapes or omitted fields differ)")
    return entry


def subject_pseudonym(keyring: Any, pi_type: str, value: Any) -> str:
    """The keyed pseudonym under which a data subject appears in the log: 32 hex digits.

    ``keyring``: a ``ScopedKeyring`` (its deal key ``custody/audit`` is created on first use);
    ``pi_type``/``value``: the identifier the request names (e.g. ``resident_id``), normalised as
    in ``docs/format.md`` 1.8. The token is HMAC-SHA256-128 (PIPL Art 73(3): still personal
    information, de-identified), so the same person gets the same pseudonym in every entry and
    destroying the key makes all of them unlinkable. Raises ``ValueError`` for an empty value.
    """
    from custody.crypto.pseudonym import Pseudonymizer

    token = Pseudonymizer.for_deal(keyring, PSEUDONYM_SCOPE).token(pi_type, value)
    if token is None:
        raise ValueError("a data subject needs a non-empty identifier")
    return token
