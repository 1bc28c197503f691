"""S3 step of a purge against the moto server: versions and delete markers by version id, and a
version under Object Lock compliance mode left with a dated follow-up instead of an error."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from custody.documents import PurgeItem, PurgePlanDocument
from custody.purge.execute import delete_s3_versions, verify
from custody.store import S3Store


def _plan(store, versions) -> PurgePlanDocument:
    items = [PurgeItem(kind="s3_delete_marker" if marker else "s3_version", ref=key, source="crm",
                       category="customer_contract", period="2026-01", scope="crm/customer_contract/2026-01",
                       store=store.location, version_id=vid, rule="r", expired_at="2026-03-01T00:00:00+00:00")
             for key, vid, marker in versions]
    return PurgePlanDocument(plan_id="20260301T000000Z-00000000", created_at="2026-03-01T00:00:00+00:00",
                             clock="2026-03-01T00:00:00+00:00", policy_version="t", policy_sha256="0" * 64,
                             requester="ops", items=items)


def _versions(client, bucket, prefix):
    resp = client.list_object_versions(Bucket=bucket, Prefix=prefix)
    return ([(v["Key"].removeprefix("p/"), v["VersionId"], False) for v in resp.get("Versions", [])]
            + [(m["Key"].removeprefix("p/"), m["VersionId"], True) for m in resp.get("DeleteMarkers", [])])


def test_every_version_and_delete_marker_goes_and_a_compliance_lock_gets_a_dated_followup(s3_client):
    bucket = f"purge-lock-{secrets.token_hex(4)}"
    s3_client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    store = S3Store(s3_client, bucket, "p")
    store.put_bytes("objects/aa/a.cdy", b"one")
    store.put_bytes("objects/aa/a.cdy", b"two")
    store.delete("objects/aa/a.cdy")  # a delete marker over two versions
    until = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    store.put_bytes("objects/bb/b.cdy", b"locked", lock=("COMPLIANCE", until))
    versions = _versions(s3_client, bucket, "p/objects/")
    assert len(versions) == 4
    plan = _plan(store, versions)
    record = delete_s3_versions(plan, {store.location: store})
    assert record.done == 3 and record.refused == 1
    [followup] = record.followups
    assert followup.startswith("objects/bb/b.cdy@") and "COMPLIANCE" in followup
    assert until.date().isoformat() in followup
    assert [v[0] for v in _versions(s3_client, bucket, "p/objects/")] == ["objects/bb/b.cdy"]
    # Verification counts the locked version as left unless it is a recorded follow-up.
    locked = next(v for v in versions if v[0] == "objects/bb/b.cdy")
    assert verify(plan, _NoKeys(), {store.location: store}, None)["s3_versions_left"] == 1
    result = verify(plan, _NoKeys(), {store.location: store}, None, {(locked[0], locked[1])})
    assert result["result"] == "pass" and result["s3_versions_left"] == 0
    # A rerun is idempotent: what is gone counts as done.
    again = delete_s3_versions(plan, {store.location: store})
    assert again.done == 3 and again.refused == 1


class _NoKeys:
    def inventory(self, purpose):
        return []
