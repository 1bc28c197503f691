"""Data-subject request commands: ``custody dsr receive | verify | approve | reject | extend |
execute | close | list | open``.

Identifiers are never taken as command-line arguments (they would stay in the shell history and
the process list): ``receive`` asks for each ``--id`` kind without echo, or reads one line per
kind from standard input when it is not a terminal. Everything printed is value-free: request
ids, states, dates, counts. ``execute`` of an access request prints the export's key once.
"""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from custody.cli.app import app
from custody.cli.common import EndpointOpt, StoreKind, StoreOpt, console, out

dsr_app = typer.Typer(no_args_is_help=True, help="Data-subject requests: access and deletion, with due dates.")
app.add_typer(dsr_app, name="dsr")


class Kind(str, Enum):
    access = "access"
    deletion = "deletion"


class IdKind(str, Enum):
    resident_id = "resident_id"
    mobile_phone = "mobile_phone"
    email = "email"


RequestArg = Annotated[str, typer.Argument(help="Request id (dsr-...).")]


def _book():
    from custody.crypto.open import open_keyring
    from custody.dsr.requests import RequestBook
    from custody.settings import Settings

    settings = Settings.from_env()
    keyring = open_keyring(settings.keyring, key_store=settings.catalog_url)
    return settings, RequestBook(settings.catalog_url, keyring)


def _show(req: Any) -> None:
    out.print(f"{req.request_id}: {req.kind} request, {req.state}, regime {req.regime}, "
              f"due {req.due_at:%Y-%m-%d %H:%M} UTC ({req.days_left()} days left)")


def _moved(fn, *args: Any, **kwargs: Any) -> None:
    from custody.dsr.requests import RequestNotFound, TransitionError

    try:
        _show(fn(*args, **kwargs))
    except RequestNotFound as exc:
        console.print(f"[red]no such request[/red]: {exc.args[0]}")
        raise typer.Exit(1) from None
    except TransitionError as exc:
        console.print(f"[red]refused[/red]: {exc}", soft_wrap=True)
        raise typer.Exit(1) from None


@dsr_app.command()
def receive(
    kind: Annotated[Kind, typer.Option("--kind", help="access (a copy of the rows) or deletion.")],
    ids: Annotated[list[IdKind], typer.Option("--id", help="Identifier kind naming the subject (repeatable); "
                                              "the value is asked for without echo, or read from stdin.")],
    regime: Annotated[str | None, typer.Option(help="Regime in dsr.yaml (default: its default_regime).")] = None,
    source: Annotated[str | None, typer.Option(help="Limit the request to one source (default: all).")] = None,
) -> None:
    """Record a new request; the identifiers are pseudonymised at once and never stored."""
    from custody.dsr.subjects import SubjectError

    values: dict[str, str] = {}
    for k in ids:
        if sys.stdin.isatty():
            values[k.value] = typer.prompt(f"{k.value}", hide_input=True)
        else:
            values[k.value] = sys.stdin.readline().rstrip("\r\n")
    _, book = _book()
    try:
        req = book.receive(kind.value, values, regime=regime, source=source)
    except SubjectError as exc:
        console.print(f"[red]refused[/red]: {exc}")
        raise typer.Exit(1) from None
    finally:
        values.clear()
    _show(req)


@dsr_app.command()
def verify(request_id: RequestArg) -> None:
    """received -> verified: the requester's identity was checked."""
    _, book = _book()
    _moved(book.verify, request_id)


@dsr_app.command()
def approve(request_id: RequestArg,
            approver: Annotated[str, typer.Option(help="Who approves (not who received or verified it).")]) -> None:
    """verified -> approved, by a named approver."""
    _, book = _book()
    _moved(book.approve, request_id, approver=approver)


@dsr_app.command()
def reject(request_id: RequestArg, reason: Annotated[str, typer.Option(help="Reason code.")]) -> None:
    """-> rejected, with a reason code (identity_not_verified, manifestly_unfounded, excessive, ...)."""
    _, book = _book()
    _moved(book.reject, request_id, reason)


@dsr_app.command()
def extend(request_id: RequestArg, reason: Annotated[str, typer.Option(help="Reason code.")]) -> None:
    """-> extended once, where the regime allows it (complexity, number_of_requests, ...)."""
    _, book = _book()
    _moved(book.extend, request_id, reason)


@dsr_app.command()
def close(request_id: RequestArg) -> None:
    """executed or rejected -> closed: the subject was answered."""
    _, book = _book()
    _moved(book.close, request_id)


@dsr_app.command()
def execute(
    request_id: RequestArg,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Folder of access exports (default "
                                                 "<CUSTODY_HOME>/dsr-exports).")] = None,
    snapshot: Annotated[list[str] | None, typer.Option(help="Snapshots to export from (default: the latest of "
                                                       "each source the request covers).")] = None,
    store: StoreOpt = StoreKind.local,
    endpoint_url: EndpointOpt = None,
) -> None:
    """Carry out an approved request: deletion (ledger + staging) or access (encrypted export)."""
    from custody.cli.common import _store
    from custody.dsr.execute import execute_access, execute_deletion
    from custody.staging import StagingStore

    settings, book = _book()
    req = book.get(request_id)
    if req.kind == "deletion":
        done = _run(execute_deletion, book, request_id, StagingStore(settings.staging_dir, book.keyring))
        out.print(f"{request_id}: {done['ledger_rows']} identifier(s) added to the deletion ledger; "
                  f"{done['rows']} staged rows erased in {done['runs']} run(s)")
        for name, n in sorted(done["tables"].items()):
            out.print(f"  {name}: {n} rows")
        out.print("snapshots taken before stay until retention expires them; every restore leaves the subject out")
        return
    from custody.store import latest_snapshot, list_snapshots

    st = _store(settings, store, endpoint_url)
    keys = [s if s.startswith("snapshots/") else f"snapshots/{s}.json" for s in snapshot or []]
    if not keys:
        sources = [req.source] if req.source else sorted({k.split("/")[1] for k in list_snapshots(st)})
        keys = [latest_snapshot(st, book.keyring, s) for s in sources]
    res = _run(execute_access, book, request_id, st, keys, out_dir or settings.home / "dsr-exports")
    out.print(f"{request_id}: {res['rows']} rows of {res['tables']} table(s) exported to {res['path']}",
              soft_wrap=True)
    out.print("key (shown once; hand it over by another channel):")
    out.print(res["key"], soft_wrap=True, markup=False, highlight=False)


def _run(fn, *args: Any) -> Any:
    from custody.dsr.requests import TransitionError

    try:
        return fn(*args)
    except TransitionError as exc:
        console.print(f"[red]refused[/red]: {exc}", soft_wrap=True)
        raise typer.Exit(1) from None


@dsr_app.command("list")
def list_requests(as_json: Annotated[bool, typer.Option("--json", help="The report section as JSON.")] = False) -> None:
    """Open requests by due date with days left (value-free), and counts by state."""
    from custody.dsr.report import requests_section

    _, book = _book()
    section = requests_section(book)
    if as_json:
        out.print_json(section.model_dump_json())
        return
    table = Table("request", "kind", "regime", "state", "due (UTC)", "days left")
    for o in section.open:
        table.add_row(o.request_id, o.kind, o.regime, o.state, f"{o.due_at:%Y-%m-%d}",
                      f"[red]{o.days_left}[/red]" if o.overdue else str(o.days_left))
    out.print(table)
    out.print(json.dumps({k: v for k, v in section.by_state.items() if v}))


@dsr_app.command("open")
def open_cmd(
    path: Annotated[Path, typer.Argument(help="An access export (<request id>.cdyx).")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the decrypted tables (created 0700).")],
    key_file: Annotated[Path | None, typer.Option(help="File holding the key (default: asked without echo).")] = None,
) -> None:
    """Decrypt an access export with its key into one JSON file per table (0600)."""
    from custody.dsr.access import open_export, write_opened

    key = key_file.read_text().strip() if key_file else typer.prompt("key", hide_input=True)
    doc = open_export(path, key)
    for f in write_opened(doc, out_dir):
        out.print(f)
