"""Column classification of personal information (PI): detectors, policy, classifier.

Public API::

    from custody.classification import load_policy, classify_table, TableClassifier

    policy = load_policy()                       # include/config/policy.yaml
    results = classify_table(table, policy, source="crm", table_name="contacts")
    for r in results:
        r.column, r.pi_type, r.level, r.confidence, r.evidence.model_dump()

    clf = TableClassifier(policy, source="crm", table="contacts", as_of=run_date)
    for chunk in chunks:
        clf.observe(chunk)
    results = clf.result()
    minors = clf.minors(results)   # MinorsCount: records of minors under 14 (PIPL Art 28, 31)

    drift = record_drift(engine, "crm", run_key, tables_doc)   # before Catalog.record_inventory
    raise_for_drift(drift)                                     # DriftDetected: new sensitive /
                                                               # level change / vanished column

Levels and their legal references come from the policy (PIPL Art 28 and GB/T 35273-2020 Annex B
for sensitive PI); detectors live in :mod:`custody.classification.detectors`, the record-level
minors count in :mod:`custody.classification.minors`, inventory history and drift in
:mod:`custody.classification.inventory`.
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
from custody.classification.inventory import (
    DriftDetected,
    compute_drift,
    drift_counts,
    has_drift,
    raise_for_drift,
    record_drift,
)
from custody.classification.minors import MinorBasis, MinorsCount
from custody.classification.policy import (
    FREE_TEXT,
    LEVEL_ORDER,
    MinorsRule,
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
    "DriftDetected",
    "EmbeddedRule",
    "Evidence",
    "FreeTextProfile",
    "HeaderRule",
    "MinorBasis",
    "MinorsCount",
    "MinorsRule",
    "NonPiHint",
    "OverrideRecord",
    "Policy",
    "PolicyError",
    "Prep",
    "TableClassifier",
    "classify_table",
    "compute_drift",
    "default_policy_path",
    "default_registry",
    "drift_counts",
    "has_drift",
    "load_policy",
    "raise_for_drift",
    "record_drift",
]
