"""Python's cyclic garbage collector, tuned for hubsync's long-running processes.

CPython collects its youngest generation every 700 net container allocations by default, and
every collection of an older generation walks every object that survived into it. An ingest batch
allocates hundreds of thousands of short-lived containers (decoded events, record states, rows), so
with the defaults the collector ran constantly over a heap of long-lived objects (modules, schemas,
the public suffix list, the matching keys' memo caches): measured in process, a worker spent ~30 µs
of CPU per event in it, 28% of its CPU (docs/performance.md). Nearly all of that garbage has no
reference cycle and is freed by reference counting the moment it is dropped; the collector only
has to find cycles, which hubsync's own code does not build on its hot path.

:func:`tune_collector`, called once a process has loaded what it runs, moves everything allocated so
far out of the collector's sight (``gc.freeze``: it is never garbage) and raises the thresholds to
:data:`THRESHOLDS`, so the youngest generation is collected every 50,000 allocations and a full
collection is rare. Cyclic garbage still gets collected, a little later: the memory that costs is
bounded by one generation's worth of objects (the benchmark's peak RSS is unchanged).
"""

from __future__ import annotations

import gc

__all__ = ["THRESHOLDS", "tune_collector"]

#: (youngest generation, middle, oldest): collect the youngest every 50,000 net allocations, the
#: middle every 20 of those, the oldest every 100 of the middle's (CPython's defaults: 700, 10, 10)
THRESHOLDS = (50_000, 20, 100)


def tune_collector() -> None:
    """Freeze what is allocated so far and raise the collector's thresholds (see the module doc)."""
    gc.collect()  # start-up's own cyclic garbage goes now, before the survivors are frozen
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
