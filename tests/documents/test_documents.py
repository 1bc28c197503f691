"""Every sealed document kind round-trips through its model; unknown versions, misplaced and
altered documents are refused with an error that names the document, never a value."""

from __future__ import annotations

import json

import pytest

from custody.crypto.keyring import LocalKeyring
from custody.documents import (
    BackupDocument,
    CheckResult,
    ClassificationDocument,
    ColumnClassification,
    ColumnSchema,
    Document,
    DocumentError,
    Drift,
    Evidence,
    ExtractPlan,
    KeyStoreBackup,
    MinorBasis,
    MinorsCount,
    NewSensitive,
    ObjectEntry,
    PartDocument,
    PartSpec,
    PolicyRef,
    RetentionDecision,
    RetentionPlanDocument,
    RunManifest,
    SnapshotDocument,
    SnapshotObject,
    SnapshotStageDocs,
    StoreCopy,
    TableClassification,
    TableManifest,
    TablePlan,
    TableValidation,
    ValidationDocument,
    WatermarkBounds,
    document_key,
    document_types,
    object_id,
)
from custody.staging import StagingStore

SECRET = "110101199003070019"  # a resident-ID-shaped canary that must never appear in an error


def _entry(kind: str = "chunk") -> ObjectEntry:
    oid = object_id("chunk", source="crm", run_key="r1", table="contacts", part=0, n=0)
    return ObjectEntry(object_id=oid, key=f"{oid}.cdy", kind=kind, source="crm", run_key="r1", table="contacts",
                       chunk=0, rows=10, content_hash="ab" * 16, sha256="cd" * 32, kek_id="kek-1",
                       scope="crm/customer_contract")


def _manifest() -> RunManifest:
    return RunManifest(source="crm", run_key="r1", run_id="manual__1", dialect="sqlite", tables=[TableManifest(
        table="contacts", source_table="contacts", primary_key=["contact_id"],
        columns=[ColumnSchema(name="contact_id", arrow_type="int64"), ColumnSchema(name="name", arrow_type="string")],
        source_rows=11, extracted_rows=10, content_hash="ab" * 16, chunks=[_entry()], quarantined_at_extract=1,
        quarantine_reasons={"zero_date:birth_date": 1})])


def _classification() -> ClassificationDocument:
    column = ColumnClassification(
        column="resident_id", pi_type="resident_id", level="sensitive", confidence=0.99,
        evidence=Evidence(header_rule="cn_resident_id/zh", detector="cn_resident_id", match_rate=1.0,
                          validated_rate=1.0, sample_size=10, reason="header+values"),
        policy_version="2026.1", policy_standard="PIPL+GB/T 35273-2020", policy_ref="PIPL Art 28")
    minors = MinorsCount(under_age=14, as_of="2026-11-30", rows=2, rows_scanned=10, counted=True,
                         basis=[MinorBasis(column="resident_id", pi_type="resident_id", rows=2)], level="sensitive",
                         ref="PIPL Art 28, 31")
    table = TableClassification.model_validate(
        {"table": "contacts", "rows": 10, "columns": [column.model_dump()], **minors.document()})
    drift = Drift(new_sensitive=[NewSensitive(table="contacts", column="resident_id", level="sensitive",
                                              pi_type="resident_id")], previous_run_key="r0")
    return ClassificationDocument(source="crm", run_key="r1", policy=PolicyRef(standard="PIPL", version="2026.1"),
                                  as_of="2026-11-30", tables=[table], drift=drift)


def _validation() -> ValidationDocument:
    return ValidationDocument(source="crm", run_key="r1", datadocs="datadocs/index.html", tables=[TableValidation(
        table="contacts", source_rows=11, extracted_rows=10, valid_rows=9, quarantined_rows=1,
        quarantined_at_extract=1, failing_share=0.1, max_failing_share=0.2, passed=True,
        results=[CheckResult(expectation="expect_column_values_to_be_custody_cn_resident_id", column="resident_id",
                             check="cn_resident_id", reason="cn_resident_id:resident_id", evaluated=10, missing=0,
                             unexpected=1, gx_unexpected=1, success=False)],
        quarantine_reasons={"cn_resident_id:resident_id": 1}, quarantine=[_entry("quarantine")])])


def samples() -> dict[str, Document]:
    """One filled-in document of every kind."""
    plan = ExtractPlan(source="crm", run_key="r1", run_id="manual__1", dialect="postgresql",
                       interval_end="2026-11-30T00:00:00+00:00", plan_id="0123456789abcdef", tables=[TablePlan(
                           table="contacts", source_table="contacts", kind="sql", primary_key=["contact_id"],
                           columns=["contact_id:int64"], mode="incremental", planned_rows=10,
                           watermark=WatermarkBounds(column="updated_at", kind="timestamp", low=None,
                                                     high="2026-11-30T00:00:00+00:00"),
                           parts=[PartSpec(part=0, lo=None, hi=5), PartSpec(part=1, lo=5, hi=None)])])
    part = PartDocument(source="crm", run_key="r1", plan_id="0123456789abcdef", table="contacts", part=1,
                        source_rows=11, extracted_rows=10, quarantined_rows=1, content_hash="ab" * 16,
                        chunks=[_entry()], path="cursor", columns=[ColumnSchema(name="contact_id", arrow_type="int64")])
    backup = BackupDocument(source="crm", run_key="r1", snapshot_key=document_key("snapshot", source="crm",
                                                                                   run_key="r1"),
                            objects=2, stores=[StoreCopy(location="local:/x", uploaded=2, reused=0, repaired=0,
                                                         bytes=100, snapshot_sha256="ef" * 32)],
                            key_store=KeyStoreBackup(key="keystore/a.cdy", object_id="keystore/a", sha256="aa" * 32,
                                                     bytes=10, keys=3, exported_at="2026-11-30T00:00:00+00:00",
                                                     expires_at="2026-12-30T00:00:00+00:00"))
    snapshot = SnapshotDocument(snapshot_id="crm/r1", source="crm", run_key="r1", created_at="2026-11-30T00:00:00",
                                manifest=_manifest(),
                                documents=SnapshotStageDocs(validation=_validation(), classification=_classification()),
                                objects=[SnapshotObject(object_id=_entry().object_id, kind="chunk", table="contacts",
                                                        rows=10, sha256="cd" * 32, bytes=100, key="objects/cd/x.cdy")])
    retention = RetentionPlanDocument(plan_id="20261130T000000Z-abcd", location="local:/x", created_at="2026-11-30",
                                      policy={"keep_last": 1}, decisions=[RetentionDecision(
                                          snapshot_key="snapshots/crm/r1.json", snapshot_id="crm/r1", source="crm",
                                          created_at="2026-11-30", action="keep", reasons=["last"])])
    docs = [plan, part, _manifest(), _classification(), _validation(), backup, snapshot, retention, *_purge_docs()]
    return {d.FORMAT: d for d in docs}


def _purge_docs() -> list[Document]:
    from custody.documents import (
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

    pid = "20261130T000000Z-0123abcd"
    plan = PurgePlanDocument(
        plan_id=pid, created_at="2026-11-30T00:00:00+00:00", clock="2026-11-30T00:00:00+00:00",
        policy_version="2026-12.1", policy_sha256="ab" * 32, milestones={"closing": "2026-10-01"},
        requester="ops", sources=["crm"],
        items=[PurgeItem(kind="scope_key", ref="sk-20260101-0123456789ab", source="crm", category="customer_contract",
                         period="2026-01", scope="crm/customer_contract/2026-01", rule="r",
                         expired_at="2026-11-01T00:00:00+00:00")],
        blocked=[BlockedItem(kind="store_object", ref="objects/ab/x.cdy", source="crm", category="c",
                             hold_ids=["LH-1"], reason="legal hold LH-1: matter 7")],
        kept={"not expired": 2}, totals={"scope_keys": 1},
        probes=[ScopeProbe(scope="crm/customer_contract/2026-01", object_id="crm/r1/x", kek_id="sk-1",
                           wrapped_dek_b64="AAAA")])
    key = KeyDestruction(scope="crm/customer_contract/2026-01", key_ids=["sk-1"], destroyed_at="2026-11-30T00:00:01",
                         certificate_id="c" * 32)
    approval = PurgeApprovalDocument(plan_id=pid, plan_sha256="cd" * 32, requester="ops", approver="dpo",
                                     approvers=["dpo"], answered_at="2026-11-30T01:00:00+00:00",
                                     checked_at="2026-11-30T01:00:01+00:00")
    execution = PurgeExecutionDocument(plan_id=pid, plan_sha256="cd" * 32, started_at="2026-11-30T01:00:02",
                                       finished_at="2026-11-30T01:00:09", steps=[StepRecord(step="keys", done=1)],
                                       keys=[key], verification={"result": "pass"}, audit_seq=[4, 5])
    cert = DestructionCertificate(
        certificate_id="d" * 32, plan_id=pid, plan_sha256="cd" * 32, policy_version="2026-12.1",
        issued_at="2026-11-30T01:00:10", what={"sources": ["crm"], "objects": 3}, content_hashes=["ab" * 32],
        method="cryptographic erase + deletion", tool="custody", tool_version="0", keys=[key],
        verification={"result": "pass"}, requester="ops", approvers=["dpo"], times={"approved_at": "x"},
        audit={"first_seq": 4})
    return [plan, approval, execution, cert]


@pytest.fixture
def keyring(tmp_path) -> LocalKeyring:
    return LocalKeyring.create(tmp_path / "keys" / "kek.json")


def test_every_document_kind_has_a_sample():
    assert set(samples()) == set(document_types())


@pytest.mark.parametrize("fmt", sorted(document_types()))
def test_round_trip_through_the_model_and_the_seal(fmt, keyring, tmp_path):
    doc = samples()[fmt]
    raw = json.loads(json.dumps(doc.sealed(keyring)))
    back = type(doc).open_sealed(raw, keyring, name="t", key=doc.key())
    assert back.body() == doc.body()
    assert raw["format"] == fmt and raw["version"] == type(doc).VERSION


@pytest.mark.parametrize("fmt", ["custody-extract-plan", "custody-extract-part", "custody-run-manifest",
                                 "custody-classification", "custody-validation", "custody-backup"])
def test_staging_put_get_at_the_documents_own_key(fmt, keyring, tmp_path):
    staging = StagingStore(tmp_path / "staging", keyring)
    doc = samples()[fmt]
    key = staging.put(doc)
    assert key == doc.key() and key.startswith("crm/r1/")
    assert staging.get(key, type(doc)).body() == doc.body()


def test_an_unknown_schema_version_is_refused_by_name(keyring, tmp_path):
    staging = StagingStore(tmp_path / "staging", keyring)
    doc = samples()["custody-run-manifest"]
    raw = doc.sealed(keyring)
    raw["version"] = 99
    path = staging.path(doc.key())
    path.parent.mkdir(parents=True)
    from custody.documents import seal

    path.write_text(json.dumps(seal(raw, keyring)))
    with pytest.raises(DocumentError) as err:
        staging.get(doc.key(), RunManifest)
    message = str(err.value)
    assert "crm/r1/manifest.json" in message and "custody-run-manifest schema version 99" in message
    assert "upgrade Custody" in message


def test_a_document_copied_to_another_place_is_refused(keyring, tmp_path):
    # A sealed manifest of run r1 copied over run r2's: the seal verifies, the place does not.
    staging = StagingStore(tmp_path / "staging", keyring)
    doc = samples()["custody-run-manifest"]
    staging.put(doc)
    other = document_key("manifest", source="crm", run_key="r2")
    staging.path(other).parent.mkdir(parents=True)
    staging.path(other).write_bytes(staging.path(doc.key()).read_bytes())
    with pytest.raises(DocumentError, match="belongs at crm/r1/manifest.json"):
        staging.get(other, RunManifest)


def test_wrong_kind_and_malformed_documents_never_quote_values(keyring, tmp_path):
    staging = StagingStore(tmp_path / "staging", keyring)
    doc = samples()["custody-run-manifest"]
    key = staging.put(doc)
    with pytest.raises(DocumentError, match="a 'custody-run-manifest' document where 'custody-validation'"):
        staging.get(key, ValidationDocument)
    raw = doc.body()
    raw["tables"][0]["source_rows"] = SECRET + "x"  # not an integer: a malformed field holding a value
    from custody.documents import seal

    staging.path(key).write_text(json.dumps(seal(raw, keyring)))
    with pytest.raises(DocumentError) as err:
        staging.get(key, RunManifest)
    assert "tables.0.source_rows" in str(err.value) and SECRET not in str(err.value)


def test_altered_and_missing_documents(keyring, tmp_path):
    staging = StagingStore(tmp_path / "staging", keyring)
    key = staging.put(samples()["custody-validation"])
    text = staging.path(key).read_text().replace('"valid_rows": 9', '"valid_rows": 10')
    staging.path(key).write_text(text)
    with pytest.raises(DocumentError, match="seal does not verify"):
        staging.get(key, ValidationDocument)
    with pytest.raises(DocumentError, match="no such document"):
        staging.get(document_key("backup", source="crm", run_key="r1"), BackupDocument)
    assert staging.find(document_key("backup", source="crm", run_key="r1"), BackupDocument) is None


def test_keys_refuse_unsafe_segments():
    for bad in ("..", "a/b", "", ".hidden"):
        with pytest.raises(ValueError):
            document_key("manifest", source="crm", run_key=bad)
    assert document_key("part", source="crm", run_key="r", table="客户", part=3) == "crm/r/parts/客户/part-0003.json"
