"""Containment with a KMS key-encryption key: ``DisableKey`` on the KEK, audited; the way back
(``EnableKey``) and a fresh process reads the snapshot again. KMS on moto over HTTP."""

from __future__ import annotations

import boto3
import pytest

from custody.audit.entries import decode
from custody.audit.log import AuditLog
from custody.crypto.kms import KmsKeyring
from custody.crypto.scopes import ScopedKeyring
from custody.incident.response import contain, open_incident, way_back
from custody.restore import restore_table
from custody.staging import StagingStore
from custody.store import LocalStore, create_snapshot
from store._runs import stage_run


@pytest.fixture
def kms(moto_s3_endpoint):
    return boto3.client("kms", endpoint_url=moto_s3_endpoint, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test-secret")


def test_kms_key_disabled_then_enabled(kms, catalog_url, tmp_path):
    key_id = kms.create_key(Description="custody incident test")["KeyMetadata"]["KeyId"]
    keyring = ScopedKeyring(KmsKeyring(kms, key_id), catalog_url)
    staging = StagingStore(tmp_path / "staging", keyring)
    manifest = stage_run(staging, source="crm", run_key="r1", tables={"contacts": [12]})
    store = LocalStore(tmp_path / "backups")
    create_snapshot([store], staging, manifest, None, keyring)
    inc = open_incident(catalog_url, "key_exposure", ["crm/customer_contract"])
    done = contain(catalog_url, inc.incident_id, keyring, kms=True)
    assert done["kms_disabled"] == kms.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"]
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Disabled"
    # (moto does not refuse Decrypt under a disabled key, as KMS does with DisabledException, which
    # KmsKeyring raises as KmsKeyDisabledError: the key's state is what is checked here.)
    with AuditLog(catalog_url) as log:
        revoked = [decode(r.data) for r in log.rows() if r.action == "key.revoke"]
    assert [e.details for e in revoked] == [{}, {"kms": "DisableKey"}]
    back = way_back(catalog_url, inc.incident_id, keyring, how="reenable")
    assert back["kms_enabled"] == done["kms_disabled"] and back["enabled"]["crm/customer_contract"]
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
    again = ScopedKeyring(KmsKeyring(kms, key_id), catalog_url)
    assert restore_table(store, "snapshots/crm/r1.json", "contacts", again).num_rows == 12
