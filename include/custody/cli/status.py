"""``custody status``: what needs attention now (``custody.overview.attention``)."""

from __future__ import annotations

from typing import Annotated

import typer

from custody.cli.app import app
from custody.cli.common import out
from custody.cli.render import print_rows


@app.command()
def status(
    verify_days: Annotated[float, typer.Option(min=0, help="A store unverified for longer is overdue.")] = 2,
    drill_days: Annotated[float, typer.Option(min=0, help="No restore drill for longer is overdue.")] = 2,
) -> None:
    """What needs attention: failed last runs, overdue or failed verifications and restore drills,
    inventory drift, and whether the audit log verifies. Exit 1 when something failed (an error),
    0 when only warnings or nothing."""
    from datetime import timedelta

    import sqlalchemy as sa

    from custody.overview.attention import audit_integrity, needs_attention
    from custody.settings import Settings

    settings = Settings.from_env()
    integrity = audit_integrity(settings)
    engine = sa.create_engine(settings.catalog_url)
    try:
        items = needs_attention(settings, engine, verify_max_age=timedelta(days=verify_days),
                                drill_max_age=timedelta(days=drill_days), integrity=integrity)
    finally:
        engine.dispose()
    if integrity.ok:
        out.print(f"audit log: {integrity.entries:,} entries verify against {integrity.checkpoints:,} checkpoint(s)",
                  soft_wrap=True)
    if not items:
        out.print("[green]nothing needs attention[/green]")
        return
    print_rows(out, ["subject", "severity", "topic", "what"], [[a.subject, a.severity, a.topic, a.message]
                                                                 for a in items], wrap=("what",),
               title=f"{len(items)} item(s) need attention")
    if any(a.severity == "error" for a in items):
        raise typer.Exit(1)
