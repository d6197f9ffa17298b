"""`ssamba finetune`, `evaluate` and `predict` through `ssamba.cli.main.main`."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from sklearn.metrics import accuracy_score

from ssamba.cli.main import main

FEATURES = {"target_length": 48, "mean": -3.0, "std": 5.0}


@pytest.fixture(scope="module")
def finetuned(fsdd_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(model folder, manifest) of a 1-epoch speaker-ID fine-tune on 8 clips of two speakers."""
    folder = tmp_path_factory.mktemp("cli_ft")
    rows = [
        {
            "audio": str(fsdd_dir / "recordings" / f"{d}_{s}_{t}.wav"),
            "label": str(d),
            "speaker": s,
            "fold": "a" if t >= 5 else "b",
        }
        for s in ("jackson", "theo")
        for d in (1, 2)
        for t in (0, 5, 6)
    ]
    manifest = folder / "m.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    recipe = {
        "model": "ssast_tiny",
        "model_overrides": {"depth": 1, "patch_stride": [16, 16]},
        "data": {
            "manifest": str(manifest),
            "features": FEATURES,
            "label_key": "speaker",
            "train_split": ["a"],
            "test_split": ["b"],
        },
        "train": {"epochs": 1, "batch_size": 4, "progress": False, "plot": False},
    }
    config = folder / "ft.yaml"
    config.write_text(yaml.safe_dump(recipe))
    out = folder / "run"
    assert main(["finetune", "--config", str(config), "--split-key", "fold", "--out", str(out)]) == 0
    return out / "final", manifest


def test_finetune_writes_model_and_results(finetuned: tuple[Path, Path]) -> None:
    model_dir, _ = finetuned
    results = json.loads((model_dir.parent / "results.json").read_text())
    assert results["num_classes"] == 2 and results["train_clips"] == 8 and results["test"]["num_clips"] == 4
    assert json.loads((model_dir / "labels.json").read_text())["labels"] == ["jackson", "theo"]


def test_evaluate_matches_predict(finetuned: tuple[Path, Path], tmp_path: Path, capsys) -> None:
    model_dir, manifest = finetuned
    args = [
        "evaluate",
        "--model",
        str(model_dir),
        "--manifest",
        str(manifest),
        "--split-key",
        "fold",
        "--split",
        "b",
        "--label-key",
        "speaker",
        "--out",
        str(tmp_path),
    ]
    assert main(args) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert (tmp_path / "confusion.png").is_file() and metrics["num_clips"] == 4
    rows = [json.loads(line) for line in manifest.read_text().splitlines() if '"b"' in line]
    capsys.readouterr()
    assert (
        main(
            [
                "predict",
                "--model",
                str(model_dir),
                "--top-k",
                "1",
                "--format",
                "csv",
                *[r["audio"] for r in rows],
            ]
        )
        == 0
    )
    table = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    predicted = [row["label"] for row in table]
    assert metrics["accuracy"] == pytest.approx(accuracy_score([r["speaker"] for r in rows], predicted))
    assert all(0.0 <= float(row["score"]) <= 1.0 for row in table)


def test_predict_json_on_a_folder_and_errors(finetuned: tuple[Path, Path], tmp_path: Path, fsdd_dir, capsys):
    model_dir, _ = finetuned
    (tmp_path / "clips").mkdir()
    (tmp_path / "clips" / "x.wav").write_bytes((fsdd_dir / "recordings" / "3_theo_1.wav").read_bytes())
    assert main(["predict", "--model", str(model_dir), str(tmp_path / "clips")]) == 0
    records = json.loads(capsys.readouterr().out)
    scores = [p["score"] for p in records[0]["predictions"]]
    assert len(scores) == 2 and np.isclose(sum(scores), 1.0, atol=1e-5) and scores == sorted(scores)[::-1]
    assert main(["predict", "--model", str(model_dir), str(tmp_path / "nothing.wav")]) == 1
    assert main(["evaluate", "--model", str(tmp_path), "--manifest", "m.jsonl"]) == 1
    assert "ssamba: error" in capsys.readouterr().err
