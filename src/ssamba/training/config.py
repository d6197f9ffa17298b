"""Training configuration dataclasses: generic sections (optimiser, schedule, loop) and `PretrainConfig`.

Configs are YAML/JSON files loaded with `ssamba.dataclass_io.load_config` (unknown keys rejected) plus
`--set section.key=value` overrides. The generic sections are shared with fine-tuning, and so is
the resume rule (`check_resume_config`: which keys a resumed run may change).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from ssamba.errors import ConfigError


def check_device(key: str, name: str) -> None:
    """Refuse a device torch cannot parse (e.g. 'banana') when the config is read, not at the first step."""
    import torch

    if name == "auto":
        return
    try:
        torch.device(name)
    except (RuntimeError, ValueError) as exc:
        raise ConfigError(f"{key} {name!r} is not a device; use auto, cpu, cuda or cuda:N") from exc


@dataclass(frozen=True)
class OptimConfig:
    """Optimiser. `name="auto"` and `weight_decay=None` pick the official choice for the model family.

    Official: SSAST Adam (L2 weight decay 5e-7), SSAMBA AdamW (decoupled, 5e-8), betas (0.95, 0.999).
    Weight decay never applies to biases, norms, `A_log`/`D` and learned tokens/embeddings.
    """

    name: Literal["auto", "adam", "adamw"] = "auto"
    lr: float = 1e-4
    weight_decay: float | None = None
    betas: tuple[float, float] = (0.95, 0.999)
    eps: float = 1e-8
    grad_clip: float | None = None

    def __post_init__(self) -> None:
        for key in ("lr", "eps", "grad_clip"):
            value = getattr(self, key)
            if value is not None and not 0 < value < math.inf:
                raise ConfigError(f"optim.{key} must be positive and finite, got {value}")
        if self.weight_decay is not None and not 0 <= self.weight_decay < math.inf:
            raise ConfigError(
                f"optim.weight_decay must be >= 0 (or null: the official value), got {self.weight_decay}"
            )
        if len(self.betas) != 2 or not all(0 <= beta < 1 for beta in self.betas):
            raise ConfigError(
                f"optim.betas must be two numbers in [0, 1), e.g. [0.95, 0.999], got {list(self.betas)}"
            )


@dataclass(frozen=True)
class ScheduleConfig:
    """Learning-rate schedule: staircase warm-up, then plateau halving, cosine decay or constant.

    Official warm-up: every `warmup_interval` steps while step <= `warmup_steps`, lr = step /
    warmup_steps * peak (steps 0-49 at lr 0). `plateau` halves the lr (`factor`) after more than
    `patience` validations without a new best validation metric (ReduceLROnPlateau, mode max).
    """

    kind: Literal["plateau", "cosine", "constant"] = "plateau"
    warmup_steps: int = 1000
    warmup_interval: int = 50
    factor: float = 0.5
    patience: int = 2
    threshold: float = 1e-4
    min_lr: float = 0.0

    def __post_init__(self) -> None:
        if self.warmup_steps < 0 or self.warmup_interval < 1:
            raise ConfigError("schedule.warmup_steps must be >= 0 and warmup_interval >= 1")
        if not 0 < self.factor < 1:
            raise ConfigError(f"schedule.factor must be in (0, 1), got {self.factor}")
        if self.patience < 0:
            raise ConfigError(f"schedule.patience must be >= 0, got {self.patience}")
        for key in ("threshold", "min_lr"):
            if not 0 <= getattr(self, key) < math.inf:
                raise ConfigError(f"schedule.{key} must be a finite number >= 0, got {getattr(self, key)}")


@dataclass(frozen=True)
class BaseLoop:
    """The `train` section every recipe shares: batch, seed, precision, device, loading, logging.

    `grad_checkpointing` recomputes each block in the backward pass (less memory for long inputs,
    ~1/3 more time). Pretraining counts steps (`LoopConfig`), fine-tuning epochs (`FinetuneLoop`).
    """

    batch_size: int = 24
    seed: int = 0
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    device: str = "auto"
    num_workers: int = 0
    log_every: int = 10
    progress: bool = True
    tensorboard: bool = True
    plot: bool = True
    grad_checkpointing: bool = False

    def __post_init__(self) -> None:
        self._at_least_one("batch_size", "log_every")
        if self.num_workers < 0:
            raise ConfigError(f"train.num_workers must be >= 0, got {self.num_workers}")
        check_device("train.device", self.device)

    def _at_least_one(self, *keys: str) -> None:
        for key in keys:
            if getattr(self, key) < 1:
                raise ConfigError(f"train.{key} must be >= 1, got {getattr(self, key)}")


@dataclass(frozen=True)
class LoopConfig(BaseLoop):
    """The step loop the `Trainer` runs: steps, accumulation, validation, checkpoints, bad steps.

    `batch_size` is the global batch of one optimiser step (as in the official recipes); each
    rank runs `batch_size / (world_size * grad_accum)` clips per micro-step.
    """

    grad_accum: int = 1
    max_steps: int = 1000
    val_every: int = 4000
    ckpt_every: int = 1000
    max_bad_steps: int = 5

    def __post_init__(self) -> None:
        super().__post_init__()
        self._at_least_one("grad_accum", "max_steps", "val_every", "ckpt_every", "max_bad_steps")

    def micro_batch(self, world_size: int) -> int:
        """Clips per rank per micro-step; the global batch must split evenly."""
        parts = world_size * self.grad_accum
        if self.batch_size % parts:
            raise ConfigError(
                f"train.batch_size {self.batch_size} is not divisible by world_size {world_size} x "
                f"grad_accum {self.grad_accum}"
            )
        return self.batch_size // parts


@dataclass(frozen=True)
class DataConfig:
    """Audio manifests and the front end (`feature_preset` plus `features` field overrides).

    `train_split`/`valid_split` select rows by their `split` field (null = every row).
    `train_shards` reads the training clips from tar shards (`ssamba data shard`) instead of
    manifests, by random access, so sampling, rank split and exact resume work as with manifests.
    Labels are ignored in pretraining; long clips are randomly cropped to `target_length`.
    """

    train_manifests: tuple[str, ...] = ()
    train_shards: tuple[str, ...] = ()
    valid_manifest: str | None = None
    train_split: str | None = None
    valid_split: str | None = None
    feature_preset: str = "audioset"
    features: dict[str, Any] = field(default_factory=dict)
    max_valid_clips: int | None = None

    def __post_init__(self) -> None:
        if bool(self.train_manifests) == bool(self.train_shards):
            raise ConfigError(
                "give the training audio as data.train_manifests (JSONL manifests) or data.train_shards "
                "(tar shards: files, brace patterns like shard-{000000..000009}.tar, folders or "
                "index.json), one of the two"
            )
        if self.train_shards and self.train_split is not None:
            raise ConfigError(
                "data.train_split selects manifest rows; shards hold the training clips only "
                "(write them from that split with ssamba data shard), so leave train_split null"
            )

    def feature_config(self):
        """The `FeatureConfig` this data section describes."""
        from ssamba.features import feature_preset

        return feature_preset(self.feature_preset, **self.features)


@dataclass(frozen=True)
class MSPMConfig:
    """Masked spectrogram patch modelling options (spec 2).

    `valid_num_masked` null = min(400, patches - 2) for patch models (official validation always
    masks 400), min(400, patches) for frame models.
    """

    num_masked: int = 400
    valid_num_masked: int | None = None
    single_pass: bool = False

    def __post_init__(self) -> None:
        for key in ("num_masked", "valid_num_masked"):
            value = getattr(self, key)
            if value is not None and value < 1:
                raise ConfigError(f"mspm.{key} must be >= 1, got {value}")


@dataclass(frozen=True)
class PretrainConfig:
    """A full MSPM pretraining run: model, data, objective, optimiser, schedule and loop."""

    model: str
    data: DataConfig
    model_overrides: dict[str, Any] = field(default_factory=dict)
    mspm: MSPMConfig = field(default_factory=MSPMConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: LoopConfig = field(default_factory=LoopConfig)


# Keys that may change when a run is resumed (everything else must match the checkpoint).
RESUMABLE_CHANGES = (
    "train.max_steps",
    "train.max_bad_steps",
    "train.num_workers",
    "train.log_every",
    "train.val_every",
    "train.ckpt_every",
    "train.progress",
    "train.tensorboard",
    "train.plot",
    "train.device",
)


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested sections as dotted keys; free-form mappings (`model_overrides`, `features`) stay whole."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and key != "model_overrides" and key != "features":
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def check_resume_config(saved: dict[str, Any], current: dict[str, Any]) -> None:
    """Raise `ConfigError` when the resumed run changes a key other than `RESUMABLE_CHANGES`.

    `train.max_steps` may change only when the lr schedule does not depend on it: the cosine
    decay spans `max_steps`, so a new length would make the lr jump at the resumed step.
    """
    old, new = _flatten(saved), _flatten(current)
    changed = sorted(
        k for k in set(old) | set(new) if old.get(k) != new.get(k) and k not in RESUMABLE_CHANGES
    )
    if changed:
        details = "; ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in changed)
        raise ConfigError(f"cannot resume with a different configuration ({details}); use a new --out")
    steps = "train.max_steps"
    if old.get("schedule.kind") == "cosine" and old.get(steps) != new.get(steps):
        raise ConfigError(
            f"cannot resume with {steps}={new.get(steps)}: the cosine lr schedule spans the run's "
            f"{steps}={old.get(steps)}, so changing it would make the lr jump; resume with "
            f"{steps}={old.get(steps)}, or start a new run (another --out, or --overwrite)"
        )
