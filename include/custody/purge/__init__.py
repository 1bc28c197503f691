"""Purging expired data: inventory, the guard on a human approval, execution, verification, certificate.

- ``inventory``: every staging object, snapshot document and object, S3 object version and
  delete marker, and scope key, as value-free ``InventoryItem`` records for the planner
  (``custody.retention.planning``), with one object header per scope to probe after shredding.
- ``guard``: re-reads a human answer before anything is destroyed (a human answered, an
  approver, not the requester, the plan hash unchanged, Airflow not running everyone as admin).
- ``execute``: the fixed order (scope keys, S3 versions and delete markers, the local store,
  staging) and verification (data keys no longer open, listings empty).
- ``certificate``: the destruction certificate (JSON, HTML in English and Chinese).
"""
