"""Report commands: ``custody report compliance``, the periodic compliance report on demand.

The report (JSON, HTML and PDF in English and Chinese) goes to
``$CUSTODY_HOME/reports/compliance/<YYYY-MM>/``. ``--schema PATH`` writes the report's JSON
Schema instead (the copy kept in ``docs/compliance-report.schema.json``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from custody.cli.app import app
from custody.cli.common import EndpointOpt, console, out

report_app = typer.Typer(no_args_is_help=True, help="Reports: the periodic compliance report.")
app.add_typer(report_app, name="report")


@report_app.command("compliance")
def report_compliance(
    period: Annotated[str | None, typer.Option(help="Month reported, YYYY-MM (default: the current month).")] = None,
    verify: Annotated[bool, typer.Option(help="Checkpoint and verify the audit log for the report.")] = True,
    s3: Annotated[bool, typer.Option("--s3", help="Also write the checkpoint to the S3 store.")] = False,
    endpoint_url: EndpointOpt = None,
    schema: Annotated[Path | None, typer.Option("--schema", help="Only write the report's JSON Schema here.")] = None,
) -> None:
    """Build the compliance report of one month from the catalog and the audit log.

    Exits 1 when the audit log fails verification (the report is written and says why); a PDF
    that cannot be written (font or fpdf2 missing) is named, and the JSON and HTML still come out.
    """
    if schema is not None:
        from custody.reports.compliance import json_schema

        schema.write_text(json.dumps(json_schema(), indent=1, ensure_ascii=False, sort_keys=True) + "\n",
                          encoding="utf-8")
        out.print(f"JSON Schema written to {schema}")
        return
    from custody.stages.compliance import stage_compliance_report
    from custody.stages.runtime import Runtime

    rt = Runtime.from_env()
    client = None
    if s3:
        from custody.store.backends import S3StoreOptions, make_s3_client

        client = make_s3_client(S3StoreOptions(bucket=rt.settings.s3_bucket, prefix=rt.settings.s3_prefix,
                                               endpoint_url=endpoint_url))
    try:
        result = stage_compliance_report(rt, period, client, verify=verify)
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    out.print(f"compliance report {result['period']}: {result['folder']}")
    for name in result["files"]:
        out.print(f"  {name}")
    if result["pdf_missing"]:
        console.print(f"[yellow]PDF not written[/yellow]: {result['pdf_missing']}")
    if result["audit_ok"] is False:
        console.print("[red]the audit log FAILED verification[/red]: see the report's audit-log section")
        raise typer.Exit(1)
