"""Object store backends behind one small interface: local directory and S3.

Keys are ``/``-separated relative paths. Both backends write atomically: a reader sees the whole
object or nothing. The local one writes a temporary file and renames it; S3 makes an object visible
only when its upload completes, and a failed multipart upload is aborted so that no parts remain
billed and hidden (``list_multipart_uploads`` stays empty).

Settings of the S3 store (``S3StoreOptions``) cover what S3-compatible stores need: path-style
addressing, checksums only when required (stores that reject the SDK's default CRC trailers),
server-side encryption (SSE-S3 or SSE-KMS) and Object Lock (GDPR Art 32(1)(b)/(c): integrity and
the ability to restore; PIPL Art 51(3) security measures).
"""

from __future__ import annotations

import base64
import contextlib
import errno
import hashlib
import logging
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from custody.fsio import atomic_writer, remove_orphans

log = logging.getLogger(__name__)

MiB = 1 << 20
READ_BLOCK = 4 * MiB
ORPHAN_AGE_S = 3600
"""A temporary file or upload untouched this long (seconds) is a killed writer's: removed by a prune."""
T = TypeVar("T")


class StoreError(Exception):
    """A store operation failed; the message names the store and key, never content."""


class ObjectStore(Protocol):
    """What snapshots, retention, verify and restore need from a store.

    ``put_file`` and ``put_bytes`` are all-or-nothing; ``open_read`` yields a binary stream for
    one-pass hashing and decryption; ``delete`` of a missing key is not an error.
    """

    location: str

    def put_bytes(self, key: str, data: bytes) -> None: ...

    def put_file(self, key: str, path: Path, *, sha256: str | None = None) -> None: ...

    def get_bytes(self, key: str) -> bytes: ...

    def open_read(self, key: str) -> contextlib.AbstractContextManager[BinaryIO]: ...

    def size(self, key: str) -> int | None: ...

    def list_keys(self, prefix: str) -> list[str]: ...

    def delete(self, key: str) -> None: ...


def hash_stream(src: BinaryIO, block: int = READ_BLOCK) -> tuple[str, int]:
    """SHA-256 (hex) and length in bytes of everything left in ``src``, read ``block`` bytes at a time."""
    sha = hashlib.sha256()
    n = 0
    while chunk := src.read(block):
        sha.update(chunk)
        n += len(chunk)
    return sha.hexdigest(), n


def read_back(store: ObjectStore, key: str) -> tuple[str, int]:
    """Read an object back from ``store`` and return ``(sha256 hex, bytes)``. Raises ``StoreError``."""
    with store.open_read(key) as fh:
        return hash_stream(fh)


def _disk_error(location: str, key: str, exc: OSError) -> StoreError:
    if exc.errno == errno.ENOSPC:
        reason = "disk full (ENOSPC)"
    elif exc.errno == errno.EFBIG:
        reason = "file size limit reached (EFBIG)"
    elif exc.errno == errno.EDQUOT:
        reason = "disk quota exceeded (EDQUOT)"
    else:
        reason = exc.strerror or type(exc).__name__
    return StoreError(f"{location}: cannot write {key}: {reason}; no partial file was left")


class LocalStore:
    """A directory on local disk. ``root`` is created on first write (mode 0700).

    Writes go to ``.tmp-*`` files beside the target, are fsynced and renamed; on any error (a full
    disk included) the temporary file is removed and ``StoreError`` names the key and the reason.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.location = f"local:{self.root}"

    def _path(self, key: str) -> Path:
        p = (self.root / key).resolve()
        if self.root.resolve() not in p.parents:
            raise StoreError(f"{self.location}: key {key!r} escapes the store root")
        return p

    def put_bytes(self, key: str, data: bytes) -> None:
        """Write ``data`` at ``key`` atomically.

        Raises ``StoreError`` (e.g. disk full) and leaves no partial file.
        """
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            with atomic_writer(self._path(key)) as fh:
                fh.write(data)
        except OSError as exc:
            raise _disk_error(self.location, key, exc) from None

    def put_file(self, key: str, path: Path, *, sha256: str | None = None) -> None:
        """Copy the file at ``path`` to ``key`` in 4 MiB blocks, hashing on the way.

        With ``sha256`` (hex), the copy is renamed into place only if the bytes written hash to it.
        Memory is O(4 MiB). Raises ``StoreError`` (disk full, hash mismatch) leaving no partial file.
        """
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            with open(path, "rb") as src, atomic_writer(self._path(key)) as dst:
                sha = hashlib.sha256()
                while block := src.read(READ_BLOCK):
                    sha.update(block)
                    dst.write(block)
                if sha256 and sha.hexdigest() != sha256:
                    raise StoreError(f"{self.location}: source of {key} does not hash to its content address")
        except OSError as exc:
            raise _disk_error(self.location, key, exc) from None

    def get_bytes(self, key: str) -> bytes:
        """Read the object at ``key``. Raises ``StoreError`` if it is missing."""
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise StoreError(f"{self.location}: object {key} is missing") from None

    @contextlib.contextmanager
    def open_read(self, key: str) -> Iterator[BinaryIO]:
        """Open the object at ``key`` for reading. Raises ``StoreError`` if it is missing."""
        try:
            fh = open(self._path(key), "rb")
        except FileNotFoundError:
            raise StoreError(f"{self.location}: object {key} is missing") from None
        with fh:
            yield fh

    def size(self, key: str) -> int | None:
        """Size in bytes of the object at ``key``, or None if absent."""
        p = self._path(key)
        return p.stat().st_size if p.is_file() else None

    def list_keys(self, prefix: str) -> list[str]:
        """Sorted keys under ``prefix`` (temporary files excluded). Raises ``StoreError`` for a
        prefix that leads outside the store root."""
        base = (self.root / prefix).resolve()
        root = self.root.resolve()
        if base != root and root not in base.parents:
            raise StoreError(f"{self.location}: prefix {prefix!r} escapes the store root")
        if not base.exists():
            return []
        return sorted(
            str(p.relative_to(root))
            for p in base.rglob("*")
            if p.is_file() and not p.name.startswith(".tmp-")
        )

    def delete(self, key: str) -> None:
        """Remove the object at ``key`` (no error if absent)."""
        with contextlib.suppress(FileNotFoundError):
            self._path(key).unlink()

    def sweep_temporary(self, older_than_s: float = ORPHAN_AGE_S) -> int:
        """Remove ``.tmp-*`` files a killed writer left (untouched for ``older_than_s`` seconds);
        returns how many. A live writer keeps its file fresh, so it is spared."""
        return remove_orphans(self.root, older_than_s=older_than_s)


# -- S3 --------------------------------------------------------------------------------------------
class S3StoreOptions(BaseModel):
    """Settings of an S3 (or S3-compatible) snapshot store.

    Sizes are bytes, times seconds. ``addressing_style="path"`` and
    ``checksum_calculation="when_required"`` suit S3-compatible stores (MinIO, Ceph RGW, OSS, COS)
    that reject virtual-host names or the SDK's default CRC trailers. ``send_sha256`` adds
    ``x-amz-checksum-sha256`` per part and per object (the server checks it where supported;
    Custody proves integrity by reading back in any case). ``sse``: ``"AES256"`` is SSE-S3,
    ``"aws:kms"`` is SSE-KMS with ``sse_kms_key_id`` (None: the account's default key).
    ``object_lock_mode`` with ``object_lock_days`` puts a retain-until date on every object (the
    bucket must have Object Lock enabled); ``COMPLIANCE`` cannot be shortened by anyone.
    Raises ``pydantic.ValidationError`` for inconsistent settings.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    bucket: str = Field(min_length=3, max_length=63)
    prefix: str = ""
    endpoint_url: str | None = None
    region_name: str | None = None
    addressing_style: Literal["auto", "path", "virtual"] = "auto"
    checksum_calculation: Literal["when_supported", "when_required"] = "when_supported"
    send_sha256: bool = True
    sse: Literal["AES256", "aws:kms"] | None = None
    sse_kms_key_id: str | None = None
    object_lock_mode: Literal["GOVERNANCE", "COMPLIANCE"] | None = None
    object_lock_days: int | None = Field(default=None, ge=1, le=36500)
    multipart_threshold: int = Field(default=64 * MiB, ge=5 * MiB)
    part_size: int = Field(default=16 * MiB, ge=5 * MiB, le=5 * 1024 * MiB)
    max_attempts: int = Field(default=5, ge=1, le=20)
    retry_wait_s: float = Field(default=0.5, ge=0)
    retry_wait_max_s: float = Field(default=20.0, ge=0)
    connect_timeout_s: float = Field(default=10.0, gt=0)
    read_timeout_s: float = Field(default=60.0, gt=0)
    stale_upload_s: int = Field(default=24 * 3600, ge=0)

    @model_validator(mode="after")
    def _consistent(self) -> S3StoreOptions:
        if (self.object_lock_mode is None) != (self.object_lock_days is None):
            raise ValueError("object_lock_mode and object_lock_days go together")
        if self.sse_kms_key_id and self.sse != "aws:kms":
            raise ValueError("sse_kms_key_id needs sse='aws:kms'")
        return self


def make_s3_client(options: S3StoreOptions, **credentials: Any) -> Any:
    """A boto3 S3 client configured from ``options``; ``credentials`` go to ``boto3.client``.

    Botocore's own retries are off (one attempt): ``S3Store`` retries transient errors itself with
    tenacity, so attempts do not multiply.
    """
    import boto3
    from botocore.config import Config

    config = Config(
        request_checksum_calculation=options.checksum_calculation,
        response_checksum_validation=options.checksum_calculation,
        s3={"addressing_style": options.addressing_style},
        connect_timeout=options.connect_timeout_s,
        read_timeout=options.read_timeout_s,
        retries={"total_max_attempts": 1, "mode": "standard"},
    )
    return boto3.client(
        "s3", endpoint_url=options.endpoint_url, region_name=options.region_name, config=config, **credentials
    )


_TRANSIENT_CODES = {
    "InternalError",
    "ServiceUnavailable",
    "SlowDown",
    "RequestTimeout",
    "RequestTimeoutException",
    "Throttling",
    "ThrottlingException",
    "OperationAborted",
    "500",
    "502",
    "503",
    "504",
}


def is_transient(exc: BaseException) -> bool:
    """True for S3 errors worth retrying: 5xx, throttling, timeouts, dropped connections."""
    from botocore.exceptions import ClientError, ConnectionError, HTTPClientError, ReadTimeoutError

    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return exc.response.get("Error", {}).get("Code") in _TRANSIENT_CODES or status >= 500
    return isinstance(exc, (ConnectionError, HTTPClientError, ReadTimeoutError))


def _code(exc: BaseException) -> str:
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code", "ClientError")
    return type(exc).__name__


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


class S3Store:
    """A bucket and prefix on S3 or an S3-compatible endpoint, through a boto3 S3 client.

    ``client`` comes from the caller: ``make_s3_client(options)``, or the DAG layer's Airflow AWS
    connection. Every call is retried on transient errors (``is_transient``) with exponential
    back-off (``options.max_attempts``). Files of ``options.multipart_threshold`` bytes or more go
    up as multipart uploads of ``options.part_size`` parts, each with its SHA-256; a failed upload
    is aborted, so it leaves a complete object or none.
    """

    def __init__(
        self,
        client: Any,
        bucket: str | None = None,
        prefix: str = "",
        *,
        options: S3StoreOptions | None = None,
    ) -> None:
        if options is None:
            if not bucket:
                raise ValueError("S3Store needs a bucket or options")
            options = S3StoreOptions(bucket=bucket, prefix=prefix)
        self.options = options
        self.client = client
        self.bucket = options.bucket
        self.prefix = options.prefix.strip("/")
        self.location = f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _call(self, what: str, fn: Callable[..., T], /, **kwargs: Any) -> T:
        """Run one client call with retries on transient errors; ``StoreError`` on the final failure."""
        from botocore.exceptions import BotoCoreError, ClientError
        from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

        o = self.options
        retrying = Retrying(
            stop=stop_after_attempt(o.max_attempts),
            wait=wait_exponential_jitter(
                initial=o.retry_wait_s, max=o.retry_wait_max_s, jitter=o.retry_wait_s
            ),
            retry=retry_if_exception(is_transient),
            reraise=True,
            before_sleep=lambda rs: log.warning(
                "%s: %s failed (%s), attempt %d of %d",
                self.location,
                what,
                _code(rs.outcome.exception()),
                rs.attempt_number,
                o.max_attempts,
            ),
        )
        try:
            return retrying(fn, **kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise StoreError(f"{self.location}: {what} failed: {_code(exc)}") from exc

    def _put_extra(self) -> dict[str, Any]:
        o = self.options
        extra: dict[str, Any] = {}
        if o.sse:
            extra["ServerSideEncryption"] = o.sse
            if o.sse_kms_key_id:
                extra["SSEKMSKeyId"] = o.sse_kms_key_id
        if o.object_lock_mode:
            extra["ObjectLockMode"] = o.object_lock_mode
            extra["ObjectLockRetainUntilDate"] = datetime.now(UTC) + timedelta(days=o.object_lock_days or 0)
        return extra

    def ensure_bucket(self, *, object_lock: bool | None = None) -> None:
        """Create the bucket if it does not exist (demos and tests against a fresh endpoint).

        ``object_lock`` (default: whether the options ask for it) creates it with Object Lock on.
        """
        from botocore.exceptions import ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError:
            lock = self.options.object_lock_mode is not None if object_lock is None else object_lock
            kwargs: dict[str, Any] = {"Bucket": self.bucket}
            if lock:
                kwargs["ObjectLockEnabledForBucket"] = True
            self._call(f"create bucket {self.bucket}", self.client.create_bucket, **kwargs)

    def put_bytes(self, key: str, data: bytes, *, lock: tuple[str, datetime] | None = None) -> None:
        """Upload ``data`` in one request with its SHA-256. Raises ``StoreError`` after retries.

        ``lock``: ``(mode, retain-until)`` of an Object Lock retention for this object (the bucket
        must have Object Lock enabled), overriding the options' lock.
        """
        kwargs: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": self._key(key),
            "Body": data,
            **self._put_extra(),
        }
        if lock is not None:
            kwargs.update(ObjectLockMode=lock[0], ObjectLockRetainUntilDate=lock[1])
        if self.options.send_sha256:
            kwargs.update(ChecksumAlgorithm="SHA256", ChecksumSHA256=_b64(hashlib.sha256(data).digest()))
        elif self.options.object_lock_mode or lock is not None:
            # Object Lock requires an integrity header on PutObject.
            kwargs["ContentMD5"] = _b64(hashlib.md5(data, usedforsecurity=False).digest())
        self._call(f"upload {key}", self.client.put_object, **kwargs)

    def object_lock_enabled(self) -> bool:
        """True when the bucket has Object Lock enabled (``GetObjectLockConfiguration``)."""
        from botocore.exceptions import ClientError

        try:
            conf = self.client.get_object_lock_configuration(Bucket=self.bucket)
        except ClientError:  # ObjectLockConfigurationNotFoundError: not enabled
            return False
        return conf.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") == "Enabled"

    def put_file(self, key: str, path: Path, *, sha256: str | None = None) -> None:
        """Upload the file at ``path``: one request below the multipart threshold, else multipart.

        ``sha256`` (hex), when given, must be the file's hash; a mismatch raises ``StoreError``
        before anything is completed. Memory is O(part_size). On any failure the multipart upload
        is aborted (no orphaned parts) and ``StoreError`` is raised.
        """
        size = os.path.getsize(path)
        if size < self.options.multipart_threshold:
            data = Path(path).read_bytes()
            if sha256 and hashlib.sha256(data).hexdigest() != sha256:
                raise StoreError(f"{self.location}: source of {key} does not hash to its content address")
            self.put_bytes(key, data)
            return
        self._multipart(key, Path(path), size, sha256)

    def _multipart(self, key: str, path: Path, size: int, sha256: str | None) -> None:
        o = self.options
        full_key = self._key(key)
        self.abort_uploads(key=key, older_than_s=o.stale_upload_s)
        create: dict[str, Any] = {"Bucket": self.bucket, "Key": full_key, **self._put_extra()}
        if o.send_sha256:
            create["ChecksumAlgorithm"] = "SHA256"
        upload_id = self._call(
            f"start multipart upload {key}", self.client.create_multipart_upload, **create
        )["UploadId"]
        try:
            parts: list[dict[str, Any]] = []
            whole = hashlib.sha256()
            with open(path, "rb") as fh:
                number = 0
                while data := fh.read(o.part_size):
                    number += 1
                    whole.update(data)
                    part: dict[str, Any] = {
                        "Bucket": self.bucket,
                        "Key": full_key,
                        "UploadId": upload_id,
                        "PartNumber": number,
                        "Body": data,
                    }
                    digest = ""
                    if o.send_sha256:
                        digest = _b64(hashlib.sha256(data).digest())
                        part["ChecksumSHA256"] = digest
                    resp = self._call(f"upload part {number} of {key}", self.client.upload_part, **part)
                    if digest and resp.get("ChecksumSHA256") not in (None, digest):
                        raise StoreError(
                            f"{self.location}: part {number} of {key} stored with another SHA-256"
                        )
                    done = {"PartNumber": number, "ETag": resp["ETag"]}
                    if digest:
                        done["ChecksumSHA256"] = digest
                    parts.append(done)
            if sha256 and whole.hexdigest() != sha256:
                raise StoreError(f"{self.location}: source of {key} does not hash to its content address")
            self._complete(key, upload_id, parts, size)
        except BaseException:
            self._abort(key, upload_id)
            raise

    def _complete(self, key: str, upload_id: str, parts: list[dict[str, Any]], size: int) -> None:
        from botocore.exceptions import ClientError

        try:
            self._call(
                f"complete multipart upload {key}",
                self.client.complete_multipart_upload,
                Bucket=self.bucket,
                Key=self._key(key),
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
        except StoreError as exc:
            # A retried CompleteMultipartUpload whose first attempt succeeded but whose answer was
            # lost gets NoSuchUpload: the object is there if its size is right (read-back follows).
            cause = exc.__cause__
            if isinstance(cause, ClientError) and _code(cause) == "NoSuchUpload" and self.size(key) == size:
                log.warning("%s: %s completed on a lost response; size matches", self.location, key)
                return
            raise

    def _abort(self, key: str, upload_id: str) -> None:
        try:
            self._call(
                f"abort multipart upload {key}",
                self.client.abort_multipart_upload,
                Bucket=self.bucket,
                Key=self._key(key),
                UploadId=upload_id,
            )
        except StoreError as exc:
            # Left for abort_uploads (next run) or the bucket's AbortIncompleteMultipartUpload rule.
            log.error("%s; the upload stays until the stale-upload clean-up", exc)

    def sweep_temporary(self, older_than_s: float | None = None) -> int:
        """Abort incomplete multipart uploads (S3's temporary files) older than ``older_than_s``
        seconds (default ``options.stale_upload_s``); returns how many. Raises ``StoreError``."""
        return self.abort_uploads(older_than_s=self.options.stale_upload_s if older_than_s is None else older_than_s)

    def abort_uploads(self, *, key: str | None = None, older_than_s: float = 0) -> int:
        """Abort unfinished multipart uploads under the store prefix (or of one ``key``).

        Only uploads initiated ``older_than_s`` seconds ago or earlier are aborted, so a concurrent
        live upload is left alone. Returns the number aborted. Raises ``StoreError``.
        """
        prefix = self._key(key) if key else (f"{self.prefix}/" if self.prefix else "")
        cutoff = datetime.now(UTC) - timedelta(seconds=older_than_s)
        aborted = 0
        paginator = self.client.get_paginator("list_multipart_uploads")
        try:
            pages = list(paginator.paginate(Bucket=self.bucket, Prefix=prefix))
        except Exception as exc:
            raise StoreError(f"{self.location}: cannot list multipart uploads: {_code(exc)}") from None
        for page in pages:
            for up in page.get("Uploads", []):
                if key and up["Key"] != prefix:
                    continue
                if up["Initiated"] <= cutoff:
                    self._call(
                        f"abort stale upload of {up['Key']}",
                        self.client.abort_multipart_upload,
                        Bucket=self.bucket,
                        Key=up["Key"],
                        UploadId=up["UploadId"],
                    )
                    aborted += 1
        if aborted:
            log.info("%s: aborted %d stale multipart upload(s)", self.location, aborted)
        return aborted

    def get_bytes(self, key: str) -> bytes:
        """Download the object at ``key``. Raises ``StoreError`` if missing or unreadable."""
        with self.open_read(key) as fh:
            try:
                return fh.read()
            except Exception as exc:
                raise StoreError(f"{self.location}: cannot read {key}: {_code(exc)}") from None

    @contextlib.contextmanager
    def open_read(self, key: str) -> Iterator[BinaryIO]:
        """Stream the object at ``key`` (the GET is retried; the body is read once). Raises ``StoreError``."""
        body = self._call(f"read {key}", self.client.get_object, Bucket=self.bucket, Key=self._key(key))[
            "Body"
        ]
        try:
            yield body
        finally:
            body.close()

    def size(self, key: str) -> int | None:
        """Size in bytes of the object at ``key``, or None if absent."""
        from botocore.exceptions import ClientError

        try:
            resp = self._call(f"head {key}", self.client.head_object, Bucket=self.bucket, Key=self._key(key))
        except StoreError as exc:
            if isinstance(exc.__cause__, ClientError) and _code(exc.__cause__) in (
                "404",
                "NoSuchKey",
                "NotFound",
            ):
                return None
            raise
        return int(resp["ContentLength"])

    def list_keys(self, prefix: str) -> list[str]:
        """Sorted keys under ``prefix`` (relative to the store prefix)."""
        out: list[str] = []
        strip = len(self.prefix) + 1 if self.prefix else 0
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix)):
                out.extend(obj["Key"][strip:] for obj in page.get("Contents", []))
        except Exception as exc:
            raise StoreError(f"{self.location}: cannot list {prefix}: {_code(exc)}") from None
        return sorted(out)

    def delete(self, key: str) -> None:
        """Delete the object at ``key``. Under Object Lock this adds a delete marker; the locked
        version stays until its retain-until date. Raises ``StoreError``."""
        self._call(f"delete {key}", self.client.delete_object, Bucket=self.bucket, Key=self._key(key))
