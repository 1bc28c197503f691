"""Catalog commands: ``custody catalog migrate`` (run once per deployment) and ``status``."""

from __future__ import annotations

from typing import Annotated

import typer

from custody.cli.app import app
from custody.cli.common import console, out

catalog_app = typer.Typer(no_args_is_help=True, help="The catalog database (CUSTODY_CATALOG_URL): schema revision.")
app.add_typer(catalog_app, name="catalog")


def _catalog_url(url: str | None) -> str:
    from custody.settings import Settings

    return url or Settings.from_env().catalog_url


def _shown(url: str) -> str:
    import sqlalchemy as sa

    return sa.make_url(url).render_as_string(hide_password=True)


CatalogUrlOpt = Annotated[
    str | None, typer.Option("--url", help="Catalog SQLAlchemy URL (default: CUSTODY_CATALOG_URL).")]


@catalog_app.command("migrate")
def catalog_migrate(url: CatalogUrlOpt = None) -> None:
    """Bring the catalog to the schema revision this Custody needs (idempotent).

    Run once per deployment, before any pipeline task: tasks and readers never migrate, they
    refuse a catalog that is not at this revision.
    """
    import sqlalchemy as sa

    from custody.catalog import migrate, revisions

    target = _catalog_url(url)
    engine = sa.create_engine(target)
    try:
        before = revisions(engine)
        after = migrate(engine)
    finally:
        engine.dispose()
    was = ", ".join(before) or "none"
    change = "already at" if before == (after,) else f"migrated from {was} to"
    out.print(f"catalog {_shown(target)}: {change} revision {after}", soft_wrap=True)


@catalog_app.command("status")
def catalog_status(url: CatalogUrlOpt = None) -> None:
    """Print the catalog's schema revision; exit 1 when it is not the one this Custody needs."""
    import sqlalchemy as sa

    from custody.catalog import SCHEMA_REVISION, revisions

    target = _catalog_url(url)
    engine = sa.create_engine(target)
    try:
        current = revisions(engine)
    finally:
        engine.dispose()
    shown = ", ".join(current) or "none"
    if current != (SCHEMA_REVISION,):
        console.print(f"catalog {_shown(target)} at revision {shown}, this Custody needs {SCHEMA_REVISION}: "
                      "run `custody catalog migrate`", soft_wrap=True)
        raise typer.Exit(1)
    out.print(f"catalog {_shown(target)} at revision {shown} (head)", soft_wrap=True)
