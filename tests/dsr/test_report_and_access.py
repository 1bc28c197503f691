"""The report section of open requests (value-free, days left), and access exports (owner-only,
encrypted, opened with their key only)."""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime, timedelta

import pytest

from custody.audit.entries import Actor
from custody.dsr.access import ExportError, open_export, write_opened
from custody.dsr.execute import execute_access
from custody.dsr.report import requests_section
from custody.dsr.requests import RequestBook, TransitionError
from custody.store import LocalStore
from dsr._runs import subject_of

CLERK = Actor(kind="cli", user="clerk", host="h")
EMAIL = "li.na.canary@example.com"


def test_report_lists_open_requests_with_days_left(scoped, dsr_config):
    url, keyring = scoped
    t0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    book = RequestBook(url, keyring, config=dsr_config)
    a = book.receive("deletion", {"email": EMAIL}, received_at=t0, actor=CLERK)                    # PIPL: 15 days
    b = book.receive("access", {"mobile_phone": "13912345678"}, regime="gdpr", received_at=t0, actor=CLERK)
    c = book.receive("access", {"email": EMAIL}, received_at=t0 - timedelta(days=20), actor=CLERK)  # overdue
    d = book.receive("deletion", {"email": EMAIL}, received_at=t0, actor=CLERK)
    book.reject(d.request_id, "withdrawn")
    book.close(d.request_id)
    section = requests_section(book, now=datetime(2026, 12, 13, 8, 0, tzinfo=UTC))
    got = {o.request_id: (o.state, o.days_left, o.overdue) for o in section.open}
    assert got == {a.request_id: ("received", 3, False), b.request_id: ("received", 19, False),
                   c.request_id: ("received", -17, True)}
    assert [o.request_id for o in section.open] == [c.request_id, a.request_id, b.request_id]  # by due date
    assert (section.overdue, section.due_within_3_days) == (1, 1)
    assert section.by_state["closed"] == 1 and section.by_state["received"] == 3
    text = section.model_dump_json()
    assert EMAIL not in text and "13912345678" not in text
    assert all(tok not in text for tok in a.pseudonyms.values()) and a.audit_subject not in text
    assert "PIPL Art 50" in text


def test_access_export_is_owner_only_encrypted_and_opens_with_its_key(backed_up, tmp_path):
    rt, snapshot, crm, _ = backed_up
    rid, contact_id, accounts = subject_of(crm)
    book = RequestBook(rt.settings.catalog_url, rt.keyring)
    req = book.receive("access", {"resident_id": rid}, actor=CLERK)
    with pytest.raises(TransitionError, match="cannot execute"):
        execute_access(book, req.request_id, LocalStore(rt.settings.backup_dir), [snapshot], tmp_path / "x")
    book.verify(req.request_id, actor=CLERK)
    book.approve(req.request_id, approver="dpo")
    out = execute_access(book, req.request_id, LocalStore(rt.settings.backup_dir), [snapshot], tmp_path / "exports")
    assert book.get(req.request_id).state == "executed"
    assert (out["rows"], out["tables"]) == (1 + len(accounts), 2)
    path = tmp_path / "exports" / f"{req.request_id}.cdyx"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "exports").st_mode) == 0o700
    raw = path.read_bytes()
    assert rid.encode() not in raw and b"contact_id" not in raw  # encrypted
    doc = open_export(path, out["key"])
    contacts = doc["tables"]["crm/contacts"]
    row = dict(zip(contacts["columns"], contacts["rows"][0]))
    assert (row["contact_id"], row["resident_id"]) == (contact_id, rid)
    banks = doc["tables"]["crm/bank_accounts"]
    assert {dict(zip(banks["columns"], r))["account_id"] for r in banks["rows"]} == accounts
    with pytest.raises(ExportError, match="does not open"):
        open_export(path, out["key"][:-2] + ("AA" if out["key"][-2:] != "AA" else "BB"))
    files = write_opened(doc, tmp_path / "opened")
    assert stat.S_IMODE(os.stat(tmp_path / "opened").st_mode) == 0o700
    assert all(stat.S_IMODE(os.stat(f).st_mode) == 0o600 for f in files)
    assert json.loads(open(files[0], encoding="utf-8").read())["columns"]
    # The key is not kept: only its hash is in the audit entry; the identifier is nowhere in the log.
    from custody.audit.log import AuditLog

    with AuditLog(rt.settings.catalog_url) as log:
        entries = b"".join(e.data for e in log.find(actions=["dsr."]))
    assert out["key"].encode() not in entries and out["key_sha256"].encode() in entries
    assert rid.encode() not in entries
