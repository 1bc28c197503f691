"""Requests moved through their lifecycle appear in the periodic compliance report with their state,
due date and whether they are overdue, read from the audit entries the lifecycle writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from custody.audit.entries import Actor
from custody.config import SourcesFile
from custody.dsr.requests import RequestBook
from custody.reports.compliance_collect import build_compliance_report, period_for

CLERK = Actor(kind="cli", user="clerk", host="h")
CHECKER = Actor(kind="cli", user="checker", host="h")
SOURCES = SourcesFile.model_validate({"version": 1, "sources": [
    {"name": "crm", "conn_id": "custody_crm", "lawful_basis": "contract", "retention_class": "customer_contract",
     "tables": [{"name": "contacts"}]}]})
INTEGRITY = {"ok": True, "checkpoints": 0, "first_bad_entry": None, "findings": [], "latest_checkpoint": None}


def test_report_shows_each_request_in_its_latest_state_with_its_due_date(scoped, dsr_config):
    url, keyring = scoped
    period = period_for()
    start = datetime.fromisoformat(period.start).replace(tzinfo=UTC)
    # received five days into the period under PIPL (15 days): due twenty days into it
    book = RequestBook(url, keyring, config=dsr_config, clock=lambda: start + timedelta(days=5))
    closed = book.receive("deletion", {"mobile_phone": "13812345678"}, actor=CLERK)
    book.verify(closed.request_id, actor=CLERK)
    book.approve(closed.request_id, approver="dpo", actor=CHECKER)
    book.mark_executed(closed.request_id)
    book.close(closed.request_id)
    pending = book.receive("access", {"email": "someone@example.com"}, regime="gdpr", actor=CLERK)
    book.verify(pending.request_id, actor=CLERK)

    report = build_compliance_report(url, period=period, sources=SOURCES, integrity=INTEGRITY)
    items = {i.request_id: i for i in report.requests.items}
    assert set(items) == {closed.request_id, pending.request_id}
    assert items[closed.request_id].state == "closed" and items[closed.request_id].kind == "deletion"
    assert items[closed.request_id].due == book.get(closed.request_id).due_at.date().isoformat()
    assert items[pending.request_id].state == "verified"
    assert items[pending.request_id].due == book.get(pending.request_id).due_at.date().isoformat()
    assert report.requests.closed == 1 and report.requests.open == 1
    assert items[closed.request_id].overdue is False
