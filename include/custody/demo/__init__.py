"""Demo and test data, kept out of the production package's way: a synthetic CRM and Chinook.

- ``crm``: the CRM's shape (Arrow schemas, SQLAlchemy tables, primary keys, ``CRMData``);
- ``reference``: the reference data the generator samples (divisions, industries, banks, notes);
- ``generate``: ``generate_crm``, the seeded, deterministic generator of the CRM's tables;
- ``loaders``: put those tables, or the public Chinook sample, into SQLite, PostgreSQL or
  MariaDB, so the extract stage has real databases to read; scratch database helpers for tests.

Nothing in the pipeline imports this package; ``scripts/demo.py``, the benchmarks and the tests do.
"""

from custody.demo.crm import (
    AS_OF,
    CRM_KEYS,
    CRM_SCHEMAS,
    CRM_TABLES,
    DEFAULT_SEED,
    DEFECT_COLUMNS,
    CRMData,
)
from custody.demo.generate import generate_crm
from custody.demo.loaders import (
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
