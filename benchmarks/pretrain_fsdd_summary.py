"""Summarise FSDD pretraining runs: validation masked-accuracy curve vs chance, and training samples/s.

Usage: python benchmarks/pretrain_fsdd_summary.py RUN_DIR [RUN_DIR ...]
Reads each run's config.yaml and log.jsonl; writes benchmarks/results/pretrain_fsdd.{json,md} and
copies each run's curves.png to benchmarks/results/pretrain_fsdd_<run>.png.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
from pathlib import Path

import yaml

from ssamba.training.tracker import read_log

sys.path.insert(0, str(Path(__file__).resolve().parent))
from feature_throughput import RESULTS_DIR, machine  # noqa: E402


def summarise(run: Path) -> dict[str, object]:
    """One run's settings, validation curve and median training throughput."""
    config = yaml.safe_load((run / "config.yaml").read_text())
    rows = read_log(run / "log.jsonl")
    valid_masked = config["mspm"]["valid_num_masked"]
    speeds = [row["samples_per_s"] for row in rows if row["kind"] == "train"]
    return {
        "run": run.name,
        "model": config["model"],
        "model_overrides": config["model_overrides"],
        "target_length": config["data"]["features"].get("target_length"),
        "num_masked": config["mspm"]["num_masked"],
        "valid_num_masked": valid_masked,
        "chance_acc": round(1 / valid_masked, 4) if valid_masked else None,
        "batch_size": config["train"]["batch_size"],
        "steps": max(row["step"] for row in rows),
        "valid_curve": [
            {"step": row["step"], "acc": round(row["acc"], 4), "mse": round(row["mse"], 4)}
            for row in rows
            if row["kind"] == "val"
        ],
        "train_samples_per_s_median": round(statistics.median(speeds), 2) if speeds else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    args = parser.parse_args()
    runs = [summarise(run) for run in args.runs]
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    result = {"machine": machine(), "runs": runs}
    (RESULTS_DIR / "pretrain_fsdd.json").write_text(json.dumps(result, indent=1) + "\n")
    lines = ["# MSPM pretraining on FSDD (CPU)", ""]
    for run, path in zip(runs, args.runs, strict=True):
        curve = ", ".join(f"{p['step']}: {p['acc']:.3f}" for p in run["valid_curve"])
        lines += [
            f"## {run['run']}: {run['model']} {run['model_overrides'] or ''}",
            f"{run['target_length']} frames, {run['num_masked']} masked "
            f"(validation {run['valid_num_masked']}, chance {run['chance_acc']}), "
            f"batch {run['batch_size']}, {run['steps']} steps, "
            f"median {run['train_samples_per_s_median']} samples/s end to end.",
            f"Validation masked accuracy by step: {curve}.",
            "",
        ]
        if (path / "curves.png").is_file():
            shutil.copyfile(path / "curves.png", RESULTS_DIR / f"pretrain_fsdd_{run['run']}.png")
    (RESULTS_DIR / "pretrain_fsdd.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
