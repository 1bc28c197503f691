"""Fixtures for keyrings, scoped key stores, KMS on moto over HTTP, and small staged runs."""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa
import pytest

from custody import hashing
from custody.crypto import LocalKeyring
from custody.documents import ObjectEntry, RunManifest, TableManifest
from custody.staging import StagingStore
from custody.store import LocalStore


@pytest.fixture
def base_keyring(tmp_path):
    """A local key file with one KEK."""
    return LocalKeyring.create(tmp_path / "keys" / "kek.json")


@pytest.fixture
def scoped(base_keyring, catalog_url):
    """A ScopedKeyring over the local key file, key store in the SQLite catalog."""
    from custody.crypto.scopes import ScopedKeyring

    return ScopedKeyring(base_keyring, catalog_url)


@pytest.fixture
def kms_client(moto_s3_endpoint):
    """A boto3 KMS client for the session's moto server (real HTTP on 127.0.0.1)."""
    import boto3

    return boto3.client(
        "kms", endpoint_url=moto_s3_endpoint, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test-secret",
    )


class _DeletableLocalStore(LocalStore):
    """LocalStore with ``delete`` (what key-store pruning needs from a store)."""

    def delete(self, key: str) -> None:
        self._path(key).unlink()


@pytest.fixture
def deletable_store(tmp_path):
    """A local snapshot store that can delete objects."""
    return _DeletableLocalStore(tmp_path / "backups")


def table_rows(start: int, n: int) -> pa.Table:
    """``n`` rows of fake customer data: id, name, phone."""
    return pa.table(
        {
            "id": pa.array(range(start, start + n), pa.int64()),
            "name": pa.array([f"客户{i}" for i in range(start, start + n)]),
            "phone": pa.array([f"138{i:08d}" for i in range(start, start + n)]),
        }
    )


_COLUMNS = [
    {"name": "id", "arrow_type": "int64", "nullable": True},
    {"name": "name", "arrow_type": "string", "nullable": True},
    {"name": "phone", "arrow_type": "string", "nullable": True},
]


@pytest.fixture
def make_run() -> Callable[..., RunManifest]:
    """Build a staged, sealed run: ``make_run(staging, run_key, {table: (scope, [(start, n), ...])})``."""

    def build(staging: StagingStore, run_key: str, tables: dict[str, tuple[str, list[tuple[int, int]]]],
              source: str = "crm") -> RunManifest:
        tms = []
        for name, (scope, chunks) in tables.items():
            entries, digest, rows = [], 0, 0
            for i, (start, n) in enumerate(chunks):
                t = table_rows(start, n)
                h = hashing.table_hash(t)
                digest = hashing.combine(digest, h)
                rows += n
                oid = f"{source}/{run_key}/{name}/chunk-{i:05d}"
                entry = ObjectEntry(
                    object_id=oid, key=f"{oid}.cdy", kind="chunk", source=source, run_key=run_key, table=name,
                    chunk=i, rows=n, content_hash=hashing.to_hex(h), scope=scope,
                )
                entries.append(staging.put_table(entry, t))
            tms.append(TableManifest(
                table=name, source_table=name, primary_key=["id"], columns=_COLUMNS, source_rows=rows,
                extracted_rows=rows, content_hash=hashing.to_hex(digest), chunks=entries,
            ))
        manifest = RunManifest(source=source, run_key=run_key, dialect="sqlite", tables=tms)
        staging.put(manifest)
        return manifest

    return build
