"""File-drop extraction: plan a file-drop table (one part per landed file) and stage one file.

A file-drop source (``kind: files`` in ``sources.yaml``) lands files under ``landing`` (a local
folder or ``s3://bucket/prefix``, ``custody.sources.landings``); each table picks its files with
a glob (``files``). Every file is one part of the run, extracted by its own mapped task, into the
same staging and manifest format as SQL tables: all columns are ``string`` (the text as sent),
plus ``<column>__raw`` for each configured identifier column (``custody.sources.rows``).
Reconciliation per file: data rows parsed (header, blank lines and all-empty rows excluded; bad
rows included) = rows staged + rows quarantined.

An empty file and a file with a header but no data rows are extracted (zero rows) and said so:
a warning in the task log and a note on the file (``FileEntry.note``) that the run report
lists; the table keeps its columns (the header comes from the first file that has one, or from
``columns``), so they stay in the inventory.

The readers (decoding, CSV, XLSX, JSON Lines) are in ``custody.sources``; this module aligns each
file's header with the table's columns, feeds the records to a ``PartWriter`` and records the
file (name, SHA-256, size, format, encoding). Error messages carry file names, line numbers and
column names, never cell values; a header that does not match is described by the expected
column names and the positions of the others, because a file without its header row has data
there.
"""

from __future__ import annotations

import io
import logging
from typing import Any

from custody.config import SourceConfig, TableConfig
from custody.documents import ColumnSchema, FileEntry, PartSpec, TablePlan
from custody.errors import value_free
from custody.extract.errors import ExtractError, SchemaError
from custody.extract.writer import PartWriter
from custody.sources.formats import detect_format, read_header, read_sections
from custody.sources.landings import HashingReader, Landing
from custody.sources.quarantine import check_column_names, check_file_header
from custody.sources.rows import RowBuilder, staged_columns

BATCH_ROWS = 10_000

log = logging.getLogger(__name__)


def plan_file_table(landing: Landing, source: SourceConfig, tcfg: TableConfig, *, run_key: str, run_id: str,
                    store: Any) -> TablePlan:
    """Plan a file-drop table: its files (one part each) and its columns.

    Incremental tables skip files committed by earlier runs (same name and size); a rerun of the
    same run keeps its file list (``custody.extract.watermarks``). The header comes from
    ``columns`` or the first file. Raises ``ExtractError`` / ``SchemaError``.
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
    if header is not None:
        check_column_names(header, f"{source.name}.{tcfg.name} (config)")
    for f in files if header is None else []:
        # The first file with a header names the columns: an empty file before it has none.
        header = read_header(landing, f["name"], tcfg)
        if header:
            where = f"{source.name}.{tcfg.name} ({f['name']})"
            check_column_names(header, where, quote=False)
            check_file_header(header, where)
            break
    header = header or []
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
        row_keys=tcfg.stages_row_keys(keyed=bool(pk)),
        parts=[PartSpec(part=i, name=f["name"], bytes=f["bytes"]) for i, f in enumerate(files)],
    )


def extract_file_part(landing: Landing, source: SourceConfig, tplan: TablePlan, spec: PartSpec, *,
                      run_key: str, staging: Any) -> dict[str, Any]:
    """Extract one landed file (all its sections) into staging; returns the part document body.

    Raises ``ExtractError`` (undecodable or malformed file), ``SchemaError`` (header drift,
    duplicate headers) and, for any other error met while reading records, ``ValueFreeError``
    naming the file's part and the line (or sheet row) reached, never a cell.
    """
    tcfg = next(t for t in source.tables if t.name == tplan.table)
    name = spec.name or ""
    writer = PartWriter(staging, source, run_key, tplan.table, spec.part,
                        tplan.primary_key or None, key_prefix=name, stage_row_keys=tplan.row_keys)
    entries: list[dict[str, Any]] = []
    at: dict[str, int | None] = {"row": None}
    fmt = detect_format(name, tcfg.format)
    with landing.open(name) as raw:
        hashed = HashingReader(raw)
        stream = io.BufferedReader(hashed, buffer_size=1 << 20)
        failure: BaseException | None = None
        try:
            sections = list(read_sections(stream, name, tcfg, tplan.header or [])) if fmt == "xlsx" \
                else read_sections(stream, name, tcfg, tplan.header or [])
            for section in sections:
                entries.append(_stage_section(section, source, tplan, tcfg, name, writer, at))
            writer.close()
        except Exception as exc:  # noqa: BLE001 - a library's message may quote the record
            failure = value_free(exc, "reading the file failed", source=source.name, table=tplan.table,
                                 part=spec.part, row=at["row"])
        if failure is not None:
            raise failure
        hashed.finish()
    files = [FileEntry(name=name, sheet=e["sheet"], sha256=hashed.sha.hexdigest(), bytes=hashed.bytes, format=fmt,
                       encoding=e["encoding"], delimiter=e["delimiter"], rows=e["rows"], quarantined=e["quarantined"],
                       note=e["note"]) for e in entries]
    source_rows = sum(e["rows"] for e in entries)
    if source_rows != writer.extracted + writer.quarantined:
        raise ExtractError(f"{name}: parsed {source_rows} rows but staged {writer.extracted} "
                           f"+ quarantined {writer.quarantined}")
    return {**writer.result(), "source_rows": source_rows, "path": "files",
            "columns": tplan.column_schemas, "files": files}


def _stage_section(section: Any, source: SourceConfig, tplan: TablePlan, tcfg: TableConfig, name: str,
                   writer: PartWriter, at: dict[str, int | None]) -> dict[str, Any]:
    """Stage the records of one section (a file or sheet); returns its ``FileEntry`` fields.

    ``at["row"]`` follows the record being read, so a failure can name its line.
    """
    header: list[str] = tplan.header or []
    identifiers = {i.column: i.width for i in tcfg.identifiers}
    note = ""
    builder = RowBuilder(header, identifiers)
    if section.header is None:
        note = "empty"
        for _ in section.records:  # only blank lines are left
            pass
    else:
        where = f"{name}" + (f" sheet {section.sheet!r}" if section.sheet else "")
        check_column_names(section.header, where, quote=False)
        if sorted(section.header) != sorted(header):
            check_file_header(section.header, where)  # the table's own names are known to be names
        order = _align(section.header, header, where)
        blank = 0
        n = len(section.header)
        width = section.info.get("width", n)  # with the empty header fields dropped at the end
        for position, cells, reason, flags, raw_fields in section.records:
            at["row"] = position
            if reason is None and (not cells or not any(isinstance(c, str) and c.strip() or
                                                         (c is not None and not isinstance(c, str))
                                                         for c in cells)):
                if not cells or reason is None and flags is None:
                    blank += 1
                    continue
            if reason is None and (len(cells) < n or len(cells) > width
                                   or any(c not in (None, "") for c in cells[n:])):
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
            note = "no records" if detect_format(name, tcfg.format) == "jsonl" else "header only"
        if width > n:
            note = (note + "; " if note else "") + f"{width - n} empty trailing column(s) dropped"
        if blank:
            note = (note + "; " if note else "") + f"{blank} blank rows skipped"
    if builder.rows == 0:
        log.warning("%s.%s: %s%s has no data rows (%s); the table keeps its columns", source.name,
                    tplan.table, name, f" sheet {section.sheet!r}" if section.sheet else "", note.partition(";")[0])
    return {"sheet": section.sheet, "rows": builder.rows, "quarantined": builder.quarantined, "note": note,
            "delimiter": section.info.get("delimiter"),
            "encoding": section.info["encoding"]() if "encoding" in section.info else None}


def _push(builder: RowBuilder, writer: PartWriter) -> None:
    good, bad, reasons = builder.take()
    if bad is not None:
        writer.add_quarantine(bad, reasons)
    if good is not None:
        writer.add(good)


def _align(found: list[str], expected: list[str], where: str) -> list[int]:
    """Positions in ``found`` of each expected column; raises ``SchemaError`` on drift.

    The message names the table's expected columns that are missing and only the positions of
    the file's fields that are not expected: without its header row a file has data there.
    """
    missing = [c for c in expected if c not in found]
    unexpected = [i + 1 for i, c in enumerate(found) if c not in expected]
    if missing or unexpected:
        others = f"field(s) at position(s) {', '.join(map(str, unexpected))}" if unexpected else "none"
        raise SchemaError(f"{where}: header differs from the table's columns "
                          f"(missing: {', '.join(missing) or 'none'}; unexpected: {others})")
    return [found.index(c) for c in expected]
