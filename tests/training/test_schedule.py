"""Learning-rate schedule: official staircase warm-up, plateau rule vs torch's ReduceLROnPlateau, cosine."""

from __future__ import annotations

import math

import pytest
import torch

from ssamba.training.config import ScheduleConfig
from ssamba.training.schedule import LRSchedule


def test_official_warmup_staircase():
    schedule = LRSchedule(ScheduleConfig(), peak_lr=1e-4, max_steps=10_000)
    # official loop: at every step <= 1000 that is a multiple of 50, lr = step / 1000 * peak
    lr, expected = 0.0, {}
    for step in range(1200):
        if step <= 1000 and step % 50 == 0:
            lr = step / 1000 * 1e-4
        expected[step] = lr
    for step, value in expected.items():
        assert schedule.lr_at(step) == pytest.approx(value, abs=1e-15), step
    assert schedule.lr_at(0) == schedule.lr_at(49) == 0.0 and schedule.lr_at(50) == pytest.approx(5e-6)


@pytest.mark.parametrize("patience", [0, 2])
def test_plateau_matches_torch_reduce_on_plateau(patience):
    metrics = [0.1, 0.2, 0.2, 0.19, 0.2, 0.25, 0.25, 0.1, 0.1, 0.1, 0.3, 0.29, 0.28, 0.27]
    ours = LRSchedule(ScheduleConfig(warmup_steps=0, patience=patience), peak_lr=1.0, max_steps=100)
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau
    reference = plateau(optimizer, mode="max", factor=0.5, patience=patience)
    for metric in metrics:
        ours.observe(metric)
        reference.step(metric)
        assert ours.lr_at(50) == pytest.approx(optimizer.param_groups[0]["lr"])


def test_plateau_state_round_trip():
    schedule = LRSchedule(ScheduleConfig(warmup_steps=0, patience=0), peak_lr=1.0, max_steps=10)
    for metric in (0.5, 0.4, 0.3):
        schedule.observe(metric)
    restored = LRSchedule(ScheduleConfig(warmup_steps=0, patience=0), peak_lr=1.0, max_steps=10)
    restored.load_state_dict(schedule.state_dict())
    assert restored.lr_at(5) == schedule.lr_at(5) == 0.25
    assert restored.observe(0.2) == schedule.observe(0.2)


def test_cosine_after_warmup():
    config = ScheduleConfig(kind="cosine", warmup_steps=10, warmup_interval=1, min_lr=0.1)
    schedule = LRSchedule(config, peak_lr=1.0, max_steps=110)
    assert schedule.lr_at(5) == pytest.approx(0.5)
    assert schedule.lr_at(10) == pytest.approx(1.0)
    assert schedule.lr_at(60) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert schedule.lr_at(110) == pytest.approx(0.1)
    assert not schedule.observe(0.0), "cosine ignores validation"


def test_apply_sets_every_group():
    params = [torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(2))]
    optimizer = torch.optim.Adam([{"params": [params[0]]}, {"params": [params[1]]}], lr=9.0)
    schedule = LRSchedule(ScheduleConfig(warmup_steps=100, warmup_interval=50), peak_lr=2.0, max_steps=200)
    assert schedule.apply(optimizer, 75) == 1.0
    assert [group["lr"] for group in optimizer.param_groups] == [1.0, 1.0]
