"""Inventory history and drift: new sensitive columns, level changes, vanished columns, retries."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta

import pytest
from custody.catalog import Catalog
from custody.classification import DriftDetected, compute_drift, drift_counts, raise_for_drift, record_drift
from custody.classification import inventory as inv


def _col(column: str, level: str, pi_type: str | None = None) -> dict:
    return {
        "column": column,
        "pi_type": pi_type,
        "level": level,
        "confidence": 0.9,
        "evidence": {"reason": "values"},
        "policy_version": "2026.1",
    }


def _prev(table: str, column: str, level: str, pi_type: str | None = None, run: str = "run-1") -> dict:
    return {
        "table_name": table,
        "column_name": column,
        "level": level,
        "pi_type": pi_type,
        "last_run_key": run,
    }


RUN1 = [
    {
        "table": "contacts",
        "columns": [
            _col("contact_id", "public"),
            _col("email", "internal", "email"),
            _col("mobile", "internal", "mobile_phone"),
            _col("notes", "internal", "free_text"),
        ],
    },
    {"table": "contracts", "columns": [_col("contract_id", "public"), _col("amount", "public")]},
]


@pytest.fixture
def catalog(catalog_url) -> Catalog:
    return Catalog(catalog_url)


def _at(minutes: int) -> datetime:
    return datetime(2026, 11, 30, 10, tzinfo=UTC) + timedelta(minutes=minutes)


def _record(catalog: Catalog, run_key: str, tables: list[dict], minute: int) -> dict:
    drift = record_drift(catalog.engine, "crm", run_key, tables, policy_version="2026.1", now=_at(minute))
    catalog.record_inventory("crm", run_key, tables)
    return drift


def test_compute_drift_kinds_and_shape():
    previous = [
        _prev("contacts", "email", "internal", "email"),
        _prev("contacts", "gender", "internal", "gender"),
        _prev("contacts", "notes", "internal", "free_text"),
        _prev("contracts", "amount", "public"),
    ]
    now = [
        {
            "table": "contacts",
            "columns": [
                _col("email", "internal", "email"),
                _col("notes", "sensitive", "free_text"),  # level change (IDs found in notes)
                _col("id_card", "sensitive", "resident_id"),  # new sensitive
                _col("nickname", "internal", "person_name"),  # new, not sensitive: history only
            ],
        }
    ]
    drift, events = compute_drift(previous, now, previous_run_key="run-1")
    assert drift == {
        "new_sensitive": [
            {"table": "contacts", "column": "id_card", "level": "sensitive", "pi_type": "resident_id"}
        ],
        "level_changes": [
            {
                "table": "contacts",
                "column": "notes",
                "old": "internal",
                "new": "sensitive",
                "pi_type": "free_text",
            }
        ],
        # contracts was not extracted in this run: its columns are not "vanished".
        "vanished": [{"table": "contacts", "column": "gender", "old_level": "internal", "pi_type": "gender"}],
        "previous_run_key": "run-1",
        "baseline": False,
        "counts": {"new_sensitive": 1, "level_changes": 1, "vanished": 1},
    }
    kinds = sorted((e["column_name"], e["kind"]) for e in events)
    assert kinds == [
        ("gender", "vanished"),
        ("id_card", "new_column"),
        ("nickname", "new_column"),
        ("notes", "level_change"),
    ]


def test_pi_type_change_at_same_level_is_history_not_drift():
    drift, events = compute_drift(
        [_prev("t", "c", "internal", "phone")],
        [{"table": "t", "columns": [_col("c", "internal", "mobile_phone")]}],
    )
    assert drift_counts(drift) == {"new_sensitive": 0, "level_changes": 0, "vanished": 0}
    assert [e["kind"] for e in events] == ["pi_type_change"]


def test_baseline_records_history_and_never_alerts(catalog):
    tables = [{"table": "contacts", "columns": [_col("resident_id", "sensitive", "resident_id")]}]
    drift = _record(catalog, "run-1", tables, 0)
    assert drift["baseline"] is True and drift["previous_run_key"] is None
    assert drift_counts(drift) == {"new_sensitive": 0, "level_changes": 0, "vanished": 0}
    raise_for_drift(drift)  # nothing to raise
    assert [(e["kind"], e["new_level"]) for e in inv.inventory_history(catalog.engine, "crm")] == [
        ("new_column", "sensitive")
    ]


def test_second_run_new_id_column_and_dropped_column(catalog):
    _record(catalog, "run-1", RUN1, 0)
    run2 = [
        {
            "table": "contacts",
            "columns": [
                _col("contact_id", "public"),
                _col("email", "internal", "email"),
                _col("notes", "internal", "free_text"),
                _col("id_card_no", "sensitive", "resident_id"),
            ],
        },
        {"table": "contracts", "columns": [_col("contract_id", "public"), _col("amount", "public")]},
    ]
    drift = _record(catalog, "run-2", run2, 5)
    assert drift["previous_run_key"] == "run-1" and drift["baseline"] is False
    assert drift["new_sensitive"] == [
        {"table": "contacts", "column": "id_card_no", "level": "sensitive", "pi_type": "resident_id"}
    ]
    assert drift["vanished"] == [
        {"table": "contacts", "column": "mobile", "old_level": "internal", "pi_type": "mobile_phone"}
    ]
    with pytest.raises(DriftDetected) as err:
        raise_for_drift(drift, source="crm", run_key="run-2")
    msg = str(err.value)
    assert "contacts.id_card_no (resident_id, sensitive)" in msg and "contacts.mobile (was internal)" in msg
    assert "since run run-1" in msg and err.value.counts == {
        "new_sensitive": 1,
        "level_changes": 0,
        "vanished": 1,
    }
    again = pickle.loads(pickle.dumps(err.value))
    assert str(again) == msg
    # The vanished column is marked, not deleted; its inventory row keeps its last sighting.
    (mark,) = inv.vanished_columns(catalog.engine, "crm")
    assert (mark["column_name"], mark["last_run_key"], mark["vanished_run_key"]) == (
        "mobile",
        "run-1",
        "run-2",
    )
    rows = {r["column_name"]: r for r in catalog.inventory("crm")}
    assert rows["mobile"]["last_run_key"] == "run-1" and rows["id_card_no"]["last_run_key"] == "run-2"


def test_retry_of_the_same_run_returns_the_same_drift_and_writes_nothing(catalog):
    _record(catalog, "run-1", RUN1, 0)
    run2 = [{"table": "contacts", "columns": [_col("email", "sensitive", "email")]}]
    first = _record(catalog, "run-2", run2, 5)
    events = len(inv.inventory_history(catalog.engine))
    # A retried task: the inventory already holds run-2's state, the alert must not be lost.
    second = _record(catalog, "run-2", run2, 9)
    assert second == first and drift_counts(second)["level_changes"] == 1
    assert len(inv.inventory_history(catalog.engine)) == events


def test_vanished_once_then_reappearing(catalog):
    _record(catalog, "run-1", RUN1, 0)
    without = [{"table": "contacts", "columns": [c for c in RUN1[0]["columns"] if c["column"] != "mobile"]}]
    assert drift_counts(_record(catalog, "run-2", without, 5))["vanished"] == 1
    assert drift_counts(_record(catalog, "run-3", without, 10)) == {
        "new_sensitive": 0,
        "level_changes": 0,
        "vanished": 0,
    }
    back = [
        {
            "table": "contacts",
            "columns": [*without[0]["columns"], _col("mobile", "sensitive", "mobile_phone")],
        }
    ]
    drift = _record(catalog, "run-4", back, 15)
    assert drift["level_changes"] == [
        {
            "table": "contacts",
            "column": "mobile",
            "old": "internal",
            "new": "sensitive",
            "pi_type": "mobile_phone",
        }
    ]
    assert drift["new_sensitive"] == [] and inv.vanished_columns(catalog.engine, "crm") == []
    kinds = [e["kind"] for e in inv.inventory_history(catalog.engine, "crm") if e["column_name"] == "mobile"]
    assert kinds == ["new_column", "vanished", "reappeared"]


def test_sources_are_independent(catalog):
    _record(catalog, "run-1", RUN1, 0)
    drift = record_drift(
        catalog.engine, "chinook", "run-1", [{"table": "customer", "columns": [_col("email", "sensitive")]}]
    )
    assert drift["baseline"] is True


def test_drift_document_and_message_hold_names_and_levels_only():
    drift, _ = compute_drift(
        [_prev("t", "old", "internal")], [{"table": "t", "columns": [_col("new", "sensitive", "ssn")]}]
    )
    assert set(drift) == {
        "new_sensitive",
        "level_changes",
        "vanished",
        "previous_run_key",
        "baseline",
        "counts",
    }
    for kind in ("new_sensitive", "level_changes", "vanished"):
        for item in drift[kind]:
            assert set(item) <= {"table", "column", "level", "pi_type", "old", "new", "old_level"}
    many = {
        "new_sensitive": [
            {"table": "t", "column": f"c{i}", "level": "sensitive", "pi_type": None} for i in range(14)
        ]
    }
    assert "+4 more" in str(DriftDetected(many))
