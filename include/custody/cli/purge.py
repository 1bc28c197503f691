"""Purge commands: ``custody purge plan | execute | certificate``.

``plan`` is a dry run: it inventories staging, the stores (with ``--s3``, every object version and
delete marker) and the key store, judges each item under ``retention.yaml`` and seals the plan;
nothing is destroyed. ``execute`` destroys only a plan that a human approved through the
``custody_purge`` DAG's approval task and that passed its guard (the recorded approval names
this plan's hash), then verifies that nothing is left. ``certificate`` issues (once) and shows
the destruction certificate. Output is ids, counts, bytes and hashes, never a value.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

import typer

from custody.cli.app import app
from custody.cli.common import EndpointOpt, StoreKind, _store, console, out

purge_app = typer.Typer(no_args_is_help=True, help="Purge expired data: plan, execute an approved plan, certificate.")
app.add_typer(purge_app, name="purge")

S3Opt = Annotated[bool, typer.Option("--s3/--no-s3", help="Include the S3 store (every version and delete marker).")]


def _runtime():
    from custody.stages import Runtime

    return Runtime.from_env()


def _s3_client(rt, s3: bool, endpoint_url: str | None):
    return _store(rt.settings, StoreKind.s3, endpoint_url).client if s3 else None


@purge_app.command("plan")
def purge_plan(
    source: Annotated[list[str] | None, typer.Option("--source", help="Only these sources (repeatable).")] = None,
    as_of: Annotated[str | None, typer.Option(help="Judge at this UTC time (ISO 8601) instead of now.")] = None,
    requester: Annotated[str | None, typer.Option(help="Who asks for the purge (default: user@host).")] = None,
    s3: S3Opt = False,
    endpoint_url: EndpointOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Plan a purge (a dry run): what has expired, what a legal hold blocks; seal the plan."""
    from datetime import UTC

    from custody.audit.entries import Actor
    from custody.stages.purge import stage_purge_plan

    rt = _runtime()
    clock = None
    if as_of:
        clock = datetime.fromisoformat(as_of)
        clock = clock if clock.tzinfo else clock.replace(tzinfo=UTC)
    who = requester or Actor.cli().label().removeprefix("cli:")
    result = stage_purge_plan(rt, requester=who, s3_client=_s3_client(rt, s3, endpoint_url), clock=clock,
                              sources=set(source) if source else None)
    if as_json:
        out.print_json(json.dumps(result))
        return
    out.print(result["summary"], soft_wrap=True)
    out.print(f"plan {result['plan_id']} sealed at {result['plan_key']}; approve it in the custody_purge DAG",
              soft_wrap=True)


@purge_app.command("execute")
def purge_execute(
    plan_id: Annotated[str, typer.Argument(help="The plan to execute (approved and guarded).")],
    s3: S3Opt = False,
    endpoint_url: EndpointOpt = None,
) -> None:
    """Execute an approved plan in the fixed order, then verify; exits 1 if it is not approved or
    verification finds something left."""
    from custody.purge.execute import PurgeError
    from custody.purge.guard import PurgeRefused
    from custody.stages.purge import stage_purge_execute, stage_purge_verify

    rt = _runtime()
    client = _s3_client(rt, s3, endpoint_url)
    try:
        done = stage_purge_execute(rt, plan_id, s3_client=client)
        checked = stage_purge_verify(rt, plan_id, s3_client=client)
    except (PurgeRefused, PurgeError) as exc:
        console.print(f"[red]purge not done[/red]: {exc}", soft_wrap=True)
        raise typer.Exit(1) from None
    out.print(f"purge {plan_id}: keys {done['keys']}, S3 versions {done['s3']}, local {done['local']}, "
              f"staging {done['staging']}, follow-ups {done['followups']}; verification {checked['result']}",
              soft_wrap=True)


@purge_app.command("certificate")
def purge_certificate(
    plan_id: Annotated[str, typer.Argument(help="An executed and verified plan.")],
    s3: S3Opt = False,
    endpoint_url: EndpointOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the certificate as JSON.")] = False,
) -> None:
    """Issue the destruction certificate of a verified purge (once), or show the one issued."""
    from custody.documents import DocumentError
    from custody.purge.execute import PurgeError
    from custody.purge.guard import PurgeRefused
    from custody.stages.purge import load_certificate, stage_purge_certify

    rt = _runtime()
    try:
        cert = load_certificate(rt, plan_id)
    except DocumentError:
        try:
            stage_purge_certify(rt, plan_id, s3_client=_s3_client(rt, s3, endpoint_url))
        except (PurgeRefused, PurgeError, DocumentError) as exc:
            console.print(f"[red]no certificate[/red]: {exc}", soft_wrap=True)
            raise typer.Exit(1) from None
        cert = load_certificate(rt, plan_id)
    if as_json:
        out.print_json(json.dumps(cert.body(), ensure_ascii=False))
        return
    folder = rt.settings.report_dir / "purge" / plan_id
    out.print(f"certificate {cert.certificate_id} for plan {plan_id} issued {cert.issued_at}: "
              f"{cert.what.get('scope_keys', 0)} scope key(s), {cert.what.get('bytes', 0)} bytes; "
              f"verification {cert.verification.get('result')}; {folder / 'certificate.en.html'}", soft_wrap=True)
