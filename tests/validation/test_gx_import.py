"""GX is imported with the modules it never uses for Custody's checks deferred (custody.validation._gx)."""

from __future__ import annotations

import json
import subprocess
import sys

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
