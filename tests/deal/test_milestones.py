"""Recording milestones: through the trigger form (DAG params, ``dag.test``), the command line, and
each starts its actions; the catalog and the audit log hold each record once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from custody.audit.log import AuditLog
from custody.audit.entries import decode
from custody.catalog.schema import deal_milestone, handover_package
from custody.deal.config import MILESTONES, load_deals
from custody.deal.record import MilestoneError, milestone_id, record_milestone
from custody.handover import verify_package
from deal.conftest import CHANNELS, IDS

ROOT = Path(__file__).resolve().parents[2]
DATES = {"due_diligence": "2026-11-02", "signing": "2026-12-01", "closing": "2027-01-15",
         "post_closing": "2027-02-15"}


def _entries(url: str, action: str) -> list:
    with AuditLog(url) as log:
        return [decode(r.data) for r in log.rows() if r.action == action]


def _rows(url: str, table) -> list:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.select(table)).all()
    finally:
        engine.dispose()


def _check_actions(world, milestone: str, results: dict) -> None:
    """What each milestone's actions leave behind (value-free files, a package that verifies)."""
    if milestone == "due_diligence":
        doc = json.loads(Path(results["inventory_summary"]["path"]).read_text())
        assert doc["format"] == "custody-deal-inventory-summary" and doc["deal"] == "test-deal"
        assert doc["totals"]["pi_types"] == {"email": 1, "mobile_phone": 1, "resident_id": 1}
        assert doc["totals"]["sensitive_columns"] == 1 and doc["sources"][0]["lawful_basis"] == "contract"
        assert doc["totals"]["subjects_by_province"] == {"北京市": 7}
        assert not any(i in json.dumps(doc, ensure_ascii=False) for i in IDS)
        folder = Path(results["inventory_summary"]["path"]).parent
        zh = (folder / "pipia.zh-CN.md").read_text(encoding="utf-8")
        en = (folder / "pipia.en.md").read_text(encoding="utf-8")
        assert "第五十六条" in zh and "居民身份证号（resident_id）：1 个字段" in zh and "初步风险等级：高" in zh
        assert "Preliminary risk level: high" in en and "Transferee: Buyer" in en
        assert "北京市 7 人" in zh and "北京市 7" in en
    elif milestone == "signing":
        folder = Path(results["notification_list"]["path"]).parent
        doc = json.loads((folder / "notification_list.json").read_text())
        assert doc["subjects"] == 7 and doc["by_channel"] == CHANNELS
        assert doc["tables_without_identifier"] == ["enterprise_customers", "contacts"]
        _check_notification_list(world, folder, doc)
    elif milestone == "closing":
        receipt = verify_package(Path(results["handover_package"]["path"]), world.transferee)
        by = {t["table"]: (t["rows"], t["content_hash"]) for t in receipt["tables"]}
        assert len(by) == 3
        assert by == {t.table: (t.extracted_rows, t.content_hash) for t in world.manifest.tables}
    else:
        doc = json.loads(Path(results["retention_rules"]["path"]).read_text())
        assert doc["rules"] == [{"source": "crm", "scope": "crm/customer_contract", "expires_on": "2027-03-17",
                                 "action": "crypto_shred", "approval": "required"}]


def _check_notification_list(world, folder: Path, doc: dict) -> None:
    """The list opens with Custody's key only, holds one pseudonym per person and its channel, and
    neither it nor anything beside it holds an identifier in clear."""
    from custody.crypto import decrypt_bytes, open_keyring
    from custody.crypto.pseudonym import Pseudonymizer
    from custody.staging import parquet_to_table

    blob = (folder / "notification_list.cdy").read_bytes()
    keyring = open_keyring(f"local:{world.home / 'keys' / 'kek.json'}", key_store=world.catalog_url)
    table = parquet_to_table(decrypt_bytes(blob, keyring=keyring, object_id=doc["object"]["object_id"]))
    pseudo = Pseudonymizer.for_deal(keyring, "test-deal")
    channel = dict(zip(table.column("subject").to_pylist(), table.column("channel").to_pylist()))
    assert channel[pseudo.token("resident_id", IDS[0])] == "email"
    assert channel[pseudo.token("resident_id", IDS[2])] == "sms"
    assert channel[pseudo.token("resident_id", IDS[6])] == "announcement"
    written = b"".join(p.read_bytes() for p in folder.iterdir())
    assert not any(i.encode() in written for i in IDS) and b"13800138000" not in written
    assert "告知" in (folder / "notice.zh-CN.md").read_text(encoding="utf-8")
    assert "Recipient: Buyer" in (folder / "notice.en.md").read_text(encoding="utf-8")


def test_record_is_idempotent_and_refuses_unknown_milestones(deal_world):
    deal = load_deals().deal("test-deal")
    first = record_milestone(deal_world.catalog_url, deal, "signing", "2026-12-01", note="board approved", via="cli")
    again = record_milestone(deal_world.catalog_url, deal, "signing", "2026-12-01", via="api")
    assert first.created and not again.created and again.milestone_id == first.milestone_id
    assert first.milestone_id == milestone_id("test-deal", "signing", __import__("datetime").date(2026, 12, 1))
    [entry] = _entries(deal_world.catalog_url, "milestone.record")
    assert entry.subject == {"deal": "test-deal", "milestone_id": first.milestone_id}
    assert entry.details == {"milestone": "signing", "date": "2026-12-01", "via": "cli"}
    assert "board approved" not in entry.encode().decode()  # only the note's hash
    assert len(entry.hashes["note_sha256"]) == 64
    with pytest.raises(MilestoneError, match="unknown milestone"):
        record_milestone(deal_world.catalog_url, deal, "handshake", "2026-12-01")
    with pytest.raises(MilestoneError, match="YYYY-MM-DD"):
        record_milestone(deal_world.catalog_url, deal, "closing", "next week")


def test_each_milestone_from_the_trigger_form_starts_its_actions(deal_world, airflow_env):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert not {k: v for k, v in bag.import_errors.items() if "custody_milestone" in k}
    record_dag = bag.get_dag("custody_milestone")
    params = record_dag.params
    assert params.get_param("milestone").schema["enum"] == list(MILESTONES)
    assert params.get_param("deal").schema["enum"] == ["test-deal"]
    for m in MILESTONES:
        run = record_dag.test(run_conf={"deal": "test-deal", "milestone": m, "date": DATES[m],
                                        "note": "NOTE-CANARY-7731"})
        assert str(run.state).endswith("success"), (m, run.state)
        states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
        assert states[f"announce_{m}"].endswith("success")
        others = [s for t, s in states.items() if t.startswith("announce_") and t != f"announce_{m}"]
        assert len(others) == 3 and all(s.endswith("skipped") for s in others)
        actions = bag.get_dag(f"custody_milestone_{m}").test()
        assert str(actions.state).endswith("success"), (m, actions.state)
    _check_world_after_all(deal_world, via="form")
    # The Asset events the announcements emitted, with ids and dates only.
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        events = session.query(AssetEvent).join(AssetModel, AssetEvent.asset_id == AssetModel.id).filter(
            AssetModel.uri.like("custody://milestone/%")).all()
        extras = [dict(e.extra) for e in events]
    for m in MILESTONES:
        assert any(e.get("milestone") == m and e.get("deal") == "test-deal" and e.get("date") == DATES[m]
                   for e in extras), m
    assert not any("NOTE-CANARY-7731" in json.dumps(e) for e in extras)  # the note is not carried


def _check_world_after_all(world, via: str) -> None:
    rows = _rows(world.catalog_url, deal_milestone)
    assert sorted((r.milestone, r.occurred_on.isoformat(), r.via) for r in rows) == sorted(
        (m, DATES[m], via) for m in MILESTONES)
    recorded = _entries(world.catalog_url, "milestone.record")
    assert sorted(e.details["milestone"] for e in recorded) == sorted(MILESTONES)
    acted = _entries(world.catalog_url, "milestone.action")
    assert sorted(e.details["action"] for e in acted) == ["handover_package", "inventory_summary",
                                                          "notification_list", "pipia_draft", "retention_rules"]
    [package] = _rows(world.catalog_url, handover_package)
    assert package.rows == 47 and package.deal_id == "test-deal"
    [built] = _entries(world.catalog_url, "handover.build")
    assert built.counts == {"tables": 3, "rows": 47, "objects": 4}


def test_each_milestone_from_the_command_line_starts_its_actions(deal_world):
    env = {**os.environ, **deal_world.env(), "COLUMNS": "200",
           "PYTHONPATH": os.pathsep.join([str(ROOT / "include"), os.environ.get("PYTHONPATH", "")])}
    for m in MILESTONES:
        res = subprocess.run([sys.executable, "-m", "custody.cli", "milestone", "record", m, "--deal", "test-deal",
                              "--date", DATES[m], "--note", "by cli"], env=env, capture_output=True, text=True,
                             timeout=300)
        assert res.returncode == 0, res.stderr[-2000:]
        rec = json.loads(res.stdout.splitlines()[0])
        assert rec["milestone"] == m and rec["created"] and rec["via"] == "cli"
        names = [line.split(":")[0] for line in res.stdout.splitlines()[1:]]
        assert names == load_deals().deal("test-deal").actions(m)
    _check_world_after_all(deal_world, via="cli")
    # The actions' outputs, checked like the DAG path's.
    from custody.deal.record import recorded_milestones
    from custody.settings import Settings

    for rec in recorded_milestones(deal_world.catalog_url):
        out = Settings.from_env().home / "deal" / "test-deal" / rec.milestone_id
        if rec.milestone == "due_diligence":
            _check_actions(deal_world, rec.milestone, {"inventory_summary": {"path": out / "inventory_summary.json"}})
        if rec.milestone == "signing":
            _check_actions(deal_world, rec.milestone, {"notification_list": {"path": out / "notification_list.json"}})
        if rec.milestone == "post_closing":
            _check_actions(deal_world, rec.milestone, {"retention_rules": {"path": out / "retention_rules.json"}})
    [folder] = (deal_world.home / "handover").iterdir()
    _check_actions(deal_world, "closing", {"handover_package": {"path": folder}})
