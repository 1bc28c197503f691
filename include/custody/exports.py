"""Writing tables out for people: Parquet, and CSV/XLSX that spreadsheets cannot turn into formulas.

CSV injection (OWASP "CSV Injection"): a text cell starting with ``=``, ``+``, ``-``, ``@``, tab or
carriage return is run as a formula by Excel and LibreOffice. Every CSV or XLSX text cell Custody
writes that starts so is prefixed with a single quote, and so is every header cell (a column
name from a file drop is text from outside too). Text that is a plain number (``-12.5``,
``+3``, ``-1,234.50``, ``1e-3``: what file drops hold in text columns) cannot run as a formula and
is left as it is, so numbers stay numbers; numeric columns are never touched.

XLSX (openpyxl write-only): text cells are always written as strings (never formulas), neutralised
as above. Numbers a spreadsheet would damage are written as text: integers and decimals with
more than 15 significant digits (Excel keeps 15), so identifiers keep every digit. Timestamps are
ISO-8601 text with ``Z`` (Excel has no time zones), binary is hex. One sheet holds at most
1,048,575 data rows; more rows continue on sheets ``<name>_2``, ``<name>_3``...
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from custody.fsio import atomic_writer

XLSX_MAX_ROWS = 1_048_575  # Excel's 1,048,576 rows minus the header
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_RE = r"^[=+\-@\t\r]"
#: A plain decimal number: sign, digits (optionally grouped by commas in thousands), fraction,
#: exponent. Spreadsheets read it as a number, never as a formula (RE2 and ``re`` alike).
PLAIN_NUMBER_RE = r"^[+-]?(?:\d+|\d{1,3}(?:,\d{3})+)(?:\.\d+)?(?:[eE][+-]?\d+)?$|^[+-]?\.\d+(?:[eE][+-]?\d+)?$"
_PLAIN_NUMBER = re.compile(PLAIN_NUMBER_RE)


def neutralise_formulas(table: pa.Table) -> pa.Table:
    """Return ``table`` with every string cell that starts like a formula, and is not a plain
    number (``PLAIN_NUMBER_RE``), prefixed by ``'``."""
    cols = []
    for col in table.columns:
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            hit = pc.and_(pc.match_substring_regex(col, _FORMULA_RE),
                          pc.invert(pc.match_substring_regex(col, PLAIN_NUMBER_RE)))
            col = pc.if_else(hit, pc.binary_join_element_wise("'", col, ""), col)
        cols.append(col)
    return pa.Table.from_arrays(cols, schema=table.schema)


def neutralise_cell(value: object) -> object:
    """One cell value with a leading formula character neutralised (strings that are not plain numbers)."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def csv_header(names: list[str]) -> bytes:
    """The CSV header line of ``names``, each neutralised and quoted as Arrow quotes cells (UTF-8)."""
    buf = io.StringIO()
    csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\n").writerow([neutralise_cell(n) for n in names])
    return buf.getvalue().encode("utf-8")


def _xlsx_value(value: object) -> object:
    import datetime as dt
    from decimal import Decimal

    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return neutralise_cell(value)
    if isinstance(value, int):
        return value if len(str(abs(value))) <= 15 else str(value)
    if isinstance(value, Decimal):
        digits = value.as_tuple().digits
        return float(value) if len(digits) <= 15 else str(value)
    if isinstance(value, float):
        return value
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return value.isoformat()
    if isinstance(value, (dt.date, dt.time)):
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    return neutralise_cell(str(value))


def write_xlsx(batches: list[pa.Table] | object, fh: object, schema: pa.Schema, sheet: str = "data") -> int:
    """Write Arrow tables (same ``schema``) into an XLSX workbook on the binary file ``fh``.

    Cell rules in the module docstring. Returns data rows written.
    """
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    wb = Workbook(write_only=True)
    ws = None
    rows = sheet_rows = 0
    sheets = 0

    def new_sheet():
        nonlocal ws, sheet_rows, sheets
        sheets += 1
        ws = wb.create_sheet(sheet if sheets == 1 else f"{sheet}_{sheets}")
        ws.append([_string_cell(ws, WriteOnlyCell, n) for n in schema.names])
        sheet_rows = 0

    new_sheet()
    for t in batches:
        for record in t.to_pylist():
            if sheet_rows >= XLSX_MAX_ROWS:
                new_sheet()
            ws.append([_string_cell(ws, WriteOnlyCell, v) if isinstance(v, str) else _xlsx_value(v)
                       for v in (record[n] for n in schema.names)])
            sheet_rows += 1
            rows += 1
    wb.save(fh)
    return rows


def _string_cell(ws: object, cell_type: type, value: str) -> object:
    # A WriteOnlyCell with data_type "s" is stored as text even if it starts with "=".
    cell = cell_type(ws, value=neutralise_cell(value))
    cell.data_type = "s"
    return cell


def write_tables(batches: list[pa.Table] | object, path: Path, fmt: str, schema: pa.Schema) -> int:
    """Write an iterable of Arrow tables (same schema) to ``path`` as ``parquet``, ``csv`` or ``xlsx``.

    Atomic: the file appears complete or not at all. Returns rows written. Raises ``ValueError``
    for an unknown format. XLSX holds the whole workbook in memory until it is saved (openpyxl).
    """
    rows = 0
    with atomic_writer(path) as fh:
        if fmt == "parquet":
            with pq.ParquetWriter(fh, schema, compression="zstd") as writer:
                for t in batches:
                    writer.write_table(t)
                    rows += t.num_rows
        elif fmt == "csv":
            fh.write("\ufeff".encode())  # BOM: spreadsheets then read UTF-8 Chinese text correctly
            fh.write(csv_header(schema.names))  # Arrow would write column names as they are
            with pacsv.CSVWriter(fh, schema, write_options=pacsv.WriteOptions(include_header=False)) as writer:
                for t in batches:
                    writer.write_table(neutralise_formulas(t))
                    rows += t.num_rows
        elif fmt == "xlsx":
            rows = write_xlsx(batches, fh, schema)
        else:
            raise ValueError(f"unknown format {fmt!r}; use parquet, csv or xlsx")
    return rows
