"""Sweep logic without models: retries of disturbed runs, series stopping, predictions, options."""

from __future__ import annotations

from typing import Any

import pytest

from ssamba.bench import efficiency
from ssamba.bench.contention import TICKS_PER_S, CpuSample
from ssamba.bench.efficiency import BenchConfig, Point, iter_series, predicted_seconds, run_series, timed_runs
from ssamba.errors import ConfigError


class FakeClock:
    """Each run is 1 s of our CPU; runs listed in `noisy` also get 1 CPU-s of another process."""

    def __init__(self, noisy: set[int]) -> None:
        self.noisy = noisy
        self.calls = 0
        self.busy = self.own = 0

    def sample(self) -> CpuSample:
        run, end = divmod(self.calls, 2)
        self.calls += 1
        if end:
            self.own += TICKS_PER_S
            self.busy += TICKS_PER_S * (2 if run in self.noisy else 1)
        return CpuSample(self.busy, self.own)


def _runs(times: list[float]):
    it = iter(times)
    return lambda: next(it)


def test_disturbed_runs_are_redone() -> None:
    timing = timed_runs(_runs([9.0, 1.0, 2.0, 3.0]), 3, 2, FakeClock(noisy={0}), 0.05, cpus=2)
    assert timing.times == [1.0, 2.0, 3.0] and timing.disturbed == 1


def test_too_many_disturbed_runs_fill_in_fastest_first() -> None:
    timing = timed_runs(_runs([9.0, 8.0, 1.0, 7.0]), 2, 2, FakeClock(noisy={0, 1, 3}), 0.05, cpus=2)
    assert timing.times == [1.0, 7.0] and timing.disturbed == 3


def test_without_a_clock_every_run_counts() -> None:
    assert timed_runs(_runs([3.0, 2.0]), 2, 5, None, 0.05, cpus=2).times == [3.0, 2.0]


def _record(point: Point, status: str, latency: float | None = None) -> dict[str, Any]:
    return {"tokens": point.tokens, "status": status, "latency_s_min": latency}


def test_series_stops_at_first_oom(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake(point: Point, *args: Any) -> dict[str, Any]:
        return _record(point, "oom" if point.tokens >= 1024 else "ok", 0.1)

    monkeypatch.setattr(efficiency, "measure_point", fake)
    config = BenchConfig(tokens=(512, 1024, 2048), models=("ssast_tiny",), attns=("eager",))
    seen: list[dict[str, Any]] = []
    records = run_series(next(iter_series(config)), config, seen.append)
    assert [r["status"] for r in records] == ["ok", "oom"] and seen == records


def test_series_skips_points_predicted_over_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    latency = {512: 1.0, 1024: 4.0}  # quadratic: 2048 tokens would take ~16 s per run
    monkeypatch.setattr(efficiency, "measure_point", lambda p, *a: _record(p, "ok", latency[p.tokens]))
    config = BenchConfig(tokens=(512, 1024, 2048), models=("ssamba_tiny",), repeats=5, time_budget_s=60)
    records = run_series(next(iter_series(config)), config, lambda r: None)
    assert [r["status"] for r in records] == ["ok", "ok", "skipped_time_budget"]
    assert records[-1]["latency_s_median"] is None and records[-1]["frames"] == 4096


def test_prediction_exponent_is_clamped_to_linear_and_quadratic() -> None:
    ok = [{"status": "ok", "tokens": 100, "latency_s_min": 1.0}]
    assert predicted_seconds(ok, 200) == pytest.approx(4.0)  # one point: assume quadratic
    flat = ok + [{"status": "ok", "tokens": 200, "latency_s_min": 1.0}]
    assert predicted_seconds(flat, 400) == pytest.approx(2.0)  # never better than linear


def test_series_and_labels() -> None:
    config = BenchConfig(models=("ssamba_tiny", "ssast_tiny"), tokens=(1024, 512), batches=(1, 4))
    series = list(iter_series(config))
    assert [(s[0].model, s[0].attn, s[0].batch) for s in series] == [
        ("ssamba_tiny", "-", 1), ("ssamba_tiny", "-", 4),
        ("ssast_tiny", "sdpa", 1), ("ssast_tiny", "sdpa", 4),
        ("ssast_tiny", "eager", 1), ("ssast_tiny", "eager", 4),
    ]  # fmt: skip
    assert [p.tokens for p in series[0]] == [512, 1024] and series[0][1].frames == 2048


@pytest.mark.parametrize(
    "bad",
    [dict(tokens=(100,)), dict(attns=("flash",)), dict(dtype="fp8"), dict(repeats=0), dict(device="tpu")],
)
def test_invalid_options_are_config_errors(bad: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        BenchConfig(**bad)


def test_paper_preset_and_explicit_options() -> None:
    config = efficiency.with_preset(BenchConfig(), "paper", batches=(2,), models=None)
    assert config.batches == (2,) and config.attns == ("eager",) and "ssast_base" in config.models
    assert 22016 in config.tokens
    with pytest.raises(ConfigError):
        efficiency.with_preset(BenchConfig(), "nope")


def test_resumed_series_measures_again_only_points_skipped_for_time(monkeypatch: pytest.MonkeyPatch) -> None:
    measured: list[int] = []

    def fake(point: Point, *args: Any) -> dict[str, Any]:
        measured.append(point.tokens)
        return _record(point, "ok", 1.0)

    monkeypatch.setattr(efficiency, "measure_point", fake)
    config = BenchConfig(tokens=(512, 1024), models=("ssamba_tiny",), time_budget_s=1e6)
    points = next(iter_series(config))
    previous = {}
    for point, status in zip(points, ("ok", "skipped_time_budget"), strict=True):
        record = dict(efficiency.base_record(point, config), status=status, latency_s_min=1.0)
        previous[efficiency.record_key(record)] = record
    records = run_series(points, config, lambda r: None, previous)
    assert measured == [1024] and records[0] is previous[efficiency.record_key(records[0])]
