"""Documents of extraction: the plan, one document per extracted part, and the run manifest.

``plan.json`` says what a run will read (per table: schema signature, incremental interval, key
ranges or files); each mapped task writes one ``parts/<table>/part-NNNN.json`` with the objects
it staged; ``manifest.json`` joins the parts once all are there. They hold names, counts,
surrogate integer keys, interval bounds and hashes: never a value of a row.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, Literal

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from custody.documents.base import Document, DocumentError
from custody.documents.layout import document_key


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ObjectEntry(_Model):
    """One encrypted object in staging and in backups.

    ``kind``: ``chunk`` (source rows), ``quarantine`` (rows held back, with their reasons) or
    ``rowkeys`` (change capture for the chunk with the same ``chunk`` number: ``_custody_row_key``
    and ``_custody_row_hash``, see ``custody.rowkeys``). ``key`` is the path relative to the
    staging root; ``sha256`` is of the ciphertext file (hex); ``content_hash`` is the multiset hash
    of the plaintext rows (``custody.hashing``, hex); ``scope`` the key scope that wraps its data
    key (``docs/format.md`` section 1).
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


_SIMPLE_TYPES = {
    "int64": pa.int64(), "double": pa.float64(), "string": pa.string(), "bool": pa.bool_(),
    "date32[day]": pa.date32(), "binary": pa.binary(), "time64[us]": pa.time64("us"),
    "timestamp[us, tz=UTC]": pa.timestamp("us", tz="UTC"),
}
_DECIMAL = re.compile(r"decimal128\((\d+), (-?\d+)\)")


def arrow_type_from_string(text: str) -> pa.DataType:
    """Inverse of ``str(t)`` for the Arrow types extraction stages (manifest ``arrow_type``).

    Raises ``ValueError`` for any other type name.
    """
    if text in _SIMPLE_TYPES:
        return _SIMPLE_TYPES[text]
    m = _DECIMAL.fullmatch(text)
    if m:
        return pa.decimal128(int(m.group(1)), int(m.group(2)))
    raise ValueError(f"unsupported Arrow type {text!r} in manifest")


class ColumnSchema(_Model):
    """A column as extracted: its source name, Arrow type (string form) and source SQL type."""

    name: str
    arrow_type: str
    source_type: str = ""
    nullable: bool = True
    #: Timestamps only: the zone the source gave (session zone of a zone-aware column, or the
    #: configured zone naive values were read in). Staged values are UTC whatever it is.
    source_zone: str | None = None

    def field(self) -> pa.Field:
        """The Arrow field of this column. Raises ``ValueError`` for an unknown type name."""
        return pa.field(self.name, arrow_type_from_string(self.arrow_type), nullable=self.nullable)


class FileEntry(_Model):
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


# -- plan -------------------------------------------------------------------------------------------
class PartSpec(_Model):
    """One planned part: a primary-key range ``(lo, hi]`` (``None`` = open) or one landed file."""

    part: int = Field(ge=0)
    lo: int | None = None
    hi: int | None = None
    name: str | None = None
    bytes: int | None = None


class WatermarkBounds(_Model):
    """The incremental interval of a table: ``low < column <= high`` (encoded as in ``custody.extract.watermarks``)."""

    column: str
    kind: Literal["timestamp", "integer"]
    low: str | None = None
    high: str | None = None


class TablePlan(_Model):
    """One table of a plan. ``columns``: ``name:arrow type`` signature checked again by every part;
    ``header``/``column_schemas``: file drops (the expected header and the staged columns);
    ``row_keys``: whether every part stages ``rowkeys`` objects (absent in version 1 plans, whose
    parts always did)."""

    table: str
    source_table: str | None
    kind: Literal["sql", "files"]
    primary_key: list[str]
    columns: list[str]
    mode: Literal["full", "incremental"]
    watermark: WatermarkBounds | None = None
    planned_rows: int | None = None
    parts: list[PartSpec]
    header: list[str] | None = None
    column_schemas: list[ColumnSchema] = Field(default_factory=list)
    row_keys: bool = True

    def part(self, n: int) -> PartSpec:
        """The planned part ``n``. Raises ``DocumentError``."""
        for p in self.parts:
            if p.part == n:
                return p
        raise DocumentError(f"{self.table}: part {n} is not in the plan")


class PartRef(_Model):
    """What a mapped extraction task receives through XCom: which part of which plan."""

    plan_key: str
    table: str
    part: int


class ExtractPlan(Document):
    """``plan.json``: what one run of one source reads. ``plan_id``: 16 hex of the SHA-256 of the
    plan without it, so part documents of an earlier plan of the same run are recognised.

    Version 2 added ``TablePlan.row_keys``; a version 1 plan (every table staged row keys) reads
    as ``row_keys: true``."""

    FORMAT = "custody-extract-plan"
    VERSION = 2
    VERSIONS = (1, 2)
    format: Literal["custody-extract-plan"] = "custody-extract-plan"
    version: int = 2
    source: str
    run_key: str
    run_id: str
    dialect: str
    interval_end: str
    plan_id: str
    tables: list[TablePlan]

    def key(self) -> str:
        return document_key("plan", source=self.source, run_key=self.run_key)

    def table(self, name: str) -> TablePlan:
        """The table plan named ``name``. Raises ``DocumentError``."""
        for t in self.tables:
            if t.table == name:
                return t
        raise DocumentError(f"table {name!r} is not in plan {self.key()}")

    def part_refs(self) -> list[PartRef]:
        """Every planned part, for dynamic task mapping."""
        return [PartRef(plan_key=self.key(), table=t.table, part=p.part) for t in self.tables for p in t.parts]


# -- part -------------------------------------------------------------------------------------------
class PartDocument(Document):
    """``parts/<table>/part-NNNN.json``: what extracting one part staged, and its reconciliation
    ``source_rows == extracted_rows + quarantined_rows + erased_rows``. ``path``: ``copy_binary``
    (PostgreSQL binary COPY), ``copy`` (PostgreSQL text COPY), ``cursor`` or ``files``;
    ``content_hash``: multiset hash of the staged rows (hex);
    ``erased_rows``: rows removed from staging since by data-subject deletion requests
    (``custody.dsr.staging``), counted among the source rows but no longer staged."""

    FORMAT = "custody-extract-part"
    VERSION = 2
    VERSIONS = (2,)
    format: Literal["custody-extract-part"] = "custody-extract-part"
    version: int = 2
    source: str
    run_key: str
    plan_id: str
    table: str
    part: int
    source_rows: int
    extracted_rows: int
    quarantined_rows: int
    content_hash: str
    quarantine_reasons: dict[str, int] = Field(default_factory=dict)
    chunks: list[ObjectEntry] = Field(default_factory=list)
    row_keys: list[ObjectEntry] = Field(default_factory=list)
    quarantine: list[ObjectEntry] = Field(default_factory=list)
    path: str = ""
    columns: list[ColumnSchema] = Field(default_factory=list)
    files: list[FileEntry] = Field(default_factory=list)
    erased_rows: int = 0

    def key(self) -> str:
        return document_key("part", source=self.source, run_key=self.run_key, table=self.table, part=self.part)

    def objects(self) -> list[ObjectEntry]:
        """Every object this part staged."""
        return [*self.chunks, *self.row_keys, *self.quarantine]


# -- manifest ---------------------------------------------------------------------------------------
class ExtractionInfo(_Model):
    """How a table was extracted.

    ``watermark_from`` (exclusive) and ``watermark_to`` (inclusive) bound an incremental run
    (ISO-8601 UTC timestamps or integers as text; ``None`` = unbounded). ``path``: the parts'
    paths, sorted and joined by ``,``: ``copy_binary`` (PostgreSQL binary COPY decoded into Arrow),
    ``copy`` (PostgreSQL text COPY parsed by Arrow), ``cursor`` (server-side cursor) or ``files``.
    """

    mode: Literal["full", "incremental"] = "full"
    path: str = ""
    watermark_column: str | None = None
    watermark_kind: Literal["timestamp", "integer", "files"] | None = None
    watermark_from: str | None = None
    watermark_to: str | None = None
    parts: int = 1
    files: list[FileEntry] = Field(default_factory=list)


class TableManifest(_Model):
    """One extracted table: reconciliation counts, schema and its objects.

    Reconciliation at extraction: ``source_rows == extracted_rows + quarantined_at_extract``,
    where ``source_rows`` is the source's count (``COUNT(*)`` over the run's ranges, or data rows
    parsed from the files), ``extracted_rows`` the rows staged in ``chunks`` (``content_hash`` is
    their multiset hash, so a restore reproduces exactly these) and ``quarantined_at_extract`` the
    rows held back in ``quarantine`` objects (zero dates, mangled identifiers, short rows...), with
    ``quarantine_reasons`` counting ``<reason>:<column>`` labels. ``row_keys`` pairs each chunk
    with its change-capture object, for tables whose plan stages them (else it is empty).
    ``erased_rows``: rows a data-subject deletion removed from staging afterwards
    (``custody.dsr.staging``); then ``source_rows == extracted_rows + quarantined_at_extract +
    erased_rows``.
    """

    table: str
    source_table: str | None
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
    erased_rows: int = 0

    def schema(self) -> pa.Schema:
        """Arrow schema of the staged rows (column order, types, nullability)."""
        return pa.schema([c.field() for c in self.columns])


class RunManifest(Document):
    """``manifest.json``: everything one extraction produced for one source."""

    FORMAT = "custody-run-manifest"
    format: Literal["custody-run-manifest"] = "custody-run-manifest"
    source: str
    run_key: str
    run_id: str = ""
    dialect: str
    created_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    tables: list[TableManifest]

    def key(self) -> str:
        return document_key("manifest", source=self.source, run_key=self.run_key)

    def table(self, name: str) -> TableManifest:
        """The table manifest named ``name``. Raises ``KeyError``."""
        for t in self.tables:
            if t.table == name:
                return t
        raise KeyError(name)

    def objects(self) -> list[ObjectEntry]:
        """All objects written at extraction, table by table: chunks, then row keys, then quarantine."""
        return [c for t in self.tables for c in (*t.chunks, *t.row_keys, *t.quarantine)]

