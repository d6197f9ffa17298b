"""A stop signal sent to the whole process group (`timeout`, Ctrl-C, a batch scheduler) while
DataLoader workers run still stops cleanly: one warning, `last.pt` saved, exit 128 + signum, resumable."""

from __future__ import annotations

import os
import signal

import pytest

from ssamba.training.checkpoint import load_checkpoint
from ssamba.training.tracker import read_log


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_group_signal_with_workers_saves_and_resumes(
    signum, write_recipe, background_run, wait_until_training, cli, tmp_path
):
    recipe = write_recipe(tmp_path, max_steps=500, val_every=1000, ckpt_every=1000, num_workers=2)
    out = tmp_path / "run"
    args = ["pretrain", "--config", str(recipe), "--out", str(out)]
    run = background_run(*args)
    wait_until_training(run, out)
    os.killpg(run.pid, signum)  # the main process and, unless they left the group, its workers
    stdout, stderr = run.communicate(timeout=120)
    assert run.returncode == 128 + signum, stderr[-3000:]
    assert "Traceback" not in stderr and "DataLoader worker" not in stderr, stderr[-3000:]
    assert stderr.count(f"{signal.Signals(signum).name} received") == 1, stderr[-3000:]
    assert f"continue with: --resume --out {out}" in stdout
    step = load_checkpoint(out / "checkpoints" / "last.pt")["step"]
    assert 1 <= step < 500 and read_log(out / "log.jsonl")[-1]["event"] == "interrupted"
    if signum == signal.SIGTERM:
        resumed = cli(*args, "--resume", "--set", f"train.max_steps={step + 1}")
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        assert load_checkpoint(out / "checkpoints" / "last.pt")["step"] == step + 1
