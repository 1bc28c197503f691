"""Extraction at scale: plan a run, extract key ranges in parallel, commit the manifest.

A run of one source is three steps, each a plain function (the DAG maps the middle one)::

    plan = plan_extract(...)              # per table: schema, interval, key ranges / files
    part = extract_part(..., table, i)    # one key range (or one file) -> encrypted chunks
    manifest = commit_extract(...)        # parts -> sealed manifest, then watermarks advance

``extract_table`` does the three for one table in one call (a full snapshot, no catalog). The
readers of the sources (SQL types, file landings and formats) are in ``custody.sources``; every
staging key comes from ``custody.documents.layout``.

Per table the run is a **full snapshot** or **incremental** (``low < watermark column <= high``).
Tables above ``split_rows`` rows with a single-column integer primary key are cut into key ranges
``(lo, hi]`` of about ``split_rows`` rows; other tables are one range; a file-drop table has one
part per file. Range bounds are surrogate integer keys, the only values allowed in XCom
(docs/contracts.md).

Each range streams from the source inside one REPEATABLE READ transaction that also takes the
range's ``COUNT(*)``, so ``source_rows == staged + quarantined`` compares one snapshot of the
range. Memory is bounded by about two chunks (``chunk_rows``) whatever the table size:

- PostgreSQL (psycopg 3, what Airflow's PostgreSQL hook hands out, or psycopg2):
  ``COPY (SELECT ...) TO STDOUT (FORMAT csv)`` streamed in 1 MiB blocks into Arrow's CSV reader
  with an explicit schema (decimals parsed exactly, NULL vs empty string kept, timestamps read in
  a UTC session; dates and times by Custody's own text rules). psycopg 3 runs the COPY in the
  extracting session itself; psycopg2 in a child process sharing its snapshot. Any value without
  an exact Arrow value makes the range fall back to the cursor path, which quarantines that value
  instead. A SQL_ASCII database cannot be read through psycopg 3: its connection names psycopg2
  (extra ``sqlalchemy_scheme``), and a psycopg 3 engine on one fails with that advice.
- Others: a server-side cursor (``stream_results``: psycopg2 named cursor, psycopg 3 and PyMySQL
  server-side cursors), the raw values converted by ``custody.sources.sqlvalues`` (zero dates,
  invalid dates, TIME outside a clock day, non-boolean BOOLEAN cells... quarantined with reasons).

Every chunk of at most ``chunk_rows`` rows is hashed (its content hash; for tables that stage
row keys, by default the incremental ones with a primary key, also one row key and row hash per row in a ``rowkeys``
side object, ``custody.rowkeys``), encrypted and written atomically (``custody.staging``). Reruns
of the same run write the same keys (atomic overwrite).

Modules, in the order a run meets them:

- ``planning``: ``plan_extract``; per SQL table its schema, interval and key ranges;
- ``files``: planning and extracting a file-drop table (one part per landed file);
- ``sessions``: reflection, REPEATABLE READ, the session settings that fix how values render;
- ``parts``: ``extract_part``; one range or file into staging, leftovers of earlier attempts swept;
- ``copy_path``: the PostgreSQL COPY fast path (Arrow's CSV reader; psycopg2's child process);
- ``copy_session``: psycopg 3's COPY read by the extracting session itself (a reader thread);
- ``copy_stream``: ``CopyStream``, the bounded pipe of 1 MiB blocks between a COPY and Arrow;
- ``cursor_path``: the server-side cursor path (every dialect; PostgreSQL's fallback);
- ``writer``: ``PartWriter``; chunks cut, row keys and hashes computed, objects staged;
- ``commit``: ``commit_extract``; parts joined into the sealed run manifest, then watermarks;
- ``watermarks``: the incremental state in the catalog (intervals, compare-and-set commits);
- ``table``: ``extract_table``; one table in one call;
- ``process``: ``prepare_process``; Arrow's memory pool and the garbage collector tuned once;
- ``errors``: ``ExtractError``, ``SchemaError`` and ``SourceUnavailable`` (transient: retried).
"""

from custody.extract.commit import commit_extract
from custody.extract.errors import ExtractError, SchemaError, SourceUnavailable
from custody.extract.parts import extract_part
from custody.extract.planning import plan_extract
from custody.extract.process import prepare_process
from custody.extract.table import extract_table

__all__ = [
    "ExtractError",
    "SchemaError",
    "SourceUnavailable",
    "commit_extract",
    "extract_part",
    "extract_table",
    "plan_extract",
    "prepare_process",
]
