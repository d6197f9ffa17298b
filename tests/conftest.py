"""Shared test helpers: where the read-only project data (`../shared`) lives, tiny training runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from shared_data import FIXTURES_DIR, FSDD_DIR, HAVE_SHARED, SHARED_DIR, SHARED_MISSING


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """`../shared`; the tests using it (directly or through another fixture) skip when it is absent."""
    if not HAVE_SHARED:
        pytest.skip(SHARED_MISSING)
    return SHARED_DIR


@pytest.fixture(scope="session")
def fixtures_dir(shared_dir: Path) -> Path:
    """`../shared/fixtures` (golden tensors and official checkpoints)."""
    assert FIXTURES_DIR.is_dir(), f"{shared_dir} holds no fixtures/ folder"
    return FIXTURES_DIR


@pytest.fixture(scope="session")
def fsdd_dir(shared_dir: Path) -> Path:
    """The Free Spoken Digit Dataset in `../shared/datasets/fsdd`."""
    assert (FSDD_DIR / "recordings").is_dir(), f"FSDD not found at {FSDD_DIR}"
    return FSDD_DIR


# -- tiny training runs (tests/training, tests/reliability) ---------------------------------
TRAIN_CLIPS = 12
VALID_CLIPS = 4


@pytest.fixture(scope="session")
def clip_manifests(fsdd_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(train, valid) JSONL manifests over a handful of FSDD recordings (labels left in; ignored)."""
    folder = tmp_path_factory.mktemp("manifests")
    wavs = sorted((fsdd_dir / "recordings").glob("*.wav"))[::97]
    paths = []
    splits = {"train": wavs[:TRAIN_CLIPS], "valid": wavs[TRAIN_CLIPS : TRAIN_CLIPS + VALID_CLIPS]}
    for name, chosen in splits.items():
        path = folder / f"{name}.jsonl"
        path.write_text("".join(json.dumps({"audio": str(w), "label": w.name[0]}) + "\n" for w in chosen))
        paths.append(path)
    return paths[0], paths[1]


def tiny_recipe(train: Path, valid: Path, model: str = "ssast_tiny", **train_options) -> dict:
    """A seconds-long pretraining recipe: depth-2 model, 64 frames (32 patches), batch 4, 6 steps."""
    return {
        "model": model,
        "model_overrides": {"depth": 2, "drop_path_rate": 0.1},
        "data": {
            "train_manifests": [str(train)],
            "valid_manifest": str(valid),
            "features": {"target_length": 64, "mean": -3.0, "std": 5.0},
        },
        "mspm": {"num_masked": 16},
        "optim": {"lr": 1e-3, "grad_clip": 1.0},
        "schedule": {"kind": "plateau", "warmup_steps": 2, "warmup_interval": 1, "patience": 0},
        "train": {
            "batch_size": 4,
            "max_steps": 6,
            "log_every": 1,
            "val_every": 3,
            "ckpt_every": 2,
            "progress": False,
            "plot": False,
            **train_options,
        },
    }


@pytest.fixture(scope="session")
def write_recipe(clip_manifests: tuple[Path, Path]):
    """`write_recipe(folder, model=..., **train_options)` -> path of a tiny recipe YAML in `folder`."""

    def write(folder: Path, model: str = "ssast_tiny", **train_options) -> Path:
        path = folder / f"recipe_{model}.yaml"
        path.write_text(yaml.safe_dump(tiny_recipe(*clip_manifests, model=model, **train_options)))
        return path

    return write


def _run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    """`python -m ssamba.cli.main ARGS` in a fresh process (single-threaded torch for repeatability)."""
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    full_env.pop("RANK", None)
    return subprocess.run(
        [sys.executable, "-m", "ssamba.cli.main", *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="session")
def cli():
    """`cli(*args, env=...)` runs the `ssamba` command in a subprocess."""
    return _run_cli
