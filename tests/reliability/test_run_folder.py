"""One run per run folder: a second run fails at once naming the first one's pid; an earlier run's
outputs are never replaced silently (`--resume` or `--overwrite`); a rejected `--resume` keeps the
run's `config.yaml`."""

from __future__ import annotations

import shutil
import signal
import time
from pathlib import Path

import pytest

from ssamba.cli.main import main
from ssamba.training.checkpoint import load_checkpoint
from ssamba.training.tracker import read_log


def pretrain(recipe: Path, out: Path, *extra: str) -> list[str]:
    return ["pretrain", "--config", str(recipe), "--out", str(out), *extra]


@pytest.fixture(scope="module")
def finished_run(write_recipe, tmp_path_factory) -> tuple[Path, Path]:
    """(recipe, run folder) of a finished one-step pretraining run; copy it before changing it."""
    folder = tmp_path_factory.mktemp("finished")
    recipe = write_recipe(folder, max_steps=1, val_every=1000)
    assert main(pretrain(recipe, folder / "run")) == 0
    return recipe, folder / "run"


def copy_of(run: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(run, tmp_path / "run"))


def test_a_second_run_on_the_same_out_fails_at_once_naming_the_first(
    write_recipe, background_run, wait_until_training, cli_error, tmp_path
):
    recipe = write_recipe(tmp_path, max_steps=500, val_every=1000, ckpt_every=1000)
    out = tmp_path / "run"
    first = background_run(*pretrain(recipe, out))
    wait_until_training(first, out)
    began = time.monotonic()
    err = cli_error(pretrain(recipe, out, "--resume"))
    assert f"in use by another run (pid {first.pid})" in err
    assert time.monotonic() - began < 30  # refused up front, not after building the run
    first.send_signal(signal.SIGTERM)
    _, stderr = first.communicate(timeout=120)
    assert first.returncode == 128 + signal.SIGTERM, stderr[-2000:]
    events = [row["event"] for row in read_log(out / "log.jsonl") if row["kind"] == "event"]
    assert events == ["start", "interrupted"]  # nothing from the refused run


def test_a_fresh_run_into_an_earlier_run_is_refused(write_recipe, cli_error, tmp_path):
    recipe = write_recipe(tmp_path)
    out = tmp_path / "run"
    (out / "checkpoints").mkdir(parents=True)
    (out / "checkpoints" / "last.pt").write_bytes(b"the earlier run's checkpoint")
    (out / "log.jsonl").write_text('{"kind": "event", "step": 0, "event": "start"}\n')
    err = cli_error(pretrain(recipe, out))
    assert f"{out} holds an earlier run (checkpoints/, log.jsonl)" in err
    assert "--resume" in err and "--overwrite" in err
    assert (out / "checkpoints" / "last.pt").read_bytes() == b"the earlier run's checkpoint"
    assert not (out / "config.yaml").exists()


def test_overwrite_replaces_the_earlier_run(finished_run, tmp_path):
    recipe, run = finished_run
    out = copy_of(run, tmp_path)
    assert main(pretrain(recipe, out, "--overwrite", "--set", "train.max_steps=2")) == 0
    assert load_checkpoint(out / "checkpoints" / "last.pt")["step"] == 2
    events = [row["event"] for row in read_log(out / "log.jsonl") if row["kind"] == "event"]
    assert events == ["start", "end"]  # the earlier run's rows are gone, not interleaved
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["best.pt", "last.pt"]


def test_resume_and_overwrite_exclude_each_other(finished_run, tmp_path, capsys):
    recipe, run = finished_run
    with pytest.raises(SystemExit) as exit_info:
        main(pretrain(recipe, run, "--resume", "--overwrite"))
    assert exit_info.value.code == 2 and "not allowed with argument" in capsys.readouterr().err


def test_a_rejected_resume_keeps_the_runs_config(finished_run, cli_error, tmp_path):
    recipe, run = finished_run
    out = copy_of(run, tmp_path)
    before = (out / "config.yaml").read_bytes()
    err = cli_error(pretrain(recipe, out, "--resume", "--set", "optim.lr=0.5"))
    assert "cannot resume with a different configuration (optim.lr: 0.001 -> 0.5)" in err
    assert (out / "config.yaml").read_bytes() == before
