"""Resume keeps the log: rows after a resume equal the uninterrupted run's (timing aside), also when
the run stopped inside a logging window; a schedule whose length is `max_steps` refuses a new one."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import ssamba.training.engine as engine
from ssamba.cli.main import main
from ssamba.training.checkpoint import load_checkpoint
from ssamba.training.tracker import read_log

TIMING = {"samples_per_s"}


def logged(out: Path) -> list[dict]:
    """The train and validation rows of a run, without timing fields."""
    rows = read_log(out / "log.jsonl")
    return [{k: v for k, v in row.items() if k not in TIMING} for row in rows if row["kind"] != "event"]


def test_rows_after_a_resume_inside_a_logging_window_match_the_uninterrupted_run(
    write_recipe, monkeypatch, tmp_path
):
    recipe = write_recipe(tmp_path, max_steps=6, log_every=4, val_every=3, ckpt_every=100)
    args = ["pretrain", "--config", str(recipe), "--out"]
    assert main([*args, str(tmp_path / "reference")]) == 0

    def stop_after_step_3(name: str, step: int) -> None:
        if (name, step) == ("step_end", 3):
            os.kill(os.getpid(), signal.SIGTERM)  # the graceful stop: checkpoint at step 3

    monkeypatch.setattr(engine, "fault_point", stop_after_step_3)
    out = tmp_path / "run"
    assert main([*args, str(out)]) == 128 + signal.SIGTERM
    assert load_checkpoint(out / "checkpoints" / "last.pt")["step"] == 3
    monkeypatch.undo()
    assert main([*args, str(out), "--resume"]) == 0
    reference = logged(tmp_path / "reference")
    expected = [("val", 3), ("train", 4), ("train", 6), ("val", 6)]
    assert [(row["kind"], row["step"]) for row in reference] == expected
    assert logged(out) == reference


def test_a_new_max_steps_for_a_cosine_schedule_is_refused(write_recipe, cli_error, tmp_path):
    recipe = write_recipe(tmp_path, max_steps=2, val_every=1000)
    cosine = ["--set", "schedule.kind=cosine"]
    args = ["pretrain", "--config", str(recipe), "--out", str(tmp_path / "run"), *cosine]
    assert main(args) == 0
    err = cli_error([*args, "--resume", "--set", "train.max_steps=4"])
    assert "cannot resume with train.max_steps=4: the cosine lr schedule spans" in err
    assert "the run's train.max_steps=2" in err
    assert load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["step"] == 2
