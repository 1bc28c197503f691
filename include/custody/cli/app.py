"""The ``custody`` Typer application that every command module registers on."""

from __future__ import annotations

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Custody: verify and restore encrypted snapshots, and keep the chain of custody.")
