"""Helpers of the data-subject request tests: the demo source definition and picking a subject."""

from __future__ import annotations

from custody.identifiers import resident_id

SOURCES = """version: 1
backup: {local: true, s3_conn_id: null}
sources:
  - name: crm
    conn_id: crm
    lawful_basis: contract
    retention_class: customer_contract
    chunk_rows: 150
    max_failing_share: 0.5
    tables:
      - name: enterprise_customers
      - name: contacts
        row_keys: true
        checks:
          - {column: contact_id, check: unique}
      - name: bank_accounts
      - name: contracts
"""


def subject_of(crm) -> tuple[str, int, set[int]]:
    """A contact with a valid resident ID and at least one bank account: (ID, contact_id, account ids)."""
    contacts, accounts = crm["contacts"].to_pylist(), crm["bank_accounts"].to_pylist()
    for c in contacts:
        mine = {a["account_id"] for a in accounts if a["contact_id"] == c["contact_id"]}
        same = [o for o in contacts if resident_id.canonical(o["resident_id"] or "") ==
                resident_id.canonical(c["resident_id"] or "")]
        if mine and resident_id.is_valid(c["resident_id"]) and len(same) == 1:
            return c["resident_id"], c["contact_id"], mine
    raise AssertionError("no suitable subject in the demo data")
