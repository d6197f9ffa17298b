"""A checkpoint write that runs out of space (torch.save raises RuntimeError, not OSError) ends in a
clean `ssamba: error: ... No space left on device`, keeps the previous checkpoint and leaves no
temporary file; temporaries that a crash left behind are removed when the next run starts."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

from ssamba.cli.main import main
from ssamba.training.checkpoint import load_checkpoint

# A checkpoint of the tiny recipe is ~13.5 MB: the first fits in 20 MiB, a second one cannot.
TMPFS_SIZE = "20m"


@pytest.fixture
def small_tmpfs(tmp_path) -> Path:
    """A real 20 MiB tmpfs (needs root or CAP_SYS_ADMIN; skipped otherwise), unmounted afterwards."""
    mount_point = tmp_path / "small_disk"
    mount_point.mkdir()
    command = ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs", str(mount_point)]
    try:
        mounted = subprocess.run(command, capture_output=True, text=True, timeout=30)
    except OSError as exc:
        pytest.skip(f"cannot run mount ({exc})")
    if mounted.returncode != 0:
        pytest.skip(f"mounting a tmpfs needs root or CAP_SYS_ADMIN: {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=True, timeout=30)


def pretrain_args(recipe: Path, out: Path) -> list[str]:
    return ["pretrain", "--config", str(recipe), "--out", str(out)]


def assert_clean_disk_full(err: str, out: Path) -> None:
    assert "No space left on device while writing checkpoint" in err
    assert "the previous checkpoint is kept: free some space, then --resume" in err
    assert load_checkpoint(out / "checkpoints" / "last.pt")["step"] == 2
    assert not list((out / "checkpoints").glob(".*.tmp"))


def test_a_really_full_disk_stops_the_run_cleanly(write_recipe, small_tmpfs, cli_error, tmp_path):
    recipe = write_recipe(tmp_path, max_steps=4, ckpt_every=2, val_every=1000)
    out = small_tmpfs / "run"
    err = cli_error(pretrain_args(recipe, out))
    assert_clean_disk_full(err, out)


def test_torchs_write_error_is_reported_as_disk_full(write_recipe, cli_error, monkeypatch, tmp_path):
    """Without root: the checkpoint's temporary file becomes /dev/full, so torch fails as on a full disk."""
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    real_save = torch.save
    with pytest.raises(RuntimeError, match="inline_container"):  # what torch raises on a full disk
        real_save({"x": torch.zeros(1000)}, "/dev/full")
    calls = []

    def save_onto_full_device(obj, path, *args, **kwargs):
        calls.append(path)
        if len(calls) > 1:  # the first checkpoint is written, the next one meets a full disk
            Path(path).unlink()
            Path(path).symlink_to("/dev/full")
        return real_save(obj, path, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save_onto_full_device)
    recipe = write_recipe(tmp_path, max_steps=4, ckpt_every=2, val_every=1000)
    out = tmp_path / "run"
    assert_clean_disk_full(cli_error(pretrain_args(recipe, out)), out)


def test_temporaries_left_by_a_crashed_write_are_removed_at_start(write_recipe, tmp_path):
    recipe = write_recipe(tmp_path, max_steps=1, val_every=1000)
    out = tmp_path / "run"
    assert main(pretrain_args(recipe, out)) == 0
    checkpoint = out / "checkpoints" / "last.pt"
    stale = out / "checkpoints" / ".last.pt.k3j2x9a1.tmp"  # as `atomic_path` names them
    shutil.copyfile(checkpoint, stale)  # a write killed before its rename leaves a full-size file
    assert main([*pretrain_args(recipe, out), "--resume"]) == 0
    assert not stale.exists()
    assert load_checkpoint(checkpoint)["step"] == 1
