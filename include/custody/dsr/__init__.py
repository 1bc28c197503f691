"""Data-subject requests (PIPL Art 44-47 and 50; GDPR Art 12, 15, 17) and the deletion ledger.

- ``subjects``: a subject named by resident ID, mobile or e-mail, held only as keyed pseudonyms;
- ``requests``: intake, due dates per regime (``include/config/dsr.yaml``), the lifecycle
  received -> verified -> approved -> executed -> closed (plus rejected, extended), each
  transition an audit entry;
- ``ledger``: the deletion ledger (pseudonyms only) and the filter every restore applies;
- ``staging``: removing a subject's rows from the encrypted staging area at once;
- ``access``: a subject's rows exported to an owner-only encrypted file, and opening it;
- ``execute``: carrying out an approved request (deletion or access);
- ``report``: the value-free report section of open requests with days left.

Nothing here stores, logs or raises with an identifier or a row value.
"""
