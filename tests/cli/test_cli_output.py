"""What the ``custody`` commands print, through consoles held at 80 columns: ids and figures whole,
plans as tables, sentences instead of dicts, usage errors with exit code 2 and no library URLs,
progress bars on long commands, and the refusal of a restore into a folder that holds files."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console
from typer.testing import CliRunner

from custody.cli import app
from custody.cli.render import number, print_rows

runner = CliRunner()


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def test_render_keeps_a_long_id_and_big_figures_whole_at_80_columns():
    # A run key as the scheduler names it and figures of a large source: a table would need > 80.
    ident = "crm_enterprise/scheduled__2026-12-03T00:00:00.123456+00:00"
    rows = [[ident, "2026-12-03 00:00", number(1234), number(98_765_432_109), number(4_000_321), "1.5 TiB"]]
    console = Console(width=80, record=True, file=io.StringIO(), color_system=None)
    print_rows(console, ["snapshot", "created (UTC)", "tables", "rows", "objects", "size"], rows,
               numeric=("tables", "rows", "objects", "size"))
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    assert ident in text.splitlines()[0]
    for figure in ("1,234", "98,765,432,109", "4,000,321", "1.5 TiB"):
        assert figure in text


def test_render_prints_a_table_when_it_fits():
    console = Console(width=80, record=True, file=io.StringIO(), color_system=None)
    print_rows(console, ["snapshot", "rows"], [["crm/run-1", number(12_345)]], numeric=("rows",))
    lines = _lines(console.export_text())
    assert lines[0].split() == ["snapshot", "rows"]
    assert lines[-1].split() == ["crm/run-1", "12,345"]


def test_snapshots_at_80_columns_shows_every_figure_whole(env, width80):
    _, _, crm, manifest = env
    res = runner.invoke(app, ["snapshots"])
    assert res.exit_code == 0, res.output
    assert max(len(line) for line in res.output.splitlines() if "local:" not in line) <= 80
    assert "crm/manual__cli" in res.output
    rows = sum(t.extracted_rows for t in manifest.tables)
    assert number(rows) in res.output and rows > 999  # a thousands separator, not a cut figure
    assert number(len(manifest.objects())) in res.output


def test_snapshots_lists_nothing_as_a_sentence_for_a_known_source_without_snapshots(env, width80, monkeypatch):
    # "chinook" is configured in sources.yaml but this store has no snapshot of it.
    res = runner.invoke(app, ["snapshots", "--source", "chinook"])
    assert res.exit_code == 0, res.output
    assert "no snapshots in" in res.output and "for chinook" in res.output


@pytest.mark.parametrize("command", [["snapshots"], ["verify", "latest"], ["restore", "latest"],
                                     ["forget", "--keep-last", "1", "--dry-run"]])
def test_an_unknown_source_is_a_usage_error(env, width80, tmp_path, command):
    extra = ["--out", str(tmp_path / "out")] if "restore" in command else []
    res = runner.invoke(app, [*command, "--source", "crmm", *extra])
    assert res.exit_code == 2, res.output
    assert "unknown source 'crmm'" in res.output and "crm" in res.output.split("known sources:")[1]
    assert not (tmp_path / "out").exists()


def test_forget_dry_run_prints_the_plan_as_a_table_and_a_sentence(env, width80):
    res = runner.invoke(app, ["forget", "--keep-last", "1", "--dry-run"])
    assert res.exit_code == 0, res.output
    assert "{" not in res.output and "'plan_id'" not in res.output
    assert re.search(r"crm/manual__cli\S*\s+keep\s+\d{4}-\d\d-\d\d \d\d:\d\d\s+last", res.output), res.output
    assert "dry run: would forget 0 of 1 snapshot(s)" in res.output
    assert "nothing was recorded or deleted" in res.output
    # Sentences naming the store keep its path whole; the plan's table fits the terminal.
    assert max(len(line) for line in res.output.splitlines() if "local:" not in line and "nothing" not in line) <= 80


def test_forget_without_a_rule_is_a_usage_error_without_a_library_url(env, width80):
    res = runner.invoke(app, ["forget", "--dry-run"])
    assert res.exit_code == 2, res.output
    assert "needs at least one keep_* rule" in res.output
    assert "http" not in res.output and "pydantic" not in res.output


def test_console_script_shows_a_stray_validation_error_without_its_url(monkeypatch, capsys):
    from pydantic import BaseModel

    from custody.cli import main

    class Options(BaseModel):
        keep: int

    def invalid():
        Options(keep="many")

    monkeypatch.setattr("custody.cli.app", invalid)
    with pytest.raises(SystemExit) as exited:
        main()
    err = capsys.readouterr().err
    assert exited.value.code == 1
    assert "invalid settings: keep: Input should be a valid integer" in err
    assert "errors.pydantic.dev" not in err and "many" not in err


def test_restore_refuses_a_folder_holding_files_unless_replace(env, tmp_path, width80):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("someone else's file")
    refused = runner.invoke(app, ["restore", "latest", "--source", "crm", "--table", "contracts", "--out", str(out)])
    assert refused.exit_code == 1
    assert "is not empty" in refused.output and "--replace" in refused.output
    assert sorted(p.name for p in out.rglob("*")) == ["notes.txt"]
    allowed = runner.invoke(app, ["restore", "latest", "--source", "crm", "--table", "contracts", "--out", str(out),
                                  "--replace"])
    assert allowed.exit_code == 0, allowed.output
    assert (out / "crm" / "contracts.parquet").is_file() and (out / "notes.txt").read_text() == "someone else's file"
    # An empty folder (or one with empty sub-folders only) is no obstacle.
    empty = tmp_path / "empty"
    (empty / "crm").mkdir(parents=True)
    fresh = runner.invoke(app, ["restore", "latest", "--source", "crm", "--table", "contracts", "--out", str(empty)])
    assert fresh.exit_code == 0, fresh.output


def test_verify_and_restore_show_progress_bars(env, tmp_path, width80):
    _, _, crm, manifest = env
    verified = runner.invoke(app, ["verify", "latest", "--source", "crm"])
    assert verified.exit_code == 0, verified.output
    n = int(re.search(r"json: (\d+) objects, \d+ bytes verified", verified.output)[1])
    assert n > len(manifest.objects())  # the run's objects and the snapshot's documents
    assert re.search(rf"verifying crm/manual__cli\S* .*{n}/{n} objects", verified.output), verified.output
    restored = runner.invoke(app, ["restore", "latest", "--source", "crm", "--table", "contracts",
                                   "--out", str(tmp_path / "r")])
    rows = crm["contracts"].num_rows
    assert restored.exit_code == 0, restored.output
    assert re.search(rf"restoring crm/manual__cli\S* .*{rows}/{rows} rows", restored.output), restored.output


def test_backup_of_a_staged_run_reuses_stored_objects_and_shows_progress(env, width80):
    from custody.audit.log import AuditLog
    from custody.settings import Settings

    _, _, _, manifest = env
    with AuditLog(Settings.from_env().catalog_url) as log:
        before = log.size()
    missing = runner.invoke(app, ["backup", "crm", "manual__nothing"])
    assert missing.exit_code == 1 and "backup failed" in missing.output and "no such document" in missing.output
    res = runner.invoke(app, ["backup", "crm", manifest.run_key])
    assert res.exit_code == 0, res.output
    n = int(re.search(r"(\d+)/(\1) objects", res.output)[1])
    assert n > len(manifest.objects())  # the run's objects and the snapshot's documents
    assert re.search(rf"backing up crm/manual__cli\S* .*{n}/{n} objects", res.output), res.output
    assert re.search(r"OK snapshots/crm/manual__cli\S*\.json in local:", res.output), res.output
    with AuditLog(Settings.from_env().catalog_url) as log:
        actions = [r.action for r in log.rows(start=before)]
    assert actions[:2] == ["backup", "key.backup"]
