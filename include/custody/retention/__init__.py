"""Retention policy and purge planning: which data has expired, which is held, what a purge removes.

- ``policy``: the versioned ``retention.yaml`` model (rules per source x data category x lawful
  basis, periods counted from extraction, a deal milestone or a date column; legal holds; records
  exempt from purging) and its loader.
- ``planning``: the pure planning function (policy, clock, milestones, inventory -> plan).

Executing a plan (keys, stores, staging) is ``custody.purge``.
"""
