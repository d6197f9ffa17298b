"""Learning-rate schedule: official staircase warm-up, then plateau halving, cosine or constant.

The lr of step `s` is `peak * warmup(s) * scale` where `scale` is the plateau factor (halved on
stagnating validation accuracy) or the cosine decay. The state is a few numbers, saved in
checkpoints so a resumed run continues with the same lr.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ssamba.training.config import ScheduleConfig


class LRSchedule:
    """Sets the optimiser's lr before every step; `observe(metric)` after each validation (plateau)."""

    def __init__(self, config: ScheduleConfig, peak_lr: float, max_steps: int) -> None:
        self.config = config
        self.peak_lr = peak_lr
        self.max_steps = max_steps
        self.scale = 1.0
        self.best: float | None = None
        self.bad_evals = 0

    def warmup_factor(self, step: int) -> float:
        """Official staircase: `floor(step / interval) * interval / warmup_steps` up to 1."""
        warmup, interval = self.config.warmup_steps, self.config.warmup_interval
        if warmup == 0 or step >= warmup:
            return 1.0
        return (step // interval) * interval / warmup

    def lr_at(self, step: int) -> float:
        """The lr of optimiser step `step` (0-based)."""
        config = self.config
        if config.kind == "cosine" and step >= config.warmup_steps:
            span = max(1, self.max_steps - config.warmup_steps)
            progress = min(1.0, (step - config.warmup_steps) / span)
            return config.min_lr + (self.peak_lr - config.min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))
        lr = self.peak_lr * self.warmup_factor(step) * self.scale
        return lr if step < config.warmup_steps else max(lr, config.min_lr)

    def apply(self, optimizer: torch.optim.Optimizer, step: int) -> float:
        """Set every group's lr for `step`; returns it."""
        lr = self.lr_at(step)
        for group in optimizer.param_groups:
            group["lr"] = lr
        return lr

    def observe(self, metric: float) -> bool:
        """Feed a validation metric (higher is better); returns True when the lr was reduced.

        Same rule as `ReduceLROnPlateau(mode="max", threshold_mode="rel")`: improvement means
        `metric > best * (1 + threshold)`; after more than `patience` evaluations without one the
        scale is multiplied by `factor`.
        """
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
