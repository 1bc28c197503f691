"""GX is imported with the modules it never uses for Custody's checks deferred (custody.validation._gx)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PROBE = r"""
import json, sys
from custody.validation._gx import DEFERRED, gx
state = {name: type(sys.modules[name]).__name__ for name in DEFERRED if name in sys.modules}
finders = [type(f).__name__ for f in sys.meta_path]
from scipy import stats
entropy = float(stats.entropy([0.5, 0.5], [0.5, 0.5]))
after = type(sys.modules["scipy.stats"]).__name__
import altair
chart = altair.Chart.__name__
print(json.dumps({"state": state, "finders": finders, "entropy": entropy, "after": after, "chart": chart,
                  "gx": gx.__name__}))
"""


def _probe(prelude: str = "") -> dict:
    out = subprocess.run([sys.executable, "-c", prelude + PROBE], capture_output=True, text=True, check=True,
                         timeout=300)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_scipy_stats_and_altair_are_deferred_and_complete_on_first_use():
    got = _probe()
    assert got["gx"] == "great_expectations"
    assert got["state"] == {"scipy.stats": "_LazyModule", "altair": "_LazyModule"}
    assert "_DeferringFinder" not in got["finders"]  # the deferral ends with GX's import
    assert got["entropy"] == 0.0 and got["after"] == "module"  # loaded in full on first use
    assert got["chart"] == "Chart"


def test_a_module_imported_before_gx_is_left_as_it_is():
    got = _probe("import scipy.stats\n")
    assert got["state"]["scipy.stats"] == "module"
    assert got["entropy"] == 0.0


WARM_UP = r"""
import gc, json, sys, threading
from custody.validation import warm_up
gc.enable()
before = "great_expectations" in sys.modules
names = []
original = threading.Thread.start
def start(self):
    names.append(self.name)
    return original(self)
threading.Thread.start = start
warm = warm_up()
warm.join()
from custody.validation import expectations
print(json.dumps({"before": before, "after": "great_expectations" in sys.modules, "failed": warm.failed,
                  "seconds": warm.seconds, "threads": names, "collecting": gc.isenabled(),
                  "runtime": expectations._RUNTIME is not None}))
"""


def test_warm_up_imports_gx_and_its_context_in_a_thread_and_restores_the_collector():
    out = subprocess.run([sys.executable, "-c", WARM_UP], capture_output=True, text=True, check=True, timeout=300)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["before"] is False and got["after"] is True
    assert got["runtime"] is True  # the ephemeral context too: the first batch finds it made
    assert got["failed"] is False and got["seconds"] > 0
    assert got["threads"] == ["custody-gx-warm-up"]
    assert got["collecting"] is True  # paused for the import only


def test_a_failed_warm_up_raises_nothing_and_says_so(monkeypatch, caplog):
    """The first validate_chunk imports again and raises where validation reports errors; the
    warm-up logs the exception's class, not its message."""
    from custody.validation import expectations, warm_up

    def broken():
        raise ImportError("a broken GX install near 13800138000")

    monkeypatch.setattr(expectations, "gx_runtime", broken)
    with caplog.at_level("WARNING", logger="custody.validation.runner"):
        warm = warm_up()
        warm.join()
    assert warm.failed is True and warm.seconds is not None
    assert "GX warm-up failed (ImportError)" in caplog.text
    assert "13800138000" not in caplog.text
    # ...and the first validation meets the same error and raises it
    import pyarrow as pa

    from custody.validation import TableRules, validate_chunk

    rules = TableRules.model_validate({"table": "t", "checks": [{"column": "a", "check": "not_null"}]})
    with pytest.raises(ImportError):
        validate_chunk(pa.table({"a": [1, None]}), rules)
