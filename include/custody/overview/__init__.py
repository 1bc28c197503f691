"""What an operator watches, read from the catalog and the run reports: value-free figures only.

One module per page of the custody console (``plugins/custody_console.py``) and of
``custody status``:

- ``runs``: each source's last runs from their reports (state, failed stages);
- ``backups``: snapshots per store, the last verification per store, restore drills (RTO / RPO);
- ``inventory``: columns by level and PI type, drift history;
- ``sections``: pages of features whose catalog tables may not exist yet (purge queue,
  data-subject requests, milestones): a labelled empty section until they do;
- ``attention``: what needs attention now (failed last runs, overdue verification or drill,
  drift, audit-log integrity), shared by the console's overview and ``custody status``.

Nothing here imports Airflow; the console adds the live DAG-run states from Airflow itself.
"""
