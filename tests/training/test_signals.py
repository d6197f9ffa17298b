"""SIGTERM stops a run gracefully: the step finishes, `last` is saved, exit code 128 + 15, resumable."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from ssamba.training.checkpoint import load_checkpoint
from ssamba.training.signals import HANDLED, StopRequest
from ssamba.training.tracker import read_log


def test_sigterm_saves_and_resume_finishes(write_recipe, cli, tmp_path):
    recipe = write_recipe(tmp_path, max_steps=500, ckpt_every=1000, val_every=1000)
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    args = ["pretrain", "--config", str(recipe), "--out", str(out)]
    command = [sys.executable, "-m", "ssamba.cli.main", *args]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = out / "log.jsonl"
    deadline = time.monotonic() + 120
    while not (log.is_file() and any(r["kind"] == "train" for r in read_log(log))):
        assert process.poll() is None and time.monotonic() < deadline, "no training step was logged"
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM, stderr[-2000:]
    assert "--resume" in stdout
    state = load_checkpoint(out / "checkpoints" / "last.pt")
    assert 1 <= state["step"] < 500
    assert not (out / "final").exists()
    assert read_log(log)[-1]["event"] == "interrupted"

    resumed = cli(*args, "--resume", "--set", f"train.max_steps={state['step'] + 2}")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert load_checkpoint(out / "checkpoints" / "last.pt")["step"] == state["step"] + 2
    assert (out / "final" / "model.safetensors").is_file()
    assert [row["step"] for row in read_log(log) if row["kind"] == "train"][-1] == state["step"] + 2


def test_a_handler_set_outside_python_is_replaced_by_the_default_on_exit(monkeypatch):
    """`signal.signal` returns None for a handler installed by C code; that cannot be reinstalled."""
    real_signal = signal.signal
    installed: list[int] = []

    def signal_reporting_foreign_handlers(signum, handler):
        previous = real_signal(signum, handler)
        if signum not in installed:  # first install: pretend C code had set the previous handler
            installed.append(signum)
            return None
        return previous

    before = {signum: signal.getsignal(signum) for signum in HANDLED}
    monkeypatch.setattr(signal, "signal", signal_reporting_foreign_handlers)
    try:
        with StopRequest():
            pass
        assert all(signal.getsignal(signum) == signal.SIG_DFL for signum in before)
    finally:
        for signum, handler in before.items():
            real_signal(signum, handler)
