"""S3 multipart uploads under faults, through a fault-injecting proxy in front of moto over HTTP.

Each fault ends in a complete object whose bytes hash to its content address, or in no object;
never in orphaned parts (``list_multipart_uploads`` empty). moto does not check upload checksums,
so integrity is proven by reading back and hashing.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from custody.store import (
    S3Store,
    S3StoreOptions,
    StoreError,
    create_snapshot,
    make_s3_client,
    verify_snapshot,
)
from custody.store.snapshots import object_key
from store._faults import FaultProxy
from store._runs import big_table, setup, stage_run

MiB = 1 << 20
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def proxy(moto_s3_endpoint):
    p = FaultProxy(moto_s3_endpoint)
    yield p
    p.close()


@pytest.fixture(scope="module")
def big_run(tmp_path_factory):
    """A staged run with one 12 MiB object: three 5 MiB multipart parts (5 + 5 + 2)."""
    tmp = tmp_path_factory.mktemp("big")
    keyring, staging = setup(tmp)
    manifest = stage_run(staging, tables={}, extra={"blobs": big_table(12 * MiB)})
    return keyring, staging, manifest, manifest.tables[0].chunks[0]


def _options(endpoint: str, **kw) -> S3StoreOptions:
    base = dict(
        bucket=f"faults-{uuid.uuid4().hex[:10]}",
        prefix="backups",
        endpoint_url=endpoint,
        region_name="us-east-1",
        addressing_style="path",
        checksum_calculation="when_required",
        multipart_threshold=5 * MiB,
        part_size=5 * MiB,
        max_attempts=3,
        retry_wait_s=0.01,
        retry_wait_max_s=0.05,
        read_timeout_s=1.0,
        connect_timeout_s=1.0,
    )
    return S3StoreOptions(**{**base, **kw})


def _store(endpoint: str, **kw) -> S3Store:
    opts = _options(endpoint, **kw)
    store = S3Store(
        make_s3_client(opts, aws_access_key_id="test", aws_secret_access_key="test-secret"), options=opts
    )
    store.ensure_bucket()
    return store


def _uploads(store: S3Store) -> list:
    return store.client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", [])


def _upload(store, staging, entry):
    store.put_file(object_key(entry.sha256), staging.path(entry.key), sha256=entry.sha256)


def _read_back_ok(store, entry) -> bool:
    body = store.client.get_object(Bucket=store.bucket, Key=store._key(object_key(entry.sha256)))[
        "Body"
    ].read()
    return hashlib.sha256(body).hexdigest() == entry.sha256


def test_multipart_with_part_checksums_sse_and_path_style(proxy, big_run):
    keyring, staging, manifest, entry = big_run
    proxy.reset()
    store = _store(proxy.url, sse="AES256")
    summary = create_snapshot([store], staging, manifest, None, keyring)
    assert summary["stores"][0]["uploaded"] == 1
    assert proxy.counts["UploadPart"] == 3 and proxy.counts["CompleteMultipartUpload"] == 1
    head = store.client.head_object(Bucket=store.bucket, Key=store._key(object_key(entry.sha256)))
    assert head["ServerSideEncryption"] == "AES256" and head["ContentLength"] == entry.ciphertext_bytes
    assert _read_back_ok(store, entry) and _uploads(store) == []
    assert verify_snapshot(store, f"snapshots/crm/{manifest.run_key}.json", keyring).ok


@pytest.mark.parametrize("action,arg", [("error", 0.0), ("delay", 1.5), ("reset", 0.0)])
def test_transient_part_failure_is_retried_to_a_complete_object(proxy, big_run, action, arg):
    _, staging, _, entry = big_run
    proxy.reset()
    store = _store(proxy.url)
    proxy.fail("UploadPart", 2, action, arg=arg)
    _upload(store, staging, entry)
    assert proxy.counts["UploadPart"] == 4  # part 2 sent twice
    assert store.size(object_key(entry.sha256)) == entry.ciphertext_bytes
    assert _read_back_ok(store, entry) and _uploads(store) == []


def test_part_failing_every_attempt_aborts_and_leaves_nothing(proxy, big_run):
    _, staging, _, entry = big_run
    proxy.reset()
    store = _store(proxy.url)
    proxy.fail("UploadPart", 2, "error", times=10)
    with pytest.raises(StoreError, match="upload part 2 of objects/.* failed: InternalError"):
        _upload(store, staging, entry)
    assert proxy.counts["AbortMultipartUpload"] == 1
    assert store.size(object_key(entry.sha256)) is None and _uploads(store) == []


def test_timeouts_on_every_attempt_abort_and_leave_nothing(proxy, big_run):
    _, staging, _, entry = big_run
    proxy.reset()
    store = _store(proxy.url, max_attempts=2)
    proxy.fail("UploadPart", 3, "delay", times=2, arg=1.2)
    with pytest.raises(StoreError, match="upload part 3"):
        _upload(store, staging, entry)
    time.sleep(1.3)  # let the proxy finish forwarding the delayed parts before looking
    assert store.size(object_key(entry.sha256)) is None and _uploads(store) == []


def test_lost_complete_answer_still_ends_in_the_object(proxy, big_run):
    _, staging, _, entry = big_run
    proxy.reset()
    store = _store(proxy.url)
    proxy.fail("CompleteMultipartUpload", 1, "lost")
    _upload(store, staging, entry)
    assert proxy.counts["CompleteMultipartUpload"] == 2  # the retry hears NoSuchUpload
    assert _read_back_ok(store, entry) and _uploads(store) == []


def test_failed_abort_is_cleaned_up_by_the_stale_upload_sweep(proxy, big_run, moto_s3_endpoint):
    _, staging, _, entry = big_run
    proxy.reset()
    store = _store(proxy.url)
    proxy.always("UploadPart", "error")
    proxy.always("AbortMultipartUpload", "error")
    with pytest.raises(StoreError):
        _upload(store, staging, entry)
    assert len(_uploads(store)) == 1  # the one case that leaves parts: until the sweep
    direct = _store(moto_s3_endpoint, bucket=store.bucket)
    assert direct.abort_uploads(older_than_s=0) == 1 and _uploads(direct) == []


KILLED_BACKUP = textwrap.dedent("""
    import sys
    from pathlib import Path
    from custody.crypto import LocalKeyring
    from custody.documents import RunManifest
    from custody.staging import StagingStore
    from custody.store import S3Store, S3StoreOptions, create_snapshot, make_s3_client

    tmp, endpoint, bucket = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    keyring = LocalKeyring(tmp / "keys" / "kek.json")
    staging = StagingStore(tmp / "staging", keyring)
    manifest = staging.get("crm/r1/manifest.json", RunManifest)
    opts = S3StoreOptions(bucket=bucket, prefix="backups", endpoint_url=endpoint, region_name="us-east-1",
                          addressing_style="path", checksum_calculation="when_required",
                          multipart_threshold=5 << 20, part_size=5 << 20)
    store = S3Store(make_s3_client(opts, aws_access_key_id="t", aws_secret_access_key="s"), options=opts)
    print("started", flush=True)
    create_snapshot([store], staging, manifest, None, keyring)
    print("finished", flush=True)
""")


def test_sigkill_mid_upload_then_rerun_converges(proxy, tmp_path, moto_s3_endpoint):
    keyring, staging = setup(tmp_path)
    manifest = stage_run(staging, tables={}, extra={"blobs": big_table(20 * MiB, seed=9)})
    entry = manifest.tables[0].chunks[0]
    store = _store(moto_s3_endpoint)
    proxy.reset()
    proxy.always("UploadPart", "delay", 0.3)  # slow parts: time to kill between them
    script = tmp_path / "backup.py"
    script.write_text(KILLED_BACKUP)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path), proxy.url, store.bucket],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    try:
        deadline = time.monotonic() + 30
        while proxy.counts["UploadPart"] < 3 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    time.sleep(0.5)  # the proxy may still be forwarding the part in flight
    proxy.reset()
    assert proc.returncode == -signal.SIGKILL
    assert len(_uploads(store)) == 1, "the kill must leave an unfinished upload behind"
    assert store.size(object_key(entry.sha256)) is None
    assert store.list_keys("snapshots/") == []

    # Rerun: the stale upload of the same key is aborted, the object uploaded once, then verified.
    rerun = _store(moto_s3_endpoint, bucket=store.bucket, stale_upload_s=0)
    create_snapshot([rerun], staging, manifest, None, keyring)
    assert _uploads(rerun) == []
    assert rerun.list_keys("objects/") == [object_key(entry.sha256)]  # no duplicate
    assert _read_back_ok(rerun, entry)  # no loss
    assert verify_snapshot(rerun, "snapshots/crm/r1.json", keyring).ok
