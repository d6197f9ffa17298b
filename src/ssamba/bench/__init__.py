"""Efficiency benchmark of SSAMBA vs SSAST: latency and peak memory against input tokens (spec 4)."""

from __future__ import annotations

from ssamba.bench.efficiency import BenchConfig, Point, iter_series, measure_point, run_series
from ssamba.bench.memory import PeakRSSSampler
from ssamba.bench.report import ratios, write_report

__all__ = [
    "BenchConfig",
    "PeakRSSSampler",
    "Point",
    "iter_series",
    "measure_point",
    "ratios",
    "run_series",
    "write_report",
]
