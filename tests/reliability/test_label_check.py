"""`ssamba finetune` checks every split's labels against the label map before step 1 (issue 17.7),
naming the manifest and the line, instead of failing at the end of an epoch or after training."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from ssamba.data import LabelMap

FEATURES = {"target_length": 48, "mean": -3.0, "std": 5.0}


def finetune_args(folder: Path, fsdd_dir: Path, extra_rows: list[dict], **data: object) -> list[str]:
    """`finetune` arguments for 4 train clips of digits 1 and 2, plus `extra_rows` (lines 5, 6, ...)."""
    clips = fsdd_dir / "recordings"
    rows = [
        {"audio": str(clips / f"{d}_theo_{t}.wav"), "label": str(d), "split": "train"}
        for d in (1, 2)
        for t in (0, 1)
    ]
    for i, row in enumerate(extra_rows):
        rows.append({"audio": str(clips / f"1_jackson_{i}.wav"), **row})
    manifest = folder / "m.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    recipe = {
        "model": "ssast_tiny",
        "model_overrides": {"depth": 1, "patch_stride": [16, 16]},
        "data": {"manifest": str(manifest), "features": FEATURES, "train_split": ["train"], **data},
        "train": {"epochs": 1, "batch_size": 2, "progress": False, "plot": False},
    }
    config = folder / "ft.yaml"
    config.write_text(yaml.safe_dump(recipe))
    return ["finetune", "--config", str(config), "--out", str(folder / "run")]


@pytest.mark.parametrize(
    ("extra_rows", "data", "expected"),
    [
        pytest.param(
            [{"label": "1", "split": "test"}, {"label": "zebra", "split": "test"}],
            {"test_split": ["test"]},
            ["of the test split", "line 6: unknown label(s) ['zebra']"],
            id="test_split",
        ),
        pytest.param(
            [{"label": "7", "split": "valid"}],
            {"valid_split": ["valid"], "test_split": []},
            ["of the valid split", "line 5: unknown label(s) ['7']"],
            id="valid_split",
        ),
        pytest.param(
            [{"labels": ["1", "2"], "split": "valid"}],
            {"valid_split": ["valid"], "test_split": []},
            ["line 5: 2 labels for a single-label map"],
            id="several_labels_single_label_map",
        ),
    ],
)
def test_unknown_held_out_label_fails_before_step_1(
    tmp_path, fsdd_dir, cli_error, extra_rows, data, expected
):
    err = cli_error(finetune_args(tmp_path, fsdd_dir, extra_rows, **data))
    assert f"{tmp_path / 'm.jsonl'}: 1 row(s)" in err and "2 labels: 1, 2" in err, err
    assert all(text in err for text in expected), err
    assert not (tmp_path / "run" / "checkpoints").exists()
    assert not (tmp_path / "run" / "log.jsonl").exists()


def test_label_map_file_missing_a_train_label(tmp_path, fsdd_dir, cli_error):
    labels = LabelMap(("1",)).save(tmp_path / "labels.json")
    err = cli_error(finetune_args(tmp_path, fsdd_dir, [], label_map=str(labels), test_split=[]))
    assert "2 row(s) of the train split have labels" in err and f"data.label_map {labels}" in err, err
    assert "line 3: unknown label(s) ['2']" in err and "line 4: " in err, err
    assert not (tmp_path / "run" / "checkpoints").exists()
