"""Data-subject requests: enforced lifecycle, one audit entry per transition, due dates per regime,
and no identifier anywhere in the catalog (canary search over every table)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from custody.audit.entries import Actor, decode
from custody.audit.log import AuditLog
from custody.catalog.schema import metadata
from custody.dsr.requests import (
    RequestBook,
    TransitionError,
    due_date,
    extended_due,
)
from custody.dsr.subjects import SubjectError

RID = "11010519491231002X"
MOBILE = "138 1234 5678"
EMAIL = "Zhang.Wei.Canary@example.com"
CLERK = Actor(kind="cli", user="clerk", host="h")
CHECKER = Actor(kind="cli", user="checker", host="h")


@pytest.fixture
def book(scoped, dsr_config):
    url, keyring = scoped
    return RequestBook(url, keyring, config=dsr_config)


def _entries(url: str, request_id: str) -> list:
    log = AuditLog(url)
    found = [decode(e.data) for e in log.find(actions=["dsr.transition"])]
    log.dispose()
    return [e for e in found if e.subject.get("request_id") == request_id]


def test_full_lifecycle_is_audited_at_every_step(book, scoped):
    url, _ = scoped
    req = book.receive("deletion", {"resident_id": RID, "mobile_phone": MOBILE}, actor=CLERK)
    assert req.state == "received" and set(req.pseudonyms) == {"resident_id", "mobile_phone"}
    assert all(len(t) == 32 and int(t, 16) >= 0 for t in req.pseudonyms.values())
    book.verify(req.request_id, actor=CLERK)
    book.approve(req.request_id, approver="dpo", actor=CHECKER)
    book.mark_executed(req.request_id, counts={"rows_erased": 3})
    final = book.close(req.request_id)
    assert final.state == "closed" and final.approved_by == "dpo" and final.verified_by == "clerk"
    entries = _entries(url, req.request_id)
    assert [(e.details["from"], e.details["to"]) for e in entries] == [
        ("none", "received"), ("received", "verified"), ("verified", "approved"),
        ("approved", "executed"), ("executed", "closed")]
    assert {e.data_subject for e in entries} == {req.audit_subject}
    assert entries[3].counts == {"rows_erased": 3} and entries[2].details["approver"] == "dpo"


@pytest.mark.parametrize("moves, refused", [
    ([], "approve"),                          # received -> approved skips verification
    ([], "execute"),
    ([], "close"),
    (["verify"], "execute"),                  # verified -> executed skips approval
    (["verify"], "verify"),
    (["reject"], "approve"),                  # rejected is final but for close
    (["reject"], "execute"),
    (["verify", "approve", "execute"], "reject"),
    (["verify", "approve", "execute", "close"], "verify"),
    (["extend"], "execute"),                  # extended before verification: verify first
    (["extend"], "extend"),                   # one extension only
])
def test_illegal_transitions_are_refused_and_change_nothing(book, scoped, moves, refused):
    url, _ = scoped
    req = book.receive("deletion", {"email": EMAIL}, regime="gdpr", actor=CLERK)
    for m in moves:
        _do(book, req.request_id, m)
    before = book.get(req.request_id)
    n = len(_entries(url, req.request_id))
    with pytest.raises(TransitionError):
        _do(book, req.request_id, refused)
    assert book.get(req.request_id) == before
    assert len(_entries(url, req.request_id)) == n  # a refused move writes no entry


def _do(book, rid, move):
    if move == "approve":
        return book.approve(rid, approver="dpo", actor=CHECKER)
    if move == "execute":
        return book.mark_executed(rid)
    if move == "reject":
        return book.reject(rid, "excessive")
    if move == "extend":
        return book.extend(rid, "complexity")
    return getattr(book, move)(rid, actor=CLERK)


def test_approval_is_named_and_never_by_the_handler(book):
    req = book.receive("access", {"email": EMAIL}, actor=CLERK)
    book.verify(req.request_id, actor=CLERK)
    with pytest.raises(TransitionError, match="names its approver"):
        book.approve(req.request_id, approver="")
    with pytest.raises(TransitionError, match="another person"):
        book.approve(req.request_id, approver="clerk")
    with pytest.raises(TransitionError, match="user name"):
        book.approve(req.request_id, approver="Mr Zhang, 138")
    assert book.get(req.request_id).state == "verified"
    assert book.approve(req.request_id, approver="dpo").state == "approved"


def test_extension_resumes_where_the_request_stood(book, scoped):
    url, _ = scoped
    req = book.receive("deletion", {"email": EMAIL}, regime="gdpr", actor=CLERK)
    book.verify(req.request_id, actor=CLERK)
    ext = book.extend(req.request_id, "number_of_requests")
    assert ext.state == "extended" and ext.extension_reason == "number_of_requests"
    assert ext.due_at == extended_due(req.due_at, book.config.regime("gdpr"))
    with pytest.raises(TransitionError, match="already past verify"):
        book.verify(req.request_id)
    assert book.approve(req.request_id, approver="dpo").state == "approved"
    assert _entries(url, req.request_id)[2].reason == "number_of_requests"
    with pytest.raises(TransitionError, match="one of"):
        book.reject(req.request_id, "because the customer is Zhang Wei")


def test_pipl_has_no_extension_and_reasons_are_codes(book):
    req = book.receive("deletion", {"resident_id": RID}, actor=CLERK)
    assert req.regime == "pipl"
    with pytest.raises(TransitionError, match="allows no extension"):
        book.extend(req.request_id, "complexity")
    rejected = book.reject(req.request_id, "identity_not_verified")
    assert (rejected.state, rejected.rejection_reason) == ("rejected", "identity_not_verified")
    assert book.close(req.request_id).state == "closed"


def test_due_dates_per_regime(book, dsr_config):
    pipl, gdpr = dsr_config.regime("pipl"), dsr_config.regime("gdpr")
    t = datetime(2026, 1, 31, 9, 30, tzinfo=UTC)
    assert due_date(t, pipl) == datetime(2026, 2, 15, 9, 30, tzinfo=UTC)  # 15 days
    assert due_date(t, gdpr) == datetime(2026, 2, 28, 9, 30, tzinfo=UTC)  # one month, clamped
    assert due_date(datetime(2028, 1, 31, tzinfo=UTC), gdpr) == datetime(2028, 2, 29, tzinfo=UTC)
    assert extended_due(due_date(t, gdpr), gdpr) == datetime(2026, 4, 28, 9, 30, tzinfo=UTC)  # +2 months
    assert dsr_config.regime(None) is pipl
    req = book.receive("access", {"email": EMAIL}, regime="gdpr", received_at=t, actor=CLERK)
    assert req.due_at == datetime(2026, 2, 28, 9, 30, tzinfo=UTC)
    assert req.days_left(datetime(2026, 2, 27, 9, 30, tzinfo=UTC)) == 1
    assert req.days_left(datetime(2026, 2, 27, 12, 0, tzinfo=UTC)) == 1  # a started day counts
    assert req.days_left(datetime(2026, 3, 2, 9, 30, tzinfo=UTC)) == -2  # overdue


def test_bad_identifiers_are_refused_without_their_value(book):
    with pytest.raises(SubjectError) as exc:
        book.receive("deletion", {"resident_id": "110105194912310021"})
    assert "110105194912310021" not in str(exc.value) and "resident_id" in str(exc.value)
    with pytest.raises(SubjectError, match="unknown identifier kind"):
        book.receive("deletion", {"passport": "E12345678"})
    with pytest.raises(SubjectError, match="at least one"):
        book.receive("deletion", {"email": "  "})
    with pytest.raises(ValueError, match="unknown request kind"):
        book.receive("correction", {"email": EMAIL})


def test_no_identifier_in_any_catalog_table(book, scoped):
    """Canary: the identifiers, in every spelling given, appear in no row of any catalog table."""
    url, _ = scoped
    req = book.receive("deletion", {"resident_id": RID, "mobile_phone": MOBILE, "email": EMAIL}, actor=CLERK)
    book.verify(req.request_id, actor=CLERK)
    book.approve(req.request_id, approver="dpo")
    book.reject(req.request_id, "legal_claims")
    canaries = [RID, RID.lower(), "13812345678", "+8613812345678", "1234 5678", EMAIL, EMAIL.lower(),
                "zhang.wei.canary"]
    engine = sa.create_engine(url)
    dump = []
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            for row in conn.execute(sa.select(table)):
                dump.append(json.dumps([str(v) for v in row], ensure_ascii=False))
    engine.dispose()
    text = "\n".join(dump).lower()
    assert req.pseudonyms["email"] in text  # the search reads the rows that hold the request
    assert [c for c in canaries if c.lower() in text] == []


def test_a_move_that_loses_a_race_is_refused_and_recorded(book, scoped, monkeypatch):
    url, _ = scoped
    req = book.receive("deletion", {"email": EMAIL}, actor=CLERK)
    stale = book.get(req.request_id)
    book.verify(req.request_id, actor=CLERK)  # another process got there first
    real_get = book.get
    calls = []

    def get_once_stale(rid):
        calls.append(rid)
        return stale if len(calls) == 1 else real_get(rid)

    monkeypatch.setattr(book, "get", get_once_stale)
    with pytest.raises(TransitionError, match="changed by another process"):
        book.verify(req.request_id, actor=CLERK)
    entries = _entries(url, req.request_id)
    assert [(e.details["to"], e.outcome, e.reason) for e in entries[-2:]] == [
        ("verified", "success", None), ("verified", "refused", "ConcurrentChange")]
    assert real_get(req.request_id).state == "verified"
