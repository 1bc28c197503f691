"""Encrypted staging: Parquet chunks encrypted before they touch disk, and sealed JSON documents.

The layout under the staging root (``CUSTODY_HOME/staging``) is ``custody.documents.layout``'s:
sealed documents (plan, parts, manifest, stage results) and encrypted Parquet objects
(Custody object format, ``docs/format.md``). Documents go in and out only as their models
(``put`` / ``get``), so each is sealed on write and checked on read: seal, schema version, and
that the document found at a key is the one that belongs there.

Plaintext Parquet exists only in memory. Every write is atomic (``custody.fsio``), so a rerun after
a crash overwrites whole files and never exposes a half-written one.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TypeVar

import pyarrow as pa
import pyarrow.parquet as pq

from custody import hashing
from custody.crypto.envelope import IntegrityError, decrypt_bytes, encrypt_stream
from custody.crypto.keyring import Keyring
from custody.fsio import atomic_write_bytes, atomic_writer
from custody.documents import Document, DocumentError, ObjectEntry

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
    """The encrypted staging area of one ``CUSTODY_HOME``.

    ``root``: staging directory; ``keyring``: wraps the per-object data keys and seals documents.
    """

    def __init__(self, root: Path, keyring: Keyring) -> None:
        self.root = Path(root)
        self.keyring = keyring

    def path(self, key: str) -> Path:
        """Absolute path of a staging key; refuses keys that escape the root."""
        p = (self.root / key).resolve()
        if self.root.resolve() not in p.parents:
            raise ValueError(f"staging key {key!r} escapes the staging root")
        return p

    def put_table(self, entry: ObjectEntry, table: pa.Table) -> ObjectEntry:
        """Encrypt ``table`` as Parquet under ``entry.key``; return the entry with sizes and hashes.

        ``entry.rows`` and ``entry.content_hash`` must already describe ``table`` (they are bound
        into the header); a mismatch raises ``ValueError``.
        """
        if entry.rows != table.num_rows:
            raise ValueError(f"{entry.object_id}: entry says {entry.rows} rows, table has {table.num_rows}")
        plaintext = table_to_parquet(table)
        # Encrypted segment by segment straight into the temporary file: no ciphertext copy in
        # memory, and the file appears under its name only once complete (atomic_writer).
        with atomic_writer(self.path(entry.key)) as fh:
            info = encrypt_stream(
                pa.BufferReader(plaintext), fh, object_id=entry.object_id, binding=entry.binding(),
                keyring=self.keyring, scope=entry.scope,
            )
        del plaintext
        return entry.model_copy(
            update={
                "plaintext_bytes": info.plaintext_bytes,
                "ciphertext_bytes": info.ciphertext_bytes,
                "sha256": info.sha256,
                "kek_id": info.kek_id,
            }
        )

    def read_object(self, entry: ObjectEntry) -> bytes:
        """Ciphertext bytes of an object, checked against ``entry.sha256``. Raises ``IntegrityError``."""
        blob = self.path(entry.key).read_bytes()
        if entry.sha256 and hashlib.sha256(blob).hexdigest() != entry.sha256:
            raise IntegrityError(f"object {entry.object_id}: SHA-256 differs from the manifest")
        return blob

    def get_table(self, entry: ObjectEntry, *, check_content: bool = True) -> pa.Table:
        """Decrypt and read one object; optionally re-check its row-content hash.

        Raises ``IntegrityError`` (hash, authentication or content mismatch), ``WrongKeyError``.
        """
        return open_table(self.read_object(entry), entry, self.keyring, check_content=check_content)

    def put(self, doc: Document) -> str:
        """Seal ``doc`` and write it atomically at its own key (``doc.key()``); returns the key."""
        key = doc.key()
        data = json.dumps(doc.sealed(self.keyring), indent=1, ensure_ascii=False).encode()
        atomic_write_bytes(self.path(key), data)
        return key

    def get(self, key: str, model: type[D]) -> D:
        """Read the document at ``key`` as ``model``: seal, schema version and place checked.

        Raises ``DocumentError`` (missing, malformed, unknown version, seal, misplaced).
        """
        try:
            raw = json.loads(self.path(key).read_bytes())
        except FileNotFoundError:
            raise DocumentError(f"{key}: no such document in staging (the stage that writes it did not run "
                                "or did not finish)") from None
        except ValueError:
            raise DocumentError(f"{key}: not a JSON document") from None
        return model.open_sealed(raw, self.keyring, name=key, key=key)

    def exists(self, key: str) -> bool:
        """True when something is stored at ``key``."""
        return self.path(key).exists()

    def find(self, key: str, model: type[D]) -> D | None:
        """``get`` when a document is stored at ``key``, else None."""
        return self.get(key, model) if self.exists(key) else None


def open_table(blob: bytes, entry: ObjectEntry, keyring: Keyring, *, check_content: bool = True) -> pa.Table:
    """Decrypt a Custody object holding Parquet and check it against its manifest entry."""
    plaintext = decrypt_bytes(blob, keyring=keyring, object_id=entry.object_id, binding=entry.binding())
    table = parquet_to_table(plaintext)
    if table.num_rows != entry.rows:
        raise IntegrityError(f"object {entry.object_id}: {table.num_rows} rows, manifest says {entry.rows}")
    if check_content and hashing.to_hex(hashing.table_hash(table)) != entry.content_hash:
        raise IntegrityError(f"object {entry.object_id}: row content hash differs from the manifest")
    return table
