"""Training step throughput (samples/s): forward, backward and optimiser step of MSPM pretraining
(two passes or one) or of fine-tuning (classifier, cross-entropy, AdamW).

Inputs are random normalised fbanks, so the number is the model's cost alone (the front end is
measured by feature_throughput.py). Each point runs in its own fresh process, one after the other,
so its peak memory (RSS above the process's peak once the model is built) is its own.

Usage: python benchmarks/pretrain_throughput.py [--models ssast_tiny ssamba_tiny] [--frames 128 1024]
       [--batch 16] [--steps 3] [--objective mspm|finetune] [--grad-checkpointing] [--tag fsdd]
Writes benchmarks/results/pretrain_throughput[_TAG].{json,md}; each point records the selective-scan
backend its model resolved to ("none" for SSAST).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

import ssamba
from ssamba.training.config import OptimConfig
from ssamba.training.pretrain import pretrain_optimizer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from feature_throughput import RESULTS_DIR, machine  # noqa: E402

MASK_FRACTION = 400 / 512  # the official share of masked patches
NUM_CLASSES = 35  # fine-tuning head (Speech Commands V2)


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build_step(
    name: str, frames: int, batch: int, single_pass: bool, objective: str, checkpointing: bool
) -> tuple[torch.nn.Module, Callable[[], None], int, int]:
    """The model in training mode, one optimiser step on a fixed random batch, its patches and masked."""
    torch.manual_seed(0)
    fbank = torch.randn(batch, frames, 128)
    if objective == "mspm":
        model = ssamba.create_model(name, task="pretrain", input_tdim=frames)
        optimizer = pretrain_optimizer(model, OptimConfig())
        patches = model.grid[0] * model.grid[1]
        num_masked = min(400, int(patches * MASK_FRACTION))
        rng = random.Random(0)

        def loss() -> torch.Tensor:
            return model.mspm_loss(fbank, num_masked=num_masked, rng=rng, single_pass=single_pass)["loss"]

    else:
        model = ssamba.create_model(name, input_tdim=frames, num_classes=NUM_CLASSES)
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=5e-7)
        patches, num_masked = model.encoder.grid[0] * model.encoder.grid[1], 0
        labels = torch.randint(0, NUM_CLASSES, (batch,))

        def loss() -> torch.Tensor:
            return F.cross_entropy(model(fbank), labels)

    model.train().set_grad_checkpointing(checkpointing)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss().backward()
        optimizer.step()

    return model, step, patches, num_masked


def measure(
    name: str, frames: int, batch: int, steps: int, single_pass: bool, objective: str, checkpointing: bool
) -> dict[str, object]:
    """Time `steps` optimiser steps after one warm-up step (run in a fresh process)."""
    model, step, patches, num_masked = build_step(name, frames, batch, single_pass, objective, checkpointing)
    ready = _peak_rss_mib()
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
        "objective": objective
        if objective == "finetune"
        else ("single_pass" if single_pass else "two_pass (official)"),
        "grad_checkpointing": checkpointing,
        "scan_backend": model.config.scan_backend_name(False),
        "seconds_per_step": round(seconds, 3),
        "samples_per_s": round(batch / seconds, 2),
        "peak_mib_above_ready": round(_peak_rss_mib() - ready, 1),
    }


def measure_in_fresh_process(*args: object) -> dict[str, object]:
    """`measure` in a spawned process: its own allocator state and peak RSS."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(measure, args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["ssast_tiny", "ssamba_tiny"])
    parser.add_argument("--frames", nargs="+", type=int, default=[128])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--single-pass", action="store_true")
    parser.add_argument("--objective", choices=["mspm", "finetune"], default="mspm")
    parser.add_argument("--grad-checkpointing", action="store_true", help="also measure with checkpointing")
    parser.add_argument("--tag", default="")
    args = parser.parse_args()
    points = []
    for frames in args.frames:
        for name in args.models:
            for checkpointing in (False, True) if args.grad_checkpointing else (False,):
                point = measure_in_fresh_process(
                    name, frames, args.batch, args.steps, args.single_pass, args.objective, checkpointing
                )
                print(json.dumps(point), flush=True)
                points.append(point)
    result = {"machine": machine(), "points": points}
    stem = "pretrain_throughput" + (f"_{args.tag}" if args.tag else "")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / f"{stem}.json").write_text(json.dumps(result, indent=1) + "\n")
    columns = (
        "model",
        "frames",
        "patches",
        "masked",
        "batch",
        "objective",
        "grad ckpt",
        "scan",
        "s/step",
        "samples/s",
        "peak MiB",
    )
    header = "| " + " | ".join(columns) + " |\n" + "|---" * len(columns) + "|\n"
    rows = "".join(
        f"| {p['model']} | {p['frames']} | {p['patches']} | {p['num_masked']} | {p['batch']} | "
        f"{p['objective']} | {p['grad_checkpointing']} | {p['scan_backend']} | {p['seconds_per_step']} | "
        f"{p['samples_per_s']} | {p['peak_mib_above_ready']} |\n"
        for p in points
    )
    info = result["machine"]
    text = (
        f"# Training step throughput\n\nMachine: {info['cpu']}, {info['cores_usable']} usable cores, "
        f"torch {info['torch']} ({info['torch_threads']} threads), "
        f"1-min load average {info['load_average_1min']} when the run ended. Peak MiB: the step's "
        "peak RSS above the process's peak once the model was built.\n\n"
        f"Command: `python benchmarks/pretrain_throughput.py {' '.join(sys.argv[1:])}`\n\n{header}{rows}"
    )
    (RESULTS_DIR / f"{stem}.md").write_text(text)


if __name__ == "__main__":
    main()
