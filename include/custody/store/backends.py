"""Object store backends behind one small interface: local directory and S3.

Keys are ``/``-separated relative paths. Both backends write atomically: the local one through a
temporary file and rename, S3 because an object becomes visible only when its upload completes.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any, Protocol

from custody.fsio import atomic_write_bytes


class StoreError(Exception):
    """A store operation failed; the message names the store and key, never content."""


class ObjectStore(Protocol):
    """Minimal object store used for snapshots."""

    location: str

    def put_bytes(self, key: str, data: bytes) -> None: ...

    def get_bytes(self, key: str) -> bytes: ...

    def size(self, key: str) -> int | None: ...

    def list_keys(self, prefix: str) -> list[str]: ...


class LocalStore:
    """A directory on local disk. ``root`` is created on first write (mode 0700)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.location = f"local:{self.root}"

    def _path(self, key: str) -> Path:
        p = (self.root / key).resolve()
        if self.root.resolve() not in p.parents:
            raise StoreError(f"{self.location}: key {key!r} escapes the store root")
        return p

    def put_bytes(self, key: str, data: bytes) -> None:
        """Write ``data`` at ``key`` atomically. Raises ``StoreError`` (e.g. disk full) with no partial file."""
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            atomic_write_bytes(self._path(key), data)
        except OSError as exc:
            raise StoreError(f"{self.location}: cannot write {key}: {exc.strerror or exc}") from None

    def get_bytes(self, key: str) -> bytes:
        """Read the object at ``key``. Raises ``StoreError`` if it is missing."""
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise StoreError(f"{self.location}: object {key} is missing") from None

    def size(self, key: str) -> int | None:
        """Size in bytes of the object at ``key``, or None if absent."""
        p = self._path(key)
        return p.stat().st_size if p.is_file() else None

    def list_keys(self, prefix: str) -> list[str]:
        """Sorted keys under ``prefix`` (temporary files excluded)."""
        base = self.root / prefix
        if not base.exists():
            return []
        return sorted(
            str(p.relative_to(self.root)) for p in base.rglob("*") if p.is_file() and not p.name.startswith(".tmp-")
        )


class S3Store:
    """A bucket and prefix on S3 or an S3-compatible endpoint, through a boto3 S3 client.

    ``client`` comes from the caller (the DAG layer builds it from an Airflow AWS connection whose
    extra carries ``endpoint_url``). Uploads send a SHA-256 checksum that the server checks where
    it supports it; integrity is proven in any case by reading back and hashing (``verify``).
    """

    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.location = f"s3://{bucket}/{self.prefix}".rstrip("/")

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist (for demos and tests against a fresh endpoint)."""
        from botocore.exceptions import ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError:
            self.client.create_bucket(Bucket=self.bucket)

    def put_bytes(self, key: str, data: bytes) -> None:
        """Upload ``data`` with a SHA-256 checksum. Raises ``StoreError`` on any client error."""
        from botocore.exceptions import BotoCoreError, ClientError

        checksum = base64.b64encode(hashlib.sha256(data).digest()).decode()
        try:
            self.client.put_object(
                Bucket=self.bucket, Key=self._key(key), Body=data, ChecksumSHA256=checksum
            )
        except (ClientError, BotoCoreError) as exc:
            raise StoreError(f"{self.location}: cannot upload {key}: {type(exc).__name__}") from None

    def get_bytes(self, key: str) -> bytes:
        """Download the object at ``key``. Raises ``StoreError`` if missing or unreadable."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
        except (ClientError, BotoCoreError) as exc:
            raise StoreError(f"{self.location}: cannot read {key}: {type(exc).__name__}") from None

    def size(self, key: str) -> int | None:
        """Size in bytes of the object at ``key``, or None if absent."""
        from botocore.exceptions import ClientError

        try:
            return int(self.client.head_object(Bucket=self.bucket, Key=self._key(key))["ContentLength"])
        except ClientError:
            return None

    def list_keys(self, prefix: str) -> list[str]:
        """Sorted keys under ``prefix`` (relative to the store prefix)."""
        out: list[str] = []
        strip = len(self.prefix) + 1 if self.prefix else 0
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix)):
            out.extend(obj["Key"][strip:] for obj in page.get("Contents", []))
        return sorted(out)
