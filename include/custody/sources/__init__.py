"""Readers of source systems: what a source holds, read exactly; nothing here writes or stages.

- ``sqltypes``: SQL column types to Arrow and what to SELECT per column (raw values, or the
  database's own text where a driver would convert);
- ``sqlvalues``: Custody's checked rules from those values to exact Arrow, or a quarantine reason
  (shared by the cursor and COPY paths);
- ``temporal``: dates, timestamps and times from database text, naive times into UTC;
- ``landings``: where file drops arrive (a local folder, an S3 prefix) and the hashing reader;
- ``decoding``: text files line by line in UTF-8, GBK/GB18030 or ASCII, never a mix;
- ``formats``: CSV (delimiter detection, full-width ones included; RFC 4180), XLSX and JSON Lines, read as
  sections of records;
- ``rows``: records into Arrow batches (text cells, identifier checks, quarantine rows);
- ``quarantine``: the schema and reasons of rows held back at extraction, column-name checks;
- ``errors``: ``ExtractError``, ``SchemaError`` and ``SourceUnavailable``, raised by readers and
  extraction alike;
- ``transient``: which errors met reading a source are transient (retried) and which permanent.

Readers import nothing of a later stage: ``custody.extract`` uses them to plan and stage a run.
The demo data (a synthetic CRM, the Chinook sample) lives in ``custody.demo``.
"""
