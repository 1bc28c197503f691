"""``plugins/custody_celery.py``: Airflow's Celery configuration plus Custody's modules preloaded by
the worker before its pool forks.

- Imported as Airflow's plugin manager imports every file of the folder, it defines names only:
  no Celery import, no receiver connected, no plugin.
- ``CELERY_CONFIG`` is Airflow's default configuration, the very dict; reading it connects the
  receiver once.
- A worker that cannot import Custody still starts: the failure is logged by class.
- A Celery worker built by Airflow with ``[celery] celery_config_options`` set to it imports
  Custody's task modules (GX among them) and the provider hooks when it initialises, in the worker
  process itself, before any task, and maps the modules to their files for ``inspect`` (Airflow's
  own receiver then freezes them out of the collector's reach): checked in a fresh interpreter through Celery's own
  ``loader.init_worker``, the call a starting ``airflow celery worker`` makes. (The deployment
  test, ``tests/e2e/test_deployment.py``, runs real tasks forked from such workers.)
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytest.importorskip("airflow.providers.celery", reason="apache-airflow-providers-celery is not installed")


def _load_as_plugin():
    """The module loaded the way Airflow's plugin manager loads a plugin file."""
    spec = importlib.util.spec_from_file_location("custody_celery_as_plugin", ROOT / "plugins" / "custody_celery.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_loading_it_as_a_plugin_defines_names_only():
    from airflow.plugins_manager import AirflowPlugin
    from celery.signals import import_modules

    receivers = len(import_modules.receivers)
    mod = _load_as_plugin()
    assert "CELERY_CONFIG" not in vars(mod)  # reached through __getattr__ only
    assert not any(isinstance(v, type) and issubclass(v, AirflowPlugin) for v in vars(mod).values())
    assert len(import_modules.receivers) == receivers
    with pytest.raises(AttributeError):
        mod.NOT_A_SETTING  # noqa: B018


def test_the_config_is_airflows_own_and_reading_it_connects_the_preload_once():
    from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG
    from celery.signals import import_modules

    mod = _load_as_plugin()
    import_modules.disconnect(dispatch_uid="custody-preload")  # whatever an earlier test connected
    before = len(import_modules.receivers)
    try:
        assert mod.CELERY_CONFIG is DEFAULT_CELERY_CONFIG
        assert mod.CELERY_CONFIG is DEFAULT_CELERY_CONFIG
        assert len(import_modules.receivers) == before + 1  # dispatch_uid: connected once
    finally:
        import_modules.disconnect(dispatch_uid="custody-preload")
    assert len(import_modules.receivers) == before
    loaded, failed = mod.preload_worker()
    assert failed == []
    assert "custody.validation._gx" in loaded and "airflow.providers.amazon.aws.hooks.s3" in loaded


def test_a_worker_that_cannot_import_custody_still_starts(monkeypatch, caplog):
    mod = _load_as_plugin()
    monkeypatch.setitem(sys.modules, "custody.preload", None)  # its import now raises ImportError
    with caplog.at_level("WARNING"):
        loaded, failed = mod.preload_worker()
    assert failed == ["custody.preload"]
    assert loaded == []
    assert "ModuleNotFoundError" in caplog.text  # sys.modules[name] = None: an ImportError subclass


WORKER = r"""
import json, sys
from airflow.providers.celery.executors.celery_executor_utils import app
before = {m for m in ("great_expectations", "custody.stages", "psycopg", "airflow.providers.postgres.hooks.postgres")
          if m in sys.modules}
import gc, inspect
mapped_before = len(inspect.modulesbyfile)
app.loader.init_worker()  # what a starting Celery worker does before its pool forks
after = {m for m in ("great_expectations", "custody.stages", "psycopg", "airflow.providers.postgres.hooks.postgres")
         if m in sys.modules}
import custody.stages
from custody.validation import datadocs
cached = len(datadocs._TEMPLATE_CACHE.compiled) if datadocs._TEMPLATE_CACHE is not None else 0
print(json.dumps({"before": sorted(before), "after": sorted(after), "frozen": gc.get_freeze_count(),
                  "templates_cached": cached,
                  "mapped_before": mapped_before,
                  "stages_mapped": inspect.getabsfile(custody.stages) in inspect.modulesbyfile,
                  "modules": len(sys.modules), "mapped": len(set(inspect.modulesbyfile.values()))}))
"""


def test_an_airflow_celery_worker_preloads_custody_when_it_initialises(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUSTODY_")}
    env.update({
        "AIRFLOW_HOME": str(tmp_path),
        "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS": "custody_celery.CELERY_CONFIG",
        "AIRFLOW__CELERY__BROKER_URL": "redis://127.0.0.1:6379/15",  # never contacted: no task is sent
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "PYTHONPATH": os.pathsep.join([str(ROOT / "include"), str(ROOT / "plugins")]),
        "GX_ANALYTICS_ENABLED": "false",
    })
    out = subprocess.run([sys.executable, "-c", WORKER], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["before"] == []
    assert res["after"] == ["airflow.providers.postgres.hooks.postgres", "custody.stages", "great_expectations",
                            "psycopg"]
    # What the tasks inherit: the preloaded objects out of the collector's reach (Airflow's receiver,
    # after Custody's) and inspect's map of modules to files, made by Custody's (Airflow's AWS hooks
    # look their caller up through inspect.stack()).
    assert res["frozen"] > 100_000
    assert res["mapped_before"] == 0 and res["stages_mapped"]
    assert res["mapped"] > 0.5 * res["modules"]
    # GX's Data Docs templates compiled once in the worker, rendered from the cache by its tasks.
    assert res["templates_cached"] > 20
