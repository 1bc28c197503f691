"""Records of landed files into Arrow batches: text cells, identifier checks, quarantine rows.

Every staged column of a file-drop table is ``string`` (the text as sent); each configured
identifier column is NFKC-normalised (full-width digits and spaces) and stripped, with its raw
text kept in ``<column>__raw``. Spreadsheet damage to an identifier (scientific notation, a
trailing ``.0``, lost leading zeros) is quarantined, never repaired, and so is text holding a
NUL byte (reasons in ``custody.sources.quarantine``).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from custody.config import TableConfig
from custody.sources.quarantine import POSITION, quarantine_schema, raw_json

RAW_SUFFIX = "__raw"
MAX_FIELD_CHARS = 1 << 20  # larger fields are quarantined (field_too_large)
_SCI = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?[eE][+-]?[0-9]+")
_TRAILING = re.compile(r"[+-]?[0-9]+\.0+")
_DIGITS = re.compile(r"[0-9]+")


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
            elif isinstance(v, str) and "\x00" in v:
                # No PostgreSQL text column holds U+0000: staged, it would fail a later restore.
                reasons.append(f"nul_character:{self.header[j]}")
                raws[self.header[j]] = v
                out[j] = None
        for j, reason in (flags or {}).items():
            reasons.append(f"{reason}:{self.header[j]}")
            raws[self.header[j]] = cell_text(cells[j])
            out[j] = None
        extra = []
        for j, name, width in self.id_index:
            raw = cells[j] if isinstance(cells[j], str) or cells[j] is None else cell_text(cells[j])
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
        row = [cell_text(v) for v in out] + extra
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


def cell_text(v: Any) -> str | None:
    """Cell value as text: strings as they are, numbers without float noise, dates ISO-8601;
    ``None`` stays ``None``."""
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


def staged_columns(header: list[str], tcfg: TableConfig) -> list[str]:
    """Column names staged for ``header``: the header, then ``<identifier>__raw`` per identifier."""
    return header + [i.column + RAW_SUFFIX for i in tcfg.identifiers]
