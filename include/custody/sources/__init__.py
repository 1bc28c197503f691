"""Readers of source systems: what a source holds, read exactly, with nothing written anywhere.

- ``sqltypes``: SQL column types to Arrow, what to SELECT per column and how rows convert;
- ``files``: file landings (local folder, S3 prefix), decoding (UTF-8, GBK/GB18030) and the
  CSV, XLSX and JSON Lines formats;
- ``quarantine``: the schema and reasons of rows held back at extraction, column-name checks,
  and the errors readers raise (``ExtractError``, ``SchemaError``).

Readers import nothing of a later stage: ``custody.extract`` uses them to plan and stage a run.
The demo data (a synthetic CRM, the Chinook sample) lives in ``custody.demo``.
"""
