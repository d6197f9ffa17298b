"""JSONL run logs (truncation on resume, torn lines) and the training-curve figure."""

from __future__ import annotations

import json

import pytest

from ssamba.training.plots import MSPM_PANELS, PANELS, curves_figure, plot_curves, run_title
from ssamba.training.tracker import RunTracker, read_log


def test_log_rows_truncate_and_torn_line(tmp_path):
    tracker = RunTracker(tmp_path, tensorboard=False)
    for step in (1, 2, 3):
        tracker.log("train", step, loss=1.0 / step)
    with open(tracker.path, "a") as handle:
        handle.write('{"kind": "train", "st')  # a crash mid-write
    assert [row["step"] for row in read_log(tracker.path)] == [1, 2, 3]
    tracker.truncate_after(2)
    assert [row["step"] for row in read_log(tracker.path)] == [1, 2]
    assert json.loads(tracker.path.read_text().splitlines()[0]) == {"kind": "train", "step": 1, "loss": 1.0}


def test_disabled_tracker_writes_nothing(tmp_path):
    tracker = RunTracker(tmp_path / "rank1", enabled=False)
    tracker.log("train", 1, loss=1.0)
    assert not (tmp_path / "rank1").exists()


def test_curves_png(tmp_path):
    pytest.importorskip("matplotlib")
    from PIL import Image

    tracker = RunTracker(tmp_path, tensorboard=False)
    for step in range(1, 6):
        tracker.log("train", step, loss=5.0 - step, acc=0.1 * step, lr=1e-3)
    tracker.log("val", 5, acc=0.4, mse=0.2)
    out = plot_curves(tracker.path, tmp_path / "curves.png", "fine-tune (scratch): quick/ft")
    assert out is not None and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert Image.open(out).text["Title"] == "fine-tune (scratch): quick/ft"


@pytest.mark.parametrize(
    ("panels", "titles"),
    [
        (PANELS, ["loss", "accuracy", "learning rate"]),
        (MSPM_PANELS, ["loss", "masked accuracy", "reconstruction MSE", "learning rate"]),
    ],
)
def test_curve_panels_name_the_metric_and_the_figure_names_the_run(panels, titles):
    plt = pytest.importorskip("matplotlib.pyplot")
    rows = [{"kind": "train", "step": s, "loss": 1.0, "acc": 0.5, "lr": 1e-3} for s in (1, 2)]
    rows.append({"kind": "val", "step": 2, "acc": 0.4, "mse": 0.2})
    fig = curves_figure(plt, rows, "pretrain: runs/pre", panels)
    assert [axis.get_title() for axis in fig.axes] == titles
    assert fig.get_suptitle() == "pretrain: runs/pre"
    plt.close(fig)


def test_run_title_names_the_run_and_its_folder(tmp_path):
    assert run_title("fine-tune (pretrained)", tmp_path / "quick" / "finetune_pretrained") == (
        "fine-tune (pretrained): quick/finetune_pretrained"
    )
