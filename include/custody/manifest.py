"""Manifests: what each stage produced, passed between stages instead of data.

A run manifest lists every encrypted object of one run of one source with its row count, sizes,
ciphertext SHA-256 and row-content hash. It holds column names, types and counts, never values.
It is authenticated with an HMAC-SHA256 from the keyring (``seal`` / ``verify_seal``), so an edited
manifest (a swapped hash, a dropped chunk) is detected before anything trusts it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from custody.crypto.envelope import canonical_json
from custody.crypto.keyring import Keyring

MANIFEST_VERSION = 1


class ManifestError(Exception):
    """A manifest is missing, malformed, or its seal (HMAC) does not verify."""


class ObjectEntry(BaseModel):
    """One encrypted object in staging and in backups.

    ``kind``: ``chunk`` (source rows), ``quarantine`` (rows held back, with their reasons) or
    ``rowkeys`` (change capture for the chunk with the same ``chunk`` number: ``_custody_row_key``
    and ``_custody_row_hash``, see ``custody.rowkeys``). ``key`` is the path relative to the staging root;
    ``sha256`` is of the ciphertext file (hex);
    ``content_hash`` is the multiset hash of the plaintext rows (``custody.hashing``, hex).
    """

    object_id: str
    key: str
    kind: Literal["chunk", "quarantine", "rowkeys"]
    source: str
    run_key: str
    table: str
    chunk: int
    rows: int
    content_hash: str
    plaintext_bytes: int = 0
    ciphertext_bytes: int = 0
    sha256: str = ""
    kek_id: str = ""
    scope: str = "default"

    def binding(self) -> dict[str, Any]:
        """The fields bound into the object's header (known before encryption)."""
        return {
            "source": self.source,
            "run_key": self.run_key,
            "table": self.table,
            "kind": self.kind,
            "chunk": self.chunk,
            "rows": self.rows,
            "content_hash": self.content_hash,
        }


class ColumnSchema(BaseModel):
    """A column as extracted: its source name, Arrow type (string form) and source SQL type."""

    name: str
    arrow_type: str
    source_type: str = ""
    nullable: bool = True
    #: Timestamps only: the zone the source gave (session zone of a zone-aware column, or the
    #: configured zone naive values were read in). Staged values are UTC whatever it is.
    source_zone: str | None = None


class FileEntry(BaseModel):
    """One landed file (or XLSX sheet) of a file-drop table: provenance, no values.

    ``rows``: data rows parsed (header and blank lines excluded), bad ones included;
    ``quarantined``: of those, rows held back at extraction. ``sha256``/``bytes`` are of the file.
    """

    name: str
    sheet: str | None = None
    sha256: str
    bytes: int
    format: str
    encoding: str | None = None
    delimiter: str | None = None
    rows: int = 0
    quarantined: int = 0
    note: str = ""


class ExtractionInfo(BaseModel):
    """How a table was extracted.

    ``watermark_from`` (exclusive) and ``watermark_to`` (inclusive) bound an incremental run
    (ISO-8601 UTC timestamps or integers as text; ``None`` = unbounded). ``path``: ``copy_csv``
    (PostgreSQL COPY streamed into Arrow), ``cursor`` (server-side cursor) or ``files``.
    """

    mode: Literal["full", "incremental"] = "full"
    path: str = ""
    watermark_column: str | None = None
    watermark_kind: Literal["timestamp", "integer", "files"] | None = None
    watermark_from: str | None = None
    watermark_to: str | None = None
    parts: int = 1
    files: list[FileEntry] = Field(default_factory=list)


class TableManifest(BaseModel):
    """One extracted table: reconciliation counts, schema and its objects.

    Reconciliation at extraction: ``source_rows == extracted_rows + quarantined_at_extract``,
    where ``source_rows`` is the source's count (``COUNT(*)`` over the run's ranges, or data rows
    parsed from the files), ``extracted_rows`` the rows staged in ``chunks`` (``content_hash`` is
    their multiset hash, so a restore reproduces exactly these) and ``quarantined_at_extract`` the
    rows held back in ``quarantine`` objects (zero dates, mangled identifiers, short rows...), with
    ``quarantine_reasons`` counting ``<reason>:<column>`` labels. ``row_keys`` pairs each chunk
    with its change-capture object.
    """

    table: str
    source_table: str
    primary_key: list[str]
    columns: list[ColumnSchema]
    source_rows: int
    extracted_rows: int
    content_hash: str
    chunks: list[ObjectEntry] = Field(default_factory=list)
    quarantined_at_extract: int = 0
    quarantine_reasons: dict[str, int] = Field(default_factory=dict)
    quarantine: list[ObjectEntry] = Field(default_factory=list)
    row_keys: list[ObjectEntry] = Field(default_factory=list)
    extraction: ExtractionInfo = Field(default_factory=ExtractionInfo)


class Seal(BaseModel):
    """HMAC-SHA256 over the canonical JSON of a document without its seal."""

    kek_id: str
    hmac_sha256: str


class RunManifest(BaseModel):
    """Everything one extract produced for one source (``manifest.json`` in the run folder)."""

    format: Literal["custody-run-manifest"] = "custody-run-manifest"
    version: int = MANIFEST_VERSION
    source: str
    run_key: str
    run_id: str = ""
    dialect: str
    created_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    tables: list[TableManifest]
    seal: Seal | None = None

    def table(self, name: str) -> TableManifest:
        """The table manifest named ``name``. Raises ``KeyError``."""
        for t in self.tables:
            if t.table == name:
                return t
        raise KeyError(name)

    def objects(self) -> list[ObjectEntry]:
        """All objects written at extraction, table by table: chunks, then row keys, then quarantine."""
        return [c for t in self.tables for c in (*t.chunks, *t.row_keys, *t.quarantine)]


def seal(doc: dict[str, Any], keyring: Keyring) -> dict[str, Any]:
    """Return ``doc`` with a ``seal`` field: HMAC over its canonical JSON without ``seal``."""
    body = {k: v for k, v in doc.items() if k != "seal"}
    kek_id, tag = keyring.mac(canonical_json(body))
    return {**body, "seal": {"kek_id": kek_id, "hmac_sha256": tag}}


def verify_seal(doc: dict[str, Any], keyring: Keyring, *, name: str) -> None:
    """Raise ``ManifestError`` unless ``doc`` carries a seal that verifies under ``keyring``."""
    s = doc.get("seal")
    if not isinstance(s, dict) or "kek_id" not in s or "hmac_sha256" not in s:
        raise ManifestError(f"{name}: no seal; refusing an unauthenticated manifest")
    body = {k: v for k, v in doc.items() if k != "seal"}
    if not keyring.verify_mac(s["kek_id"], canonical_json(body), s["hmac_sha256"]):
        raise ManifestError(f"{name}: seal does not verify (manifest altered or sealed under another key)")
