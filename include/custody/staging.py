"""Encrypted staging: Parquet chunks encrypted before they touch disk, and sealed JSON documents.

Staging lives on local disk (``CUSTODY_HOME/staging``, the embedded default) or in an
S3-compatible bucket (``CUSTODY_STAGING=s3://bucket/prefix``), which every worker of a deployment
shares: a stage reads only what earlier stages wrote to the staging store, never another task's
local folder. The layout under the staging root is ``custody.documents.layout``'s:
sealed documents (plan, parts, manifest, stage results) and encrypted Parquet objects
(Custody object format, ``docs/format.md``). Documents go in and out only as their models
(``put`` / ``get``), so each is sealed on write and checked on read: seal, schema version, and
that the document found at a key is the one that belongs there.

Plaintext Parquet exists only in memory. Every write is atomic (``custody.fsio`` on disk; on S3 an
object appears only once its upload completes), so a rerun after a crash overwrites whole objects
and never exposes a half-written one. Stages publish their sealed document last, after the objects
it lists.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import pyarrow as pa
import pyarrow.parquet as pq

from custody import hashing
from custody.crypto.envelope import IntegrityError, decrypt_bytes, encrypt_stream
from custody.crypto.keyring import Keyring
from custody.fsio import TEMP_PREFIX, atomic_write_bytes, atomic_writer, remove_orphans
from custody.documents import Document, DocumentError, ObjectEntry

if TYPE_CHECKING:
    from custody.store.backends import ObjectStore, S3Store

D = TypeVar("D", bound=Document)

PARQUET_COMPRESSION = "zstd"


_DICT_SAMPLE = 1000


def _dictionary_columns(table: pa.Table) -> list[str]:
    """Columns worth dictionary encoding: fewer than half distinct values in a head sample.

    Identifiers, names and addresses are nearly unique, and building a dictionary for them costs
    about a third of the Parquet write time for nothing (measured in bench/extract.py).
    """
    import pyarrow.compute as pc

    head = table.slice(0, _DICT_SAMPLE)
    if head.num_rows == 0:
        return []
    return [name for name, col in zip(head.column_names, head.columns)
            if not pa.types.is_nested(col.type) and pc.count_distinct(col).as_py() < 0.5 * head.num_rows]


def table_to_parquet(table: pa.Table) -> pa.Buffer:
    """Serialise an Arrow table to Parquet in memory: an Arrow buffer (bytes-like, not copied).

    zstd; dictionaries only where they pay; no column statistics (a staged chunk is encrypted
    and always read whole, so min/max would only cost write time).
    """
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression=PARQUET_COMPRESSION, use_dictionary=_dictionary_columns(table),
                   write_statistics=False)
    return sink.getvalue()


def parquet_to_table(data: bytes | pa.Buffer) -> pa.Table:
    """Read Parquet bytes produced by ``table_to_parquet``."""
    return pq.read_table(pa.BufferReader(data))


class StagingStore:
    """The encrypted staging area of a run's workers: a local folder or an S3 bucket and prefix.

    ``root``: staging directory (local staging); ``keyring``: wraps the per-object data keys and
    seals documents; ``s3``: a ``custody.store.S3Store`` for staging shared by workers on several
    hosts (then ``root`` is not used). Stages use only the key-based methods (``put_table``,
    ``get_table``, ``put``, ``get``, ``read_bytes``, ``list_keys``, ``delete``, ``copy_to``), so
    both backends behave the same; ``path`` exists for local staging only.
    """

    def __init__(self, root: Path | None, keyring: Keyring, *, s3: S3Store | None = None) -> None:
        if root is None and s3 is None:
            raise ValueError("StagingStore needs a root folder or an S3 store")
        self.root = Path(root) if root is not None else None
        self.keyring = keyring
        self.s3 = s3
        self.location = s3.location if s3 is not None else f"local:{self.root}"

    @property
    def shared(self) -> bool:
        """True when staging is on S3 (every worker sees it), False on a local folder."""
        return self.s3 is not None

    def path(self, key: str) -> Path:
        """Absolute path of a staging key (local staging only); refuses keys that escape the root."""
        if self.root is None:
            raise ValueError(f"staging on {self.location} has no local paths")
        p = (self.root / key).resolve()
        if self.root.resolve() not in p.parents:
            raise ValueError(f"staging key {key!r} escapes the staging root")
        return p

    def _s3_key(self, key: str) -> str:
        # The same guard as a local path: no absolute keys, no "..", no empty segments.
        parts = key.split("/")
        if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise ValueError(f"staging key {key!r} escapes the staging root")
        return key

    # -- objects ------------------------------------------------------------------------------
    def put_table(self, entry: ObjectEntry, table: pa.Table) -> ObjectEntry:
        """Encrypt ``table`` as Parquet under ``entry.key``; return the entry with sizes and hashes.

        ``entry.rows`` and ``entry.content_hash`` must already describe ``table`` (they are bound
        into the header); a mismatch raises ``ValueError``.
        """
        if entry.rows != table.num_rows:
            raise ValueError(f"{entry.object_id}: entry says {entry.rows} rows, table has {table.num_rows}")
        plaintext = table_to_parquet(table)

        def encrypt(fh, plaintext=plaintext):
            return encrypt_stream(
                pa.BufferReader(plaintext), fh, object_id=entry.object_id, binding=entry.binding(),
                keyring=self.keyring, scope=entry.scope,
            )

        if self.s3 is None:
            # Encrypted segment by segment straight into the temporary file: no ciphertext copy in
            # memory, and the file appears under its name only once complete (atomic_writer).
            with atomic_writer(self.path(entry.key)) as fh:
                info = encrypt(fh)
        else:
            # Ciphertext only in a temporary file (never plaintext), then one upload, multipart for
            # large objects: the object exists whole or not at all.
            with tempfile.NamedTemporaryFile(prefix=TEMP_PREFIX, suffix=".cdy") as tmp:
                info = encrypt(tmp)
                tmp.flush()
                self.s3.put_file(self._s3_key(entry.key), Path(tmp.name), sha256=info.sha256)
        del plaintext, encrypt  # the closure's default holds the plaintext buffer too
        return entry.model_copy(
            update={
                "plaintext_bytes": info.plaintext_bytes,
                "ciphertext_bytes": info.ciphertext_bytes,
                "sha256": info.sha256,
                "kek_id": info.kek_id,
            }
        )

    def read_bytes(self, key: str) -> bytes:
        """The stored bytes at ``key``. Raises ``FileNotFoundError`` when nothing is stored there."""
        if self.s3 is None:
            return self.path(key).read_bytes()
        from custody.store.backends import StoreError

        try:
            return self.s3.get_bytes(self._s3_key(key))
        except StoreError:
            if self.s3.size(key) is None:
                raise FileNotFoundError(f"{self.location}: nothing stored at {key}") from None
            raise

    def read_object(self, entry: ObjectEntry) -> bytes:
        """Ciphertext bytes of an object, checked against ``entry.sha256``. Raises ``IntegrityError``."""
        blob = self.read_bytes(entry.key)
        if entry.sha256 and hashlib.sha256(blob).hexdigest() != entry.sha256:
            raise IntegrityError(f"object {entry.object_id}: SHA-256 differs from the manifest")
        return blob

    def get_table(self, entry: ObjectEntry, *, check_content: bool = True) -> pa.Table:
        """Decrypt and read one object; optionally re-check its row-content hash.

        Raises ``IntegrityError`` (hash, authentication or content mismatch), ``WrongKeyError``.
        """
        return open_table(self.read_object(entry), entry, self.keyring, check_content=check_content)

    def copy_to(self, store: ObjectStore, key: str, entry: ObjectEntry) -> None:
        """Copy the staged object of ``entry`` to ``key`` in ``store``, which checks it hashes to
        ``entry.sha256``. From S3 staging the ciphertext passes through a temporary file."""
        if self.s3 is None:
            store.put_file(key, self.path(entry.key), sha256=entry.sha256)
            return
        with tempfile.NamedTemporaryFile(prefix=TEMP_PREFIX, suffix=".cdy") as tmp:
            with self.s3.open_read(self._s3_key(entry.key)) as src:
                while block := src.read(4 << 20):
                    tmp.write(block)
            tmp.flush()
            store.put_file(key, Path(tmp.name), sha256=entry.sha256)

    # -- listing and removal ------------------------------------------------------------------
    def _folder(self, prefix: str) -> Path:
        # The local folder of a key prefix, checked to lie inside the root ("" is the root).
        return self.path(prefix.strip("/")) if prefix.strip("/") else self.root

    def list_keys(self, prefix: str) -> list[str]:
        """Sorted keys stored under ``prefix`` (a folder key ending in ``/``), temporary files included
        on local disk (a killed writer's ``.tmp-*``), so sweeps can remove them."""
        if self.s3 is None:
            base = self._folder(prefix)
            if not base.is_dir():
                return []
            root = self.root.resolve()
            return sorted(p.relative_to(root).as_posix() for p in base.rglob("*") if p.is_file())
        return self.s3.list_keys(self._s3_key(prefix.rstrip("/")) + "/")

    def delete(self, key: str) -> None:
        """Remove what is stored at ``key`` (no error when absent)."""
        if self.s3 is None:
            self.path(key).unlink(missing_ok=True)
        else:
            self.s3.delete(self._s3_key(key))

    def remove_unlisted(self, folder: str, stem: str, keep: set[str]) -> int:
        """Delete the objects directly in ``folder`` whose name starts with ``stem`` (``.tmp-``
        prefix ignored) and whose key is not in ``keep``; returns how many were removed."""
        removed = 0
        for key in self.list_keys(folder):
            name = key.rpartition("/")[2]
            if key.rpartition("/")[0] != folder.rstrip("/"):
                continue
            if name.removeprefix(TEMP_PREFIX).startswith(stem) and key not in keep:
                self.delete(key)
                removed += 1
        return removed

    def sweep_temporary(self, prefix: str, *, older_than_s: float = 3600.0) -> int:
        """Remove what killed writers left under ``prefix``: ``.tmp-*`` files on local disk, and on
        S3 unfinished multipart uploads older than ``older_than_s`` (a live upload is spared)."""
        if self.s3 is None:
            return remove_orphans(self._folder(prefix), older_than_s=older_than_s)
        return self.s3.sweep_temporary(older_than_s)

    # -- documents ----------------------------------------------------------------------------
    def put(self, doc: Document) -> str:
        """Seal ``doc`` and write it atomically at its own key (``doc.key()``); returns the key."""
        key = doc.key()
        data = json.dumps(doc.sealed(self.keyring), indent=1, ensure_ascii=False).encode()
        if self.s3 is None:
            atomic_write_bytes(self.path(key), data)
        else:
            self.s3.put_bytes(self._s3_key(key), data)
        return key

    def get(self, key: str, model: type[D]) -> D:
        """Read the document at ``key`` as ``model``: seal, schema version and place checked.

        Raises ``DocumentError`` (missing, malformed, unknown version, seal, misplaced).
        """
        try:
            raw = json.loads(self.read_bytes(key))
        except FileNotFoundError:
            raise DocumentError(f"{key}: no such document in staging (the stage that writes it did not run "
                                "or did not finish)") from None
        except ValueError:
            raise DocumentError(f"{key}: not a JSON document") from None
        return model.open_sealed(raw, self.keyring, name=key, key=key)

    def exists(self, key: str) -> bool:
        """True when something is stored at ``key``."""
        if self.s3 is None:
            return self.path(key).exists()
        return self.s3.size(self._s3_key(key)) is not None

    def find(self, key: str, model: type[D]) -> D | None:
        """``get`` when a document is stored at ``key``, else None."""
        try:
            return self.get(key, model)
        except DocumentError:
            if self.exists(key):
                raise
            return None


def open_table(blob: bytes, entry: ObjectEntry, keyring: Keyring, *, check_content: bool = True) -> pa.Table:
    """Decrypt a Custody object holding Parquet and check it against its manifest entry."""
    plaintext = decrypt_bytes(blob, keyring=keyring, object_id=entry.object_id, binding=entry.binding())
    table = parquet_to_table(plaintext)
    if table.num_rows != entry.rows:
        raise IntegrityError(f"object {entry.object_id}: {table.num_rows} rows, manifest says {entry.rows}")
    if check_content and hashing.to_hex(hashing.table_hash(table)) != entry.content_hash:
        raise IntegrityError(f"object {entry.object_id}: row content hash differs from the manifest")
    return table
