"""Execution steps that need no store: source rows are refused, staging keys cannot escape staging,
and run documents stay while objects of another scope remain."""

from __future__ import annotations

import pytest

from custody.documents import PurgeItem, PurgePlanDocument
from custody.purge.execute import PurgeError, clean_staging, source_rows


def _plan(*items) -> PurgePlanDocument:
    return PurgePlanDocument(plan_id="20260301T000000Z-00000000", created_at="2026-03-01T00:00:00+00:00",
                             clock="2026-03-01T00:00:00+00:00", policy_version="t", policy_sha256="0" * 64,
                             requester="ops", items=list(items))


def _item(kind, ref, **extra) -> PurgeItem:
    return PurgeItem(kind=kind, ref=ref, source="crm", category="customer_contract", rule="r",
                     expired_at="2026-03-01T00:00:00+00:00", **extra)


def test_source_rows_are_refused_not_deleted():
    record = source_rows(_plan(_item("source_row", "rk:01", rows=1), _item("source_row", "rk:02", rows=1)))
    assert (record.step, record.done, record.refused) == ("source_rows", 0, 2)
    assert record.details == {"reason": "source deletion needs a separate approval"}
    assert source_rows(_plan()).refused == 0


def test_staging_objects_go_and_run_documents_stay_while_other_objects_remain(tmp_path):
    run = tmp_path / "crm" / "r1"
    (run / "tables" / "t" / "p0000").mkdir(parents=True)
    (run / "tables" / "t" / "p0000" / "chunk-00000.cdy").write_bytes(b"x")
    (run / "tables" / "t" / "p0000" / "chunk-00001.cdy").write_bytes(b"y")
    (run / "manifest.json").write_text("{}")
    plan = _plan(_item("staging_object", "crm/r1/tables/t/p0000/chunk-00000.cdy", bytes=1),
                 _item("staging_document", "crm/r1/"))
    record = clean_staging(plan, tmp_path)
    assert record.done == 1 and record.details == {"kept:crm/r1/": "objects of another scope remain"}
    assert (run / "manifest.json").exists() and not (run / "tables" / "t" / "p0000" / "chunk-00000.cdy").exists()
    (run / "tables" / "t" / "p0000" / "chunk-00001.cdy").unlink()
    assert clean_staging(plan, tmp_path).done == 2 and not run.exists()
    with pytest.raises(PurgeError, match="escapes staging"):
        clean_staging(_plan(_item("staging_object", "../outside.cdy")), tmp_path)
