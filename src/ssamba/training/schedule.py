"""Learning-rate schedules: the `Schedule` protocol the `Trainer` drives, and its two recipes.

Both start with the official staircase warm-up. Pretraining (`LRSchedule`) then halves on a
plateau, decays by cosine or stays constant; fine-tuning (`EpochSchedule`) follows the official
MultiStepLR per epoch, cosine or constant. A group's lr is the schedule's lr times its `lr_scale`
(head lr multiplier, layer decay; 1 without). The state is a few numbers, saved in checkpoints so
a resumed run continues with the same lr.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import torch

from ssamba.training.config import ScheduleConfig
from ssamba.training.finetune_config import FinetuneSchedule


class Schedule(Protocol):
    """What the `Trainer` asks of a schedule: the lr before each step, validation feedback, state."""

    def apply(self, optimizer: torch.optim.Optimizer, step: int) -> float:
        """Set every group's lr for optimiser step `step` (0-based); returns the base lr."""
        ...

    def observe(self, metric: float) -> bool:
        """Feed a validation metric (higher is better); returns True when the lr was reduced."""
        ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


def warmup_factor(step: int, warmup_steps: int, interval: int) -> float:
    """Official staircase: `floor(step / interval) * interval / warmup_steps` up to 1."""
    if warmup_steps == 0 or step >= warmup_steps:
        return 1.0
    return (step // interval) * interval / warmup_steps


def cosine_lr(step: int, peak_lr: float, min_lr: float, warmup_steps: int, max_steps: int) -> float:
    """Cosine decay from `peak_lr` at the end of warm-up to `min_lr` at `max_steps`."""
    span = max(1, max_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    return min_lr + (peak_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> float:
    """Give every group `lr` times its `lr_scale`; returns `lr`."""
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get("lr_scale", 1.0)
    return lr


class LRSchedule:
    """Pretraining: warm-up, then plateau halving, cosine or constant; `observe` drives the plateau.

    The lr of step `s` is `peak * warmup(s) * scale` where `scale` is the plateau factor (halved on
    a stagnating validation metric), or the cosine decay.
    """

    def __init__(self, config: ScheduleConfig, peak_lr: float, max_steps: int) -> None:
        self.config = config
        self.peak_lr = peak_lr
        self.max_steps = max_steps
        self.scale = 1.0
        self.best: float | None = None
        self.bad_evals = 0

    def warmup_factor(self, step: int) -> float:
        """The staircase warm-up factor of `step`."""
        return warmup_factor(step, self.config.warmup_steps, self.config.warmup_interval)

    def lr_at(self, step: int) -> float:
        """The lr of optimiser step `step` (0-based)."""
        config = self.config
        if config.kind == "cosine" and step >= config.warmup_steps:
            return cosine_lr(step, self.peak_lr, config.min_lr, config.warmup_steps, self.max_steps)
        lr = self.peak_lr * self.warmup_factor(step) * self.scale
        return lr if step < config.warmup_steps else max(lr, config.min_lr)

    def apply(self, optimizer: torch.optim.Optimizer, step: int) -> float:
        return set_lr(optimizer, self.lr_at(step))

    def observe(self, metric: float) -> bool:
        """Same rule as `ReduceLROnPlateau(mode="max", threshold_mode="rel")`: improvement means
        `metric > best * (1 + threshold)`; after more than `patience` evaluations without one the
        scale is multiplied by `factor`."""
        if self.config.kind != "plateau":
            return False
        if self.best is None or metric > self.best * (1.0 + self.config.threshold):
            self.best, self.bad_evals = metric, 0
            return False
        self.bad_evals += 1
        if self.bad_evals > self.config.patience:
            self.scale *= self.config.factor
            self.bad_evals = 0
            return True
        return False

    def state_dict(self) -> dict[str, Any]:
        return {"scale": self.scale, "best": self.best, "bad_evals": self.bad_evals}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.scale, self.best, self.bad_evals = float(state["scale"]), state["best"], int(state["bad_evals"])


class EpochSchedule:
    """Fine-tuning: warm-up, then the official MultiStepLR per epoch, cosine per step or constant.

    Stateless (the lr is a function of the step), and validation does not change it.
    """

    def __init__(
        self, config: FinetuneSchedule, peak_lr: float, steps_per_epoch: int, max_steps: int
    ) -> None:
        self.config = config
        self.peak_lr = peak_lr
        self.steps_per_epoch = steps_per_epoch
        self.max_steps = max_steps

    def decays_before(self, epoch: int) -> int:
        """Official MultiStepLR milestones `range(start, 1000, step)` passed before epoch `epoch` (from 1)."""
        config = self.config
        passed = epoch - 1
        if passed < config.start:
            return 0
        return len(range(config.start, min(passed, 999) + 1, config.step))

    def lr_at(self, step: int) -> float:
        """The base lr of optimiser step `step` (0-based)."""
        config = self.config
        warm = warmup_factor(step, config.warmup_steps, config.warmup_interval)
        if config.kind == "multistep":
            return self.peak_lr * warm * config.gamma ** self.decays_before(step // self.steps_per_epoch + 1)
        if config.kind == "cosine" and step >= config.warmup_steps:
            return cosine_lr(step, self.peak_lr, config.min_lr, config.warmup_steps, self.max_steps)
        return self.peak_lr * warm

    def apply(self, optimizer: torch.optim.Optimizer, step: int) -> float:
        return set_lr(optimizer, self.lr_at(step))

    def observe(self, metric: float) -> bool:
        return False

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Nothing to restore."""
