"""Non-finite loss or gradients: the step is skipped and logged; too many in a row stop the run."""

from __future__ import annotations

import pytest
import torch

import ssamba.models.model as model_module
from ssamba.dataclass_io import load_config
from ssamba.errors import TrainingError
from ssamba.training.checkpoint import load_checkpoint
from ssamba.training.config import PretrainConfig
from ssamba.training.pretrain import run_pretrain
from ssamba.training.tracker import read_log


def poison_mse(monkeypatch, bad_calls: set[int] | None):
    """Make the generative loss NaN on the given 1-based calls (None: on every call)."""
    real = model_module.reconstruction_mse
    calls = []

    def mse(targets, predictions):
        calls.append(1)
        value = real(targets, predictions)
        return value * float("nan") if bad_calls is None or len(calls) in bad_calls else value

    monkeypatch.setattr(model_module, "reconstruction_mse", mse)


def test_a_nan_step_is_skipped_and_training_goes_on(write_recipe, tmp_path, monkeypatch):
    config = load_config(PretrainConfig, write_recipe(tmp_path, max_steps=4, val_every=100, ckpt_every=100))
    poison_mse(monkeypatch, {2})  # the training call of step 2
    result = run_pretrain(config, tmp_path / "run")
    assert result.step == 4
    events = [
        row
        for row in read_log(tmp_path / "run" / "log.jsonl")
        if row.get("event") == "skipped_nonfinite_step"
    ]
    assert [(row["step"], row["consecutive"]) for row in events] == [(2, 1)]
    weights = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["model"]
    assert all(torch.isfinite(tensor).all() for tensor in weights.values() if tensor.is_floating_point())


def test_consecutive_nan_steps_stop_with_a_clear_error_and_unchanged_weights(
    write_recipe, tmp_path, monkeypatch
):
    recipe = write_recipe(tmp_path, max_steps=10, val_every=100, ckpt_every=1, max_bad_steps=3)
    config = load_config(PretrainConfig, recipe)
    poison_mse(monkeypatch, set(range(2, 100)))  # step 1 trains, then every step is NaN
    with pytest.raises(TrainingError, match="3 consecutive steps had non-finite loss") as info:
        run_pretrain(config, tmp_path / "run")
    assert "last.pt" in str(info.value) and "optim.lr" in str(info.value)
    newest = tmp_path / "run" / "checkpoints" / "last.pt"
    assert f"The newest checkpoint is {newest} (step 3)" in str(info.value)  # step 4 raised before saving
    weights = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["model"]
    assert all(torch.isfinite(tensor).all() for tensor in weights.values() if tensor.is_floating_point())


def test_a_stop_before_any_checkpoint_names_none_and_does_not_advise_resume(
    write_recipe, tmp_path, monkeypatch
):
    recipe = write_recipe(tmp_path, max_steps=10, val_every=100, ckpt_every=100, max_bad_steps=3)
    poison_mse(monkeypatch, set(range(3, 100)))  # steps 1-2 train, then every step is NaN
    with pytest.raises(TrainingError) as info:
        run_pretrain(load_config(PretrainConfig, recipe), tmp_path / "run")
    message = str(info.value)
    assert "(steps 3-5)" in message and "Lower optim.lr or set optim.grad_clip" in message
    assert "--resume would repeat the same steps" in message
    assert "No checkpoint was written" in message and not (tmp_path / "run" / "checkpoints").exists()
