"""Fixtures for the reliability tests: a tiny saved model and a CLI runner that checks clean errors."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

import ssamba
from ssamba.cli.main import main


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
