"""`FinetuneConfig`: supervised fine-tuning / linear probing of a classifier (spec 3.1).

Loaded with `ssamba.dataclass_io.load_config(FinetuneConfig, path, overrides)`; unknown keys are rejected.
Lists of split values are YAML lists (e.g. `train_split: [train]`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Literal

from ssamba.data.augment import AugmentConfig
from ssamba.errors import ConfigError
from ssamba.training.config import BaseLoop, LoopConfig, OptimConfig


@dataclass(frozen=True)
class FinetuneData:
    """One manifest whose field `split_key` selects the train / validation / test clips.

    `valid_split` empty: no model selection (the last epoch, or the weight average, is final);
    `label_key` "label" uses the manifest labels, any other field (e.g. "speaker") becomes the label;
    `label_map` (labels JSON or `class_labels_indices.csv`) fixes the classes, else the sorted
    labels of the training split. `sampler` "balanced" draws training clips with PSLA weights
    (sum over a clip's labels of 1 / label count, with replacement, one epoch = as many draws as
    clips), as the official AudioSet-2M recipes do; "uniform" shuffles every clip once per epoch.
    """

    manifest: str
    split_key: str = "split"
    train_split: tuple[str, ...] = ("train",)
    valid_split: tuple[str, ...] = ()
    test_split: tuple[str, ...] = ("test",)
    label_key: str = "label"
    label_map: str | None = None
    feature_preset: str = "audioset"
    features: dict[str, Any] = field(default_factory=dict)
    sampler: Literal["uniform", "balanced"] = "uniform"

    def feature_config(self):
        """The `FeatureConfig` of this data section."""
        from ssamba.features import feature_preset

        return feature_preset(self.feature_preset, **self.features)


@dataclass(frozen=True)
class FinetuneSchedule:
    """Per-step lr factor: official staircase warm-up, then MultiStepLR per epoch or cosine per step.

    MultiStepLR (official): the lr of epoch e (from 1) is
    `gamma ** #{m in range(start, 1000, step): m <= e-1}`.
    """

    kind: Literal["multistep", "cosine", "constant"] = "multistep"
    warmup_steps: int = 0
    warmup_interval: int = 50
    start: int = 10
    step: int = 5
    gamma: float = 0.5
    min_lr: float = 0.0

    def __post_init__(self) -> None:
        if self.warmup_steps < 0 or self.warmup_interval < 1 or self.start < 0 or self.step < 1:
            raise ConfigError("schedule: warmup_steps/start must be >= 0, warmup_interval/step >= 1")
        if not 0 < self.gamma <= 1:
            raise ConfigError(f"schedule.gamma must be in (0, 1], got {self.gamma}")
        if not 0 <= self.min_lr < math.inf:
            raise ConfigError(f"schedule.min_lr must be a finite number >= 0, got {self.min_lr}")


@dataclass(frozen=True)
class FinetuneLoop(BaseLoop):
    """Epochs and batches; `log_every` in steps. Validation and checkpoints happen once per epoch."""

    batch_size: int = 12
    tensorboard: bool = False
    epochs: int = 10
    eval_batch_size: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        self._at_least_one("epochs")
        if self.eval_batch_size is not None and self.eval_batch_size < 1:
            raise ConfigError(f"train.eval_batch_size must be >= 1 (or null), got {self.eval_batch_size}")

    def steps(self, steps_per_epoch: int) -> LoopConfig:
        """The step loop of this section: one validation and checkpoint per epoch."""
        shared = {f.name: getattr(self, f.name) for f in dataclasses.fields(BaseLoop)}
        return LoopConfig(
            **dict(shared, log_every=min(self.log_every, steps_per_epoch)),
            max_steps=self.epochs * steps_per_epoch,
            val_every=steps_per_epoch,
            ckpt_every=steps_per_epoch,
        )


@dataclass(frozen=True)
class FinetuneConfig:
    """A full fine-tuning (`mode: full`) or linear-probe (`mode: linear`, frozen encoder) run.

    `init`: "scratch", an official `.pth`, or a folder written by `save_pretrained` (pretraining or
    fine-tuned). `model` names the architecture for "scratch"; `model_overrides` sets geometry
    (patch_stride, depth, drop_path_rate, ...). `wa_epochs` [first, last] averages the weights of
    those epochs (inclusive, from 1) after training. `layer_decay` (e.g. 0.75) scales the lr of
    encoder layer i of n by `layer_decay ** (n - i)` (embeddings the least, the final norm fully).
    `loss` "bce" is the multi-label (and official AudioSet / Speech Commands) choice.
    """

    data: FinetuneData
    model: str = "ssamba_tiny"
    init: str = "scratch"
    model_overrides: dict[str, Any] = field(default_factory=dict)
    mode: Literal["full", "linear"] = "full"
    pooling: Literal["mean", "cls", "both"] = "mean"
    loss: Literal["ce", "bce"] = "ce"
    label_smoothing: float = 0.0
    head_lr: float = 1.0
    layer_decay: float | None = None
    metric: Literal["acc", "mAP"] = "acc"
    wa_epochs: tuple[int, int] | None = None
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: FinetuneSchedule = field(default_factory=FinetuneSchedule)
    train: FinetuneLoop = field(default_factory=FinetuneLoop)

    def __post_init__(self) -> None:
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ConfigError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if not 0 < self.head_lr < math.inf:
            raise ConfigError(f"head_lr must be positive and finite, got {self.head_lr}")
        if self.layer_decay is not None and not 0.0 < self.layer_decay <= 1.0:
            raise ConfigError(f"layer_decay must be in (0, 1] (or null for none), got {self.layer_decay}")
        if self.wa_epochs is not None:
            first, last = self.wa_epochs
            if not 1 <= first <= last <= self.train.epochs:
                raise ConfigError(
                    f"wa_epochs {list(self.wa_epochs)} must satisfy 1 <= first <= last <= "
                    f"train.epochs ({self.train.epochs})"
                )
