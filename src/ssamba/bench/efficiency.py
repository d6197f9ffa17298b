"""The SSAMBA vs SSAST efficiency sweep (spec 4.3): inference latency and peak memory per input size.

Each point builds a stride-16 fine-tuning model with `input_tdim = frames = 2 * tokens` (128 mel
bins give 8 patch rows, so tokens = 8 * frames / 16), runs warm-up forwards under
`torch.inference_mode`, then `repeats` timed forwards (runs disturbed by other processes are
retried) under a memory probe (the official code also measures time and memory in the same
runs). A model's series stops at the first point that runs out of memory or would exceed the
time budget.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import math
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from ssamba.bench.contention import CpuClock, is_disturbed
from ssamba.bench.memory import (
    PeakRSSSampler,
    address_space_limit,
    available_bytes,
    max_rss_bytes,
    rss_bytes,
    trim_heap,
)
from ssamba.errors import ConfigError

logger = logging.getLogger(__name__)

STRIDE = 16
MEL_BINS = 128
TOKENS_PER_FRAME_COLUMN = (MEL_BINS - 16) // STRIDE + 1  # 8 patch rows at stride 16
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
ATTN_IMPLS = ("sdpa", "eager")
NO_ATTN = "-"
OOM_MESSAGES = ("out of memory", "not enough memory", "can't allocate memory", "cannot allocate memory")
# CPU allocator: "heap" keeps large tensors in glibc's heap for the whole sweep (both models), so
# that long sequences do not spend their time page-faulting fresh mmap'ed buffers; "default" leaves
# glibc as it is (`ssamba.ops.keep_large_allocations_in_heap` explains the trade-off).
MALLOC_MODES = ("heap", "default")
# Share of MemAvailable a CPU point may allocate before it counts as out of memory.
CPU_MEMORY_SHARE = 0.85


@dataclass(frozen=True)
class BenchConfig:
    """One sweep: every model x attention x batch x tokens combination."""

    models: tuple[str, ...] = ("ssamba_tiny", "ssast_tiny")
    tokens: tuple[int, ...] = (512, 1024, 2048, 4096, 8192, 16384, 22000)
    batches: tuple[int, ...] = (1,)
    attns: tuple[str, ...] = ATTN_IMPLS
    device: str = "cpu"
    dtype: str = "fp32"
    repeats: int = 5
    warmup: int = 1
    retries: int = 3
    time_budget_s: float = 600.0
    max_other_cpu: float = 0.05
    malloc: str = "heap"
    overrides: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        problems = [f"tokens {t} is not a positive multiple of 8" for t in self.tokens if t <= 0 or t % 8]
        bad_attns = sorted(set(self.attns) - set(ATTN_IMPLS))
        problems += [f"unknown attention {a!r}; choose from {ATTN_IMPLS}" for a in bad_attns]
        problems += [f"batch {b} must be positive" for b in self.batches if b <= 0]
        if self.dtype not in DTYPES:
            problems.append(f"unknown dtype {self.dtype!r}; choose from {sorted(DTYPES)}")
        if self.repeats < 1 or self.warmup < 0 or self.retries < 0:
            problems.append("repeats must be >= 1, warmup and retries >= 0")
        if self.time_budget_s <= 0:
            problems.append("the time budget must be positive")
        if self.malloc not in MALLOC_MODES:
            problems.append(f"unknown malloc mode {self.malloc!r}; choose from {MALLOC_MODES}")
        if not (self.device == "cpu" or self.device.startswith("cuda")):
            problems.append(f"device must be 'cpu' or 'cuda[:i]', got {self.device!r}")
        if problems:
            raise ConfigError("invalid benchmark options: " + "; ".join(problems))


PAPER_PRESET: dict[str, Any] = dict(
    models=tuple(f"{family}_{size}" for size in ("tiny", "small", "base") for family in ("ssamba", "ssast")),
    tokens=(512, 1024, 2048, 4096, 8192, 11008, 15008, 22016, 32768, 50176, 75776),
    batches=(2, 4),  # the official scripts use 2, the README figures say b4 (clarifications)
    attns=("eager",),  # timm 0.4.5 attention, as in the official SSAST
    dtype="fp32",
    repeats=5,
)


@dataclass(frozen=True)
class Point:
    """One measurement: a model at one input size, batch and attention implementation."""

    model: str
    attn: str
    batch: int
    tokens: int

    @property
    def frames(self) -> int:
        return self.tokens // TOKENS_PER_FRAME_COLUMN * STRIDE


def has_attention(model: str) -> bool:
    """Whether a registered model's encoder takes an `attn_impl` (the sweep times each one)."""
    from ssamba.models.registry import model_config

    return hasattr(model_config(model).encoder_config(), "attn_impl")


def iter_series(config: BenchConfig) -> Iterator[list[Point]]:
    """Points grouped by (model, attn, batch), each series in increasing tokens."""
    for model in config.models:
        attns = config.attns if has_attention(model) else (NO_ATTN,)
        for attn in attns:
            for batch in config.batches:
                yield [Point(model, attn, batch, t) for t in sorted(set(config.tokens))]


def _is_oom(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and any(s in text for s in OOM_MESSAGES)


def _release(device: str) -> None:
    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    trim_heap()


class _Runner:
    """Builds the model of one point and times or probes its forward pass."""

    def __init__(self, point: Point, config: BenchConfig) -> None:
        import ssamba

        self.device = config.device
        options: dict[str, Any] = dict(
            patch_stride=(STRIDE, STRIDE), input_tdim=point.frames, drop_path_rate=0.0
        )
        if point.attn != NO_ATTN:
            options["attn_impl"] = point.attn
        options.update(config.overrides)
        dtype = DTYPES[config.dtype]
        self.model = ssamba.create_model(point.model, **options).eval().to(device=config.device, dtype=dtype)
        self.fbank = torch.randn(point.batch, point.frames, MEL_BINS, device=config.device, dtype=dtype)

    def _sync(self) -> None:
        if self.device.startswith("cuda"):
            torch.cuda.synchronize(self.device)

    def forward_s(self) -> float:
        """Seconds of one forward pass (CUDA: synchronised before and after)."""
        with torch.inference_mode():
            self._sync()
            start = time.perf_counter()
            self.model(self.fbank)
            self._sync()
            return time.perf_counter() - start


@dataclass
class Timing:
    """Accepted run times of a point and how many runs other processes disturbed."""

    times: list[float]
    disturbed: int


def timed_runs(
    run: Callable[[], float], repeats: int, retries: int, clock: CpuClock | None, max_other: float, cpus: int
) -> Timing:
    """`repeats` runs of `run`; a run during which others used CPU is redone up to `retries` times.

    If too few clean runs remain, the disturbed ones fill the gap (fastest first).
    """
    clean: list[float] = []
    dirty: list[float] = []
    while len(clean) < repeats and len(clean) + len(dirty) < repeats + retries:
        before = clock.sample() if clock else None
        seconds = run()
        after = clock.sample() if clock else None
        if before and after and is_disturbed(before, after, seconds, cpus, max_other):
            dirty.append(seconds)
        else:
            clean.append(seconds)
    disturbed = max(0, repeats - len(clean))
    return Timing(clean + sorted(dirty)[:disturbed], len(dirty))


def _tensor_bytes(runner: _Runner) -> int:
    """Bytes of the model's parameters and buffers plus the input (resident for the whole point)."""
    tensors = [*runner.model.parameters(), *runner.model.buffers(), runner.fbank]
    return sum(t.numel() * t.element_size() for t in tensors)


@contextlib.contextmanager
def _memory_probe(runner: _Runner) -> Iterator[dict[str, Any]]:
    """Peak memory of the forwards run inside the block, weights and input included.

    CUDA: `max_memory_allocated` after `reset_peak_memory_stats` (the paper's figure). CPU: the
    peak RSS above the RSS on entry (the activations; entered after warm-up so that one-off
    library allocations do not count) plus the bytes of the weights and the input.
    """
    result: dict[str, Any] = {}
    if runner.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats(runner.device)
        yield result
        result.update(
            peak_mem_bytes=torch.cuda.max_memory_allocated(runner.device), mem_source="cuda_max_allocated"
        )
        return
    trim_heap()
    baseline = rss_bytes()
    with PeakRSSSampler() as sampler:
        yield result
    activations = sampler.peak_bytes - baseline
    result.update(
        peak_mem_bytes=activations + _tensor_bytes(runner),
        mem_source="rss_above_baseline+tensors",
        activation_peak_bytes=activations,
        baseline_rss_bytes=baseline,
        peak_rss_sampled_bytes=sampler.sampled_peak_bytes,
        peak_rss_hwm_bytes=sampler.hwm_bytes,
        max_rss_bytes=max_rss_bytes(),
    )


def measure_point(point: Point, config: BenchConfig, clock: CpuClock | None, cpus: int) -> dict[str, Any]:
    """Measure one point; the record's `status` is "ok", "oom" or "skipped_time_budget"."""
    record = base_record(point, config)
    cuda = config.device.startswith("cuda")
    _release(config.device)
    available = None if cuda else available_bytes()
    cap = None if available is None else int(available * CPU_MEMORY_SHARE)
    runner = None
    try:
        with address_space_limit(cap):
            runner = _Runner(point, config)
            record["scan_backend"] = runner.model.config.scan_backend_name(config.device.startswith("cuda"))
            warm = [runner.forward_s() for _ in range(config.warmup)]
            record["warmup_s"] = max(warm, default=None)
            if warm and max(warm) * config.repeats > config.time_budget_s:
                record["status"] = "skipped_time_budget"
                return record
            with _memory_probe(runner) as memory:
                timing = timed_runs(
                    runner.forward_s, config.repeats, config.retries, clock, config.max_other_cpu, cpus
                )
            record.update(memory)
    except (RuntimeError, MemoryError) as exc:
        if not _is_oom(exc):
            raise
        record.update(status="oom", note=str(exc).splitlines()[0][:200])
        return record
    finally:
        del runner
        _release(config.device)
    median = statistics.median(timing.times)
    record.update(
        status="ok",
        latency_s_median=median,
        latency_s_min=min(timing.times),
        latency_s_mean=statistics.fmean(timing.times),
        runs=len(timing.times),
        disturbed_runs=timing.disturbed,
        throughput_tokens_s=point.batch * point.tokens / median,
    )
    return record


def base_record(point: Point, config: BenchConfig) -> dict[str, Any]:
    """The identifying fields of a point's record, measurements left empty."""
    return {
        "model": point.model,
        "attn": point.attn,
        "tokens": point.tokens,
        "stride": STRIDE,
        "frames": point.frames,
        "batch": point.batch,
        "device": config.device,
        "dtype": config.dtype,
        "threads": torch.get_num_threads(),
        "scan_backend": None,
        "status": None,
        "latency_s_median": None,
        "latency_s_min": None,
        "peak_mem_bytes": None,
        "throughput_tokens_s": None,
    }


def predicted_seconds(done: list[dict[str, Any]], tokens: int) -> float | None:
    """Expected latency at `tokens` from a series' measured points (power law, exponent in [1, 2])."""
    ok = [r for r in done if r["status"] == "ok"]
    if not ok:
        return None
    last = ok[-1]
    exponent = 2.0
    if len(ok) >= 2:
        prev = ok[-2]
        time_ratio = last["latency_s_min"] / prev["latency_s_min"]
        slope = math.log(time_ratio) / math.log(last["tokens"] / prev["tokens"])
        exponent = min(2.0, max(1.0, slope))
    return last["latency_s_min"] * (tokens / last["tokens"]) ** exponent


def record_key(record: dict[str, Any]) -> tuple:
    """What identifies a point across runs (for `--resume`)."""
    return tuple(record[k] for k in ("model", "attn", "batch", "tokens", "device", "dtype"))


def run_series(
    points: list[Point],
    config: BenchConfig,
    on_record: Callable[[dict[str, Any]], None],
    previous: dict[tuple, dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Measure a series in increasing size, stopping at the first OOM or over-budget point.

    Points found in `previous` (keyed by `record_key`) are reused instead of measured again,
    except those skipped for time, which are decided again under this run's budget.
    """
    clock = CpuClock() if config.device == "cpu" else None
    cpus = torch.get_num_threads()
    done: list[dict[str, Any]] = []
    for point in points:
        guess = predicted_seconds(done, point.tokens)
        reused = (previous or {}).get(record_key(base_record(point, config)))
        if reused is not None and reused["status"] != "skipped_time_budget":
            record = reused
        elif guess is not None and guess * (config.warmup + config.repeats) > config.time_budget_s:
            record = base_record(point, config)
            record.update(status="skipped_time_budget", note=f"predicted {guess:.1f} s per run")
        else:
            record = measure_point(point, config, clock, cpus)
        done.append(record)
        on_record(record)
        if record["status"] != "ok":
            break
    return done


def with_preset(config: BenchConfig, preset: str | None, **explicit: Any) -> BenchConfig:
    """`config` with a preset's values, then the explicitly given options, applied."""
    if preset not in (None, "paper"):
        raise ConfigError(f"unknown preset {preset!r}; choose 'paper'")
    values = dict(PAPER_PRESET) if preset == "paper" else {}
    values.update({k: v for k, v in explicit.items() if v is not None})
    return replace(config, **values)
