"""The deal and its milestones: configuration, recording, and the actions each milestone starts.

- ``config``: ``include/config/deal.yaml`` (deal id, transferor, transferee with the public key
  the handover package is encrypted to, the four milestones with date and actions), validated by
  pydantic on load;
- ``record``: ``record_milestone`` stores a milestone in the catalog (``deal_milestone``) and the
  audit log (``milestone.record``), once per deal, milestone and date, whichever way it came (the
  Airflow trigger form, the REST API, the command line);
- ``actions``: ``run_milestone_actions`` runs the configured actions of a recorded milestone
  (closing: the handover package; post-closing: the retention rules that make the transferor's
  copies expire, for the purge DAG; due diligence: the value-free inventory summary).

PIPL Art 22 (transfer by merger, division, dissolution or sale); GDPR Art 6(1)(f), Art 13-14.
"""
