"""Alembic migrations of the catalog database, applied by ``custody.catalog.migrate``.

The history is linear (``custody.catalog`` lists it). Helpers here are for revision files only.
"""

from __future__ import annotations


def missing(table: str) -> bool:
    """True when ``table`` does not exist yet in the database being migrated.

    Only the four ``0002_*`` revisions use it: they were once sibling heads applied in any
    combination, so on a catalog upgraded from that history some of their tables already exist.
    Must be called inside a migration (it uses Alembic's ``op`` connection).
    """
    import sqlalchemy as sa
    from alembic import op

    return not sa.inspect(op.get_bind()).has_table(table)
