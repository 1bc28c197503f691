"""The shape of the synthetic CRM: Arrow schemas, SQL definitions, keys and the ``CRMData`` result.

Four tables of an acquired IT firm's CRM (``enterprise_customers``, ``contacts``,
``bank_accounts``, ``contracts``), described twice: as Arrow schemas (``CRM_SCHEMAS``, what
``custody.demo.generate.generate_crm`` returns; types follow docs/contracts.md) and as SQLAlchemy
Core tables (``CRM_TABLES``, what ``custody.demo.loaders`` creates in a source database).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import pyarrow as pa
import sqlalchemy as sa

DEFAULT_SEED = 20261130
#: Reference "today" for ages, contract status and timestamps; fixed so output never drifts.
AS_OF = dt.date(2026, 11, 30)

DEFECT_RESIDENT_ID_CHECKSUM = "resident_id_checksum"
DEFECT_MOBILE_LENGTH = "mobile_length"
DEFECT_EMAIL_FORMAT = "email_format"
#: Defect kind -> the contacts column it breaks.
DEFECT_COLUMNS: dict[str, str] = {
    DEFECT_RESIDENT_ID_CHECKSUM: "resident_id",
    DEFECT_MOBILE_LENGTH: "mobile",
    DEFECT_EMAIL_FORMAT: "email",
}

TS = pa.timestamp("us", tz="UTC")
MONEY = pa.decimal128(14, 2)

#: Arrow schema of each generated table (types follow docs/contracts.md).
CRM_SCHEMAS: dict[str, pa.Schema] = {
    "enterprise_customers": pa.schema(
        [
            ("customer_id", pa.int64()),
            ("company_name", pa.string()),
            ("uscc", pa.string()),
            ("industry", pa.string()),
            ("registered_city", pa.string()),
            ("created_at", TS),
            ("updated_at", TS),
        ]
    ),
    "contacts": pa.schema(
        [
            ("contact_id", pa.int64()),
            ("customer_id", pa.int64()),
            ("name", pa.string()),
            ("mobile", pa.string()),
            ("resident_id", pa.string()),
            ("email", pa.string()),
            ("address", pa.string()),
            ("birth_date", pa.date32()),
            ("gender", pa.string()),
            ("notes", pa.string()),
            ("created_at", TS),
            ("updated_at", TS),
        ]
    ),
    "bank_accounts": pa.schema(
        [
            ("account_id", pa.int64()),
            ("contact_id", pa.int64()),
            ("bank_name", pa.string()),
            ("account_number", pa.string()),
            ("opened_on", pa.date32()),
        ]
    ),
    "contracts": pa.schema(
        [
            ("contract_id", pa.int64()),
            ("customer_id", pa.int64()),
            ("contract_no", pa.string()),
            ("amount", MONEY),
            ("currency", pa.string()),
            ("signed_on", pa.date32()),
            ("expires_on", pa.date32()),
            ("status", pa.string()),
        ]
    ),
}

# --- SQL definitions ---------------------------------------------------------------------------
# utf8mb4 on MariaDB/MySQL: names and addresses are CJK and utf8mb3 would reject rare characters.
# Both prefixes are given because SQLAlchemy reads mariadb_* only under the "mariadb" dialect name.
_MYSQL_KW = {"mysql_charset": "utf8mb4", "mariadb_charset": "utf8mb4"}
_TSZ = sa.DateTime(timezone=True)

#: SQLAlchemy Core metadata of the four CRM tables, used by ``custody.demo.loaders``.
CRM_TABLES = sa.MetaData()

sa.Table(
    "enterprise_customers",
    CRM_TABLES,
    sa.Column("customer_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("company_name", sa.String(200), nullable=False),
    sa.Column("uscc", sa.String(18), nullable=False, unique=True),
    sa.Column("industry", sa.String(64), nullable=False),
    sa.Column("registered_city", sa.String(64), nullable=False),
    sa.Column("created_at", _TSZ, nullable=False),
    sa.Column("updated_at", _TSZ, nullable=False),
    **_MYSQL_KW,
)
sa.Table(
    "contacts",
    CRM_TABLES,
    sa.Column("contact_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column(
        "customer_id",
        sa.BigInteger,
        sa.ForeignKey("enterprise_customers.customer_id"),
        nullable=False,
        index=True,
    ),
    sa.Column("name", sa.String(64), nullable=False),
    # Widths leave room for the formatted and deliberately broken values.
    sa.Column("mobile", sa.String(32), nullable=False),
    sa.Column("resident_id", sa.String(32), nullable=False),
    sa.Column("email", sa.String(128), nullable=False),
    sa.Column("address", sa.String(255), nullable=False),
    sa.Column("birth_date", sa.Date, nullable=False),
    sa.Column("gender", sa.String(8), nullable=False),
    sa.Column("notes", sa.Text, nullable=True),
    sa.Column("created_at", _TSZ, nullable=False),
    sa.Column("updated_at", _TSZ, nullable=False),
    **_MYSQL_KW,
)
sa.Table(
    "bank_accounts",
    CRM_TABLES,
    sa.Column("account_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("contact_id", sa.BigInteger, sa.ForeignKey("contacts.contact_id"), nullable=False, index=True),
    sa.Column("bank_name", sa.String(128), nullable=False),
    sa.Column("account_number", sa.String(19), nullable=False, unique=True),
    sa.Column("opened_on", sa.Date, nullable=False),
    **_MYSQL_KW,
)
sa.Table(
    "contracts",
    CRM_TABLES,
    sa.Column("contract_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column(
        "customer_id",
        sa.BigInteger,
        sa.ForeignKey("enterprise_customers.customer_id"),
        nullable=False,
        index=True,
    ),
    sa.Column("contract_no", sa.String(32), nullable=False, unique=True),
    sa.Column("amount", sa.Numeric(14, 2), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("signed_on", sa.Date, nullable=False),
    sa.Column("expires_on", sa.Date, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    **_MYSQL_KW,
)

#: Primary-key column of each CRM table (the surrogate row key that reports may show).
CRM_KEYS: dict[str, str] = {
    name: table.primary_key.columns.keys()[0] for name, table in CRM_TABLES.tables.items()
}


@dataclass(frozen=True)
class CRMData(Mapping[str, pa.Table]):
    """Result of :func:`generate_crm`; behaves as a read-only ``dict[str, pyarrow.Table]``.

    Attributes:
        tables: table name -> ``pyarrow.Table`` (schemas in ``CRM_SCHEMAS``), in load order
            ``enterprise_customers``, ``contacts``, ``bank_accounts``, ``contracts``.
        defects: table name -> {primary key -> defect kind}. Only ``contacts`` carries defects;
            kinds are the keys of ``DEFECT_COLUMNS``. Each listed row has exactly one defect.
        pi_in_notes: contact_id -> ``"mobile"`` or ``"resident_id"`` for the notes that repeat
            such a number inline (ground truth for free-text detectors).
        seed: the seed used.
        as_of: the fixed reference date ("today") of the data set.
    """

    tables: dict[str, pa.Table]
    defects: dict[str, dict[int, str]]
    pi_in_notes: dict[int, str]
    seed: int
    as_of: dt.date = AS_OF

    def __getitem__(self, name: str) -> pa.Table:
        return self.tables[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.tables)

    def __len__(self) -> int:
        return len(self.tables)

