"""MSPM pretraining step throughput (samples/s): forward (two passes or one), backward, optimiser step.

Inputs are random normalised fbanks, so the number is the model's cost alone (the front end is
measured by feature_throughput.py). Each point: model, frames, batch, masked patches, objective.

Usage: python benchmarks/pretrain_throughput.py [--models ssast_tiny ssamba_tiny] [--frames 128 1024]
       [--batch 16] [--steps 3] [--tag fsdd]
Writes benchmarks/results/pretrain_throughput[_TAG].{json,md}; each point records the selective-scan
backend its model resolved to ("none" for SSAST).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import torch

import ssamba
from ssamba.training.config import OptimConfig
from ssamba.training.pretrain import pretrain_optimizer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from feature_throughput import RESULTS_DIR, machine  # noqa: E402

MASK_FRACTION = 400 / 512  # the official share of masked patches


def measure(name: str, frames: int, batch: int, steps: int, single_pass: bool) -> dict[str, object]:
    """Time `steps` optimiser steps after one warm-up step."""
    torch.manual_seed(0)
    model = ssamba.create_model(name, task="pretrain", input_tdim=frames)
    optimizer = pretrain_optimizer(model, OptimConfig())
    patches = model.grid[0] * model.grid[1]
    num_masked = min(400, int(patches * MASK_FRACTION))
    fbank = torch.randn(batch, frames, 128)
    rng = random.Random(0)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        model.mspm_loss(fbank, num_masked=num_masked, rng=rng, single_pass=single_pass)["loss"].backward()
        optimizer.step()

    step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    seconds = (time.perf_counter() - start) / steps
    return {
        "model": name,
        "frames": frames,
        "patches": patches,
        "num_masked": num_masked,
        "batch": batch,
        "objective": "single_pass" if single_pass else "two_pass (official)",
        "scan_backend": model.config.scan_backend_name(False),
        "seconds_per_step": round(seconds, 3),
        "samples_per_s": round(batch / seconds, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["ssast_tiny", "ssamba_tiny"])
    parser.add_argument("--frames", nargs="+", type=int, default=[128])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--single-pass", action="store_true")
    parser.add_argument("--tag", default="")
    args = parser.parse_args()
    points = []
    for frames in args.frames:
        for name in args.models:
            point = measure(name, frames, args.batch, args.steps, args.single_pass)
            print(json.dumps(point), flush=True)
            points.append(point)
    result = {"machine": machine(), "points": points}
    stem = "pretrain_throughput" + (f"_{args.tag}" if args.tag else "")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / f"{stem}.json").write_text(json.dumps(result, indent=1) + "\n")
    columns = ("model", "frames", "patches", "masked", "batch", "objective", "scan", "s/step", "samples/s")
    header = "| " + " | ".join(columns) + " |\n" + "|---" * len(columns) + "|\n"
    rows = "".join(
        f"| {p['model']} | {p['frames']} | {p['patches']} | {p['num_masked']} | {p['batch']} | "
        f"{p['objective']} | {p['scan_backend']} | {p['seconds_per_step']} | {p['samples_per_s']} |\n"
        for p in points
    )
    info = result["machine"]
    text = (
        f"# MSPM pretraining throughput\n\nMachine: {info['cpu']}, {info['cores_usable']} usable cores, "
        f"torch {info['torch']} ({info['torch_threads']} threads), "
        f"1-min load average {info['load_average_1min']} when the run ended.\n\n{header}{rows}"
    )
    (RESULTS_DIR / f"{stem}.md").write_text(text)


if __name__ == "__main__":
    main()
