"""KeyTracker: digests, null handling, run merging, isolation between trackers."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from custody.validation import KeyTracker


def test_digests_null_nan_and_negative_zero():
    tracker = KeyTracker("t")
    digests, tracked = tracker.digests([pa.array([1.0, None, float("nan"), -0.0, 0.0])])
    assert tracked.tolist() == [True, False, False, True, True]
    assert digests.dtype == np.uint64
    assert digests[3] == digests[4]  # -0.0 == 0.0, as pandas/GX see it
    assert digests[0] != digests[3]


def test_compound_digests_distinguish_part_boundaries():
    tracker = KeyTracker("t")
    digests, tracked = tracker.digests([pa.array(["ab", "a"]), pa.array(["c", "bc"])])
    assert tracked.all() and digests[0] != digests[1]
    digests, tracked = tracker.digests([pa.array([1, 1]), pa.array(["x", None])])
    assert tracked.tolist() == [True, False]


def test_typed_values_digest_stably():
    tracker = KeyTracker("t")
    cols = [
        pa.array([dt.date(2020, 1, 1), dt.date(2020, 1, 1)], pa.date32()),
        pa.array([Decimal("1.10"), Decimal("1.10")], pa.decimal128(5, 2)),
    ]
    digests, _ = tracker.digests(cols)
    assert digests[0] == digests[1]


def test_seen_add_and_geometric_merging():
    tracker = KeyTracker("t")
    rng = np.random.default_rng(1)
    added = []
    for size in [100, 50, 25, 400, 10, 10, 10]:
        chunk = rng.integers(0, 2**63, size=size, dtype=np.uint64)
        assert not tracker.seen("unique:id", chunk).any()
        tracker.add("unique:id", chunk)
        added.append(chunk)
        assert tracker.seen("unique:id", chunk).all()
    everything = np.concatenate(added)
    assert tracker.count("unique:id") == everything.size == 605
    runs = tracker._runs["unique:id"]
    assert all(np.all(np.diff(r.astype(np.float64)) >= 0) for r in runs)
    assert len(runs) <= int(np.log2(605)) + 1
    tracker.add("unique:id", everything[:50])  # re-adding known keys changes nothing
    assert tracker.count("unique:id") == 605
    assert tracker.seen("unique:other", everything).sum() == 0
    assert tracker.rules() == ["unique:id"]


def test_trackers_are_salted_independently():
    a, b = KeyTracker("t"), KeyTracker("t")
    col = [pa.array(["13800138000"])]
    assert a.digests(col)[0][0] != b.digests(col)[0][0]
    assert "13800138000" not in repr(a)


def test_bind():
    tracker = KeyTracker()
    tracker.bind("customer")
    tracker.bind("customer")
    with pytest.raises(ValueError, match="belongs to table 'customer', not 'invoice'"):
        tracker.bind("invoice")


@settings(deadline=None)  # timing is not the property; a loaded machine must not fail it
@given(st.lists(st.integers(min_value=0, max_value=2**64 - 1), max_size=200))
def test_sorted_distinct_equals_numpy_unique(values):
    from custody.validation.tracker import _sorted_distinct

    arr = np.asarray(values, dtype=np.uint64)
    assert _sorted_distinct(arr).tolist() == np.unique(arr).tolist()


def test_runs_merged_over_many_chunks_remember_every_key():
    tracker = KeyTracker("t")
    rng = np.random.default_rng(7)
    seen: set[int] = set()
    for _ in range(40):
        batch = rng.integers(0, 5_000, 300, dtype=np.uint64)
        expected = np.array([int(v) in seen for v in batch])
        assert (tracker.seen("unique:k", batch) == expected).all()
        tracker.add("unique:k", batch)
        seen.update(int(v) for v in batch)
    assert tracker.count("unique:k") == len(seen)


@settings(deadline=None)
@given(st.lists(st.integers(min_value=-(2**63), max_value=2**63 - 1), min_size=1, max_size=300))
def test_integer_keys_map_one_to_one(values):
    tracker = KeyTracker("t")
    digests, tracked = tracker.digests([pa.array(values, pa.int64())])
    assert tracked.all()
    assert len(set(digests.tolist())) == len(set(values))  # distinct integers, distinct digests
    again, _ = tracker.digests([pa.array(values[::-1], pa.int64())])
    assert again.tolist() == digests.tolist()[::-1]


def test_integer_digests_do_not_depend_on_the_integer_width_and_differ_per_tracker():
    a, b = KeyTracker("t"), KeyTracker("t")
    narrow, _ = a.digests([pa.array([7, 8], pa.int16())])
    wide, _ = a.digests([pa.array([7, 8], pa.int64())])
    assert narrow.tolist() == wide.tolist()
    assert b.digests([pa.array([7, 8], pa.int64())])[0].tolist() != wide.tolist()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 30), max_size=60))
def test_sorted_runs_mark_each_keys_first_occurrence(values):
    """validate_chunk's one sort: the sorted digests, and the first occurrence of each in input
    order, whether or not keys repeat (the unstable sort's equal runs are put in input order)."""
    from custody.validation.runner import _sorted_runs

    digests = np.array(values, dtype=np.uint64)
    order, ordered, first = _sorted_runs(digests)
    assert ordered.tolist() == sorted(values)
    assert digests[order].tolist() == ordered.tolist()
    firsts = {}
    for i, v in enumerate(values):
        firsts.setdefault(v, i)
    assert sorted(order[first].tolist()) == sorted(firsts.values())
