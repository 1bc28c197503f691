"""What Custody's tasks import, loaded once by a long-lived worker before it forks them.

Airflow 3 runs each task in a process forked from the worker (the Task SDK's supervisor forks on
Linux), so whatever the worker process has imported, every task it runs has for free; Airflow's
Celery worker already preloads Airflow's own operators that way (on Celery's ``import_modules``
signal). A Custody task otherwise imports its stage's modules itself, inside its callable: about
2.7 s of CPU for all of them on the benchmark machine, GX's import (about 1.7 s) the largest,
paid again by every task (``bench/pipeline.py --preload`` measures a stage both ways).

``TASK_MODULES`` lists the modules the main job's stages (extraction, classification and
validation, backup, report) import; ``tests/core/test_preload.py`` runs those stages after
``preload()`` on a SQLite source and on a PostgreSQL one (the COPY path) and checks that they
import no further module of Custody's, nor one of the heavy libraries it uses.
``plugins/custody_celery.py`` calls ``preload`` in Celery workers (``[celery]
celery_config_options``, which ``docker-compose.yaml`` and ``make stack`` set on the workers).

The cost: the worker holds these modules (about 150 MiB), shared copy-on-write with the tasks it
forks; each task's RSS counts those pages although no task has its own copy of them. None of the
modules opens a file or a connection or starts a Python thread at import; Arrow's allocator
(jemalloc) starts a native background thread, which registers fork handlers, as Airflow's own
preloaded numpy does for OpenBLAS's.
This module imports nothing itself until ``preload`` is called.
"""

from __future__ import annotations

import importlib
import logging

log = logging.getLogger(__name__)

#: The main job's stages and what they import (Custody's modules, then the libraries they load
#: lazily: the COPY path's driver, Arrow's CSV and Parquet readers, GX).
TASK_MODULES: tuple[str, ...] = (
    "custody.stages",
    "custody.extract",
    "custody.extract.copy_session",
    "custody.extract.copy_native",
    "custody.extract.copy_binary",
    "custody.classification",
    "custody.classification.names",
    "custody.identifiers",
    "custody.identifiers._columns",
    "custody.validation",
    "custody.validation._gx",
    "custody.validation.checks",
    "custody.validation.expectations",
    "custody.catalog",
    "custody.audit.log",
    "custody.audit.checkpoints",
    "custody.audit.verify",
    "custody.crypto.keystore",
    "custody.purge.report",
    "custody.reports",
    "custody.store",
    "psycopg",
    "pyarrow.csv",
    "pyarrow.dataset",
    "pyarrow.parquet",
    "phonenumbers",
    "email_validator",
    "great_expectations.render.renderer.site_builder",
)


def preload(modules: tuple[str, ...] = TASK_MODULES) -> tuple[list[str], list[str]]:
    """Import ``modules``; returns ``(loaded, failed)`` names.

    A module that fails to import is logged with its exception's class and skipped: the task
    that needs it imports it again and fails there, in its own log, with the whole error.
    """
    loaded, failed = [], []
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - reported; the task importing it raises it in full
            log.warning("preload: %s failed to import (%s); tasks import it themselves", name, type(exc).__name__)
            failed.append(name)
        else:
            loaded.append(name)
    return loaded, failed
