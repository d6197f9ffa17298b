"""Disk full while saving: the previous file stays intact, no temporary file is left behind."""

from __future__ import annotations

import errno
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import soundfile as sf
import torch

import ssamba
from ssamba.models.loading import from_pretrained
from ssamba.utils_io import atomic_write


def disk_full(*args, **kwargs) -> None:
    """A writer (of a path or a file handle) that gets part way, then runs out of space."""
    for arg in args:
        if isinstance(arg, (str, Path)):
            Path(arg).write_bytes(b"partial")
        elif hasattr(arg, "write"):
            arg.write(b"partial")
    raise OSError(errno.ENOSPC, "No space left on device")


def test_atomic_write_keeps_the_previous_file(tmp_path):
    target = tmp_path / "state.bin"
    target.write_bytes(b"previous")
    with pytest.raises(OSError, match="No space left"):
        atomic_write(target, disk_full)
    assert target.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["state.bin"]


def test_save_pretrained_out_of_space_keeps_the_previous_model(tmp_path, monkeypatch):
    torch.manual_seed(0)
    old = ssamba.create_model("ssast_tiny", input_tdim=128, depth=1)
    old.save_pretrained(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    monkeypatch.setattr(safetensors.torch, "save_file", disk_full)
    with pytest.raises(OSError, match="No space left"):
        ssamba.create_model("ssast_tiny", input_tdim=128, depth=1).save_pretrained(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    loaded = from_pretrained(tmp_path).state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in old.state_dict().items())


def test_cli_reports_disk_full_without_traceback(tmp_path, monkeypatch, cli_error, tiny_model_dir):
    clip = tmp_path / "clip.wav"
    sf.write(clip, np.zeros(16000, np.float32), 16000)
    monkeypatch.setattr(np, "save", disk_full)
    err = cli_error(["embed", str(clip), "--model", str(tiny_model_dir), "--out", str(tmp_path / "out")])
    assert "No space left on device" in err
