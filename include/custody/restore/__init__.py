"""Restore snapshots from a store: whole snapshots, single tables, or the rows of given keys.

Targets: Arrow in memory (``restore_table``), Parquet/CSV/XLSX files (``restore_snapshot``,
``files``) or a SQL database through a SQLAlchemy engine (``restore_to_sql``, ``sql``). Every
chunk is checked before its rows are used (``reading``): SHA-256 of the ciphertext against the
manifest, authenticated decryption under the object's own key and binding, and the row-content
hash of the chunk. Each table's total rows and content hash are checked against the manifest
before a file is renamed into place or a database transaction commits, so a failed restore leaves
nothing behind. GDPR Art 32(1)(c): the ability to restore availability and access to personal
data in a timely manner; PIPL Art 51(3).

Restoring with ``keys`` (a data subject's request, PIPL Art 45 access/copy, GDPR Art 15/20)
filters each decrypted chunk by primary-key values; all chunks are still authenticated and the
table totals still checked. Results carry counts and hashes, never values.

Every restore applies the deletion ledger (``custody.dsr.ledger``) of the catalog that holds the
keyring's key store before anything is written: rows of erased data subjects are dropped and
counted (``erased_rows``), and a ledger that cannot be read stops the restore
(``reading.erasure_for``). Backups holding an erased subject expire by retention.
"""

from custody.restore.files import restore_snapshot
from custody.restore.reading import (
    LEDGER,
    KeyFilter,
    KeyValues,
    RestoreError,
    erasure_for,
    iter_table,
    manifest_schema,
    parse_keys,
    restore_object,
    restore_table,
)
from custody.restore.sql import restore_to_sql, sql_table, sql_type

__all__ = [
    "LEDGER",
    "KeyFilter",
    "KeyValues",
    "RestoreError",
    "erasure_for",
    "iter_table",
    "manifest_schema",
    "parse_keys",
    "restore_object",
    "restore_snapshot",
    "restore_table",
    "restore_to_sql",
    "sql_table",
    "sql_type",
]
