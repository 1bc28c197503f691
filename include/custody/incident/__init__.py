"""Incident response: contain reversibly, assess, notify within 72 hours, and find the way back.

- ``response``: the incident's life cycle in the catalog (``incident``) and the audit log:
  ``open_incident`` (``incident.open``, the 72-hour clock of GDPR Art 33(1)), ``contain``
  (reversible revocation of the affected scope keys, and KMS ``DisableKey`` when the KEK is in
  KMS: ``key.revoke``), ``way_back`` (re-enable, or re-enable and rotate the KEK: ``key.reenable``,
  ``key.rotate``) and ``close_incident`` (``incident.close``). Destruction is never a step here:
  it goes through the purge path, after approval;
- ``affected``: the affected inventory (scopes, tables and rows, PI types and levels, data
  subjects by region from the resident-ID address code), counts only;
- ``drafts``: the PIPL Art 57 and GDPR Art 33 notification drafts, in Chinese and English, with
  the deadline, from the incident and the affected inventory (Jinja2 templates in ``templates/``).
"""
