"""File landings: where a file-drop source's files arrive (a local folder or an S3 prefix).

A landing lists files by glob (relative POSIX names, sorted) and opens one as a binary stream;
names cannot escape a local landing. ``HashingReader`` wraps such a stream so the SHA-256 and
size recorded for a file are those of every byte read from the landing. Files are read as data
only; error messages carry file names, never contents.
"""

from __future__ import annotations

import fnmatch
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, Protocol

from custody.sources.errors import ExtractError


@dataclass(frozen=True)
class LandedFile:
    """A file in a landing: ``name`` relative to the landing (POSIX), size in bytes."""

    name: str
    bytes: int


class Landing(Protocol):
    """Where a file-drop source's files arrive."""

    def list(self, pattern: str) -> list[LandedFile]:
        """Files whose relative name matches the glob ``pattern``, sorted by name."""

    def open(self, name: str) -> BinaryIO:
        """A binary stream of one file."""


class LocalLanding:
    """A landing folder on local disk (``root``); names cannot escape it."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def list(self, pattern: str) -> list[LandedFile]:
        """Regular files under the root matching ``pattern`` (``**`` recurses)."""
        if not self.root.is_dir():
            raise ExtractError(f"landing folder {self.root} does not exist")
        out = [LandedFile(p.relative_to(self.root).as_posix(), p.stat().st_size)
               for p in self.root.glob(pattern) if p.is_file()]
        return sorted(out, key=lambda f: f.name)

    def open(self, name: str) -> BinaryIO:
        path = (self.root / name).resolve()
        if self.root.resolve() not in path.parents:
            raise ExtractError(f"file {name!r} is outside the landing folder")
        return path.open("rb")


class _BodyReader(io.RawIOBase):
    """``io.RawIOBase`` over a botocore ``StreamingBody`` (so it can be buffered and read by line)."""

    def __init__(self, body: Any) -> None:
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self._body.read(len(b))
        b[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._body.close()
        super().close()


class S3Landing:
    """A landing prefix in S3: ``client`` (boto3), ``bucket``, ``prefix`` (no leading slash)."""

    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self.client, self.bucket, self.prefix = client, bucket, prefix.strip("/")

    def _key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def list(self, pattern: str) -> list[LandedFile]:
        out = []
        paginator = self.client.get_paginator("list_objects_v2")
        base = f"{self.prefix}/" if self.prefix else ""
        for page in paginator.paginate(Bucket=self.bucket, Prefix=base):
            for obj in page.get("Contents", []):
                name = obj["Key"][len(base):]
                if name and not name.endswith("/") and _glob_match(name, pattern):
                    out.append(LandedFile(name, int(obj["Size"])))
        return sorted(out, key=lambda f: f.name)

    def open(self, name: str) -> BinaryIO:
        body = self.client.get_object(Bucket=self.bucket, Key=self._key(name))["Body"]
        return io.BufferedReader(_BodyReader(body), buffer_size=1 << 20)


def _glob_match(name: str, pattern: str) -> bool:
    return PurePosixPath(name).match(pattern) if "**" not in pattern else fnmatch.fnmatch(name, pattern)


def open_landing(spec: str, s3_client: Any = None) -> Landing:
    """``LocalLanding`` for a folder, ``S3Landing`` for ``s3://bucket/prefix`` (needs ``s3_client``)."""
    if spec.startswith("s3://"):
        if s3_client is None:
            raise ExtractError("an s3:// landing needs an S3 client (the source's conn_id)")
        bucket, _, prefix = spec[5:].partition("/")
        return S3Landing(s3_client, bucket, prefix)
    return LocalLanding(spec)


class HashingReader(io.RawIOBase):
    """Pass-through reader over a landed file that hashes (SHA-256, ``sha``) and counts (``bytes``)
    every byte read."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self.sha = hashlib.sha256()
        self.bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self._raw.read(len(b))
        n = len(data)
        b[:n] = data
        self.sha.update(data)
        self.bytes += n
        return n

    def drain(self) -> None:
        while self._raw.read(1 << 20):
            pass

    def finish(self) -> None:
        """Hash whatever the parser did not read (trailing bytes still belong to the file)."""
        while True:
            data = self._raw.read(1 << 20)
            if not data:
                return
            self.sha.update(data)
            self.bytes += len(data)
