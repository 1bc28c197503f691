"""Tuning of the (task) process that extracts: Arrow's memory pool and the garbage collector.

``prepare_process`` runs once per process, before the first chunk is staged (``PartWriter`` calls
it); the measurements behind it are in its docstring.
"""

from __future__ import annotations

import logging

import pyarrow as pa

log = logging.getLogger(__name__)

ARROW_DECAY_MS = 5_000  # how long freed Arrow memory stays mapped for reuse (see prepare_process)

_PROCESS_READY = False


def prepare_process() -> str:
    """Tune this (task) process for extraction; idempotent. Returns the Arrow pool's backend name.

    1. Arrow's memory pool becomes jemalloc keeping freed pages for ``ARROW_DECAY_MS``.
       Extraction frees and reallocates the same few chunk-sized buffers many times a second;
       with Arrow's default pool the freed pages go back to the OS at once and come back
       zero-filled (as transparent huge pages): the kernel's page clearing was 13-17 % of all CPU
       time in bench/extract.py, about 2 % with the decay, and extraction used about 10 % less
       CPU. jemalloc reads the decay when it creates its arenas, so this runs before Arrow first
       allocates from it. Where jemalloc is not built in, the default pool stays.
    2. ``gc.freeze()``: objects alive now (imported modules, configuration) are left out of later
       collections; a full collection over them cost about 60 ms per million rows.
    """
    global _PROCESS_READY
    if not _PROCESS_READY:
        import gc

        _PROCESS_READY = True
        gc.freeze()
        try:
            pa.jemalloc_set_decay_ms(ARROW_DECAY_MS)
            pa.set_memory_pool(pa.jemalloc_memory_pool())
        except (NotImplementedError, pa.ArrowNotImplementedError, AttributeError):
            log.info("jemalloc is not built into this pyarrow; keeping the %s pool",
                     pa.default_memory_pool().backend_name)
    return pa.default_memory_pool().backend_name
