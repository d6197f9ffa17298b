"""Fixtures for the reliability tests: a tiny saved model, a CLI runner that checks clean errors, runs."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

import ssamba
from ssamba.cli.main import main
from ssamba.training.tracker import read_log


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A `save_pretrained` folder of a one-layer SSAST (fast to load and run)."""
    torch.manual_seed(0)
    directory = tmp_path_factory.mktemp("tiny_model")
    ssamba.create_model("ssast_tiny", input_tdim=128, depth=1).save_pretrained(directory)
    return directory


@pytest.fixture
def cli_error() -> Callable[..., str]:
    """Run `ssamba ARGS`; assert exit 1, `ssamba: error:` on stderr, no traceback; return stderr.

    stderr is captured like the real one (UTF-8, `backslashreplace`). With `debug=True` the same
    arguments plus `--debug` must re-raise instead (returns "").
    """

    def run(args: list[str], *, debug: bool = False, raises: type[Exception] = Exception) -> str:
        if debug:
            with pytest.raises(raises):
                main(["--debug", *args])
            return ""
        stream = io.TextIOWrapper(io.BytesIO(), "utf-8", "backslashreplace", write_through=True)
        with contextlib.redirect_stderr(stream):
            code = main(args)
        err = stream.buffer.getvalue().decode("utf-8")
        assert code == 1, err
        assert "ssamba: error:" in err and "Traceback" not in err, err
        return err

    return run


@pytest.fixture
def background_run():
    """`background_run(*args) -> Popen`: `ssamba ARGS` in its own process group; killed at teardown."""
    started: list[subprocess.Popen] = []

    def start(*args: str) -> subprocess.Popen:
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        env.pop("RANK", None)
        command = [sys.executable, "-m", "ssamba.cli.main", *args]
        pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
        process = subprocess.Popen(command, env=env, text=True, start_new_session=True, **pipes)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.communicate()


@pytest.fixture(scope="session")
def wait_until_training() -> Callable[[subprocess.Popen, Path], None]:
    """`wait_until_training(process, out)` returns once that run has logged a training row."""

    def wait(process: subprocess.Popen, out: Path, timeout: float = 120) -> None:
        log = out / "log.jsonl"
        deadline = time.monotonic() + timeout
        while not (log.is_file() and any(row["kind"] == "train" for row in read_log(log))):
            assert process.poll() is None, process.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "no training step was logged"
            time.sleep(0.1)

    return wait
