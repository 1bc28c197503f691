"""Alembic environment for the catalog database, run by ``custody.catalog.migrate``.

The caller passes an open connection in ``config.attributes["connection"]`` (the migration then
runs inside the caller's transaction). ``target_metadata`` is the catalog schema, so a new
revision can be drafted with autogenerate against a migrated catalog.
"""

from __future__ import annotations

from alembic import context

from custody.catalog.schema import metadata

config = context.config
connection = config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
