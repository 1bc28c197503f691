"""Documents kept in a snapshot store: snapshot documents and retention plans."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from custody.documents.base import Document
from custody.documents.extract import ObjectEntry, RunManifest
from custody.documents.layout import document_key
from custody.documents.stages import ClassificationDocument, ValidationDocument


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SnapshotObject(_Model):
    """One object of a snapshot as listed in its document: ``key`` is its content address."""

    object_id: str
    kind: str
    table: str
    rows: int
    sha256: str
    bytes: int
    key: str


class SnapshotStageDocs(_Model):
    """The stage documents a snapshot carries beside its manifest."""

    validation: ValidationDocument | None = None
    classification: ClassificationDocument | None = None


class SnapshotDocument(Document):
    """``snapshots/<source>/<run_key>.json``: a run's manifest, stage documents and object list.

    Written last, after every object is stored and read back (``custody.store.snapshots``).
    """

    FORMAT = "custody-snapshot"
    format: Literal["custody-snapshot"] = "custody-snapshot"
    snapshot_id: str
    source: str
    run_key: str
    created_at: str
    manifest: RunManifest
    documents: SnapshotStageDocs = Field(default_factory=SnapshotStageDocs)
    objects: list[SnapshotObject]

    def key(self) -> str:
        return document_key("snapshot", source=self.source, run_key=self.run_key)

    def entries(self) -> list[ObjectEntry]:
        """Manifest entries of every object the snapshot must hold: extraction's, then validation's."""
        validation = self.documents.validation
        return [*self.manifest.objects(), *(validation.objects() if validation else [])]


class RetentionDecision(_Model):
    """One snapshot in a retention plan: keep or forget, and the rules that kept it."""

    snapshot_key: str
    snapshot_id: str
    source: str
    created_at: str
    action: Literal["keep", "forget"]
    reasons: list[str] = Field(default_factory=list)


class RetentionPlanDocument(Document):
    """``retention/<plan_id>.json``: a recorded retention plan, written before anything is deleted."""

    FORMAT = "custody-retention-plan"
    format: Literal["custody-retention-plan"] = "custody-retention-plan"
    plan_id: str
    location: str
    created_at: str
    policy: dict[str, int]
    decisions: list[RetentionDecision]

    def key(self) -> str:
        return document_key("retention-plan", plan_id=self.plan_id)
