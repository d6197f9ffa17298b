"""Crash-and-resume: runs killed with SIGKILL at step boundaries or mid-checkpoint, then resumed with
`--resume`, end with weights bit-identical to an uninterrupted run."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from ssamba.training.checkpoint import load_checkpoint


@pytest.fixture(scope="module")
def train(cli):
    """`train(recipe, out, fault=None, resume=False)` -> the finished `ssamba pretrain` process."""

    def run(recipe: Path, out: Path, fault: str | None = None, resume: bool = False):
        args = ["pretrain", "--config", str(recipe), "--out", str(out)] + (["--resume"] if resume else [])
        return cli(*args, env={"SSAMBA_FAULT": fault} if fault else None)

    return run


def _assert_same_state(expected: dict, actual: dict) -> None:
    assert expected.keys() == actual.keys()
    for key in expected:
        assert torch.equal(expected[key], actual[key]), key


def _check_resumed(train, recipe: Path, reference: Path, out: Path, fault: str, saved_step: int) -> None:
    killed = train(recipe, out, fault=fault)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert not (out / "final").exists()
    assert load_checkpoint(out / "checkpoints" / "last.pt")["step"] == saved_step
    stale = list((out / "checkpoints").glob(".last.pt.*.tmp"))
    assert len(stale) == fault.startswith("checkpoint_write")  # the write killed before its rename
    resumed = train(recipe, out, resume=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resumed from" in resumed.stderr
    assert not any(path.exists() for path in stale)  # removed when the resumed run started
    expected = load_checkpoint(reference / "checkpoints" / "last.pt")
    actual = load_checkpoint(out / "checkpoints" / "last.pt")
    assert actual["step"] == expected["step"] == 6
    _assert_same_state(expected["model"], actual["model"])
    for index, state in expected["optimizer"]["state"].items():
        for key in ("exp_avg", "exp_avg_sq"):
            assert torch.equal(state[key], actual["optimizer"]["state"][index][key])
    assert actual["schedule"] == expected["schedule"]
    assert actual["data"] == expected["data"]
    final = "final/model.safetensors"
    _assert_same_state(load_file(reference / final), load_file(out / final))


@pytest.fixture(scope="module")
def reference_run(write_recipe, train, tmp_path_factory):
    """The uninterrupted 6-step SSAST run (2 epochs of 3 batches, validation at 3 and 6)."""
    folder = tmp_path_factory.mktemp("reference")
    recipe = write_recipe(folder)
    result = train(recipe, folder / "run")
    assert result.returncode == 0, result.stderr[-2000:]
    return recipe, folder / "run"


@pytest.mark.parametrize(
    ("fault", "saved_step"),
    [
        ("step_end@3", 2),  # killed between steps: the step-2 checkpoint is the latest
        ("checkpoint_write@4", 2),  # killed before the rename: the previous file survives
        pytest.param("checkpoint_done@4", 4, marks=pytest.mark.slow),
    ],
    ids=["between-steps", "mid-checkpoint-write", "after-checkpoint"],
)
def test_killed_and_resumed_run_matches_uninterrupted(reference_run, train, tmp_path, fault, saved_step):
    recipe, reference = reference_run
    _check_resumed(train, recipe, reference, tmp_path / "run", fault, saved_step)


def test_checkpoint_loads_with_weights_only(reference_run):
    _, reference = reference_run
    state = torch.load(reference / "checkpoints" / "last.pt", weights_only=True)
    assert state["step"] == 6 and state["world_size"] == 1
    assert set(state) >= {"model", "optimizer", "schedule", "scaler", "data", "rng", "config", "best_metric"}
    best = torch.load(reference / "checkpoints" / "best.pt", weights_only=True)
    assert best["best_metric"] == state["best_metric"]


@pytest.mark.slow
def test_ssamba_resume_is_exact(write_recipe, train, tmp_path):
    recipe = write_recipe(tmp_path, model="ssamba_tiny")
    assert train(recipe, tmp_path / "reference").returncode == 0
    _check_resumed(train, recipe, tmp_path / "reference", tmp_path / "run", "step_end@3", 2)
