"""Key commands: ``custody keys init`` creates the key-encryption key of a new deployment.

It is the only command that creates a KEK (the demo's first run calls the same function,
``custody.crypto.open.init_keyring``). Every other command, and every pipeline task, refuses to
run without the key and says where it was expected: a replaced KEK would leave every snapshot,
staged object and key-store entry wrapped by the old one unreadable (``docs/format.md`` 1.2).
"""

from __future__ import annotations

from typing import Annotated

import typer

from custody.cli.app import app
from custody.cli.common import console, out

keys_app = typer.Typer(no_args_is_help=True, help="The key-encryption key (CUSTODY_KEYRING).")
app.add_typer(keys_app, name="keys")


@keys_app.command("init")
def keys_init(
    keyring: Annotated[str | None, typer.Option(
        "--keyring", help="Keyring spec (default: CUSTODY_KEYRING, else local:$CUSTODY_HOME/keys/kek.json).")] = None,
) -> None:
    """Create the key-encryption key of a new deployment (a local key file, mode 0600).

    Refuses when the key file exists, and when the catalog's key store already holds keys (a
    deployment with data: restore its key instead). Copy the new file to offline storage at once;
    without it no snapshot can be restored.
    """
    from custody.crypto.keyring import KeyringError
    from custody.crypto.open import init_keyring
    from custody.settings import Settings

    settings = Settings.from_env()
    spec = keyring or settings.keyring
    try:
        made = init_keyring(spec, key_store=settings.catalog_url)
    except KeyringError as exc:
        console.print(f"[red]keys init refused[/red]: {exc}", soft_wrap=True)
        raise typer.Exit(1) from None
    out.print(f"created key-encryption key {made.active_kek_id()} in {getattr(made, 'path', spec)} (mode 0600)",
              soft_wrap=True)
    out.print("keep an offline copy of this file now: without it no snapshot can be restored", soft_wrap=True)
