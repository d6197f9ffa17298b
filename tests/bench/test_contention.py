"""The disturbed-measurement detector on fake /proc readings."""

from __future__ import annotations

from pathlib import Path

import pytest

from ssamba.bench.contention import TICKS_PER_S, CpuClock, CpuSample, is_disturbed, other_cpu_seconds


def _write(tmp_path: Path, busy: tuple[int, ...], utime: int, stime: int) -> CpuClock:
    user, nice, system, irq, softirq, steal = busy
    (tmp_path / "stat").write_text(
        f"cpu  {user} {nice} {system} 9999 77 {irq} {softirq} {steal} 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n"
    )
    # A process name with spaces and parentheses must not shift the fields.
    fields = ["S"] + ["0"] * 10 + [str(utime), str(stime)] + ["0"] * 30
    (tmp_path / "self_stat").write_text("4242 (my (odd) name) " + " ".join(fields) + "\n")
    return CpuClock(tmp_path / "stat", tmp_path / "self_stat")


def test_clock_parses_busy_and_own_ticks(tmp_path: Path) -> None:
    sample = _write(tmp_path, (100, 5, 20, 3, 2, 1), utime=40, stime=10).sample()
    assert sample == CpuSample(busy=131, own=50)  # idle (9999) and iowait (77) excluded


def test_other_processes_time_is_busy_minus_own() -> None:
    before, after = CpuSample(1000, 300), CpuSample(1000 + 250, 300 + 200)
    assert other_cpu_seconds(before, after) == pytest.approx(50 / TICKS_PER_S)
    # our own time alone never counts as a disturbance, and clock skew never goes negative
    assert other_cpu_seconds(CpuSample(0, 0), CpuSample(10, 20)) == 0.0


@pytest.mark.parametrize(
    ("other_ticks", "wall_s", "expected"),
    [
        (0, 1.0, False),  # quiet machine
        (2, 0.01, False),  # within the jiffy slack
        (0.2 * TICKS_PER_S, 1.0, True),  # others took 0.2 CPU-s of 2 CPU-s (10 % > 5 %)
        (0.05 * TICKS_PER_S, 1.0, False),  # 2.5 % of the machine: tolerated
    ],
)
def test_is_disturbed_threshold(other_ticks: float, wall_s: float, expected: bool) -> None:
    before = CpuSample(busy=10_000, own=5_000)
    own = int(wall_s * TICKS_PER_S)
    after = CpuSample(busy=10_000 + own + int(other_ticks), own=5_000 + own)
    assert is_disturbed(before, after, wall_s, cpus=2, max_fraction=0.05) is expected


def test_clock_without_procfs_returns_none(tmp_path: Path) -> None:
    assert CpuClock(tmp_path / "missing", tmp_path / "missing").sample() is None
