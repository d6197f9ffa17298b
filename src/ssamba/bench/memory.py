"""CPU memory measurement: a background peak-RSS sampler plus the kernel's own high-water mark.

Linux only for exact numbers (`/proc/self/statm`, `/proc/self/status`); elsewhere psutil is used
when present and the functions degrade to `None` rather than guessing.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_STATM = Path("/proc/self/statm")
_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def rss_bytes() -> int:
    """Resident set size of this process now, in bytes."""
    try:
        return int(_STATM.read_text().split()[1]) * _PAGE_SIZE
    except OSError:
        import psutil  # the only way off Linux; psutil is optional

        return int(psutil.Process().memory_info().rss)


def max_rss_bytes() -> int:
    """`ru_maxrss` of this process in bytes (the kernel reports KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak) if sys.platform == "darwin" else int(peak) * 1024


def _status_kib(field: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def reset_high_water_mark() -> bool:
    """Reset the kernel's peak RSS (`VmHWM`) to the current RSS; False where not supported."""
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


def high_water_mark_bytes() -> int | None:
    """The kernel's exact peak RSS (`VmHWM`) since start or the last reset, or None."""
    kib = _status_kib("VmHWM")
    return None if kib is None else kib * 1024


def available_bytes() -> int | None:
    """`MemAvailable` of the machine (what can be allocated without swapping), or None."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def trim_heap() -> None:
    """Give freed heap memory back to the OS (glibc `malloc_trim`) so baselines are not inflated."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


@contextlib.contextmanager
def address_space_limit(extra_bytes: int | None) -> Iterator[None]:
    """Cap this process's address space at its current size + `extra_bytes` (None: no cap).

    Allocations beyond the cap fail inside PyTorch with a catchable RuntimeError instead of
    waking the kernel's OOM killer, which on a shared machine may kill someone else's process.
    """
    vm_kib = _status_kib("VmSize")
    if extra_bytes is None or vm_kib is None:
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = vm_kib * 1024 + extra_bytes
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


# Sampling periods: fast where only the samples see the peak; slow where the kernel's VmHWM
# (reset on entry) records it exactly, as a 1 ms sampler thread slows a busy 2-core run by ~5 %.
FAST_INTERVAL_S = 0.001
SLOW_INTERVAL_S = 0.05


class PeakRSSSampler:
    """Context manager: the peak RSS while it is open, sampled every `interval_s` by a thread.

    `peak_bytes` is the larger of the sampled maximum and the kernel's `VmHWM` (reset on entry
    where the kernel allows it), so short spikes between samples are not missed on Linux. The
    default period is 50 ms where that reset works, else 1 ms.
    """

    def __init__(self, interval_s: float | None = None) -> None:
        self.interval_s = interval_s
        self.sampled_peak_bytes = 0
        self.hwm_bytes: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="peak-rss-sampler", daemon=True)
        self._hwm_reset = False

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sampled_peak_bytes = max(self.sampled_peak_bytes, rss_bytes())
            self._stop.wait(self.interval_s)

    def __enter__(self) -> PeakRSSSampler:
        self._hwm_reset = reset_high_water_mark()
        if self.interval_s is None:
            self.interval_s = SLOW_INTERVAL_S if self._hwm_reset else FAST_INTERVAL_S
        self.sampled_peak_bytes = rss_bytes()
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sampled_peak_bytes = max(self.sampled_peak_bytes, rss_bytes())
        self.hwm_bytes = high_water_mark_bytes() if self._hwm_reset else None

    @property
    def peak_bytes(self) -> int:
        return max(self.sampled_peak_bytes, self.hwm_bytes or 0)
