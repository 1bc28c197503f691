"""Writing tables out for people: Parquet, and CSV that spreadsheets cannot turn into formulas.

CSV injection (OWASP "CSV Injection"): a text cell starting with ``=``, ``+``, ``-``, ``@``, tab or
carriage return is run as a formula by Excel and LibreOffice. Every CSV or XLSX text cell Custody
writes that starts so is prefixed with a single quote. Numeric columns are left alone.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from custody.fsio import atomic_writer

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_RE = r"^[=+\-@\t\r]"


def neutralise_formulas(table: pa.Table) -> pa.Table:
    """Return ``table`` with every string cell that starts like a formula prefixed by ``'``."""
    cols = []
    for col in table.columns:
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            hit = pc.match_substring_regex(col, _FORMULA_RE)
            col = pc.if_else(hit, pc.binary_join_element_wise("'", col, ""), col)
        cols.append(col)
    return pa.Table.from_arrays(cols, schema=table.schema)


def write_tables(batches: list[pa.Table] | object, path: Path, fmt: str, schema: pa.Schema) -> int:
    """Write an iterable of Arrow tables (same schema) to ``path`` as ``parquet`` or ``csv``.

    Atomic: the file appears complete or not at all. Returns rows written. Raises ``ValueError``
    for an unknown format.
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
            with pacsv.CSVWriter(fh, schema) as writer:
                for t in batches:
                    writer.write_table(neutralise_formulas(t))
                    rows += t.num_rows
        else:
            raise ValueError(f"unknown format {fmt!r}; use parquet or csv")
    return rows
