"""Issue 17.12: files written atomically (models, results, configs, embeddings) get the mode any other
new file gets, 0666 less the umask, not mkstemp's 0600; a file that is replaced keeps its mode."""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from tiny_runs import write_clips, write_recipe

from ssamba.cli.main import main
from ssamba.utils_io import atomic_write, atomic_write_text


@contextlib.contextmanager
def process_umask(mask: int) -> Iterator[None]:
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.fixture(params=[0o022, 0o027, 0o077, 0o002], ids=lambda m: f"umask_{m:03o}")
def umask(request) -> Iterator[int]:
    with process_umask(request.param):
        yield request.param


def modes(folder: Path) -> dict[str, int]:
    """Permission bits of every file below `folder`, by relative path."""
    return {
        str(p.relative_to(folder)): stat.S_IMODE(p.stat().st_mode) for p in folder.rglob("*") if p.is_file()
    }


def test_finetune_and_embed_outputs_honour_the_umask(tmp_path):
    umask = 0o027  # group may read, others not: neither mkstemp's 0600 nor the usual 0644
    with process_umask(umask):
        written = _finetune_and_embed(tmp_path)
    expected = 0o666 & ~umask
    for name in (
        "final/model.safetensors",
        "final/config.json",
        "results.json",
        "config.yaml",
        "embeddings/npy/clip0.embeddings.npy",
        "embeddings/safetensors/clip0.safetensors",
    ):
        assert name in written
    wrong = {name: f"{mode:03o}" for name, mode in written.items() if mode != expected}
    assert not wrong, f"expected {expected:03o} everywhere: {wrong}"


def _finetune_and_embed(tmp_path: Path) -> dict[str, int]:
    """Modes of a fine-tuning run folder and of its model's embeddings (npy and safetensors)."""
    manifest = write_clips(tmp_path / "data")
    run = tmp_path / "run"
    assert main(["finetune", "--config", str(write_recipe(tmp_path, manifest)), "--out", str(run)]) == 0
    embeddings = tmp_path / "embeddings"
    for fmt in ("npy", "safetensors"):
        argv = ["embed", str(manifest.parent), "--model", str(run / "final"), "--out", str(embeddings / fmt)]
        assert main([*argv, "--format", fmt]) == 0
    return {**modes(run), **{f"embeddings/{k}": v for k, v in modes(embeddings).items()}}


@pytest.mark.parametrize("writer", ["text", "replacing_writer"])
def test_atomic_write_gives_new_files_the_umask_mode(tmp_path, umask, writer):
    path = tmp_path / "out.bin"
    if writer == "text":
        atomic_write_text(path, "x")
    else:  # a writer that deletes and recreates its target, as safetensors does

        def write(tmp: Path) -> None:
            tmp.unlink()
            fd = os.open(tmp, os.O_CREAT | os.O_WRONLY, 0o600)
            os.close(fd)

        atomic_write(path, write)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o664])
def test_replaced_file_keeps_its_mode(tmp_path, mode):
    path = tmp_path / "results.json"
    path.write_text("{}")
    path.chmod(mode)
    atomic_write_text(path, '{"a": 1}')
    assert stat.S_IMODE(path.stat().st_mode) == mode and path.read_text() == '{"a": 1}'
