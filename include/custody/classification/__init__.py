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
for sensitive PI). Modules, by concept:

- :mod:`~custody.classification.registry`: what a detector is (records, registry);
- :mod:`~custody.classification.detectors`: the built-in detectors; identifier validators come
  from :mod:`custody.identifiers` (the rules validation and pseudonyms share), the others from
  :mod:`~custody.classification.values`, word lists from ``_lexicon``; the attribute detectors
  (birth date, gender, names, organisations, addresses) from
  :mod:`~custody.classification.attributes`, with their values-only models in
  :mod:`~custody.classification.names` (Chinese), :mod:`~custody.classification.name_lists`
  (Latin script, Japanese), :mod:`~custody.classification.addresses` (street lines, address
  parts) and :mod:`~custody.classification.numbers` (national phone numbers, passports, versions);
- :mod:`~custody.classification.classifier`: :class:`TableClassifier` (chunks in, one decision per
  column out), built on :mod:`~custody.classification.sample` (column state, bounded sample),
  :mod:`~custody.classification.scoring` (detector evidence, the decision) and
  :mod:`~custody.classification.freetext` (free-text decision, full scan for embedded identifiers);
- :mod:`~custody.classification.policy`: levels, overrides, business rules;
- :mod:`~custody.classification.minors`: the record-level count of minors;
- :mod:`~custody.classification.inventory`: inventory history and drift.
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
