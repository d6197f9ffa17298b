"""The quickstart: FSDD splits, the download error, and an end-to-end smoke run (slow)."""

from __future__ import annotations

import json
import urllib.error
from pathlib import Path

import pytest

from ssamba.apps.quickstart import fsdd_recordings, write_manifests
from ssamba.cli.main import main
from ssamba.data import read_manifest
from ssamba.errors import ConfigError, SsambaError
from ssamba.training.engine import TrainResult


def test_manifests_hold_the_official_test_split_and_few_labels(fsdd_dir: Path, tmp_path: Path) -> None:
    pretrain, splits = write_manifests(fsdd_dir / "recordings", tmp_path, labels_per_class=5)
    counts = read_manifest(splits).counts("split")
    assert counts == {"labelled": 300, "test": 300, "train": 2400}
    labelled = read_manifest(splits).select("split", "labelled")
    assert {e.extra["take"] for e in labelled} == {5, 6, 7, 8, 9}
    assert len(labelled.label_names()) == 10 and len(labelled.counts("speaker")) == 6
    unlabelled = read_manifest(pretrain, require_labels=False)
    assert len(unlabelled) == 2700 and all(e.extra["take"] >= 5 for e in unlabelled)
    _, one = write_manifests(fsdd_dir / "recordings", tmp_path / "one", labels_per_class=1)
    assert read_manifest(one).counts("split")["labelled"] == 60
    with pytest.raises(ConfigError):
        write_manifests(fsdd_dir / "recordings", tmp_path, labels_per_class=46)


def test_missing_network_asks_for_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr("urllib.request.urlopen", offline)
    with pytest.raises(SsambaError, match="--data"):
        fsdd_recordings(None, tmp_path)
    with pytest.raises(SsambaError, match="no FSDD recordings"):
        fsdd_recordings(tmp_path, tmp_path)


@pytest.mark.slow
def test_quickstart_smoke(fsdd_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    args = [
        "quickstart",
        "--data",
        str(fsdd_dir),
        "--out",
        str(tmp_path),
        "--model",
        "ssast_tiny",
        "--depth",
        "1",
        "--steps-scale",
        "0.01",
        "--task",
        "speakers",
    ]
    assert main(args) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    for name in ("pretrained", "scratch"):
        assert 0.0 <= results[name]["accuracy"] <= 1.0 and results[name]["test_clips"] == 300
    assert results["minutes"] > 0 and (tmp_path / "accuracy.png").is_file()
    assert "pretrained" in capsys.readouterr().out
    from PIL import Image

    titles = {
        "pretrain": "pretrain: ",
        "finetune_pretrained": "fine-tune (pretrained): ",
        "finetune_scratch": "fine-tune (scratch): ",
    }
    for run, title in titles.items():
        assert Image.open(tmp_path / run / "curves.png").text["Title"] == f"{title}{tmp_path.name}/{run}"
    assert (tmp_path / "results.md").read_text().startswith("| model")


def test_recipe_shapes_both_stages_alike(tmp_path: Path) -> None:
    """Pretraining and fine-tuning see the same 16 x 8 patches; fine-tuning uses the recipe's
    augmentation and learning rate, pretraining the recipe's masked count."""
    from ssamba.apps.quickstart import QuickstartRecipe, finetune_config, pretrain_config
    from ssamba.models.patch import patch_grid

    recipe = QuickstartRecipe()
    pre = pretrain_config(recipe, tmp_path / "pre.jsonl")
    fine = finetune_config(recipe, tmp_path / "splits.jsonl", "scratch", "digits")
    assert pre.model_overrides == {"depth": 2, "patch_shape": (16, 8)}
    assert fine.model_overrides == {"depth": 2, "patch_shape": (16, 8), "patch_stride": (16, 8)}
    assert patch_grid(128, recipe.target_length, (16, 8), (16, 8)) == (8, 8)
    assert 0 < pre.mspm.num_masked < 64 and pre.mspm.single_pass  # both heads on one pass: half the cost
    assert fine.augment.noise and fine.optim.lr == recipe.finetune_lr
    assert fine.train.epochs == recipe.finetune_epochs and pre.train.max_steps == recipe.pretrain_steps


def test_quickstart_announces_each_run_and_writes_the_table_as_results_md(
    fsdd_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog, capsys
) -> None:
    """With the trainings stubbed: which fine-tune runs is logged before it, both train with a
    progress bar, and results.md holds the printed table with the numbers of results.json."""
    accuracy = {"pretrained": 0.95, "scratch": 0.86}

    def pretrain(config, out, overwrite):
        assert config.train.progress and overwrite
        (Path(out) / "final").mkdir(parents=True)

    def finetune(config, out, overwrite):
        which = "scratch" if config.init == "scratch" else "pretrained"
        announced = [r.getMessage() for r in caplog.records if "fine-tuning" in r.getMessage()]
        expected = (
            "fine-tuning 2 of 2: from scratch" if which == "scratch" else "fine-tuning 1 of 2: from the pre"
        )
        assert announced[-1].startswith(expected) and config.train.progress and overwrite
        return TrainResult(1, summary={"test": {"accuracy": accuracy[which], "num_clips": 300, "mAP": 0.5}})

    monkeypatch.setattr("ssamba.training.pretrain.run_pretrain", pretrain)
    monkeypatch.setattr("ssamba.training.finetune.run_finetune", finetune)
    with caplog.at_level("INFO"):
        args = ["quickstart", "--data", str(fsdd_dir), "--out", str(tmp_path), "--model", "ssast_tiny"]
        assert main(args) == 0  # (SSAST: no scan kernel to compile)
    table = (tmp_path / "results.md").read_text()
    assert table.strip() in capsys.readouterr().out
    results = json.loads((tmp_path / "results.json").read_text())
    lines = table.splitlines()
    assert lines[0].split("|")[1:-1] == [" model      ", " test accuracy ", " errors ", " minutes "]
    assert set(lines[1]) <= {"|", "-", " "}
    for line, name, errors in zip(lines[2:4], ("pretrained", "scratch"), (15, 42), strict=True):
        cells = [cell.strip() for cell in line.split("|")[1:-1]]
        assert cells[0] == name and results[name]["errors"] == errors
        assert cells[1] == f"{100 * accuracy[name]:.1f} %" and cells[2] == f"{errors}/300"
        assert float(cells[3]) == pytest.approx(results[name]["minutes"], abs=0.05)
