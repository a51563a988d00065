"""Keep glibc's allocator from multiplying the operator's memory by its thread count.

glibc gives each thread that contends for the allocator an arena of its own (up to
eight per core) and rarely hands memory freed in one back to the system. The
operator's reconciles run on executor threads, so a burst of them (a start with
1,000 existing CRs) left the process at 478 MiB RSS, of which about 80 MiB were live
Python objects; with two arenas the same start ends at 171 MiB (docs/benchmarks.md).
``MALLOC_ARENA_MAX`` does the same from the environment; this sets it for every way
the operator is started (the chart, ``python -m``, tests, benchmarks) and must run
before the first executor thread exists.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

__all__ = ["ARENAS", "limit_malloc_arenas"]

ARENAS = 2
_M_ARENA_MAX = -8  # glibc's malloc.h


def limit_malloc_arenas(arenas: int = ARENAS) -> bool:
    """``mallopt(M_ARENA_MAX, arenas)``; False where the C library is not glibc, or when
    ``MALLOC_ARENA_MAX`` is set (the operator's user decided)."""
    if os.environ.get("MALLOC_ARENA_MAX"):
        return False
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_ARENA_MAX, arenas))
