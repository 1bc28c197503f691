"""Alembic environment of the frozen pre-linear catalog history (test fixture, never shipped).

The revision files beside it are the catalog migrations as they were when the four ``0002_*``
revisions were sibling heads of ``0001_inventory``; tests use them to build catalogs at any
combination of those heads and check that ``custody.catalog.migrate`` upgrades them.
"""

from __future__ import annotations

from alembic import context

config = context.config
connection = config.attributes["connection"]
context.configure(connection=connection, target_metadata=None, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
