"""Sealed documents between the stages, and the one place that says where each lives.

Stages hand each other documents, never data: each is a pydantic model with a ``format`` name,
a schema ``version`` and a ``key()`` (its place, from its own identity), sealed with an HMAC
from the keyring when written (``custody.staging.StagingStore.put`` / ``get``). A reader refuses
an unknown schema version, a broken seal, and a document found at a key that is not its own.

- ``base``: ``Document``, sealing, ``DocumentError``.
- ``layout``: ``document_key`` and ``object_id``: every staging and store key.
- ``extract``: ``ExtractPlan``, ``PartDocument``, ``RunManifest`` and their parts.
- ``stages``: ``ClassificationDocument``, ``ValidationDocument``, ``BackupDocument``.
- ``store``: ``SnapshotDocument``, ``RetentionPlanDocument``.
- ``purge``: ``PurgePlanDocument``, ``PurgeApprovalDocument``, ``PurgeExecutionDocument``,
  ``DestructionCertificate``.

The field-by-field specification is ``docs/format.md``.
"""

from custody.documents.base import (
    Document,
    DocumentError,
    Seal,
    document_types,
    seal,
    verify_seal,
)
from custody.documents.extract import (
    ColumnSchema,
    ExtractionInfo,
    ExtractPlan,
    FileEntry,
    ObjectEntry,
    PartDocument,
    PartRef,
    PartSpec,
    RunManifest,
    TableManifest,
    TablePlan,
    WatermarkBounds,
    arrow_type_from_string,
)
from custody.documents.layout import (
    CHUNKS_PER_PART,
    audit_key,
    chunk_number,
    document_key,
    extraction_prefixes,
    object_id,
    run_key_for,
    run_prefix,
    snapshot_prefix,
)
from custody.documents.stages import (
    BackupDocument,
    CheckResult,
    ClassificationDocument,
    ColumnClassification,
    Drift,
    LevelChange,
    NewSensitive,
    Vanished,
    Evidence,
    KeyStoreBackup,
    MinorBasis,
    MinorsCount,
    OverrideRecord,
    PublicBasis,
    PolicyRef,
    StoreCopy,
    TableClassification,
    TableValidation,
    ValidationDocument,
)
from custody.documents.purge import (
    BlockedItem,
    DestructionCertificate,
    KeyDestruction,
    PurgeApprovalDocument,
    PurgeExecutionDocument,
    PurgeItem,
    PurgePlanDocument,
    ScopeProbe,
    StepRecord,
)
from custody.documents.store import (
    RetentionDecision,
    RetentionPlanDocument,
    SnapshotDocument,
    SnapshotObject,
    SnapshotStageDocs,
)

__all__ = [
    "BlockedItem",
    "DestructionCertificate",
    "KeyDestruction",
    "PurgeApprovalDocument",
    "PurgeExecutionDocument",
    "PurgeItem",
    "PurgePlanDocument",
    "ScopeProbe",
    "StepRecord",
    "CHUNKS_PER_PART",
    "audit_key",
    "BackupDocument",
    "CheckResult",
    "ClassificationDocument",
    "ColumnClassification",
    "ColumnSchema",
    "Document",
    "DocumentError",
    "Drift",
    "Evidence",
    "ExtractPlan",
    "ExtractionInfo",
    "FileEntry",
    "KeyStoreBackup",
    "LevelChange",
    "DocumentError",
    "MinorBasis",
    "MinorsCount",
    "NewSensitive",
    "ObjectEntry",
    "OverrideRecord",
    "PublicBasis",
    "PartDocument",
    "PartRef",
    "PartSpec",
    "PolicyRef",
    "RetentionDecision",
    "RetentionPlanDocument",
    "RunManifest",
    "Seal",
    "SnapshotDocument",
    "SnapshotObject",
    "SnapshotStageDocs",
    "StoreCopy",
    "TableClassification",
    "TableManifest",
    "TablePlan",
    "TableValidation",
    "Vanished",
    "ValidationDocument",
    "WatermarkBounds",
    "arrow_type_from_string",
    "chunk_number",
    "document_key",
    "document_types",
    "extraction_prefixes",
    "object_id",
    "run_key_for",
    "run_prefix",
    "snapshot_prefix",
    "seal",
    "verify_seal",
]
