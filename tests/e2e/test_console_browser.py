"""The custody console in a real browser: headless Chromium (the distribution's package, driven by
Selenium) against a real Airflow (scheduler, DAG processor, API server) after a real crm run, a
restore drill into a scratch PostgreSQL database (what ``make up`` offers), and with one approval
waiting. Logs in through the simple auth manager's form, opens every console
page, checks the figures against the catalog, follows the approval link into Airflow's UI, and
writes a screenshot of each page under ``var/screenshots/`` (not committed)."""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from conftest import _unavailable

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "var" / "screenshots"
USER, PASSWORD = "operator", "console-test-password"

APPROVAL_DAG = '''
from datetime import datetime, timezone

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import dag


@dag(dag_id="custody_approval_crm", schedule=None, start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
     catchup=False, tags=["custody"])
def custody_approval_crm():
    ApprovalOperator(task_id="approve_purge", subject="Approve the purge plan")


custody_approval_crm()
'''


def _chromium() -> tuple[str, str]:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not browser or not driver:
        _unavailable("Chromium or chromedriver not found (apt-get install chromium chromium-driver)")
    return browser, driver


def _driver(browser: str, driver: str):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1000"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(driver), options=options)


def _world(tmp_path: Path, new_catalog, new_keyring) -> tuple[dict[str, str], object]:
    from custody.demo import generate_crm
    from custody.demo.loaders import load_tables
    from custody.settings import DEFAULT_CONFIG_DIR, Settings

    config, home = tmp_path / "config", tmp_path / "custody"
    config.mkdir(parents=True)
    shutil.copy(DEFAULT_CONFIG_DIR / "policy.yaml", config / "policy.yaml")
    crm = generate_crm(contacts=200)
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'crm.sqlite'}")
    load_tables(engine, crm)
    engine.dispose()
    (config / "sources.yaml").write_text(json.dumps({
        "version": 1, "backup": {"local": True, "s3_conn_id": None},
        "sources": [{"name": "crm", "conn_id": "custody_crm", "lawful_basis": "contract",
                     "retention_class": "customer_contract", "tables": [{"name": t} for t in crm]}]}))
    env = {"CUSTODY_HOME": str(home), "CUSTODY_CONFIG_DIR": str(config),
           "AIRFLOW_CONN_CUSTODY_CRM": json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "crm.sqlite")})}
    settings = Settings.from_env(env)
    new_catalog(settings.home / "catalog.db")
    new_keyring(settings.keyring)
    return env, settings


def _wait_for_run(af, dag_id: str, timeout: float) -> str:
    def state():
        rows = af._query("SELECT state FROM dag_run WHERE dag_id = :d", d=dag_id)
        return rows[0][0] if rows and rows[0][0] in ("success", "failed") else None

    af._wait(f"the {dag_id} run", state, time.monotonic() + timeout)
    return state()


@pytest.mark.slow
def test_console_pages_in_chromium_after_a_real_run(tmp_path, new_catalog, new_keyring, pg_server_url):
    from e2e._scheduler import AirflowServices
    from custody.demo.loaders import drop_database, ensure_database

    browser, driver_path = _chromium()
    env, settings = _world(tmp_path / "world", new_catalog, new_keyring)
    drill_db = sa.make_url(ensure_database(pg_server_url, f"custody_console_drill_{os.getpid()}"))
    env["AIRFLOW_CONN_CUSTODY_DRILL"] = json.dumps({"conn_type": "postgres", "host": drill_db.host,
                                                    "port": drill_db.port, "login": drill_db.username,
                                                    "schema": drill_db.database})
    af = AirflowServices(tmp_path / "airflow", pg_server_url, dags=ROOT / "dags", plugins=ROOT / "plugins",
                         env=env, pools=["custody_crm"])
    (af.home / "dags" / "custody_approval_crm.py").write_text(APPROVAL_DAG)
    # The drill as shipped, triggered by hand here instead of at 03:00 (a schedule would start a
    # run of its own as soon as the file is parsed).
    drill = (ROOT / "dags" / "custody_restore_drill.py").read_text()
    assert 'schedule="0 3 * * *"' in drill
    (af.home / "dags" / "custody_restore_drill.py").write_text(drill.replace('schedule="0 3 * * *"', "schedule=None"))
    passwords = af.home / "passwords.json"
    passwords.write_text(json.dumps({USER: PASSWORD}))
    af.env.update({"AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
                   "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
                   "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords)})
    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        _in_airflow(af, settings, browser, driver_path)
    finally:
        drop_database(pg_server_url, drill_db.database)
    assert len(list(SHOTS.glob("console-*.png"))) >= 9


def _in_airflow(af, settings, browser: str, driver_path: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    from custody.audit.log import AuditLog
    from custody.catalog.schema import inventory_column, restore_drill
    from custody.store import LocalStore, list_snapshots

    with af:
        af.run(["custody_pipeline_crm"], timeout=600)
        assert af.states() == {"custody_pipeline_crm": "success"}
        af._wait("parsing the drill DAG", lambda: af._query(
            "SELECT 1 FROM serialized_dag WHERE dag_id = 'custody_restore_drill'"), time.monotonic() + 120)
        af._cli("dags", "trigger", "custody_restore_drill", "--conf",
                json.dumps({"store": "local", "source": "crm", "sample": 1.0}))
        assert _wait_for_run(af, "custody_restore_drill", 300) == "success"
        af._wait("parsing the approval DAG", lambda: af._query(
            "SELECT 1 FROM serialized_dag WHERE dag_id = 'custody_approval_crm'"), time.monotonic() + 120)
        af._cli("dags", "trigger", "custody_approval_crm")
        af._wait("the approval request", lambda: af._query("SELECT 1 FROM hitl_detail"), time.monotonic() + 180)
        (run_id,), = af._query("SELECT run_id FROM dag_run WHERE dag_id = 'custody_pipeline_crm'")
        base = f"http://127.0.0.1:{af.port}"
        web = _driver(browser, driver_path)
        try:
            wait = WebDriverWait(web, 60)
            web.get(f"{base}/auth/login")
            wait.until(ec.presence_of_element_located((By.NAME, "username"))).send_keys(USER)
            web.find_element(By.NAME, "password").send_keys(PASSWORD, Keys.ENTER)
            wait.until(lambda d: d.get_cookie("_token"))

            def page(path: str, shot: str) -> str:
                web.get(f"{base}/custody/{path}")
                wait.until(ec.presence_of_element_located((By.TAG_NAME, "h1")))
                web.save_screenshot(str(SHOTS / f"console-{shot}.png"))
                return web.page_source

            overview = page("", "overview")
            assert f'data-run-id="{run_id}" data-state="success"' in overview
            with AuditLog(settings.catalog_url) as log:
                entries = log.size()
            text = web.find_element(By.ID, "audit-entries").text
            assert int(text.replace(",", "")) == entries and entries > 0
            assert "approve_purge" in web.find_element(By.ID, "approvals").text

            inventory = page("inventory", "inventory")
            engine = sa.create_engine(settings.catalog_url)
            try:
                with engine.connect() as conn:
                    counts = conn.execute(sa.select(inventory_column.c.level, inventory_column.c.pi_type,
                                                    sa.func.count()).group_by(inventory_column.c.level,
                                                                              inventory_column.c.pi_type)).all()
            finally:
                engine.dispose()
            assert counts
            for level, pi_type, n in counts:
                cell = web.find_element(By.CSS_SELECTOR, f'td[data-level="{level}"][data-pi-type="{pi_type or "-"}"]')
                assert cell.text == f"{n:,}"
            assert "(baseline)" in inventory

            backups = page("backups", "backups")
            (key,) = list_snapshots(LocalStore(settings.backup_dir), "crm")
            assert key in backups
            engine = sa.create_engine(settings.catalog_url)
            try:
                with engine.connect() as conn:
                    (drill,) = conn.execute(sa.select(restore_drill)).mappings().all()
            finally:
                engine.dispose()
            assert drill["passed"]
            row = web.find_element(By.ID, "drills").text
            assert drill["drill_id"] in row and f"{drill['rto_s']:,.1f} ({drill['rto_limit_s']:,.1f})" in row
            assert "passed" in web.find_element(By.CSS_SELECTOR, ".last-verify").text
            shown = {section: page(section, section) for section in ("purge", "requests", "milestones")}
            assert not any("not available yet" in text for text in shown.values())  # every feature is here
            for section, column in (("purge", "certificate_id"), ("requests", "due_at"), ("milestones", "reached_at")):
                assert column in shown[section], section  # the page's own columns, ready for rows
            reports = page("reports", "reports")
            assert "crm" in reports and "OK" in reports
            run_page = page(f"runs/custody_pipeline_crm/{run_id}", "run")
            assert re.search(r'Airflow state: <span class="success">success', run_page)

            # Follow the approval link into Airflow's own page for answering it.
            page("", "overview-again")
            link = web.find_element(By.CSS_SELECTOR, "#approvals a.approval")
            link.click()
            wait.until(lambda d: d.current_url.endswith("/required_actions"))
            assert "/dags/custody_approval_crm/runs/" in web.current_url and "/tasks/approve_purge/" in web.current_url
            time.sleep(2)  # let the UI render before the screenshot
            web.save_screenshot(str(SHOTS / "console-approval.png"))
        finally:
            web.quit()
