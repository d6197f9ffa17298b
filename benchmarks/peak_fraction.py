"""How close a forward pass runs to the machine's measured fp32 peak.

The peak is a large square sgemm (torch.mm) timed in the same process. A model's work is what torch's
FlopCounterMode counts in one forward of a twin with the same weights' shapes; its time is the
model's as users run it. SSAST's twin uses eager attention (the counter misses CPU SDPA's fused
kernel; the products are the same). SSAMBA's twin runs with autograd on, so every projection is a
counted `F.linear` (inference sends some through oneDNN, which the counter misses), and its scan
runs outside the counter (the custom op does not pass through counting modes): the scan's work is
added as 7 FLOP per state update (delta*A, delta*B*u, the state's and C*h's multiply-adds;
exponentials, gate and skip not counted, so SSAMBA's figure is a lower bound).
Fraction = model GFLOP/s over sgemm GFLOP/s, both best of `--repeats` after a warm-up.

Usage: python benchmarks/peak_fraction.py [--points ssamba_tiny:512:1 ssast_tiny:1208:8 ...] [--repeats 3]
Writes benchmarks/results/peak_fraction.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from torch.utils._python_dispatch import _disable_current_modes
from torch.utils.flop_counter import FlopCounterMode

import ssamba
from ssamba.ops.scan_cpu import selective_scan_cpu
from ssamba.ops.selective_scan import register_backend

sys.path.insert(0, str(Path(__file__).resolve().parent))
from feature_throughput import RESULTS_DIR, machine  # noqa: E402

DEFAULT_POINTS = [
    "ssamba_tiny:512:1",
    "ssast_tiny:512:1",
    "ssamba_tiny:1208:1",
    "ssast_tiny:1208:1",
    "ssamba_tiny:512:8",
    "ssast_tiny:512:8",
    "ssamba_tiny:1208:8",
    "ssast_tiny:1208:8",
    "ssamba_tiny:22000:1",
]
SGEMM_SIZE = 2048
SCAN_FLOP_PER_STATE_UPDATE = 7
_scan_state_updates = [0]


def best_seconds(fn, repeats: int) -> float:
    """Best wall time of `repeats` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def sgemm_gflops(repeats: int) -> float:
    a, b = torch.randn(SGEMM_SIZE, SGEMM_SIZE), torch.randn(SGEMM_SIZE, SGEMM_SIZE)
    return 2 * SGEMM_SIZE**3 / best_seconds(lambda: torch.mm(a, b), repeats) / 1e9


def _uncounted_scan(*args):
    """The fused scan run outside FlopCounterMode, tallying its state updates (batch x channels x
    length x states) for the analytic count."""
    u, A = args[0], args[2]
    _scan_state_updates[0] += u.numel() * A.shape[-1]
    with _disable_current_modes():
        return selective_scan_cpu(*args)


def model_point(name: str, tokens: int, batch: int, repeats: int) -> dict[str, object]:
    """FLOPs and best forward time of `name` on `tokens` stride-16 patches (frames = 2 x tokens)."""
    frames = 2 * tokens
    model = ssamba.create_model(name, input_tdim=frames, patch_stride=(16, 16)).eval()
    fbank = torch.randn(batch, frames, 128)
    _scan_state_updates[0] = 0
    if model.config.family == "ssamba":
        twin = ssamba.create_model(name, input_tdim=frames, patch_stride=(16, 16), scan_backend="uncounted")
    else:
        twin = ssamba.create_model(name, input_tdim=frames, patch_stride=(16, 16), attn_impl="eager")
    twin.eval()
    counter = FlopCounterMode(display=False)
    with counter:  # with autograd on, so every projection runs as F.linear (counted), not oneDNN's op
        twin(fbank)
    with torch.inference_mode():
        seconds = best_seconds(lambda: model(fbank), repeats)
    scan_flops = SCAN_FLOP_PER_STATE_UPDATE * _scan_state_updates[0]
    flops = counter.get_total_flops() + scan_flops
    return {
        "model": name,
        "tokens": tokens,
        "batch": batch,
        "counted_gflop": round(flops / 1e9, 2),
        "scan_gflop": round(scan_flops / 1e9, 2),
        "seconds": round(seconds, 4),
        "gflops_per_s": round(flops / seconds / 1e9, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", nargs="+", default=DEFAULT_POINTS, help="MODEL:TOKENS:BATCH")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    register_backend("uncounted", _uncounted_scan)
    peak_before = sgemm_gflops(args.repeats)
    points = []
    for spec in args.points:
        name, tokens, batch = spec.split(":")
        point = model_point(name, int(tokens), int(batch), args.repeats)
        print(json.dumps(point), flush=True)
        points.append(point)
    peak = max(peak_before, sgemm_gflops(args.repeats))
    for point in points:
        point["fraction_of_sgemm_peak"] = round(point["gflops_per_s"] / peak, 3)
    result = {
        "machine": machine(),
        "sgemm_size": SGEMM_SIZE,
        "sgemm_gflops": round(peak, 1),
        "points": points,
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / "peak_fraction.json").write_text(json.dumps(result, indent=1) + "\n")
    info = result["machine"]
    rows = "".join(
        f"| {p['model']} | {p['tokens']} | {p['batch']} | {p['counted_gflop']} | {p['scan_gflop']} | "
        f"{p['seconds']} | {p['gflops_per_s']} | {p['fraction_of_sgemm_peak']:.0%} |\n"
        for p in points
    )
    text = (
        f"# Forward passes against the measured sgemm peak\n\nMachine: {info['cpu']}, "
        f"{info['cores_usable']} usable cores, torch {info['torch']} ({info['torch_threads']} threads), "
        f"1-min load average {info['load_average_1min']} when the run ended. Peak: {SGEMM_SIZE}^3 sgemm "
        f"{peak:.1f} GFLOP/s (best of the runs before and after the models).\n\n"
        f"Command: `python benchmarks/peak_fraction.py {' '.join(sys.argv[1:])}`\n\n"
        "| model | tokens | batch | GFLOP | of which scan | s | GFLOP/s | of peak |\n"
        "|---|---|---|---|---|---|---|---|\n" + rows
    )
    (RESULTS_DIR / "peak_fraction.md").write_text(text)


if __name__ == "__main__":
    main()
