"""File drops: CSV, XLSX and JSON Lines from a landing folder or an S3 prefix, into staging.

A file-drop source (``kind: files`` in ``sources.yaml``) lands files under ``landing`` (a local
folder or ``s3://bucket/prefix``); each table picks its files with a glob (``files``). Every file
(one part of the run, extracted by its own mapped task) flows into the same staging and manifest
format as SQL tables: all columns are ``string`` (the text as sent), plus ``<column>__raw`` for
each configured identifier column. Reconciliation per file: data rows parsed (header, blank
lines and all-empty rows excluded; bad rows included) = rows staged + rows quarantined.

Decoding (``encoding: auto``): a UTF-8 BOM means UTF-8; otherwise each line is classified as
ASCII, UTF-8 or GB18030 (a superset of GBK) and the first non-ASCII line fixes the file's
encoding. A later line in another encoding (a file assembled from two exports) fails the file
with ``ExtractError`` naming that line; so does a line that is neither. UTF-16 is refused.

CSV: delimiter from ``csv.Sniffer`` over the first 64 KiB (``, ; TAB |``; ``,`` when unsure, or
``delimiter`` from the config), RFC 4180 quoting (``"``, doubled quotes, quoted newlines), strict
parsing: an unterminated quote fails the file naming the record's first line. Empty fields are
nulls. XLSX: openpyxl read-only, each sheet (or the configured ``sheets``), first non-empty row is
the header; formula cells are quarantined (a formula is not a value), dates become ISO text.
JSON Lines: one object per line, numbers kept as their literal text.

Identifier columns (``identifiers``): NFKC-normalised (full-width digits and spaces) and stripped
into the column, raw text kept in ``<column>__raw``; spreadsheet damage is quarantined, never
repaired (reasons in ``custody.sources.quarantine``).

Security: files are read as data only (no macros, no formulas evaluated, no external links).
Error messages carry file names, line numbers and column names, never cell values.
"""

from __future__ import annotations

import codecs
import csv
import fnmatch
import hashlib
import io
import json
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, Protocol

import pyarrow as pa

from custody.config import SourceConfig, TableConfig
from custody.documents import ColumnSchema, FileEntry, PartSpec, TablePlan
from custody.sources.quarantine import (
    POSITION,
    ExtractError,
    SchemaError,
    check_column_names,
    quarantine_schema,
    raw_json,
)

RAW_SUFFIX = "__raw"
MAX_FIELD_CHARS = 1 << 20  # larger fields are quarantined (field_too_large)
CSV_FIELD_LIMIT = 64 << 20  # larger fields stop the parser: the file fails
SNIFF_BYTES = 64 << 10
BATCH_ROWS = 10_000
MAX_XLSX_BYTES = 512 << 20
_SCI = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?[eE][+-]?[0-9]+")
_TRAILING = re.compile(r"[+-]?[0-9]+\.0+")
_DIGITS = re.compile(r"[0-9]+")


# -- landings -------------------------------------------------------------------------------------
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


class _Hashing(io.RawIOBase):
    """Pass-through reader that hashes (SHA-256) and counts every byte read."""

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


# -- decoding -------------------------------------------------------------------------------------
class LineDecoder:
    """Decode a file line by line, detecting its encoding and refusing mixed encodings.

    ``encoding``: ``auto`` or a codec name (then every line must decode with it). After the last
    line, ``detected`` names the encoding (``utf-8``, ``utf-8-sig``, ``gb18030``, ``gbk`` or
    ``ascii``). Raises ``ExtractError`` naming the file and the first bad line.
    """

    def __init__(self, name: str, encoding: str = "auto") -> None:
        self.name = name
        self.fixed = None if encoding == "auto" else codecs.lookup(encoding).name
        self.encoding: str | None = self.fixed
        self.bom = False
        self.gbk_only = True

    @property
    def detected(self) -> str:
        if self.encoding is None:
            return "ascii"
        if self.encoding == "utf-8" and self.bom:
            return "utf-8-sig"
        if self.encoding == "gb18030" and self.gbk_only:
            return "gbk"
        return self.encoding

    def decode(self, raw: bytes, lineno: int) -> str:
        """Decode one physical line (with its line ending)."""
        if lineno == 1:
            if raw.startswith(codecs.BOM_UTF8):
                raw = raw[3:]
                self.bom = True
                if self.fixed is None:
                    self.encoding = "utf-8"
            elif raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
                raise ExtractError(f"{self.name}: UTF-16 files are not supported; send UTF-8 or GB18030")
        if self.fixed is not None:
            try:
                return raw.decode(self.fixed)
            except UnicodeDecodeError:
                raise ExtractError(f"{self.name}: line {lineno} is not valid {self.fixed}") from None
        if raw.isascii():
            return raw.decode("ascii")
        kind, text = self._classify(raw)
        if self.encoding is None:
            if kind is None:
                raise ExtractError(f"{self.name}: line {lineno} is neither UTF-8 nor GB18030")
            self.encoding = kind
        elif kind != self.encoding:
            if kind is None:
                raise ExtractError(f"{self.name}: line {lineno} is not valid {self.encoding}")
            raise ExtractError(f"{self.name}: mixed encodings: line {lineno} is {kind}, "
                               f"earlier lines are {self.encoding}")
        if self.encoding == "gb18030" and self.gbk_only:
            try:
                raw.decode("gbk")
            except UnicodeDecodeError:
                self.gbk_only = False
        return text

    def _classify(self, raw: bytes) -> tuple[str | None, str]:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if text is not None:
            # GB text is sometimes valid UTF-8 by accident; such a reading yields Latin, Greek or
            # Cyrillic letters (two-byte sequences), which a Chinese file would not contain.
            if self.encoding == "gb18030" and any("\u0080" <= ch <= "\u07ff" for ch in text):
                try:
                    return "gb18030", raw.decode("gb18030")
                except UnicodeDecodeError:
                    pass
            return "utf-8", text
        try:
            return "gb18030", raw.decode("gb18030")
        except UnicodeDecodeError:
            return None, ""


def _lines(stream: BinaryIO, decoder: LineDecoder) -> Iterator[tuple[int, str]]:
    # Splitting on b"\n" is safe for UTF-8 and GB18030: 0x0A never occurs inside a character.
    for lineno, raw in enumerate(stream, 1):
        yield lineno, decoder.decode(raw, lineno)


# -- rows -----------------------------------------------------------------------------------------
def check_identifier(value: str, width: int | None) -> str | None:
    """The quarantine reason for an identifier a spreadsheet mangled, or None.

    ``value`` is already NFKC-normalised and stripped. ``3.50725E+17`` ->
    ``identifier_scientific_notation``; ``123456.0`` -> ``identifier_trailing_decimal``; all
    digits but shorter than ``width`` -> ``identifier_lost_leading_zeros``.
    """
    if _SCI.fullmatch(value):
        return "identifier_scientific_notation"
    if _TRAILING.fullmatch(value):
        return "identifier_trailing_decimal"
    if width and _DIGITS.fullmatch(value) and len(value) < width:
        return "identifier_lost_leading_zeros"
    return None


@dataclass
class RowBuilder:
    """Turns records (lists of cell texts) into staged and quarantined Arrow batches.

    ``header``: the table's columns; ``identifiers``: column -> width (or None).
    """

    header: list[str]
    identifiers: dict[str, int | None]
    good: list[list[Any]] = field(default_factory=list)
    bad: list[tuple[list[Any], int, str, list[str]]] = field(default_factory=list)
    rows: int = 0
    quarantined: int = 0

    def __post_init__(self) -> None:
        self.id_index = [(self.header.index(c), c, w) for c, w in self.identifiers.items()]
        names = self.header + [c + RAW_SUFFIX for c in self.identifiers]
        self.schema = pa.schema([pa.field(n, pa.string()) for n in names])
        self.qschema = quarantine_schema(self.schema)

    def add(self, position: int, cells: list[Any], *, row_reason: str | None = None,
            flags: dict[int, str] | None = None, raw_fields: list[Any] | None = None) -> None:
        """One data record at ``position`` (line or sheet row); ``cells`` already fitted to the header.

        ``row_reason``: a shape problem (``short_row``...) that quarantines the whole record;
        ``flags``: cell index -> reason (``formula_cell``...); ``raw_fields``: the record as read.
        """
        self.rows += 1
        reasons = [row_reason] if row_reason else []
        raws: dict[str, Any] = {}
        out = list(cells)
        for j, v in enumerate(out):
            if isinstance(v, str) and len(v) > MAX_FIELD_CHARS:
                reasons.append(f"field_too_large:{self.header[j]}")
                raws[self.header[j]] = v
                out[j] = None
        for j, reason in (flags or {}).items():
            reasons.append(f"{reason}:{self.header[j]}")
            raws[self.header[j]] = _text(cells[j])
            out[j] = None
        extra = []
        for j, name, width in self.id_index:
            raw = cells[j] if isinstance(cells[j], str) or cells[j] is None else _text(cells[j])
            extra.append(raw)
            if out[j] is None:
                continue
            norm = unicodedata.normalize("NFKC", out[j]).strip()
            reason = check_identifier(norm, width)
            if reason:
                reasons.append(f"{reason}:{name}")
                raws[name] = raw
                norm = None
            out[j] = norm if norm != "" else None
        row = [_text(v) for v in out] + extra
        if reasons:
            record = raw_fields if raw_fields is not None else raws
            self.bad.append((row, position, raw_json(record), reasons))
            self.quarantined += 1
        else:
            row.append(position)
            self.good.append(row)

    def take(self) -> tuple[pa.Table | None, pa.Table | None, list[list[str]]]:
        """Arrow batches of the rows added since the last call: (good + position, quarantine, reasons)."""
        good = None
        if self.good:
            cols = list(zip(*self.good))
            arrays = [pa.array(c, pa.string()) for c in cols[:-1]] + [pa.array(cols[-1], pa.int64())]
            good = pa.Table.from_arrays(arrays, schema=self.schema.append(pa.field(POSITION, pa.int64())))
            self.good = []
        bad = None
        reasons: list[list[str]] = []
        if self.bad:
            rows = [b[0] for b in self.bad]
            cols = list(zip(*rows))
            arrays = [pa.array(c, pa.string()) for c in cols]
            arrays += [pa.nulls(len(rows), pa.string()), pa.array([b[1] for b in self.bad], pa.int64()),
                       pa.array([b[2] for b in self.bad], pa.string()),
                       pa.array([b[3] for b in self.bad], pa.list_(pa.string()))]
            bad = pa.Table.from_arrays(arrays, schema=self.qschema)
            reasons = [b[3] for b in self.bad]
            self.bad = []
        return good, bad, reasons

    @property
    def pending(self) -> int:
        return len(self.good) + len(self.bad)


def _text(v: Any) -> str | None:
    """Cell value as text: strings as they are, numbers without float noise, dates ISO-8601."""
    import datetime as dt

    if v is None or isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)
    if isinstance(v, dt.datetime):
        return v.date().isoformat() if v.time() == dt.time() and v.tzinfo is None else v.isoformat()
    if isinstance(v, (dt.date, dt.time)):
        return v.isoformat()
    return str(v)


# -- formats --------------------------------------------------------------------------------------
def detect_format(name: str, configured: str) -> str:
    """``csv``, ``xlsx`` or ``jsonl`` from the configuration or the file extension."""
    if configured != "auto":
        return configured
    suffix = PurePosixPath(name.lower()).suffix
    formats = {".csv": "csv", ".txt": "csv", ".tsv": "csv", ".xlsx": "xlsx", ".xlsm": "xlsx",
               ".jsonl": "jsonl", ".ndjson": "jsonl"}
    if suffix not in formats:
        raise ExtractError(f"{name}: cannot tell the format from {suffix or 'no extension'}; set format")
    return formats[suffix]


@dataclass
class Section:
    """One readable unit of a file (the file, or one XLSX sheet): its header and records.

    ``records`` yields ``(position, cells, row_reason, flags, raw_fields)``.
    """

    sheet: str | None
    header: list[str] | None
    records: Iterator[tuple[int, list[Any], str | None, dict[int, str] | None, list[Any] | None]]
    info: dict[str, Any] = field(default_factory=dict)


def _csv_sections(stream: BinaryIO, name: str, tcfg: TableConfig) -> Iterator[Section]:
    decoder = LineDecoder(name, tcfg.encoding)
    lines = _lines(stream, decoder)
    head: list[tuple[int, str]] = []
    size = 0
    for item in lines:
        head.append(item)
        size += len(item[1])
        if size >= SNIFF_BYTES:
            break
    sample = "".join(t for _, t in head)
    delimiter = tcfg.delimiter
    if delimiter is None:
        try:
            delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
        except csv.Error:
            delimiter = ","
    counter = {"line": 0}

    def text_lines() -> Iterator[str]:
        for lineno, text in (*head, *lines):
            counter["line"] = lineno
            yield text

    csv.field_size_limit(CSV_FIELD_LIMIT)
    reader = csv.reader(text_lines(), delimiter=delimiter, quotechar='"', doublequote=True, strict=True)
    info = {"delimiter": delimiter}

    def records() -> Iterator[tuple[int, list[Any], str | None, dict[int, str] | None, list[Any] | None]]:
        while True:
            start = counter["line"] + 1
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                problem = "a field larger than 64 MiB" if "field larger" in str(exc) else "malformed quoting"
                raise ExtractError(f"{name}: {problem} in the record starting at line {start}") from None
            yield start, fields, None, None, None

    it = records()
    header = None
    for _, fields, *_ in it:
        if fields and any(f.strip() for f in fields):
            header = [f.strip() for f in fields]
            break
    info["encoding"] = lambda: decoder.detected
    yield Section(None, header, it, info)


def _jsonl_sections(stream: BinaryIO, name: str, tcfg: TableConfig, header: list[str] | None) -> Iterator[Section]:
    decoder = LineDecoder(name, tcfg.encoding)
    lines = _lines(stream, decoder)
    first: list[tuple[int, str]] = []
    if header is None:
        for lineno, text in lines:
            first.append((lineno, text))
            if text.strip():
                try:
                    obj = json.loads(text, object_pairs_hook=_pairs, parse_float=_Num, parse_int=_Num)
                    if isinstance(obj, dict):
                        header = list(obj)
                except ValueError:
                    pass
                break

    def records() -> Iterator[tuple[int, list[Any], str | None, dict[int, str] | None, list[Any] | None]]:
        cols = header or []
        index = {c: i for i, c in enumerate(cols)}
        for lineno, text in (*first, *lines):
            if not text.strip():
                continue
            try:
                obj = json.loads(text, object_pairs_hook=_pairs, parse_float=_Num, parse_int=_Num)
            except _DuplicateKey:
                yield lineno, [None] * len(cols), "duplicate_key", None, [text.rstrip("\r\n")]
                continue
            except ValueError:
                yield lineno, [None] * len(cols), "invalid_json", None, [text.rstrip("\r\n")]
                continue
            if not isinstance(obj, dict):
                yield lineno, [None] * len(cols), "not_an_object", None, [text.rstrip("\r\n")]
                continue
            cells: list[Any] = [None] * len(cols)
            unexpected = False
            for k, v in obj.items():
                if k in index:
                    cells[index[k]] = _json_text(v)
                else:
                    unexpected = True
            if unexpected:
                yield lineno, cells, "unexpected_field", None, [text.rstrip("\r\n")]
            else:
                yield lineno, cells, None, None, None

    yield Section(None, header, records(), {"encoding": lambda: decoder.detected})


class _Num(str):
    """A JSON number kept as its literal text."""


class _DuplicateKey(ValueError):
    pass


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise _DuplicateKey()
        out[k] = v
    return out


def _json_text(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, _Num):
        return str.__str__(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return v
    return _json_dump(v)


def _json_dump(v: Any) -> str:
    if isinstance(v, _Num):
        return str.__str__(v)
    if isinstance(v, dict):
        return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + _json_dump(x) for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ",".join(_json_dump(x) for x in v) + "]"
    return json.dumps(v, ensure_ascii=False)


def _xlsx_sections(stream: BinaryIO, name: str, tcfg: TableConfig) -> Iterator[Section]:
    import openpyxl

    data = stream.read(MAX_XLSX_BYTES + 1)
    if len(data) > MAX_XLSX_BYTES:
        raise ExtractError(f"{name}: XLSX larger than {MAX_XLSX_BYTES >> 20} MiB; send CSV")
    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=False, keep_links=False)
    except Exception as exc:  # zipfile/openpyxl raise many types for a damaged file
        raise ExtractError(f"{name}: not a readable XLSX workbook ({type(exc).__name__})") from None
    try:
        wanted = tcfg.sheets or wb.sheetnames
        missing = [s for s in wanted if s not in wb.sheetnames]
        if missing:
            raise ExtractError(f"{name}: sheet(s) not found: {', '.join(missing)}")
        for sheet in wanted:
            ws = wb[sheet]
            rows = ws.iter_rows()
            header = None
            header_row = 0
            for r, cells in enumerate(rows, 1):
                values = [c.value for c in cells]
                if any(v is not None and str(v).strip() for v in values):
                    while values and (values[-1] is None or not str(values[-1]).strip()):
                        values.pop()
                    header = ["" if v is None else str(v).strip() for v in values]
                    header_row = r
                    break
            yield Section(sheet, header, _xlsx_records(rows, header_row, header, tcfg), {})
    finally:
        wb.close()


def _xlsx_records(rows: Iterator[Any], header_row: int, header: list[str] | None,
                  tcfg: TableConfig,
                  ) -> Iterator[tuple[int, list[Any], str | None, dict[int, str] | None, list[Any] | None]]:
    width = len(header or [])
    ident = {i.column for i in tcfg.identifiers}
    id_pos = {j for j, h in enumerate(header or []) if h in ident}
    for r, cells in enumerate(rows, header_row + 1):
        values = []
        flags: dict[int, str] = {}
        for j, c in enumerate(cells):
            v = c.value
            if getattr(c, "data_type", None) == "f" or (isinstance(v, str) and v.startswith("=") and
                                                         getattr(c, "data_type", None) == "f"):
                if j < width:
                    flags[j] = "formula_cell"
            elif j in id_pos and isinstance(v, (int, float)) and not isinstance(v, bool):
                flags[j] = "identifier_stored_as_number"
            values.append(v)
        if not any(v is not None and (not isinstance(v, str) or v.strip()) for v in values):
            continue
        extra = values[width:]
        raw = None
        reason = None
        if any(v is not None and (not isinstance(v, str) or v.strip()) for v in extra):
            reason = "long_row"
            raw = [_text(v) for v in values]
        cells_out = (values[:width] + [None] * width)[:width]
        cells_out = [v if isinstance(v, str) or v is None else v for v in cells_out]
        yield r, cells_out, reason, flags or None, raw


# -- planning and extraction ----------------------------------------------------------------------
def _sections(stream: BinaryIO, name: str, tcfg: TableConfig, header: list[str] | None) -> Iterator[Section]:
    fmt = detect_format(name, tcfg.format)
    if fmt == "csv":
        return _csv_sections(stream, name, tcfg)
    if fmt == "jsonl":
        return _jsonl_sections(stream, name, tcfg, tcfg.columns or header)
    return _xlsx_sections(stream, name, tcfg)


def read_header(landing: Landing, name: str, tcfg: TableConfig) -> list[str] | None:
    """The header of a landed file (first sheet for XLSX; first object's keys for JSON Lines)."""
    with landing.open(name) as stream:
        for section in _sections(stream, name, tcfg, None):
            return section.header
    return None


def staged_columns(header: list[str], tcfg: TableConfig) -> list[str]:
    """Column names staged for ``header``: the header, then ``<identifier>__raw`` per identifier."""
    return header + [i.column + RAW_SUFFIX for i in tcfg.identifiers]


def plan_file_table(landing: Landing, source: SourceConfig, tcfg: TableConfig, *, run_key: str, run_id: str,
                    store: Any) -> TablePlan:
    """Plan a file-drop table: its files (one part each) and its columns.

    Incremental tables skip files committed by earlier runs (same name and size); a rerun of the
    same run keeps its file list (``custody.extract.watermarks``). The header comes from ``columns`` or
    the first file. Raises ``ExtractError`` / ``SchemaError``.
    """
    if landing is None:
        raise ExtractError(f"{source.name}: a file-drop source needs its landing")
    files = [{"name": f.name, "bytes": f.bytes} for f in landing.list(tcfg.files or "")]
    if tcfg.mode == "incremental":
        if store is None:
            raise ExtractError(f"{tcfg.name}: incremental file drops need the catalog")
        committed = store.committed_files(source.name, tcfg.name)
        files = [f for f in files if f["name"] not in committed or committed[f["name"]]["bytes"] != f["bytes"]]
        interval = store.plan(source.name, tcfg.name, run_key, run_id, kind="files", column=None, files=files)
        files = interval.files or []
    header = list(tcfg.columns) if tcfg.columns else None
    if header is None and files:
        header = read_header(landing, files[0]["name"], tcfg)
    header = header or []
    check_column_names(header, f"{source.name}.{tcfg.name} ({files[0]['name'] if files else 'config'})")
    missing = [i.column for i in tcfg.identifiers if i.column not in header]
    if header and missing:
        raise SchemaError(f"{source.name}.{tcfg.name}: identifier column(s) not in the header: {', '.join(missing)}")
    names = staged_columns(header, tcfg) if header else []
    pk = list(tcfg.primary_key or [])
    if pk and header and any(k not in header for k in pk):
        raise SchemaError(f"{source.name}.{tcfg.name}: primary key column(s) not in the header")
    schemas = [ColumnSchema(name=n, arrow_type="string", source_type="text", nullable=True) for n in names]
    return TablePlan(
        table=tcfg.name, source_table=tcfg.files, kind="files", primary_key=pk, header=header,
        columns=[f"{n}:string" for n in names], column_schemas=schemas, mode=tcfg.mode,
        parts=[PartSpec(part=i, name=f["name"], bytes=f["bytes"]) for i, f in enumerate(files)],
    )


def extract_file_part(landing: Landing, source: SourceConfig, tplan: TablePlan, spec: PartSpec, *,
                      run_key: str, staging: Any) -> dict[str, Any]:
    """Extract one landed file (all its sections) into staging; returns the part document body.

    Raises ``ExtractError`` (undecodable or malformed file) and ``SchemaError`` (header drift,
    duplicate headers).
    """
    from custody.extract import PartWriter

    tcfg = next(t for t in source.tables if t.name == tplan.table)
    header: list[str] = tplan.header or []
    name = spec.name or ""
    identifiers = {i.column: i.width for i in tcfg.identifiers}
    writer = PartWriter(staging, source, run_key, tplan.table, spec.part,
                        tplan.primary_key or None, key_prefix=name)
    entries: list[dict[str, Any]] = []
    with landing.open(name) as raw:
        hashed = _Hashing(raw)
        stream = io.BufferedReader(hashed, buffer_size=1 << 20)
        sections = list(_sections(stream, name, tcfg, header)) if detect_format(name, tcfg.format) == "xlsx" \
            else _sections(stream, name, tcfg, header)
        for section in sections:
            note = ""
            if section.header is None:
                builder = RowBuilder(header, identifiers)
                note = "empty"
                for _ in section.records:  # only blank lines are left
                    pass
            else:
                where = f"{name}" + (f" sheet {section.sheet!r}" if section.sheet else "")
                check_column_names(section.header, where)
                order = _align(section.header, header, where)
                builder = RowBuilder(header, identifiers)
                blank = 0
                for position, cells, reason, flags, raw_fields in section.records:
                    if reason is None and (not cells or not any(isinstance(c, str) and c.strip() or
                                                                 (c is not None and not isinstance(c, str))
                                                                 for c in cells)):
                        if not cells or reason is None and flags is None:
                            blank += 1
                            continue
                    n = len(section.header)
                    if reason is None and len(cells) != n:
                        reason = "short_row" if len(cells) < n else "long_row"
                        raw_fields = list(cells)
                    fitted = (list(cells) + [None] * n)[:n]
                    fitted = [None if (isinstance(c, str) and c == "") else c for c in fitted]
                    mapped = [fitted[k] for k in order]
                    mflags = {order.index(k): v for k, v in flags.items() if k in order} if flags else None
                    builder.add(position, mapped, row_reason=reason, flags=mflags, raw_fields=raw_fields)
                    if builder.pending >= BATCH_ROWS:
                        _push(builder, writer)
                _push(builder, writer)
                if builder.rows == 0:
                    note = "header only"
                if blank:
                    note = (note + "; " if note else "") + f"{blank} blank rows skipped"
            entries.append({"sheet": section.sheet, "rows": builder.rows, "quarantined": builder.quarantined,
                            "note": note, "delimiter": section.info.get("delimiter"),
                            "encoding": section.info["encoding"]() if "encoding" in section.info else None})
        writer.close()
        hashed.finish()
    fmt = detect_format(name, tcfg.format)
    files = [FileEntry(name=name, sheet=e["sheet"], sha256=hashed.sha.hexdigest(), bytes=hashed.bytes, format=fmt,
                       encoding=e["encoding"], delimiter=e["delimiter"], rows=e["rows"], quarantined=e["quarantined"],
                       note=e["note"]) for e in entries]
    source_rows = sum(e["rows"] for e in entries)
    if source_rows != writer.extracted + writer.quarantined:
        raise ExtractError(f"{name}: parsed {source_rows} rows but staged {writer.extracted} "
                           f"+ quarantined {writer.quarantined}")
    return {**writer.result(), "source_rows": source_rows, "path": "files",
            "columns": tplan.column_schemas, "files": files}


def _push(builder: RowBuilder, writer: Any) -> None:
    good, bad, reasons = builder.take()
    if bad is not None:
        writer.add_quarantine(bad, reasons)
    if good is not None:
        writer.add(good)


def _align(found: list[str], expected: list[str], where: str) -> list[int]:
    """Positions in ``found`` of each expected column; raises ``SchemaError`` on drift."""
    missing = [c for c in expected if c not in found]
    unexpected = [c for c in found if c not in expected]
    if missing or unexpected:
        raise SchemaError(f"{where}: header differs from the table's columns "
                          f"(missing: {missing or 'none'}; unexpected: {unexpected or 'none'})")
    return [found.index(c) for c in expected]
