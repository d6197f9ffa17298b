"""JSONL run logs (truncation on resume, torn lines) and the training-curve figure."""

from __future__ import annotations

import json

import pytest

from ssamba.training.plots import plot_curves
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
    tracker = RunTracker(tmp_path, tensorboard=False)
    for step in range(1, 6):
        tracker.log("train", step, loss=5.0 - step, acc=0.1 * step, lr=1e-3)
    tracker.log("val", 5, acc=0.4, mse=0.2)
    out = plot_curves(tracker.path, tmp_path / "curves.png")
    assert out is not None and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
