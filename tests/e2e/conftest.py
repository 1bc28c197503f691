"""End-to-end fixtures: the variables a task sets stay inside the test that ran the DAG."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _forget_task_context():
    """``dag.test()`` runs tasks in this process, and Airflow exports ``AIRFLOW_CTX_*`` for each
    task: without this, later tests would see an Airflow task as the actor of their audit entries."""
    before = {k: v for k, v in os.environ.items() if k.startswith("AIRFLOW_CTX_")}
    yield
    for key in [k for k in os.environ if k.startswith("AIRFLOW_CTX_")]:
        del os.environ[key]
    os.environ.update(before)
