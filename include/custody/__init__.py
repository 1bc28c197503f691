"""Custody: chain of custody for customer personal information, as plain Python.

Extraction, encrypted staging, classification, validation, backup, restore and reporting, with
Custody's own state in the catalog database (``custody.catalog``). Airflow DAGs (``dags/``) call
``custody.stages``; nothing in this package imports Airflow, so it also runs from the ``custody``
command line (``custody.cli``), tests and other schedulers.
"""
