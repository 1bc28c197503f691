"""``custody status`` on a real run: what needs attention, from the catalog, the reports and the
audit log, at 80 columns; an error (failed run, failed drill, broken audit log) exits 1."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from typer.testing import CliRunner

from custody.cli import app

runner = CliRunner()


def _catalog():
    from custody.settings import Settings

    return sa.create_engine(Settings.from_env().catalog_url)


def _drill(started: datetime, passed: bool, drill_id: str) -> None:
    from custody.store.ledger import record_drill

    engine = _catalog()
    try:
        record_drill(engine, {"drill_id": drill_id, "started_at": started.isoformat(), "location": "local:backups",
                              "snapshot_id": "crm/run", "tables": {"contacts": {"rows": 800}}, "rto_s": 4.5,
                              "rpo_s": 60.0, "rto_limit_s": 3600.0, "rpo_limit_s": 86400.0, "passed": passed,
                              "problems": [] if passed else ["restored rows differ"]})
    finally:
        engine.dispose()


def test_status_names_what_needs_attention_and_clears_when_done(env, width80):
    home, _, _, manifest = env
    first = runner.invoke(app, ["status"])
    assert first.exit_code == 0, first.output  # warnings only
    assert "audit log:" in first.output and "entries verify against" in first.output
    assert "never verified" in first.output and "no restore drill has run" in first.output
    assert max(len(line) for line in first.output.splitlines() if "local:" not in line) <= 80

    assert runner.invoke(app, ["verify", "latest", "--source", "crm"]).exit_code == 0
    _drill(datetime.now(UTC) - timedelta(days=5), True, "drill-old")
    second = runner.invoke(app, ["status"])
    assert "never verified" not in second.output and "no restore drill" not in second.output
    assert "restore drill overdue: last 5 days ago" in second.output and second.exit_code == 0

    _drill(datetime.now(UTC), True, "drill-new")
    clear = runner.invoke(app, ["status"])
    assert clear.exit_code == 0 and "nothing needs attention" in clear.output, clear.output

    _drill(datetime.now(UTC) + timedelta(seconds=1), False, "drill-bad")
    failed = runner.invoke(app, ["status"])
    assert failed.exit_code == 1 and "last restore drill drill-bad failed" in failed.output


def test_status_reports_a_failed_run_and_a_tampered_audit_log(env, width80):
    from custody.catalog.schema import audit_entry
    from custody.stages import Runtime, stage_report
    from custody.stages.failures import StageFailure, run_outcome

    _, _, _, manifest = env
    outcome = run_outcome({"extract_part[0]": "failed", "commit_extract": "upstream_failed"},
                          [StageFailure(stage="extract_part", map_index=0, error="OperationalError", transient=True,
                                        message="the source refused the connection")])
    stage_report(Runtime.from_env(), "crm", "manual__failed", outcome=outcome)
    res = runner.invoke(app, ["status"])
    assert res.exit_code == 1, res.output
    assert "last run manual__failed failed in extract_part" in res.output

    engine = _catalog()
    try:
        with engine.begin() as conn:
            conn.execute(sa.update(audit_entry).where(audit_entry.c.seq == 1).values(leaf_hash="0" * 64))
        broken = runner.invoke(app, ["status"])
    finally:
        engine.dispose()
    assert broken.exit_code == 1
    assert "audit log" in broken.output and "does not verify" in broken.output
