"""The incident drill: a scope key revoked, that scope unreadable and the others readable, access
restored (re-enable, and rotate), both notification drafts in both languages, no personal value
in anything the incident wrote, every step audited."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
import sqlalchemy as sa
from stdnum.cn import ric

from custody.audit.entries import decode
from custody.audit.log import AuditLog
from custody.catalog.schema import incident as incident_table
from custody.catalog.schema import inventory_column
from custody.crypto import ScopeRevokedError, open_keyring
from custody.crypto.revocation import scope_keys
from custody.incident.response import IncidentError, assess, close_incident, contain, draft, open_incident, way_back
from custody.restore import restore_table
from custody.staging import StagingStore
from custody.store import LocalStore, create_snapshot
from store._runs import stage_run

ROOT = Path(__file__).resolve().parents[2]
# Resident IDs with valid check digits: Beijing (1101..), Guangdong (4403..), one canary among them.
IDS = [f"11010519491231{n:03d}" for n in range(1, 7)] + [f"44030519900101{n:03d}" for n in range(1, 4)]
IDS = [i + ric.calc_check_digit(i) for i in IDS]
CANARY = IDS[4]


@pytest.fixture
def world(tmp_path, new_catalog, monkeypatch):
    from custody.crypto import init_keyring

    home = tmp_path / "home"
    url = new_catalog(home / "catalog.db")
    spec = f"local:{home / 'keys' / 'kek.json'}"
    init_keyring(spec, key_store=url)
    keyring = open_keyring(spec, key_store=url)
    staging = StagingStore(home / "staging", keyring)
    store = LocalStore(home / "backups")
    people = pa.table({"person_id": pa.array(range(len(IDS) + 1), pa.int64()),
                       "resident_id": pa.array([*IDS, IDS[0]], pa.string())})  # one person twice
    crm = stage_run(staging, source="crm", run_key="r1", tables={"contacts": [30]}, extra={"people": people})
    shop = stage_run(staging, source="shop", run_key="r1", tables={"orders": [25]})
    for m in (crm, shop):
        create_snapshot([store], staging, m, None, keyring)
    now = datetime.now(UTC)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for table, column, pi_type, level in [("people", "resident_id", "resident_id", "sensitive"),
                                              ("contacts", "name", "person_name", "internal"),
                                              ("orders", "name", "person_name", "internal")]:
            conn.execute(sa.insert(inventory_column).values(
                source="shop" if table == "orders" else "crm", table_name=table, column_name=column, pi_type=pi_type,
                level=level, confidence=0.99, evidence="{}", policy_version="test", first_seen=now, last_seen=now,
                last_run_key="r1"))
    engine.dispose()
    env = {"CUSTODY_HOME": str(home), "CUSTODY_CATALOG_URL": url, "CUSTODY_KEYRING": spec,
           "CUSTODY_CONFIG_DIR": str(ROOT / "include" / "config")}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return {"home": home, "url": url, "keyring": keyring, "store": store, "env": env, "spec": spec}


def _readable(world, source: str, table: str) -> int:
    # A fresh keyring: another process, no cached key.
    keyring = open_keyring(world["spec"], key_store=world["url"])
    return restore_table(world["store"], f"snapshots/{source}/r1.json", table, keyring).num_rows


def _all_bytes(*roots: Path) -> bytes:
    return b"\n".join(p.read_bytes() for root in roots for p in root.rglob("*") if p.is_file())


def test_incident_drill_revokes_restores_and_drafts(world):
    url, home, keyring, store = world["url"], world["home"], world["keyring"], world["store"]
    detected = datetime.now(UTC) - timedelta(hours=5)
    inc = open_incident(url, "drill", ["crm/customer_contract"], detected_at=detected)
    assert datetime.fromisoformat(inc.notify_by) - datetime.fromisoformat(inc.detected_at) == timedelta(hours=72)
    affected = assess(url, home, inc.incident_id, store=store, keyring=keyring)
    doc = json.loads(Path(affected["path"]).read_text())
    [scope] = doc["scopes"]
    assert scope["subjects"] == len(IDS) and scope["subjects_by_region"] == {"北京市": 6, "广东省": 3}
    assert scope["pi_types"] == {"person_name": 1, "resident_id": 1} and scope["rows"] == 40

    # Contain: the crm scope is unreadable (in a fresh process too), shop is untouched.
    contained = contain(url, inc.incident_id, keyring)
    assert list(contained["revoked"]) == ["crm/customer_contract"] and contained["revoked"]["crm/customer_contract"]
    assert set(scope_keys(keyring, "crm/customer_contract").values()) == {"revoked"}
    with pytest.raises(ScopeRevokedError, match="scope 'crm/customer_contract' is revoked"):
        _readable(world, "crm", "contacts")
    with pytest.raises(ScopeRevokedError):
        restore_table(store, "snapshots/crm/r1.json", "people", keyring)  # the same process: no cached key
    assert _readable(world, "shop", "orders") == 25

    drafts = draft(url, home, inc.incident_id)
    assert set(drafts) == {"pipl_art57.zh-CN", "pipl_art57.en", "gdpr_art33.zh-CN", "gdpr_art33.en"}
    zh = Path(drafts["pipl_art57.zh-CN"]["path"]).read_text(encoding="utf-8")
    en = Path(drafts["gdpr_art33.en"]["path"]).read_text(encoding="utf-8")
    assert "第五十七条" in zh and "居民身份证号（resident_id）：1 个字段" in zh and "北京市：6 人" in zh
    assert inc.notify_by in zh and inc.notify_by in en and "Approximate number of data subjects: 9" in en
    assert "hours left" in en and "crm/customer_contract" in en

    # The way back: re-enable, readable again.
    back = way_back(url, inc.incident_id, keyring, how="reenable")
    assert back["enabled"]["crm/customer_contract"] == contained["revoked"]["crm/customer_contract"]
    assert _readable(world, "crm", "contacts") == 30 and _readable(world, "shop", "orders") == 25
    closed = close_incident(url, inc.incident_id, resolution="reenable")
    assert closed.state == "closed"
    with pytest.raises(IncidentError, match="closed"):
        contain(url, inc.incident_id, keyring)

    # Every step audited, in order, and nothing the incident wrote holds a personal value.
    with AuditLog(url) as log:
        entries = [decode(r.data) for r in log.rows()]
    steps = [(e.action, e.subject.get("report")) for e in entries if e.subject.get("incident_id") == inc.incident_id]
    assert steps == [("incident.open", None), ("report", "incident/affected"), ("key.revoke", None),
                     ("report", "incident/notification-drafts"), ("key.reenable", None), ("incident.close", None)]
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        catalog_text = "\n".join(str(tuple(r)) for r in conn.execute(sa.select(incident_table)))
        audit_text = "\n".join(str(r) for r in conn.exec_driver_sql("SELECT entry FROM audit_entry"))
    engine.dispose()
    written = _all_bytes(home / "incidents")
    for canary in (CANARY, CANARY[:17], IDS[0]):
        assert canary.encode() not in written and canary not in catalog_text and canary not in audit_text


def test_rotate_way_back_and_the_command_line(world):
    env = {**os.environ, **world["env"], "COLUMNS": "200",
           "PYTHONPATH": os.pathsep.join([str(ROOT / "include"), os.environ.get("PYTHONPATH", "")])}

    def cli(*args: str) -> subprocess.CompletedProcess:
        res = subprocess.run([sys.executable, "-m", "custody.cli", *args], env=env, capture_output=True, text=True,
                             timeout=300)
        assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
        return res

    opened = json.loads(cli("incident", "open", "--scope", "shop/customer_contract", "--kind", "key_exposure").stdout)
    assert list(opened["revoked"]) == ["shop/customer_contract"]
    assert sorted(Path(p).name for p in opened["drafts"].values()) == [
        "gdpr_art33.en.md", "gdpr_art33.zh-CN.md", "pipl_art57.en.md", "pipl_art57.zh-CN.md"]
    with pytest.raises(ScopeRevokedError):
        _readable(world, "shop", "orders")
    assert _readable(world, "crm", "contacts") == 30
    kek_before = json.loads((world["home"] / "keys" / "kek.json").read_text())["active"]
    back = json.loads(cli("incident", "restore", opened["incident_id"], "--how", "rotate").stdout)
    assert back["rotation"]["kek_id"] != kek_before and kek_before in back["rotation"]["retired_kek_ids"]
    assert _readable(world, "shop", "orders") == 25 and _readable(world, "crm", "people") == 10
    shown = json.loads(cli("incident", "close", opened["incident_id"], "--resolution", "rotate").stdout)
    assert shown["state"] == "closed" and shown["resolution"] == "rotate"
    with AuditLog(world["url"]) as log:
        actions = [decode(r.data).action for r in log.rows()]
    assert actions.count("key.rotate") == 1 and actions.count("incident.close") == 1


def test_incident_dag_contains_and_drafts_then_waits_for_a_person(world, airflow_env):
    """The DAG's steps up to the human decision, with ``dag.test``; the way back is a person's answer
    (human-in-the-loop, no default), so the drill restores through the same core function."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags" / "custody_incident.py"))
    assert bag.import_errors == {}
    dag = bag.get_dag("custody_incident")
    choose = dag.get_task("choose_way_back")
    assert not choose.defaults and set(choose.options_mapping.values()) == {"reenable", "rotate", "keep_revoked"}
    assert {t.task_id for t in choose.downstream_list} == {"reenable", "rotate", "keep_revoked"}
    first = dag.partial_subset(task_ids=["draft_notifications"], include_upstream=True, include_downstream=False)
    run = first.test(run_conf={"scopes": ["crm/customer_contract"], "kind": "drill",
                               "detected_at": "2026-12-03T08:00:00+00:00"})
    assert str(run.state).endswith("success"), run.state
    engine = sa.create_engine(world["url"])
    with engine.connect() as conn:
        [row] = conn.execute(sa.select(incident_table)).all()
    engine.dispose()
    assert row.state == "contained" and json.loads(row.scopes) == ["crm/customer_contract"]
    with pytest.raises(ScopeRevokedError):
        _readable(world, "crm", "contacts")
    assert _readable(world, "shop", "orders") == 25
    folder = world["home"] / "incidents" / row.incident_id
    assert sorted(p.name for p in folder.iterdir()) == ["affected.json", "gdpr_art33.en.md", "gdpr_art33.zh-CN.md",
                                                         "pipl_art57.en.md", "pipl_art57.zh-CN.md"]
    assert "2026-12-06T08:00:00+00:00" in (folder / "pipl_art57.zh-CN.md").read_text(encoding="utf-8")
    way_back(world["url"], row.incident_id, world["keyring"], how="reenable")
    assert _readable(world, "crm", "contacts") == 30
