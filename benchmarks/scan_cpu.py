"""CPU selective scan: reference loop vs pure-PyTorch fallback vs fused kernel, and the mixer branch.

Part 1, one direction of one tiny layer (batch 1, 384 channels, 16 states) at L = 1212, 5000,
22000: forward and forward + backward of `selective_scan_ref` (timed at L <= 1212 only, longer
lengths extrapolated linearly and marked so), `selective_scan_chunked` (forward + backward timed up
to L = 5000, extrapolated above: autograd through it needs ~GBs there) and the fused kernel (token-
major entry, as the mixer calls it).
Part 2, `mamba_branch` at batch 8, L = 512, E = 384 (SSAMBA-Tiny): reference branch with the
reference scan, reference branch with the fused scan, fused branch; and the two projections alone.

Each time is the median of --repeats runs after one warm-up, all back to back in one process.
Every part runs at each thread count of --threads (default: 1 and torch's default); the fused
kernel is then timed again after `keep_large_allocations_in_heap()`.
Usage: python benchmarks/scan_cpu.py [--repeats 5] [--threads 1,2]
Writes benchmarks/results/scan_cpu.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

from ssamba.ops._extension import load_extension
from ssamba.ops.malloc_tuning import keep_large_allocations_in_heap
from ssamba.ops.mamba_branch import mamba_branch, mamba_branch_ref
from ssamba.ops.scan_chunked import selective_scan_chunked
from ssamba.ops.scan_cpu import selective_scan_bld
from ssamba.ops.scan_ref import selective_scan_ref

sys.path.insert(0, str(Path(__file__).resolve().parent))
from feature_throughput import RESULTS_DIR, machine  # noqa: E402

LENGTHS = (1212, 5000, 22000)
CHANNELS, STATES = 384, 16
REFERENCE_MAX_LEN = 1212
CHUNKED_BACKWARD_MAX_LEN = 5000


def median_ms(fn: Callable[[], object], repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def scan_inputs(length: int) -> dict[str, torch.Tensor]:
    """One layer's scan inputs in mamba_ssm layout, with SSAMBA's A = -(1..16) and realistic steps."""
    g = torch.Generator().manual_seed(0)
    return {
        "u": torch.randn(1, CHANNELS, length, generator=g),
        "delta": torch.randn(1, CHANNELS, length, generator=g) * 0.5 - 1.0,
        "A": -torch.arange(1, STATES + 1, dtype=torch.float32).repeat(CHANNELS, 1),
        "B": torch.randn(1, STATES, length, generator=g),
        "C": torch.randn(1, STATES, length, generator=g),
        "D": torch.ones(CHANNELS),
        "z": torch.randn(1, CHANNELS, length, generator=g),
        "delta_bias": torch.rand(CHANNELS, generator=g) * 2 - 4,
    }


def token_major(args: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.transpose(1, 2).contiguous() if v.dim() == 3 else v for k, v in args.items()}


def time_scan(fn: Callable[..., torch.Tensor], args: dict, repeats: int, backward: bool) -> float:
    def forward() -> None:
        with torch.no_grad():
            fn(**args, delta_softplus=True)

    leaves = {k: v.clone().requires_grad_() for k, v in args.items()}

    def forward_backward() -> None:
        fn(**leaves, delta_softplus=True).sum().backward()
        for leaf in leaves.values():
            leaf.grad = None

    return median_ms(forward_backward if backward else forward, repeats)


def scan_rows(repeats: int, heap: bool) -> list[dict[str, object]]:
    """Part 1 rows; with `heap`, only the fused kernel (malloc tuning already applied)."""
    unlimited = max(LENGTHS)
    # (name, function, longest L timed forward, longest L timed forward + backward, token-major)
    backends = [
        ("fused kernel" + (" (heap malloc)" if heap else ""), selective_scan_bld, unlimited, unlimited, True)
    ]
    if not heap:
        backends = [
            ("reference loop", selective_scan_ref, REFERENCE_MAX_LEN, REFERENCE_MAX_LEN, False),
            ("chunked fallback", selective_scan_chunked, unlimited, CHUNKED_BACKWARD_MAX_LEN, False),
            *backends,
        ]
    rows = []
    for name, fn, fwd_max, bwd_max, layout in backends:
        measured: dict[str, dict[int, float]] = {"forward": {}, "forward_backward": {}}
        for length in LENGTHS:
            args = token_major(scan_inputs(length)) if layout else scan_inputs(length)
            for key, limit in (("forward", fwd_max), ("forward_backward", bwd_max)):
                if length <= limit:
                    measured[key][length] = time_scan(fn, args, repeats, key == "forward_backward")
            print(f"  {name} L={length}: {[m.get(length) for m in measured.values()]} ms", flush=True)
        for length in LENGTHS:
            row: dict[str, object] = {"part": "scan", "case": name, "L": length}
            notes = []
            for key, times in measured.items():
                if length in times:
                    row[f"{key}_ms"] = round(times[length], 2)
                else:  # linear in L from the longest measured length
                    base = max(times)
                    row[f"{key}_ms"] = round(times[base] * length / base, 1)
                    notes.append(f"{key.replace('_', '+')} extrapolated from L={base}")
            row["note"] = "; ".join(notes)
            rows.append(row)
    return rows


def branch_rows(repeats: int) -> list[dict[str, object]]:
    """SSAMBA-Tiny mixer branch: batch 8, 512 tokens, d_model 192 -> E = 384, 16 states, rank 12."""
    g = torch.Generator().manual_seed(0)
    batch, length, inner, rank = 8, 512, 384, 12
    weights = {
        "conv_weight": torch.randn(inner, 4, generator=g) * 0.5,
        "conv_bias": torch.randn(inner, generator=g) * 0.1,
        "x_proj_weight": torch.randn(rank + 2 * STATES, inner, generator=g) * inner**-0.5,
        "dt_proj_weight": torch.randn(inner, rank, generator=g) * rank**-0.5,
        "dt_proj_bias": torch.rand(inner, generator=g) * 2 - 4,
        "A_log": torch.log(torch.arange(1, STATES + 1, dtype=torch.float32)).repeat(inner, 1),
        "D": torch.ones(inner),
    }
    xz = torch.randn(batch, length, 2 * inner, generator=g)
    leaves = {k: v.clone().requires_grad_() for k, v in {"xz": xz, **weights}.items()}

    def branch(fn: Callable[..., torch.Tensor], backend: str, grad: bool) -> Callable[[], None]:
        def call() -> None:
            with torch.set_grad_enabled(grad):
                x, z = leaves["xz"].chunk(2, dim=-1)
                out = fn(x, z, *(leaves[k] for k in weights), reverse=True, scan_backend=backend)
                if grad:
                    out.sum().backward()
                    for leaf in leaves.values():
                        leaf.grad = None

        return call

    def projections(grad: bool) -> Callable[[], None]:
        def call() -> None:
            with torch.set_grad_enabled(grad):
                xc = leaves["xz"][..., :inner]
                dt_low, _, _ = F.linear(xc, leaves["x_proj_weight"]).split([rank, STATES, STATES], dim=-1)
                out = F.linear(dt_low, leaves["dt_proj_weight"])
                if grad:
                    out.sum().backward()
                    for leaf in leaves.values():
                        leaf.grad = None

        return call

    cases = [
        ("reference branch, reference scan", lambda grad: branch(mamba_branch_ref, "reference", grad)),
        ("reference branch, fused scan", lambda grad: branch(mamba_branch_ref, "cpu", grad)),
        ("fused branch", lambda grad: branch(mamba_branch, "cpu", grad)),
        ("x_proj + dt_proj matmuls alone", projections),
    ]
    rows = []
    for name, make in cases:
        fwd, fwd_bwd = median_ms(make(False), repeats), median_ms(make(True), repeats)
        print(f"  {name}: {fwd:.1f} / {fwd_bwd:.1f} ms", flush=True)
        row = {"part": "branch", "case": name, "L": length, "forward_ms": round(fwd, 2)}
        rows.append({**row, "forward_backward_ms": round(fwd_bwd, 2), "note": ""})
    return rows


def cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    return next((set(ln.split(":")[1].split()) for ln in text.splitlines() if ln.startswith("flags")), set())


def markdown(result: dict) -> str:
    m = result["machine"]
    lines = [
        "# CPU selective scan benchmark",
        "",
        f"CPU: {m['cpu']}; AVX-512F: {'yes' if m['avx512f'] else 'no'}; "
        f"kernel built for: {m['simd_target']}; "
        f"cores usable: {m['cores_usable']}; torch {m['torch']} (default {m['torch_threads']} threads); "
        f"1-min load average {m['load_average_1min']} at the start, {result['load_average_end']} at the end "
        "(other work shared the CPU).",
        "",
        "Times: median of the repeats after one warm-up, milliseconds, float32. Part 1: one direction of one "
        f"tiny layer, batch 1, D = {CHANNELS}, N = {STATES}; the fused kernel is called in token-major "
        "layout as the mixer does. Part 2: `mamba_branch` (one direction), batch 8, L = 512, E = 384.",
        "Multi-threaded rows of the small-op PyTorch code (reference loop, reference branch) suffer most "
        "when other processes share the cores: compare the load averages.",
        "",
        "| threads | part | case | L | forward ms | forward+backward ms | note |",
        "|---:|---|---|---:|---:|---:|---|",
    ]
    for r in result["rows"]:
        cells = [
            r["threads"],
            r["part"],
            r["case"],
            r["L"],
            r["forward_ms"],
            r["forward_backward_ms"],
            r["note"],
        ]
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    lines += ["", f"Command: `{result['command']}`", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", default=f"1,{torch.get_num_threads()}", help="comma-separated counts")
    args = parser.parse_args()
    ops = load_extension()
    info = {**machine(), "avx512f": "avx512f" in cpu_flags(), "simd_target": ops.simd_target()}
    rows = []
    thread_counts = sorted({int(t) for t in args.threads.split(",")})
    for heap in (False, True):
        if heap and not keep_large_allocations_in_heap():
            break
        for threads in thread_counts:
            torch.set_num_threads(threads)
            print(f"{threads} thread(s){', large allocations kept in the heap' if heap else ''}", flush=True)
            part = scan_rows(args.repeats, heap) + ([] if heap else branch_rows(args.repeats))
            rows += [{"threads": threads, **row} for row in part]
    result = {
        "machine": info,
        "load_average_end": round(os.getloadavg()[0], 2),
        "command": " ".join(["python", *sys.argv]),
        "rows": rows,
    }
    text = markdown(result)
    print(text)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / "scan_cpu.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS_DIR / "scan_cpu.md").write_text(text)


if __name__ == "__main__":
    main()
