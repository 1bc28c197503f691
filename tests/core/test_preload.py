"""``custody.preload``: after it, the main job's stages import nothing more of Custody's or of the
heavy libraries, and a module that cannot be imported is reported by class, not raised.

The stages run in a fresh interpreter (a worker's state is what is tested): ``preload()``, then
the modules present are noted, then a small CRM source goes through extraction, classification
and validation, backup (local and S3 on the moto server) and the run report: once from SQLite
(the cursor path) and once from PostgreSQL through psycopg 3 (the COPY path).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from custody.preload import TASK_MODULES, preload

ROOT = Path(__file__).resolve().parents[2]

#: Libraries whose import a task must not pay once the worker preloaded (the costly ones).
HEAVY = ("great_expectations", "pandas", "pyarrow", "numpy", "sqlalchemy", "cryptography", "psycopg", "pydantic")

SCRIPT = r"""
import json, os, shutil, sys
from pathlib import Path

from custody.preload import preload

loaded, failed = preload()
before = set(sys.modules)

import boto3
import sqlalchemy as sa

from custody.catalog import migrate
from custody.crypto.open import init_keyring
from custody.demo import generate_crm
from custody.demo.loaders import load_tables
from custody.settings import DEFAULT_CONFIG_DIR
from custody.stages import (Runtime, stage_backup, stage_classify_and_validate, stage_extract,
                            stage_report)

tmp = Path(sys.argv[1])
config = tmp / "config"
config.mkdir()
(config / "sources.yaml").write_text(
    "version: 1\nbackup: {local: true, s3_conn_id: s3}\nsources:\n  - name: crm\n    conn_id: crm\n"
    "    lawful_basis: contract\n    retention_class: customer_contract\n    chunk_rows: 1000\n"
    "    tables:\n      - name: contacts\n        checks:\n          - {column: contact_id, check: unique}\n"
    "          - {column: email, check: email}\n          - {column: mobile, check: cn_mobile}\n",
    encoding="utf-8")
shutil.copy(DEFAULT_CONFIG_DIR / "policy.yaml", config / "policy.yaml")
os.environ.update({"CUSTODY_HOME": str(tmp / "home"), "CUSTODY_CONFIG_DIR": str(config),
                   "CUSTODY_S3_BUCKET": "preload"})
rt = Runtime.from_env()
migrate(sa.create_engine(rt.settings.catalog_url))
init_keyring(rt.settings.keyring)
engine = sa.create_engine(sys.argv[3])
crm = generate_crm(contacts=2000)
load_tables(engine, {"enterprise_customers": crm["enterprise_customers"], "contacts": crm["contacts"]})
s3 = boto3.client("s3", endpoint_url=sys.argv[2], aws_access_key_id="test", aws_secret_access_key="test",
                  region_name="us-east-1")
# Set-up above (the demo's generator, the catalog's migrations, boto3) is not a task's work.
setup = set(sys.modules)

run_key = stage_extract(rt, engine, "crm", "manual__preload")["run_key"]
checked = stage_classify_and_validate(rt, "crm", run_key)
backed = stage_backup(rt, "crm", run_key, s3)
report = stage_report(rt, "crm", run_key, s3)
new = sorted(set(sys.modules) - setup)
from custody.documents import PartDocument
paths = sorted({rt.staging.get(k, PartDocument).path for k in rt.staging.list_keys(f"crm/{run_key}/parts/")
                if k.endswith(".json")})
print(json.dumps({"loaded": loaded, "failed": failed, "new": new, "preloaded": sorted(before), "paths": paths,
                  "valid": checked["valid_rows"], "objects": backed.get("objects"), "report": sorted(report)}))
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def source_url(request, tmp_path):
    """The CRM source: a SQLite file (cursor path) or a PostgreSQL database read through psycopg 3,
    the driver Airflow's hook hands out (the binary COPY path, which imports its own modules)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'crm.sqlite'}", "cursor"
        return
    server = sa.make_url(request.getfixturevalue("pg_server_url"))
    name = f"custody_preload_{os.getpid()}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        from custody.extract import copy_binary

        path = "copy_binary" if copy_binary._copyread is not None else "copy"  # the CRM's types are all plain
        yield server.set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False), path
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


def test_the_main_job_imports_nothing_costly_after_the_preload(tmp_path, moto_s3_endpoint, source_url):
    url, path = source_url
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUSTODY_")}
    env["PYTHONPATH"] = str(ROOT / "include")
    env["CUSTODY_CATALOG_URL"] = f"sqlite:///{tmp_path / 'catalog.db'}"
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path), moto_s3_endpoint, url], env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["paths"] == [path]
    assert res["failed"] == [] and res["loaded"] == list(TASK_MODULES)
    assert res["valid"] > 0 and res["report"]  # the stages did their work
    new, held = res["new"], set(res["preloaded"])
    assert [m for m in new if m == "custody" or m.startswith("custody.")] == []
    # No heavy library is imported afresh (a submodule it loads on first use may still come).
    assert [m for m in new if m in HEAVY] == []
    assert {m for m in HEAVY} <= held
    # GX was among what the worker held before any stage ran.
    assert "great_expectations" in res["preloaded"] and "custody.validation._gx" in res["preloaded"]


def test_a_module_that_fails_to_import_is_reported_by_class_and_skipped(caplog, tmp_path, monkeypatch):
    canary = "CANARY-4f1c-value-must-not-show"
    (tmp_path / "custody_preload_broken.py").write_text(f"raise RuntimeError({canary!r})\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    with caplog.at_level("WARNING", logger="custody.preload"):
        loaded, failed = preload(("json", "custody_preload_broken", "custody.hashing"))
    assert loaded == ["json", "custody.hashing"]
    assert failed == ["custody_preload_broken"]
    assert "RuntimeError" in caplog.text and canary not in caplog.text
    assert "custody_preload_broken" not in sys.modules


@pytest.mark.parametrize("name", TASK_MODULES)
def test_every_listed_module_exists(name):
    import importlib.util

    assert importlib.util.find_spec(name) is not None
