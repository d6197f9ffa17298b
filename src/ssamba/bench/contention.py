"""Detect measurements disturbed by other processes: machine-wide busy CPU time minus our own.

On Linux `/proc/stat` gives the busy jiffies of all CPUs and `/proc/self/stat` this process's
utime + stime (all threads); the difference over a measurement is CPU time other processes used.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

TICKS_PER_S = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
# Jiffy counters are coarse: a couple of ticks of "other" time is noise, not a disturbance.
SLACK_TICKS = 2


def busy_ticks(proc_stat: str) -> int:
    """Busy jiffies of all CPUs from `/proc/stat` text (everything but idle and iowait)."""
    fields = proc_stat.splitlines()[0].split()
    if fields[0] != "cpu":
        raise ValueError("first line of /proc/stat is not the aggregate 'cpu' line")
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[1:9])
    return user + nice + system + irq + softirq + steal


def own_ticks(self_stat: str) -> int:
    """utime + stime of a process from its `/proc/<pid>/stat` text (the name may hold spaces)."""
    rest = self_stat[self_stat.rindex(")") + 2 :].split()
    return int(rest[11]) + int(rest[12])


@dataclass(frozen=True)
class CpuSample:
    """Machine-wide busy ticks and this process's ticks at one instant."""

    busy: int
    own: int


def other_cpu_seconds(before: CpuSample, after: CpuSample) -> float:
    """CPU seconds used by other processes between two samples (never negative)."""
    return max(0, (after.busy - before.busy) - (after.own - before.own)) / TICKS_PER_S


def is_disturbed(before: CpuSample, after: CpuSample, wall_s: float, cpus: int, max_fraction: float) -> bool:
    """True when others used more than `max_fraction` of the `cpus` x `wall_s` CPU time available."""
    other = other_cpu_seconds(before, after)
    return other * TICKS_PER_S > SLACK_TICKS and other > max_fraction * wall_s * cpus


class CpuClock:
    """Reads `CpuSample`s from procfs; `sample()` is None where procfs is missing (not Linux)."""

    def __init__(
        self, proc_stat: Path = Path("/proc/stat"), self_stat: Path = Path("/proc/self/stat")
    ) -> None:
        self.proc_stat = proc_stat
        self.self_stat = self_stat

    def sample(self) -> CpuSample | None:
        try:
            return CpuSample(busy_ticks(self.proc_stat.read_text()), own_ticks(self.self_stat.read_text()))
        except OSError:
            return None
