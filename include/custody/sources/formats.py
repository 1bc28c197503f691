"""File formats of landed files: CSV, JSON Lines and XLSX, read as sections of records.

A file is read as one or more ``Section`` (the file, or one XLSX sheet): its header and its
records ``(position, cells, row_reason, flags, raw_fields)``, where ``position`` is the line (or
sheet row) the record starts on. Shape problems become row reasons for quarantine
(``custody.sources.quarantine``); a file that cannot be read at all raises ``ExtractError``.

CSV: decoded by ``custody.sources.decoding``; the delimiter (or ``delimiter`` from the config) is
the candidate among ``, ; TAB |`` and the full-width comma and semicolon ``，`` ``；`` (Chinese
exports use them) that splits the header into at least two fields and the most records of the
first 64 KiB into as many fields as the header (``,`` when none does); a header field that still
holds a candidate delimiter fails the file rather than being read as one column. RFC 4180
quoting (``"``, doubled quotes, quoted newlines), strict parsing: an unterminated quote fails
the file naming the record's first line. Empty fields are nulls. Empty header fields at the end
(a spreadsheet's export of unused columns) are dropped; their cells must be empty
(``long_row`` otherwise). XLSX: openpyxl read-only, each sheet (or the configured ``sheets``),
first non-empty row is the header (trailing empty cells dropped); formula cells are quarantined
(a formula is not a value), dates become ISO text. JSON Lines: one object per line, numbers kept
as their literal text.

Security: files are read as data only (no macros, no formulas evaluated, no external links).
Error messages carry file names, line numbers and column names, never cell values.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, BinaryIO

from custody.config import TableConfig
from custody.sources.decoding import LineDecoder, decoded_lines
from custody.sources.errors import ExtractError
from custody.sources.landings import Landing
from custody.sources.rows import cell_text

CSV_FIELD_LIMIT = 64 << 20  # larger fields stop the parser: the file fails
DELIMITERS = (",", ";", "\t", "|", "\uff0c", "\uff1b")  # the last two: full-width comma and semicolon
SNIFF_BYTES = 64 << 10
MAX_XLSX_BYTES = 512 << 20


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
    lines = decoded_lines(stream, decoder)
    head: list[tuple[int, str]] = []
    size = 0
    for item in lines:
        head.append(item)
        size += len(item[1])
        if size >= SNIFF_BYTES:
            break
    sample = "".join(t for _, t in head)
    delimiter = tcfg.delimiter or pick_delimiter(sample)
    counter = {"line": 0}

    def text_lines() -> Iterator[str]:
        for lineno, text in itertools.chain(head, lines):  # streamed, never the whole file
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
            info["width"] = len(header)
            while header and not header[-1]:
                header.pop()  # unused columns of a spreadsheet export: their cells are checked empty
            stray = [i + 1 for i, f in enumerate(header) if any(d in f for d in DELIMITERS if d != delimiter)]
            if stray:
                # Read with the wrong delimiter, names, mobiles and IDs would land in one column.
                raise ExtractError(f"{name}: header field(s) at position(s) {', '.join(map(str, stray))} hold "
                                   f"a delimiter other than {delimiter!r}; set or correct delimiter in sources.yaml")
            break
    info["encoding"] = lambda: decoder.detected
    yield Section(None, header, it, info)


def pick_delimiter(sample: str) -> str:
    """The delimiter of a CSV ``sample`` (whole lines): the candidate in ``DELIMITERS`` that splits
    the first non-empty record into at least two fields and the most records into as many fields
    as that header (earlier candidates win ties); ``,`` when none splits the header.

    ``csv.Sniffer`` is not used: it cannot tell a full-width comma from text and gives up on a
    file whose every line is Chinese.
    """
    best, best_score = ",", (0, 0)
    for d in DELIMITERS:
        try:
            rows = [r for r in csv.reader(io.StringIO(sample), delimiter=d, quotechar='"', doublequote=True)
                    if r and any(f.strip() for f in r)]
        except csv.Error:
            continue
        if not rows or len(rows[0]) < 2:
            continue
        score = (sum(1 for r in rows if len(r) == len(rows[0])), len(rows[0]))
        if score > best_score:
            best, best_score = d, score
    return best


def _jsonl_sections(stream: BinaryIO, name: str, tcfg: TableConfig, header: list[str] | None) -> Iterator[Section]:
    decoder = LineDecoder(name, tcfg.encoding)
    lines = decoded_lines(stream, decoder)
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
        for lineno, text in itertools.chain(first, lines):
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
            yield Section(sheet, header, _xlsx_records(rows, header_row, header, tcfg),
                          {"width": len(header or [])})
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
            raw = [cell_text(v) for v in values]
        cells_out = (values[:width] + [None] * width)[:width]
        cells_out = [v if isinstance(v, str) or v is None else v for v in cells_out]
        yield r, cells_out, reason, flags or None, raw


def read_sections(stream: BinaryIO, name: str, tcfg: TableConfig, header: list[str] | None) -> Iterator[Section]:
    """The sections of one landed file in its format (``detect_format``); ``header``: the table's
    columns when known (JSON Lines takes them as its field list). Raises ``ExtractError``."""
    fmt = detect_format(name, tcfg.format)
    if fmt == "csv":
        return _csv_sections(stream, name, tcfg)
    if fmt == "jsonl":
        return _jsonl_sections(stream, name, tcfg, tcfg.columns or header)
    return _xlsx_sections(stream, name, tcfg)


def read_header(landing: Landing, name: str, tcfg: TableConfig) -> list[str] | None:
    """The header of a landed file (first sheet that has one for XLSX; first object's keys for JSON
    Lines); None for a file without one (empty, blank lines only)."""
    with landing.open(name) as stream:
        for section in read_sections(stream, name, tcfg, None):
            if section.header:
                return section.header
    return None
