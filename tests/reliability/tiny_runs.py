"""Tiny inputs for the round-2 reliability tests: noise clips, a 2-class classifier and a fine-tuning
recipe that trains in about a second."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import yaml

import ssamba

RATE = 16000
LABELS = ("a", "b")


def write_clips(folder: Path, count: int = 8, seconds: float = 0.5) -> Path:
    """`count` noise clips and a manifest (labels a/b alternating, splits train x6 / test x2)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    rows = []
    for index in range(count):
        path = folder / f"clip{index}.wav"
        sf.write(path, (0.1 * rng.standard_normal(int(RATE * seconds))).astype(np.float32), RATE)
        split = "test" if index >= count - 2 else "train"
        rows.append({"audio": path.name, "label": LABELS[index % 2], "split": split})
    manifest = folder / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return manifest


def save_classifier(folder: Path) -> Path:
    """A one-layer SSAST classifier (2 classes, 128 frames) with its labels.json, as `finetune` writes it."""
    torch.manual_seed(0)
    ssamba.create_model("ssast_tiny", 2, input_tdim=128, depth=1).save_pretrained(folder)
    (folder / "labels.json").write_text(json.dumps({"labels": list(LABELS), "multi_label": False}))
    return folder


def write_recipe(folder: Path, manifest: Path, **changes: object) -> Path:
    """A one-epoch fine-tuning recipe on `manifest` (depth-1 SSAST, 48 frames); `changes`: top-level keys."""
    recipe = {
        "model": "ssast_tiny",
        "model_overrides": {"depth": 1, "patch_stride": [16, 16]},
        "data": {"manifest": str(manifest), "features": {"target_length": 48, "mean": -3.0, "std": 5.0}},
        "train": {"epochs": 1, "batch_size": 3, "progress": False, "plot": False},
        **changes,
    }
    path = folder / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    return path
