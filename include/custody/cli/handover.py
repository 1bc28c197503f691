"""Handover commands: ``custody handover keygen | build | verify | acknowledge``.

``keygen`` and ``verify`` run on the transferee's side (the private key never leaves it);
``build`` and ``acknowledge`` on the transferor's. ``docs/format.md`` section 10 is the format.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from custody.cli.app import app
from custody.cli.common import EndpointOpt, StoreKind, StoreOpt, console, out

handover_app = typer.Typer(no_args_is_help=True, help="Handover packages for the transferee (closing).")
app.add_typer(handover_app, name="handover")


@handover_app.command("keygen")
def keygen(key: Annotated[Path, typer.Option("--key", help="Where to write the new X25519 private key (PEM, 0600).")]
           ) -> None:
    """Create the transferee's X25519 key pair (transferee side); prints the public key for deal.yaml."""
    from custody.handover import generate_recipient_key

    try:
        made = generate_recipient_key(key)
    except FileExistsError:
        console.print(f"[red]refused[/red]: {key} exists; a key is never overwritten", soft_wrap=True)
        raise typer.Exit(1) from None
    out.print(made.public_text, soft_wrap=True, highlight=False)
    console.print(f"private key {made.fingerprint} written to {key}; send only the line above to the transferor",
                  soft_wrap=True)


@handover_app.command("build")
def build(
    deal: Annotated[str, typer.Option(help="Deal id in deal.yaml (parties, transferee key, tables).")],
    snapshot: Annotated[str | None, typer.Option(help="Snapshot key (default: the newest of the source).")] = None,
    table: Annotated[list[str] | None, typer.Option("--table", help="Tables (default: the closing's).")] = None,
    source: Annotated[str | None, typer.Option(help="Source (default: the closing's).")] = None,
    recipient: Annotated[str | None, typer.Option(
        help="x25519:<base64>, or kms:<key ARN>[?endpoint_url=...] (default: the transferee's in deal.yaml).")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Folder (default: $CUSTODY_HOME/handover).")] = None,
    store: StoreOpt = StoreKind.local,
    endpoint_url: EndpointOpt = None,
) -> None:
    """Build the handover package: tables of a snapshot re-encrypted to the transferee's key."""
    from custody.cli.common import _open, _resolve
    from custody.deal.config import load_deals
    from custody.handover.ledger import record_package
    from custody.handover.package import build_package
    from custody.handover.recipient import parse_public_key

    settings, keyring, store_obj = _open(store, endpoint_url)
    cfg = load_deals(settings=settings).deal(deal)
    closing = cfg.milestone("closing").handover
    tables = list(table or (closing.tables if closing else []))
    src = source or (closing.source if closing else None)
    kms = None
    if recipient and recipient.startswith("kms:"):
        from custody.crypto.open import open_keyring

        kms, public = open_keyring(recipient), None
    elif recipient:
        public = parse_public_key(recipient)
    else:
        kms = cfg.transferee.recipient_kms()
        public = None if kms is not None else cfg.transferee.recipient_public()
    key = _resolve(store_obj, keyring, snapshot, src)
    folder, manifest = build_package(store_obj, key, keyring, tables=tables, recipient_public=public,
                                     recipient_kms=kms, out_dir=out_dir or settings.home / "handover", deal=cfg.id,
                                     transferor=cfg.transferor.name, transferee=cfg.transferee.name)
    rec = record_package(settings.catalog_url, folder, manifest)
    out.print(json.dumps({"package": str(folder), **{k: rec[k] for k in ("package_id", "snapshot", "rows",
                                                                         "manifest_sha256")}}), soft_wrap=True)


@handover_app.command("verify")
def verify(
    package: Annotated[Path, typer.Argument(help="The package folder (handover-<id>).")],
    key: Annotated[Path | None, typer.Option("--key", help="The transferee's X25519 private key (PEM).")] = None,
    kms: Annotated[str | None, typer.Option(help="Or the transferee's KMS key: kms:<key ARN>[?endpoint_url=...].")
                   ] = None,
    receipt: Annotated[Path | None, typer.Option(help="Write the receipt here (JSON).")] = None,
    extract: Annotated[Path | None, typer.Option(help="Also write each table as <table>.parquet here.")] = None,
    by: Annotated[str, typer.Option(help="Who verifies (named in the receipt).")] = "transferee",
) -> None:
    """Open and check a package with the transferee's private key (transferee side); exit 1 if refused."""
    from custody.fsio import atomic_write_bytes
    from custody.handover import HandoverError, load_private_key, verify_package

    from custody.crypto.open import open_keyring

    try:
        got = verify_package(package, load_private_key(key) if key else None,
                             kms=open_keyring(kms) if kms else None, by=by, extract_to=extract)
    except HandoverError as exc:
        console.print(f"[red]refused[/red]: {exc}", soft_wrap=True)
        raise typer.Exit(1) from None
    if receipt is not None:
        atomic_write_bytes(receipt, json.dumps(got, indent=2, sort_keys=True).encode("utf-8"), mode=0o644)
    for t in got["tables"]:
        out.print(f"ok  {t['table']}: {t['rows']} rows, content hash {t['content_hash']}", soft_wrap=True)
    out.print(f"package {got['package_id']} verified: {got['totals']['rows']} rows in {got['totals']['tables']} "
              "table(s)", soft_wrap=True)


@handover_app.command("acknowledge")
def acknowledge_cmd(receipt: Annotated[Path, typer.Argument(help="The transferee's receipt (JSON).")]) -> None:
    """Accept the transferee's receipt (transferor side): checked against the package built; exit 1 if not."""
    from custody.handover import HandoverError
    from custody.handover.ledger import acknowledge
    from custody.settings import Settings

    try:
        doc = json.loads(receipt.read_text(encoding="utf-8"))
        res = acknowledge(Settings.from_env().catalog_url, doc)
    except (HandoverError, ValueError) as exc:
        console.print(f"[red]refused[/red]: {type(exc).__name__}: {exc}", soft_wrap=True)
        raise typer.Exit(1) from None
    out.print(f"package {res['package_id']} acknowledged ({res['rows']} rows) at {res['acknowledged_at']}",
              soft_wrap=True)
