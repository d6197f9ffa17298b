"""Keep large CPU tensors in glibc's heap instead of fresh `mmap`ed pages (opt-in, process-wide).

glibc serves allocations above its mmap threshold (adaptive, but at most 32 MiB on 64-bit systems)
with `mmap` and gives them back with `munmap`, so every such tensor is page-faulted (and zeroed by
the kernel) again on first touch. For one 22000-token sequence at 384 channels, each (L, D) float
tensor is 34 MB: the fused scan then spends about as long in page faults as in computing. With
mmap off and heap trimming raised, freed blocks are reused instead. This changes the allocator of
the whole process (memory is not returned to the OS as eagerly), so it is a call for programs that
run very long sequences on CPU, equivalent to `MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=1073741824`.
"""

from __future__ import annotations

import ctypes
import logging
import sys

logger = logging.getLogger(__name__)

_M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
_M_MMAP_MAX = -4
_TRIM_THRESHOLD = 1 << 30


def keep_large_allocations_in_heap() -> bool:
    """Turn off glibc's mmap for large blocks; returns False where that is not possible (non-glibc)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # no mallopt: not glibc (e.g. musl)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    applied = bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD))
    logger.info("glibc malloc: large allocations kept in the heap: %s", applied)
    return applied
