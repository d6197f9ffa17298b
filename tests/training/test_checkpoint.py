"""Checkpoint files (atomic, weights_only-safe), RNG snapshots, weight digests and resume config checks."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from ssamba.errors import CheckpointError, ConfigError
from ssamba.training.checkpoint import load_checkpoint, save_checkpoint, weights_digest
from ssamba.training.config import check_resume_config
from ssamba.training.rng import capture_rng_state, derive_seed, restore_rng_state


def _draws() -> tuple:
    return random.random(), float(np.random.rand()), float(np.random.randn()), torch.rand(3).tolist()


def test_rng_state_round_trip_through_a_weights_only_checkpoint(tmp_path):
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    np.random.randn()  # leaves a cached gaussian in numpy's state
    path = tmp_path / "c.pt"
    save_checkpoint(path, {"step": 7, "model": {}, "rng": capture_rng_state()})
    expected = _draws()
    restore_rng_state(load_checkpoint(path)["rng"])
    assert _draws() == expected


def test_save_replaces_atomically_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "ckpt" / "last.pt"
    save_checkpoint(path, {"step": 1, "model": {"w": torch.ones(2)}})
    save_checkpoint(path, {"step": 2, "model": {"w": torch.zeros(2)}})
    state = load_checkpoint(path)
    assert state["step"] == 2 and torch.equal(state["model"]["w"], torch.zeros(2))
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"]


def test_unsafe_or_foreign_files_are_rejected(tmp_path):
    pickled = tmp_path / "object.pt"
    torch.save({"step": 1, "model": {}, "bad": object()}, pickled)
    with pytest.raises(CheckpointError, match="cannot read"):
        load_checkpoint(pickled)
    plain = tmp_path / "weights.pt"
    torch.save({"w": torch.ones(1)}, plain)
    with pytest.raises(CheckpointError, match="not a training checkpoint"):
        load_checkpoint(plain)
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")


def test_weights_digest_sees_one_bit():
    model = torch.nn.Linear(3, 2)
    before = weights_digest(model)
    with torch.no_grad():
        model.weight.view(-1).view(torch.int32)[0] ^= 1
    assert weights_digest(model) != before


def test_derive_seed_is_stable_and_order_sensitive():
    assert derive_seed(0, 5, 1) == derive_seed(0, 5, 1)
    assert len({derive_seed(0, 5, 1), derive_seed(0, 1, 5), derive_seed(0, 5, 0), derive_seed(1, 5, 1)}) == 4
    assert 0 <= derive_seed(2**40, 3) < 2**63


def test_resume_config_check_allows_only_loop_settings():
    saved = {"model": "ssast_tiny", "train": {"max_steps": 10, "batch_size": 8}, "features": {"mean": 1.0}}
    check_resume_config(saved, {**saved, "train": {"max_steps": 20, "batch_size": 8}})
    with pytest.raises(ConfigError, match="train.batch_size: 8 -> 16"):
        check_resume_config(saved, {**saved, "train": {"max_steps": 10, "batch_size": 16}})
    with pytest.raises(ConfigError, match="features"):
        check_resume_config(saved, {**saved, "features": {"mean": 2.0}})
