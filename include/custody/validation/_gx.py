"""The one place Great Expectations is first imported: ``from custody.validation._gx import gx``.

GX's package import loads every expectation it ships, among them the distribution expectations
(KL divergence, Kolmogorov-Smirnov) whose modules import ``scipy.stats`` and ``altair`` at module
level and use them only inside their methods. Those two imports are about a third of GX's import
time (about 1 s of 3.3 s on the benchmark machine), paid by every validating task although Custody
never runs those expectations.

So while GX itself is imported, those modules (``DEFERRED``) are loaded lazily
(``importlib.util.LazyLoader``): the module object exists at once and its code runs on the first
attribute access, so a user expectation that does use them gets the complete module. Modules
already imported are left as they are, and the deferral ends when GX's import returns: anything
importing them later gets them the ordinary way.

GX's pandas engine also fingerprints every batch under 1 GB it is given (MD5 over
``pandas.util.hash_pandas_object`` of the whole frame, kept only as the batch marker
``pandas_data_fingerprint``; each batch is fingerprinted twice): 1.8 s of the 5.9 s that
classify_and_validate took per million ``contacts`` rows. Custody identifies what it validated by
its own content hashes (the staged chunk's and the run manifest's), so the fingerprint is switched
off (``NO_FINGERPRINT``), for every GX user in the process.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import os
import sys
from types import ModuleType
from typing import Any

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

#: Imported by GX at module level, used by GX only inside methods Custody does not call.
DEFERRED = ("scipy.stats", "altair")


class _DeferringFinder(importlib.abc.MetaPathFinder):
    """Finds ``DEFERRED`` modules through the other finders and wraps their loader lazily."""

    def find_spec(self, fullname: str, path: Any, target: ModuleType | None = None) -> Any:
        if fullname not in DEFERRED:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                loader = spec.loader
                if loader is not None and hasattr(loader, "exec_module"):
                    spec.loader = importlib.util.LazyLoader(loader)
                return spec
        return None


def _import_gx() -> ModuleType:
    if "great_expectations" in sys.modules:
        return sys.modules["great_expectations"]
    from custody.collector import paused

    finder = _DeferringFinder()
    sys.meta_path.insert(0, finder)
    try:
        # About 350,000 objects that live as long as the process: collecting while they are
        # created frees nothing (0.2-0.3 s of the import on the benchmark machine).
        with paused():
            import great_expectations
    finally:
        sys.meta_path.remove(finder)
    return great_expectations


def _no_fingerprint() -> None:
    from great_expectations.execution_engine import pandas_execution_engine

    # get_batch_data_and_markers fingerprints a frame when its memory_usage().sum() < HASH_THRESHOLD.
    pandas_execution_engine.HASH_THRESHOLD = NO_FINGERPRINT


#: GX's ``HASH_THRESHOLD`` for batch fingerprints: no frame is smaller than 0 bytes.
NO_FINGERPRINT = 0

gx = _import_gx()
_no_fingerprint()

__all__ = ["DEFERRED", "NO_FINGERPRINT", "gx"]
