"""Celery configuration for Custody's Airflow workers: Airflow's own, plus Custody's task modules
imported once per worker instead of once per task.

Set ``AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS=custody_celery.CELERY_CONFIG`` on the workers
(``docker-compose.yaml`` and ``make stack`` do); not on Flower, which reads the same option and
would load the modules for nothing (the scheduler needs nothing: the configuration is Airflow's
default dict, unchanged). Reading it connects a receiver to Celery's ``import_modules`` signal,
which a Celery worker sends once at start, before its pool processes fork. The receiver imports
``custody.preload.TASK_MODULES`` and the provider hooks Custody's tasks use, so every task
process, which Airflow forks from the pool process, starts with them. Airflow's own receiver on
the same signal, connected after this one, preloads its operators and then freezes the collector,
so these objects are frozen too. See ``custody.preload`` for what that saves and what it costs.

Not an Airflow plugin, though Airflow's plugin manager imports it with every file of this folder
(which Airflow also puts on ``sys.path``, where the option finds it): at import it only defines
names. Celery's configuration and the signal are reached when ``CELERY_CONFIG`` is first read
(a module ``__getattr__``), which only the Celery app of a worker or of the scheduler does.
"""

from __future__ import annotations

import inspect
import logging
import sys
import time
from typing import Any

log = logging.getLogger(__name__)

#: The provider hooks the DAGs' tasks build (the source engine, the S3 client).
PROVIDER_MODULES = (
    "airflow.providers.postgres.hooks.postgres",
    "airflow.providers.amazon.aws.hooks.s3",
)


def preload_worker(**_: Any) -> tuple[list[str], list[str]]:
    """Import Custody's task modules and the provider hooks (``custody.preload.preload``); returns
    ``(loaded, failed)``.

    Never raises: a worker that cannot import Custody still starts (its tasks then fail with the
    whole error, in their own logs), as it would without this configuration."""
    started = time.perf_counter()
    try:
        from custody.preload import TASK_MODULES, preload
    except Exception as exc:  # noqa: BLE001 - the class only; the tasks raise it in full
        log.warning("preload: custody.preload failed to import (%s); tasks import what they need", type(exc).__name__)
        return [], ["custody.preload"]
    loaded, failed = preload(TASK_MODULES + PROVIDER_MODULES)
    # Airflow's AWS hooks name their caller for the user agent through inspect.stack(), and
    # inspect maps every loaded module to its file the first time it looks one up: with the modules
    # above loaded that first mapping cost each task's first S3 client 0.4-0.5 s (back_up and report,
    # bench/pipeline.py --preload). Made here once, the forked tasks inherit the map.
    inspect.getmodule(sys._getframe())
    # GX compiles its Data Docs templates anew for every page; compiled here into the process's
    # template cache (custody.validation.datadocs), the forked tasks render from it.
    if "custody.validation.datadocs" in sys.modules:
        try:
            sys.modules["custody.validation.datadocs"].warm_templates()
        except Exception as exc:  # noqa: BLE001 - the class only; the task renders without the cache
            log.warning("preload: GX templates not compiled ahead (%s)", type(exc).__name__)
    # Airflow's own receiver on the same signal runs next and freezes everything imported so far
    # (gc.freeze), so the tasks' collections do not walk these modules' objects either.
    log.info("Custody preloaded %d module(s) in %.1f s; %d failed", len(loaded), time.perf_counter() - started,
             len(failed))
    return loaded, failed


def __getattr__(name: str) -> Any:
    """``CELERY_CONFIG``: Airflow's default Celery configuration, unchanged, with ``preload_worker``
    connected to Celery's ``import_modules`` signal."""
    if name != "CELERY_CONFIG":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG
    from celery.signals import import_modules

    import_modules.connect(preload_worker, weak=False, dispatch_uid="custody-preload")
    return DEFAULT_CELERY_CONFIG
