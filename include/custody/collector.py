"""``paused()``: Python's cyclic garbage collector held off while bulk work allocates objects.

The collector runs once the objects it tracks (tuples, lists, rows, memoryviews, class and
function objects) outnumber the freed ones by 700, and from time to time over the whole heap: in
an Airflow task process that heap holds the hundreds of thousands of objects Airflow, SQLAlchemy,
pydantic and GX created at import. Work that allocates many objects which stay alive for a while
(a partition of 50,000 database rows, a library's import, a million short strings) makes it run
often and find nothing to free, since such objects form no reference cycles: reference counting
frees them. Inside ``paused()`` it does not run; it runs again as usual afterwards.

The switch is process-wide (``gc.disable``), so the pause is kept to the bulk step itself and
never spans a ``yield`` or a call back into a caller. Nested or concurrent pauses are safe: only a
pause that found the collector enabled enables it again, and a pause that overlaps another only
lets the collector run earlier than it could.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused() -> Iterator[None]:
    """Hold off the cyclic garbage collector for the ``with`` block (see the module docstring)."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()
