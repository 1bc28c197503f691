"""Audit-log commands: ``custody audit verify | proof | check-proof | show | checkpoint | key``.

``verify`` and ``check-proof`` are what a third party runs: they need the catalog (read only) and
the stores, and trust only the verifier keys given with ``--key`` (without it, this deployment's
own signing key, which checks the log but not the key store). They never write to the log.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Column, Table

from custody.cli.app import app
from custody.cli.common import EndpointOpt, console, out

audit_app = typer.Typer(no_args_is_help=True, help="The audit log: verify it, prove an entry, show entries.")
app.add_typer(audit_app, name="audit")


class Stores(str, Enum):
    local = "local"
    s3 = "s3"
    all = "all"
    none = "none"


KeyOpt = Annotated[list[str] | None, typer.Option(
    "--key", help="Trusted verifier key (<name>+<id>+<base64>) or a file of them, one per line (repeatable).")]
StoresOpt = Annotated[Stores, typer.Option("--store", help="Stores whose checkpoints and leaves to read.")]


def _settings():
    from custody.settings import Settings

    return Settings.from_env()


def _log(settings):
    from custody.audit.log import AuditLog

    return AuditLog(settings.catalog_url)


def _own_signer(settings):
    from custody.audit.signing import open_signer
    from custody.crypto.open import open_keyring

    keyring = open_keyring(settings.keyring, key_store=settings.catalog_url)
    return open_signer(settings.audit_signer, name=settings.audit_origin, keyring=keyring)


def _verifiers(settings, keys: list[str] | None) -> list:
    """The trusted keys: each ``--key`` (a verifier key, or a file of them), else this deployment's own."""
    from custody.audit.signing import Verifier

    if not keys:
        v = _own_signer(settings).verifier()
        console.print(f"trusting this deployment's own signing key {v.name}+{v.key_id.hex()}; "
                      "pass --key for an independent check", soft_wrap=True)
        return [v]
    found = []
    for k in keys:
        path = Path(k)
        lines = path.read_text().split() if "+" not in k and path.is_file() else [k]
        found += [Verifier.parse(line) for line in lines if line.strip()]
    return found


def _stores(settings, which: Stores, endpoint_url: str | None) -> list:
    from custody.store import LocalStore, S3Store
    from custody.store.backends import S3StoreOptions, make_s3_client

    stores: list[Any] = []
    if which in (Stores.local, Stores.all):
        stores.append(LocalStore(settings.backup_dir))
    if which in (Stores.s3, Stores.all):
        options = S3StoreOptions(bucket=settings.s3_bucket, prefix=settings.s3_prefix, endpoint_url=endpoint_url)
        stores.append(S3Store(make_s3_client(options), options=options))
    return stores


@audit_app.command("verify")
def audit_verify(
    key: KeyOpt = None,
    store: StoresOpt = Stores.local,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    endpoint_url: EndpointOpt = None,
) -> None:
    """Recompute every entry's leaf and the tree, check every checkpoint's signature and that the
    log matches it, and the consistency of consecutive checkpoints.

    Exits 1 naming the first bad entry (or checkpoint) when anything is wrong.
    """
    from custody.audit.verify import verify_log

    settings = _settings()
    verifiers = _verifiers(settings, key)
    with _log(settings) as log:
        report = verify_log(log, verifiers, _stores(settings, store, endpoint_url), origin=settings.audit_origin)
    if as_json:
        out.print_json(json.dumps(report.summary()))
    elif report.ok:
        latest = report.latest
        where = f"; latest checkpoint {latest.size} entries at {latest.signed_at}" if latest else "; no checkpoint yet"
        out.print(f"[green]OK[/green] {report.size} entries, root {report.root.hex()[:16]}…, "
                  f"{report.checkpoints} checkpoint(s) verified{where}", soft_wrap=True)
    else:
        first = report.first()
        bad = report.first_bad_entry
        head = f"first bad entry: {bad}" if bad is not None else f"first bad checkpoint: {first.where}"
        console.print(f"[red]FAILED[/red] {head}: {first.message}", soft_wrap=True)
        for f in report.findings:
            if f is not first:
                console.print(f"  {f.message}", soft_wrap=True)
    if not report.ok:
        raise typer.Exit(1)


@audit_app.command("proof")
def audit_proof(
    seq: Annotated[int, typer.Argument(min=0, help="Sequence number of the entry.")],
    key: KeyOpt = None,
    output: Annotated[Path | None, typer.Option("--out", help="Write the bundle here (default: stdout).")] = None,
) -> None:
    """Print an inclusion proof of entry SEQ with the checkpoint it leads to (JSON, docs/format.md 8.7)."""
    from custody.audit.merkle import ProofError
    from custody.audit.proofs import build_proof

    settings = _settings()
    try:
        with _log(settings) as log:
            bundle = build_proof(log, seq, _verifiers(settings, key), origin=settings.audit_origin)
    except ProofError as exc:
        console.print(f"[red]no proof[/red]: {exc}")
        raise typer.Exit(1) from None
    text = json.dumps(bundle, indent=1, ensure_ascii=False)
    if output:
        output.write_text(text + "\n", encoding="utf-8")
        out.print(f"proof of entry {seq} in a tree of {bundle['tree_size']} entries written to {output}")
    else:
        print(text)


@audit_app.command("check-proof")
def audit_check_proof(
    bundle: Annotated[Path, typer.Argument(help="A proof bundle written by `custody audit proof`.")],
    key: KeyOpt = None,
) -> None:
    """Check a proof bundle offline: checkpoint signature, leaf hash, RFC 9162 inclusion proof."""
    from custody.audit.checkpoints import CheckpointError
    from custody.audit.merkle import ProofError
    from custody.audit.proofs import check_proof
    from custody.audit.signing import NoteError

    settings = _settings()
    try:
        seq = check_proof(json.loads(bundle.read_text(encoding="utf-8")), _verifiers(settings, key))
    except (ProofError, NoteError, CheckpointError, KeyError, ValueError) as exc:
        console.print(f"[red]FAILED[/red] {type(exc).__name__}: {exc}")
        raise typer.Exit(1) from None
    out.print(f"[green]OK[/green] entry {seq} is in the signed tree")


def _when(text: str | None) -> datetime | None:
    if text is None:
        return None
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _subject(entry: dict[str, Any]) -> str:
    s = dict(entry.get("subject") or {})
    head = "/".join(s.pop(k) for k in ("source", "run_key") if k in s)
    rest = " ".join(f"{k}={v}" for k, v in sorted(s.items()))
    counts = " ".join(f"{k}={v}" for k, v in sorted((entry.get("counts") or {}).items()))
    return " ".join(p for p in (head, rest, counts) if p)


@audit_app.command("show")
def audit_show(
    source: Annotated[str | None, typer.Option(help="Only entries about this source.")] = None,
    run_key: Annotated[str | None, typer.Option(help="Only entries about this run.")] = None,
    action: Annotated[list[str] | None, typer.Option(
        help="Only this action, or a prefix ending in '.' such as 'extract.' (repeatable).")] = None,
    actor: Annotated[str | None, typer.Option(help="Only actors whose label contains this text.")] = None,
    since: Annotated[str | None, typer.Option(help="From this UTC time (ISO 8601).")] = None,
    until: Annotated[str | None, typer.Option(help="Before this UTC time (ISO 8601).")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, the newest.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print the entries as JSON lines.")] = False,
) -> None:
    """List entries, oldest first within the newest LIMIT matches; 80 columns are enough."""
    settings = _settings()
    with _log(settings) as log:
        rows = log.find(source=source, run_key=run_key, actions=action, actor=actor, since=_when(since),
                        until=_when(until), limit=limit, newest_first=True)[::-1]
    if as_json:
        for r in rows:
            print(r.data.decode("utf-8"))
        return
    # Folded, never cut: an auditor must see every id, whatever the width (80 columns suffice).
    table = Table(Column("seq", justify="right"), Column("time (UTC)", no_wrap=True), Column("action", overflow="fold"),
                  "outcome", Column("subject, counts / actor", overflow="fold"), box=None, pad_edge=False)
    for r in rows:
        try:
            entry = json.loads(r.data)
        except ValueError:
            entry = {}
        style = "" if r.outcome == "success" else "red"
        table.add_row(str(r.seq), r.recorded_at.strftime("%m-%d %H:%M:%S"), r.action, f"[{style}]{r.outcome}"
                      if style else r.outcome, f"{_subject(entry)}\n[dim]{r.actor}[/dim]")
    out.print(table)
    out.print(f"{len(rows)} entr{'y' if len(rows) == 1 else 'ies'}")


@audit_app.command("checkpoint")
def audit_checkpoint(
    store: Annotated[Stores, typer.Option("--store", help="Stores to write the checkpoint to.")] = Stores.local,
    endpoint_url: EndpointOpt = None,
) -> None:
    """Sign the log's current tree and keep the checkpoint in the catalog and the stores."""
    from custody.audit.checkpoints import CheckpointError, write_checkpoint

    settings = _settings()
    try:
        with _log(settings) as log:
            cp = write_checkpoint(log, _own_signer(settings), _stores(settings, store, endpoint_url),
                                  origin=settings.audit_origin, reason="cli", lock_days=settings.audit_lock_days)
    except CheckpointError as exc:
        console.print(f"[red]refused[/red]: {exc}", soft_wrap=True)
        raise typer.Exit(1) from None
    out.print(f"checkpoint of {cp.size} entries, root {cp.root.hex()[:16]}…, signed {cp.signed_at}")


@audit_app.command("key")
def audit_key_cmd() -> None:
    """Print this deployment's checkpoint verifier key (give it to auditors: `--key`)."""
    print(_own_signer(_settings()).verifier().vkey())

