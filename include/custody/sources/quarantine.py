"""Extraction-time quarantine: the schema and reasons of rows held back, and column-name checks.

Some rows cannot be staged as read: a MySQL zero date, a spreadsheet-mangled identifier, a CSV row
with too few fields. They are not dropped and not repaired: they go to an encrypted
``quarantine`` object of the table (``TableManifest.quarantine``), counted in
``TableManifest.quarantined_at_extract`` so that ``source rows == staged rows + quarantined``.

Quarantine object schema (Arrow)::

    <every column of the table>   its staged type, nullable; null where the value could not be typed
    _custody_row_key              string: 64 hex (custody.rowkeys), null when the key itself is bad
    _custody_position             int64: file line (1-based, of the record's first line) or row ordinal
    _custody_raw_record           string: JSON, the raw text of the offending values
                                  ({column: text}) or of the whole record ([field, ...]) when its
                                  shape is wrong; undecodable bytes kept as \\udcXX escapes
    _quarantine_reasons           list<string>: "<reason>:<column>" or "<reason>" (row-level)

Reasons (stable names; reports count them):

| reason | meaning |
|---|---|
| ``zero_date`` | MySQL ``0000-00-00`` date or datetime |
| ``invalid_date`` | a date or datetime that does not exist (``2023-02-30``, month 0) or is not a date |
| ``invalid_time`` | a TIME cell that is not a time (SQLite text) |
| ``nonexistent_local_time`` / ``ambiguous_local_time`` | naive time in a DST gap / overlap of the source zone |
| ``out_of_range`` | beyond the Arrow type: PostgreSQL ``infinity``, BC dates, years above 9999, ``24:00:00``, |
| | MariaDB TIME outside a clock day (durations up to ``838:59:59``, negative values), integers |
| | beyond int64, decimals with more integer digits than the column holds |
| ``precision_loss`` | more digits than the type keeps: decimals beyond the column's scale, sub-microsecond |
| | times, integers above 2**53 in a float column |
| ``type_mismatch`` | a SQLite cell whose storage class the declared type cannot hold exactly (text or REAL |
| | in an INTEGER column, bytes in a TEXT column) |
| ``invalid_boolean`` | a BOOLEAN cell other than true/false or SQLite ``0`` / ``1`` (``2``, ``'false'``) |
| ``nul_character`` | text holding U+0000 (a NUL byte): no PostgreSQL text column can store it |
| ``unconvertible`` | a value the Arrow type cannot hold at all (numeric NaN), or one a conversion rule failed on |
| ``identifier_scientific_notation`` | ``3.50725E+17``: a spreadsheet turned the identifier into a float |
| ``identifier_trailing_decimal`` | ``123456.0``: the identifier went through a float |
| ``identifier_lost_leading_zeros`` | all digits but shorter than the configured ``width`` |
| ``identifier_stored_as_number`` | an XLSX number cell in an identifier column (15 significant digits) |
| ``formula_cell`` | an XLSX cell holding a formula, not a value |
| ``short_row`` / ``long_row`` | fewer / more fields than the header |
| ``invalid_json`` / ``not_an_object`` / ``duplicate_key`` / ``unexpected_field`` | JSON Lines record problems |
| ``field_too_large`` | a field above the configured limit (default 16 MiB of text) |

The rules that decide the reasons of SQL values are in ``custody.sources.sqlvalues`` and
``custody.sources.temporal``; those of file records in ``custody.sources.rows`` and
``custody.sources.formats``. Reason labels and positions are what logs and reports may show of a
quarantined row; its values stay in the encrypted quarantine object.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from custody.naming import column_key
from custody.sources.errors import SchemaError

ROW_KEY = "_custody_row_key"
POSITION = "_custody_position"
RAW_RECORD = "_custody_raw_record"
REASONS = "_quarantine_reasons"  # same name as the validation stage's quarantine column


class Rejected(Exception):
    """A value has no exact staged form; it is quarantined with ``reason`` (a label above).

    Raised by the per-value conversion rules and caught by their callers, which null the value
    and record the reason. The message is the reason only, never the value.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def check_column_names(names: Sequence[str], where: str, *, quote: bool = True) -> None:
    """Reject duplicate, empty, case-variant or ``column_key``-colliding column names.

    ``Email``/``email``, ``customer_id``/``CustomerId`` or ``mobile`` beside its full-width twin
    ``ｍｏｂｉｌｅ`` (compared after NFKC normalisation) in one table would make the column rules
    (matched by ``custody.naming.column_key``) ambiguous and break Parquet readers that fold
    case; a name holding a control character (a NUL byte, a line break) is refused too. Raises
    ``SchemaError`` naming the clashing columns, or only their positions with ``quote=False``
    (a file's first row, which is data when the header is missing).
    """
    empty = [i + 1 for i, n in enumerate(names) if not str(n).strip()]
    if empty:
        raise SchemaError(f"{where}: empty column name at position(s) {', '.join(map(str, empty))}")
    control = [i + 1 for i, n in enumerate(names) if any(unicodedata.category(ch) == "Cc" for ch in n)]
    if control:
        raise SchemaError(f"{where}: control character in the column name at position(s) "
                          f"{', '.join(map(str, control))}")
    groups: dict[str, list[int]] = {}
    for i, n in enumerate(names):
        folded = unicodedata.normalize("NFKC", n)
        groups.setdefault(column_key(folded) or folded.lower(), []).append(i)
    clashes = [g for g in groups.values() if len(g) > 1]
    if clashes:
        exact = any(len({names[i] for i in g}) < len(g) for g in clashes)
        kind = "duplicate column names" if exact else "column names that differ only in case, width or punctuation"
        if quote:
            text = "; ".join(" / ".join(repr(names[i]) for i in g) for g in clashes)
        else:
            text = "; ".join("positions " + " / ".join(str(i + 1) for i in g) for g in clashes)
        raise SchemaError(f"{where}: {kind}: {text}")


_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_NUMBER = re.compile(r"[+-]?[0-9]+(?:[.,][0-9]+)?")
_DIGIT_RUN = re.compile(r"[0-9]{7,}")  # mobiles, ID and card numbers, phone numbers, full dates
_SEPARATORS = re.compile(r"[\s\-+().]")


def _looks_like_a_value(name: str) -> bool:
    folded = unicodedata.normalize("NFKC", name).strip()
    return (_DIGIT_RUN.search(_SEPARATORS.sub("", folded)) is not None or _EMAIL.search(folded) is not None
            or _NUMBER.fullmatch(folded) is not None)


def check_file_header(names: Sequence[str], where: str) -> None:
    """Refuse a file's first row as a header when a cell looks like a value, not a name.

    A file without its header row would otherwise name the table's columns after its first
    record: names, mobiles and ID numbers would become column names in every document,
    inventory and report. A cell with seven or more digits in a row (spaces, ``-``, ``+``,
    brackets and dots ignored: mobiles, ID, card and phone numbers, full dates), an e-mail
    address or a bare number is taken for a value. Raises ``SchemaError`` with the positions
    only, never the cells; the fix is the missing header row, or ``columns:`` in
    ``sources.yaml`` (a file whose first row equals the configured columns is not checked).
    """
    suspect = [i + 1 for i, n in enumerate(names) if _looks_like_a_value(n)]
    if suspect:
        raise SchemaError(f"{where}: the first row looks like data, not a header (a number, e-mail address or "
                          f"long digit string at position(s) {', '.join(map(str, suspect))}); add the header row "
                          "or set columns in sources.yaml")


def quarantine_schema(schema: pa.Schema) -> pa.Schema:
    """Schema of a quarantine object for rows of ``schema`` (see the module docstring)."""
    fields = [pa.field(f.name, f.type, nullable=True) for f in schema]
    fields += [
        pa.field(ROW_KEY, pa.string()),
        pa.field(POSITION, pa.int64()),
        pa.field(RAW_RECORD, pa.string()),
        pa.field(REASONS, pa.list_(pa.string()), nullable=False),
    ]
    return pa.schema(fields)


def raw_json(raw: Any) -> str:
    """JSON text of raw values; lone surrogates (undecodable bytes) are kept as escapes."""
    try:
        text = json.dumps(raw, ensure_ascii=False, default=str)
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return json.dumps(raw, ensure_ascii=True, default=str)


def count_reasons(reasons: Sequence[Sequence[str]], into: dict[str, int] | None = None) -> dict[str, int]:
    """Add one per row and label to ``into`` (``{"zero_date:birth_date": 3}``); returns it."""
    out = {} if into is None else into
    for row in reasons:
        for label in dict.fromkeys(row):
            out[label] = out.get(label, 0) + 1
    return out
