"""The quickstart: MSPM pretraining on unlabelled FSDD audio pays off with few labels.

Steps: (1) find or download FSDD; (2) manifests: all training takes (5-49) unlabelled for
pretraining, takes 5..4+k labelled for fine-tuning, the official test takes 0-4; (3) pretrain;
(4) fine-tune from the pretrained encoder and from scratch with the same recipe; (5) test both,
write `results.json`, plots and the table (`results.md`). Each training shows a progress bar with
its loss and ETA on a terminal.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ssamba.data import AugmentConfig, build_manifest, preset_options, write_manifest
from ssamba.errors import ConfigError, SsambaError
from ssamba.training.config import (
    DataConfig,
    LoopConfig,
    MSPMConfig,
    OptimConfig,
    PretrainConfig,
    ScheduleConfig,
)
from ssamba.training.finetune_config import FinetuneConfig, FinetuneData, FinetuneLoop, FinetuneSchedule
from ssamba.utils_io import atomic_write_text

logger = logging.getLogger(__name__)

FSDD_ZIP_URL = "https://github.com/Jakobovski/free-spoken-digit-dataset/archive/refs/heads/master.zip"
FSDD_TAKES = 50
FSDD_TEST_TAKES = 5
# `ssamba data stats` of the FSDD training split at 128 frames (16 kHz, 128 mel bins).
FSDD_FEATURES = {"target_length": 128, "mean": -3.0776786, "std": 5.3027654}
TASK_LABEL_KEYS = {"digits": "label", "speakers": "speaker"}


@dataclass(frozen=True)
class QuickstartRecipe:
    """The small CPU recipe (measured in benchmarks/results/quickstart.md).

    64-frame inputs (95 % of FSDD clips fit), a 2-layer (one bidirectional pair) SSAMBA-Tiny on
    16 x 8 patches (mel x frames: 8 x 8 = 64 tokens, 80 ms per token; 16 x 16 patches were 6-12
    points worse), 40 of 64 patches masked in pretraining, both MSPM heads on one pass (half the
    official two-pass cost; as accurate here, measured); fine-tuning on the same patches with
    layer-wise lr decay (0.65 per layer from the top: the pretrained lower layers move least),
    SpecAugment and the official noise + time-roll augmentation. `steps_scale` multiplies
    pretraining steps and fine-tuning epochs (smoke tests).
    """

    model: str = "ssamba_tiny"
    depth: int | None = 2
    patch_shape: tuple[int, int] = (16, 8)
    patch_stride: tuple[int, int] = (16, 8)
    target_length: int = 64
    pretrain_steps: int = 3000
    pretrain_batch: int = 16
    pretrain_lr: float = 1e-3
    num_masked: int = 40
    single_pass: bool = True
    finetune_epochs: int = 40
    finetune_batch: int = 8
    finetune_lr: float = 1e-3
    layer_decay: float | None = 0.65
    freqm: int = 16
    timem: int = 8
    noise: bool = True
    mixup: float = 0.0
    seed: int = 0
    steps_scale: float = 1.0

    def overrides(self) -> dict[str, Any]:
        """Model options shared by pretraining and fine-tuning (pretraining patches do not overlap)."""
        depth = {} if self.depth is None else {"depth": self.depth}
        return {**depth, "patch_shape": tuple(self.patch_shape)}

    def features(self) -> dict[str, Any]:
        """Front-end overrides: FSDD statistics, clips padded at the end to `target_length` frames."""
        return {**FSDD_FEATURES, "target_length": self.target_length}

    def scaled(self, value: int) -> int:
        return max(1, round(value * self.steps_scale))


def fsdd_recordings(data: str | Path | None, cache_dir: str | Path) -> Path:
    """The folder of FSDD wav files: `data` (or its `recordings/`), else a cached download."""
    if data is not None:
        root = Path(data)
        for candidate in (root / "recordings", root):
            if candidate.is_dir() and any(candidate.glob("*_*_*.wav")):
                return candidate
        raise SsambaError(
            f"{root}: no FSDD recordings ({{digit}}_{{speaker}}_{{take}}.wav) here or in recordings/"
        )
    target = Path(cache_dir) / "fsdd"
    recordings = target / "recordings"
    if recordings.is_dir() and any(recordings.glob("*.wav")):
        return recordings
    logger.info("downloading FSDD from %s", FSDD_ZIP_URL)
    try:
        with urllib.request.urlopen(FSDD_ZIP_URL, timeout=60) as response:
            payload = response.read()
    except (urllib.error.URLError, OSError) as exc:
        raise SsambaError(
            f"cannot download FSDD from {FSDD_ZIP_URL} ({exc}); without network access, pass "
            "--data DIR pointing at a copy of the dataset (the folder holding recordings/)"
        ) from exc
    recordings.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(payload)) as archive:
        for name in archive.namelist():
            if "/recordings/" in name and name.endswith(".wav"):
                (recordings / Path(name).name).write_bytes(archive.read(name))
    return recordings


def write_manifests(recordings: Path, out: Path, labels_per_class: int) -> tuple[Path, Path]:
    """(pretraining manifest: every training take; fine-tuning manifest: labelled/train/test splits)."""
    spare = FSDD_TAKES - FSDD_TEST_TAKES
    if not 1 <= labels_per_class <= spare:
        raise ConfigError(f"--labels-per-class must be in 1..{spare}, got {labels_per_class}")
    last = FSDD_TEST_TAKES - 1 + labels_per_class
    rule = f"field:take,test=0-{FSDD_TEST_TAKES - 1},labelled={FSDD_TEST_TAKES}-{last}"
    if last < FSDD_TAKES - 1:
        rule += f",train={last + 1}-{FSDD_TAKES - 1}"
    options = dict(preset_options("fsdd"), split_rule=rule)
    manifest = build_manifest(recordings, **options)
    finetune_path = write_manifest(manifest, out / "data" / "fsdd_splits.jsonl", absolute_paths=True)
    unlabelled = [dataclasses.replace(e, split="train") for e in manifest if e.split != "test"]
    pretrain_path = write_manifest(unlabelled, out / "data" / "fsdd_pretrain.jsonl", absolute_paths=True)
    return pretrain_path, finetune_path


def pretrain_config(recipe: QuickstartRecipe, manifest: Path) -> PretrainConfig:
    """MSPM pretraining on the unlabelled training audio (cosine lr after a short warm-up)."""
    steps = recipe.scaled(recipe.pretrain_steps)
    return PretrainConfig(
        model=recipe.model,
        model_overrides=recipe.overrides(),
        data=DataConfig(train_manifests=(str(manifest),), features=recipe.features()),
        mspm=MSPMConfig(num_masked=recipe.num_masked, single_pass=recipe.single_pass),
        optim=OptimConfig(lr=recipe.pretrain_lr),
        schedule=ScheduleConfig(
            kind="cosine", warmup_steps=min(50, steps // 5), warmup_interval=5, min_lr=1e-5
        ),
        train=LoopConfig(
            batch_size=recipe.pretrain_batch,
            max_steps=steps,
            seed=recipe.seed,
            log_every=10,
            val_every=steps,
            ckpt_every=max(1, steps // 4),
            num_workers=1,
            tensorboard=False,
        ),
    )


def finetune_config(recipe: QuickstartRecipe, manifest: Path, init: str, task: str) -> FinetuneConfig:
    """Fine-tuning on the labelled takes (no validation split: the last epoch is tested)."""
    epochs = recipe.scaled(recipe.finetune_epochs)
    return FinetuneConfig(
        data=FinetuneData(
            manifest=str(manifest),
            train_split=("labelled",),
            valid_split=(),
            test_split=("test",),
            label_key=TASK_LABEL_KEYS[task],
            features=recipe.features(),
        ),
        model=recipe.model,
        init=init,
        model_overrides={**recipe.overrides(), "patch_stride": tuple(recipe.patch_stride)},
        layer_decay=recipe.layer_decay,
        augment=AugmentConfig(freqm=recipe.freqm, timem=recipe.timem, mixup=recipe.mixup, noise=recipe.noise),
        optim=OptimConfig(lr=recipe.finetune_lr),
        schedule=FinetuneSchedule(kind="cosine", warmup_steps=20, warmup_interval=5, min_lr=1e-6),
        train=FinetuneLoop(
            epochs=epochs,
            batch_size=recipe.finetune_batch,
            seed=recipe.seed,
            num_workers=1,
            log_every=10,
        ),
    )


def _finetune_and_test(config: FinetuneConfig, out: Path, which: str) -> dict[str, Any]:
    from ssamba.training.finetune import run_finetune

    logger.info("fine-tuning %s, %d epochs -> %s", which, config.train.epochs, out)
    start = time.perf_counter()
    test = run_finetune(config, out, overwrite=True).summary["test"]  # the quickstart's own folder
    return {
        "accuracy": test["accuracy"],
        "errors": round((1.0 - test["accuracy"]) * test["num_clips"]),
        "test_clips": test["num_clips"],
        "mAP": test["mAP"],
        "minutes": (time.perf_counter() - start) / 60.0,
        "model_dir": str(out / "final"),
    }


def run_quickstart(
    recipe: QuickstartRecipe,
    out: str | Path,
    *,
    data: str | Path | None = None,
    cache_dir: str | Path,
    task: str = "digits",
    labels_per_class: int = 5,
) -> dict[str, Any]:
    """Pretrain, fine-tune pretrained and scratch models, test both; writes OUT/results.json."""
    from ssamba.training.pretrain import run_pretrain

    if task not in TASK_LABEL_KEYS:
        raise ConfigError(f"--task must be one of {sorted(TASK_LABEL_KEYS)}, got {task!r}")
    out = Path(out)
    from ssamba.models.registry import model_config

    backend = model_config(recipe.model).scan_backend_name(False)
    if backend in ("reference", "chunked"):
        logger.warning(
            "SSAMBA runs on the slow pure-PyTorch selective scan (%s) here: expect far more than 20 minutes",
            backend,
        )
    began = time.perf_counter()
    pretrain_manifest, splits = write_manifests(fsdd_recordings(data, cache_dir), out, labels_per_class)
    start = time.perf_counter()
    pretraining = pretrain_config(recipe, pretrain_manifest)
    logger.info("pretraining %s: %d steps -> %s", recipe.model, pretraining.train.max_steps, out / "pretrain")
    run_pretrain(pretraining, out / "pretrain", overwrite=True)
    pretrain_minutes = (time.perf_counter() - start) / 60.0
    pretrained = _finetune_and_test(
        finetune_config(recipe, splits, str(out / "pretrain" / "final"), task),
        out / "finetune_pretrained",
        f"1 of 2: from the pretrained encoder ({out / 'pretrain' / 'final'})",
    )
    scratch = _finetune_and_test(
        finetune_config(recipe, splits, "scratch", task), out / "finetune_scratch", "2 of 2: from scratch"
    )
    results = {
        "task": task,
        "labels_per_class": labels_per_class,
        "pretrained": {**pretrained, "pretrain_minutes": pretrain_minutes},
        "scratch": scratch,
        "minutes": (time.perf_counter() - began) / 60.0,
        "scan_backend": backend,
        "recipe": dataclasses.asdict(recipe),
    }
    atomic_write_text(out / "results.json", json.dumps(results, indent=2) + "\n")
    atomic_write_text(out / "results.md", format_table(results) + "\n")
    plot_accuracies(results, out / "accuracy.png")
    return results


def format_table(results: dict[str, Any]) -> str:
    """The quickstart summary as a Markdown table (aligned, so it also reads well on a terminal)."""
    rows: list[tuple[str, ...]] = [("model", "test accuracy", "errors", "minutes")]
    for name in ("pretrained", "scratch"):
        r = results[name]
        rows.append(
            (name, f"{100 * r['accuracy']:.1f} %", f"{r['errors']}/{r['test_clips']}", f"{r['minutes']:.1f}")
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    rows.insert(1, tuple("-" * w for w in widths))
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |" for row in rows]
    lines.append("")
    lines.append(
        f"pretraining {results['pretrained']['pretrain_minutes']:.1f} min, "
        f"total {results['minutes']:.1f} min "
        f"({results['task']}, {results['labels_per_class']} labelled take(s) per class and speaker)"
    )
    return "\n".join(lines)


def plot_accuracies(results: dict[str, Any], path: Path) -> Path | None:
    """Bar chart of the two test accuracies (skipped without matplotlib)."""
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = ["pretrained", "scratch"]
    values = [100 * results[n]["accuracy"] for n in names]
    fig, ax = plt.subplots(figsize=(4, 3.5))
    bars = ax.bar(names, values, color=["tab:blue", "tab:gray"])
    ax.bar_label(bars, fmt="%.1f")
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title(f"FSDD {results['task']}, {results['labels_per_class']} take(s)/class")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
