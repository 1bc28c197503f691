"""Extracting one planned part (a key range of a SQL table, or one landed file) into staging.

Each range streams from the source inside one REPEATABLE READ transaction that also takes the
range's ``COUNT(*)``, so ``source_rows == staged + quarantined`` compares one snapshot of the
range. Memory is bounded by about two chunks (``chunk_rows``) whatever the table size. The part's
sealed document lists what it staged; whatever an earlier attempt of the part left is swept.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import sqlalchemy as sa

from custody.config import SourceConfig, TableConfig
from custody.documents import ColumnSchema, ExtractPlan, PartDocument, PartSpec, TablePlan, extraction_prefixes
from custody.extract.copy_binary import binary_batches, binary_kinds
from custody.extract.copy_path import FastPathUnavailable, copy_batches, copy_eligible
from custody.extract.cursor_path import cursor_batches
from custody.extract.errors import ExtractError, SchemaError, SourceUnavailable
from custody.extract.files import extract_file_part
from custody.extract.planning import schema_signature, where_conditions
from custody.extract.sessions import db_error_code, isolated, prepare_session, reflect_table
from custody.extract.writer import PartWriter
from custody.sources.quarantine import check_column_names
from custody.sources.sqltypes import plan_columns, select_list
from custody.sources.transient import is_transient
from custody.staging import StagingStore

log = logging.getLogger(__name__)


def extract_part(
    engine: sa.Engine | None,
    *,
    source: SourceConfig,
    plan: ExtractPlan,
    table: str,
    part: int,
    staging: StagingStore,
    landing: Any = None,
    prefer_copy: bool = True,
) -> PartDocument:
    """Extract one part (key range or file) of ``table`` as planned; write its sealed part document.

    Returns the part document as written. Raises ``ExtractError`` (count mismatch, schema drift,
    undecodable file), ``SchemaError`` and ``DocumentError`` (part not in the plan).
    """
    tplan = plan.table(table)
    spec = tplan.part(part)
    if tplan.kind == "files":
        body = extract_file_part(landing, source, tplan, spec, run_key=plan.run_key, staging=staging)
    else:
        body = extract_sql_part(engine, source, tplan, spec, plan.run_key, staging, prefer_copy=prefer_copy)
    doc = PartDocument(source=source.name, run_key=plan.run_key, plan_id=plan.plan_id, table=table, part=part,
                       **body)
    staging.put(doc)
    swept = _sweep_part(staging, doc)
    if swept:
        log.info("%s.%s part %d: removed %d object(s) left by an earlier attempt", source.name, table, part, swept)
    log.info("extracted %s.%s part %d: %d staged, %d quarantined (%s)", source.name, table, part,
             doc.extracted_rows, doc.quarantined_rows, doc.path)
    return doc


def _sweep_part(staging: StagingStore, doc: PartDocument) -> int:
    """Delete extraction objects of the part that its document does not list.

    An earlier attempt of the same part may have staged more chunks (the table shrank) or died
    mid-write (``.tmp-*`` files of ``custody.fsio``); once the new part document is written those
    files are unreferenced, so a rerun converges to exactly what the document lists. Only the
    part's own places are touched (``custody.documents.layout.extraction_prefixes``): its chunk
    folder and its extraction-quarantine names. Returns how many files were removed.
    """
    keep = {e.key for e in doc.objects()}
    removed = 0
    for prefix in extraction_prefixes(doc.source, doc.run_key, doc.table, doc.part):
        folder_key, _, stem = prefix.rpartition("/")
        removed += staging.remove_unlisted(folder_key, stem, keep)
    return removed


def extract_sql_part(engine: sa.Engine, source: SourceConfig, tplan: TablePlan, part: PartSpec,
                     run_key: str, staging: StagingStore, prefer_copy: bool = True) -> dict[str, Any]:
    """Extract one key range of a SQL table into staging; returns the part document's body.

    The COPY path first when ``prefer_copy`` and eligible, else (or when it is unavailable) the
    cursor path. Raises ``ExtractError`` (the database refused the read, ``COUNT(*)`` differs from
    the rows read) and ``SchemaError`` (the columns changed since planning)."""
    tcfg = TableConfig(name=tplan.source_table or tplan.table, primary_key=tplan.primary_key)
    table = reflect_table(engine, tcfg)
    check_column_names([c.name for c in table.columns], f"{source.name}.{tplan.table}")
    dialect = engine.dialect.name
    writer = PartWriter(staging, source, run_key, tplan.table, part.part, tplan.primary_key,
                        stage_row_keys=tplan.row_keys)
    attempts = ["copy_binary", "copy", "cursor"] if prefer_copy else ["cursor"]
    for at, path in enumerate(attempts):
        with isolated(engine.connect()) as conn:
            try:
                with conn.begin():
                    zone, undo = prepare_session(conn)
                    try:
                        plans = plan_columns(table, dialect, source.timezone, zone)
                        if schema_signature(plans) != tplan.columns:
                            raise SchemaError(f"{source.name}.{tplan.table}: the table's columns changed "
                                              "between planning and extraction")
                        if path != "cursor" and not copy_eligible(conn, plans):
                            continue
                        kinds = binary_kinds(conn, plans, table) if path == "copy_binary" else None
                        if path == "copy_binary" and kinds is None:
                            continue
                        conds = where_conditions(table, tplan, part, plans, source.timezone, dialect)
                        source_rows = conn.execute(
                            sa.select(sa.func.count()).select_from(table).where(*conds)).scalar_one()
                        stmt = sa.select(*select_list(table, plans, text_casts=path == "cursor")).where(
                            *conds).order_by(*[table.c[k] for k in tplan.primary_key])
                        if path == "copy_binary":
                            batches = binary_batches(conn, stmt, plans, kinds)
                        elif path == "copy":
                            batches = copy_batches(conn, stmt, plans, table)
                        else:
                            batches = cursor_batches(conn, stmt, plans, source.chunk_rows, writer)
                        # Closed on any error too: a COPY generator left suspended would keep its
                        # reader blocked on a full buffer and the server on a full socket, and the
                        # rollback below would wait for that connection forever.
                        with contextlib.closing(batches):
                            for batch in batches:
                                writer.add(batch)
                        writer.close()
                    finally:
                        if undo:
                            undo()
            except FastPathUnavailable as exc:
                log.warning("%s.%s part %d: %s path unavailable (%s); using the %s path", source.name,
                            tplan.table, part.part, path, exc, attempts[at + 1])
                conn.invalidate()
                writer.discard()
                continue
            except sa.exc.DBAPIError as exc:
                # Driver messages quote offending values ("invalid input syntax ... 'x'", bytes of
                # a bad encoding): report the error class and code only, without the chain.
                writer.discard()
                # A cut connection or a timeout is worth a retry; a refusal is not.
                kind = SourceUnavailable if is_transient(exc) else ExtractError
                raise kind(f"{source.name}.{tplan.table} part {part.part}: the database refused the "
                           f"read ({db_error_code(exc)})") from None
        break
    read = writer.extracted + writer.quarantined
    if read != source_rows:
        raise ExtractError(f"{tplan.table} part {part.part}: COUNT(*) gave {source_rows} rows "
                           f"but {read} were read ({writer.extracted} staged, {writer.quarantined} quarantined)")
    columns = [ColumnSchema(name=p.name, arrow_type=str(p.arrow), source_type=p.source_type, nullable=p.nullable,
                            source_zone=p.source_zone) for p in plans]
    return {**writer.result(), "source_rows": source_rows, "path": path, "columns": columns, "files": []}
