"""Where a training step's CPU time goes: torch.profiler over a few steps, grouped by operator.

Each model is profiled in its own fresh process on the same step as pretrain_throughput.py (random
normalised fbanks, MSPM or fine-tuning objective, AdamW). The table lists the operators with the most
self CPU time per step (time spent in the operator itself, not in what it calls), so the rows add up
to the step; the fused selective scan shows as `ssamba::selective_scan_*`.

Usage: python benchmarks/profile_step.py [--models ssamba_tiny ssast_tiny] [--frames 128] [--batch 16]
       [--objective mspm|finetune] [--steps 3] [--top 12]
Writes benchmarks/results/profile_step_<objective>_<frames>.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from pathlib import Path

from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parent))
from feature_throughput import RESULTS_DIR, machine  # noqa: E402
from pretrain_throughput import build_step  # noqa: E402


def profile_model(
    name: str, frames: int, batch: int, objective: str, steps: int, top: int
) -> dict[str, object]:
    """Self CPU milliseconds per step of the `top` most expensive operators, after a warm-up step."""
    _, step, _, _ = build_step(name, frames, batch, False, objective, False)
    step()
    start = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    wall_ms = (time.perf_counter() - start) * 1e3 / steps
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total_ms = sum(e.self_cpu_time_total for e in events) / 1e3 / steps
    rows = [
        {
            "op": e.key,
            "calls_per_step": round(e.count / steps, 1),
            "self_ms_per_step": round(e.self_cpu_time_total / 1e3 / steps, 1),
            "share": round(e.self_cpu_time_total / 1e3 / steps / total_ms, 3),
        }
        for e in events[:top]
    ]
    return {
        "model": name,
        "wall_ms_per_step_profiled": round(wall_ms, 1),
        "self_ms_total": round(total_ms, 1),
        "ops": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["ssamba_tiny", "ssast_tiny"])
    parser.add_argument("--frames", type=int, default=128)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--objective", choices=["mspm", "finetune"], default="mspm")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()
    results = []
    for name in args.models:
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            result = pool.apply(
                profile_model, (name, args.frames, args.batch, args.objective, args.steps, args.top)
            )
        print(json.dumps(result), flush=True)
        results.append(result)
    stem = f"profile_step_{args.objective}_{args.frames}"
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    info = machine()
    (RESULTS_DIR / f"{stem}.json").write_text(
        json.dumps({"machine": info, "models": results}, indent=1) + "\n"
    )
    sections = []
    for result in results:
        rows = "".join(
            f"| `{op['op']}` | {op['calls_per_step']} | {op['self_ms_per_step']} | {op['share']:.0%} |\n"
            for op in result["ops"]
        )
        sections.append(
            f"## {result['model']}: {result['self_ms_total']} ms of operator time per step "
            f"({result['wall_ms_per_step_profiled']} ms wall, profiled)\n\n"
            "| operator | calls/step | self ms/step | share |\n|---|---|---|---|\n" + rows
        )
    text = (
        f"# Training step profile ({args.objective}, {args.frames} frames, batch {args.batch})\n\n"
        f"Machine: {info['cpu']}, {info['cores_usable']} usable cores, torch {info['torch']} "
        f"({info['torch_threads']} threads), 1-min load average {info['load_average_1min']} "
        "when the run ended.\n\n"
        f"Command: `python benchmarks/profile_step.py {' '.join(sys.argv[1:])}`\n\n" + "\n".join(sections)
    )
    (RESULTS_DIR / f"{stem}.md").write_text(text)


if __name__ == "__main__":
    main()
