"""Column classification of personal information (PI): detectors, policy, classifier.

Public API::

    from custody.classification import load_policy, classify_table, TableClassifier

    policy = load_policy()                       # include/config/policy.yaml
    results = classify_table(table, policy, source="crm", table_name="contacts")
    for r in results:
        r.column, r.pi_type, r.level, r.confidence, r.evidence.model_dump()

Levels and their legal references come from the policy (PIPL Art 28 and GB/T 35273-2020 Annex B
for sensitive PI); detectors live in :mod:`custody.classification.detectors`.
"""

from custody.classification.classifier import (
    ColumnClassification,
    Evidence,
    OverrideRecord,
    TableClassifier,
    classify_table,
)
from custody.classification.detectors import (
    Detector,
    DetectorRegistry,
    EmbeddedRule,
    FreeTextProfile,
    HeaderRule,
    NonPiHint,
    Prep,
    default_registry,
)
from custody.classification.policy import (
    FREE_TEXT,
    LEVEL_ORDER,
    Policy,
    PolicyError,
    default_policy_path,
    load_policy,
)

__all__ = [
    "FREE_TEXT",
    "LEVEL_ORDER",
    "ColumnClassification",
    "Detector",
    "DetectorRegistry",
    "EmbeddedRule",
    "Evidence",
    "FreeTextProfile",
    "HeaderRule",
    "NonPiHint",
    "OverrideRecord",
    "Policy",
    "PolicyError",
    "Prep",
    "TableClassifier",
    "classify_table",
    "default_policy_path",
    "default_registry",
    "load_policy",
]
