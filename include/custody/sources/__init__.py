"""Source systems for demos and tests: a synthetic Chinese CRM and the public Chinook sample.

``generate`` builds the CRM as Arrow tables; ``loaders`` puts those tables, or Chinook, into
SQLite, PostgreSQL or MariaDB so the extract stage has real databases to read.
"""

from custody.sources.generate import (
    AS_OF,
    CRM_KEYS,
    CRM_SCHEMAS,
    CRM_TABLES,
    DEFAULT_SEED,
    DEFECT_COLUMNS,
    CRMData,
    generate_crm,
)
from custody.sources.loaders import (
    chinook_dir,
    drop_database,
    ensure_database,
    load_chinook,
    load_tables,
)

__all__ = [
    "AS_OF",
    "CRM_KEYS",
    "CRM_SCHEMAS",
    "CRM_TABLES",
    "DEFAULT_SEED",
    "DEFECT_COLUMNS",
    "CRMData",
    "chinook_dir",
    "drop_database",
    "ensure_database",
    "generate_crm",
    "load_chinook",
    "load_tables",
]
