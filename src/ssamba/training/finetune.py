"""Supervised fine-tuning (spec 3.1) on the generic `Trainer`, plus linear probing on cached features.

Full mode: PSLA-style optimisation (Adam, head lr multiplier, staircase warm-up, MultiStepLR per
epoch or cosine), CE or BCE, mixup/SpecAugment/noise from `AugmentConfig`, one validation and
checkpoint per epoch, selection on the validation split, optional weight averaging over epochs,
final metrics on the test split. Linear mode: frozen encoder, pooled features computed once.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import Dataset

from ssamba.config import to_dict
from ssamba.data import AudioClipDataset, LabelMap, Manifest, check_labels, psla_weights, read_manifest
from ssamba.data.manifests import relabel
from ssamba.errors import ConfigError
from ssamba.evaluation import evaluate_model
from ssamba.evaluation.metrics import plot_confusion, write_metrics
from ssamba.models import AudioClassifier
from ssamba.training import distributed
from ssamba.training.batches import BatchStream
from ssamba.training.checkpoint import BEST, load_checkpoint
from ssamba.training.config import LoopConfig, ScheduleConfig
from ssamba.training.engine import Trainer, TrainTask
from ssamba.training.finetune_config import FinetuneConfig, FinetuneSchedule
from ssamba.training.init import init_classifier_from
from ssamba.training.optim import layer_decay_groups, param_groups
from ssamba.training.plots import run_title
from ssamba.training.run_folder import RunFolder, write_run_config
from ssamba.training.schedule import LRSchedule
from ssamba.utils_io import atomic_write_text

logger = logging.getLogger(__name__)

LABELS_NAME = "labels.json"
OFFICIAL_FT_WEIGHT_DECAY = 5e-7  # traintest.py: Adam, wd 5e-7, betas (0.95, 0.999)
MEMO_LIMIT_BYTES = 512 * 2**20  # evaluation sets up to this size keep their features in memory


# -- data ------------------------------------------------------------------------------------
def split_manifest(config: FinetuneConfig, values: tuple[str, ...]) -> Manifest | None:
    """The labelled clips of one split (None when `values` is empty)."""
    if not values:
        return None
    data = config.data
    manifest = read_manifest(data.manifest, require_labels=data.label_key == "label")
    return relabel(manifest.select(data.split_key, values), data.label_key)


class MemoDataset(Dataset):
    """Caches the items of a deterministic (evaluation) dataset after their first load."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        self.items: dict[int, Any] = {}

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> Any:
        if index not in self.items:
            self.items[index] = self.dataset[index]
        return self.items[index]


# -- optimisation ----------------------------------------------------------------------------
def build_optimizer(model: AudioClassifier, config: FinetuneConfig) -> torch.optim.Optimizer:
    """Adam (official fine-tuning default) with the head's groups at `head_lr` times the lr.

    With `layer_decay`, encoder groups get `layer_decay ** (layers + 1 - depth)` of the lr.
    """
    name = "adam" if config.optim.name == "auto" else config.optim.name
    decay = OFFICIAL_FT_WEIGHT_DECAY if config.optim.weight_decay is None else config.optim.weight_decay
    if config.layer_decay is None:
        groups = [dict(g, lr_scale=1.0) for g in param_groups(model.encoder, decay)]
    else:
        groups = layer_decay_groups(model.encoder, model.config.depth, decay, config.layer_decay)
    groups += [dict(g, lr_scale=config.head_lr) for g in param_groups(model.head, decay)]
    cls = torch.optim.AdamW if name == "adamw" else torch.optim.Adam
    return cls(groups, lr=config.optim.lr, betas=tuple(config.optim.betas), eps=config.optim.eps)


class EpochSchedule:
    """The `LRSchedule` interface for fine-tuning: warm-up, then MultiStepLR per epoch or cosine.

    Each group's lr is `peak * factor(step) * group["lr_scale"]` (the head lr multiplier).
    """

    def __init__(
        self, config: FinetuneSchedule, peak_lr: float, steps_per_epoch: int, max_steps: int
    ) -> None:
        self.config = config
        self.peak_lr = peak_lr
        self.steps_per_epoch = steps_per_epoch
        self.max_steps = max_steps
        warmup = ScheduleConfig(
            kind="constant", warmup_steps=config.warmup_steps, warmup_interval=config.warmup_interval
        )
        self._warmup = LRSchedule(warmup, 1.0, max_steps)

    def decays_before(self, epoch: int) -> int:
        """Official MultiStepLR milestones `range(start, 1000, step)` passed before epoch `epoch` (from 1)."""
        config = self.config
        passed = epoch - 1
        if passed < config.start:
            return 0
        return len(range(config.start, min(passed, 999) + 1, config.step))

    def lr_at(self, step: int) -> float:
        config = self.config
        warm = self._warmup.warmup_factor(step)
        if config.kind == "multistep":
            return self.peak_lr * warm * config.gamma ** self.decays_before(step // self.steps_per_epoch + 1)
        if config.kind == "cosine" and step >= config.warmup_steps:
            span = max(1, self.max_steps - config.warmup_steps)
            progress = min(1.0, (step - config.warmup_steps) / span)
            return config.min_lr + (self.peak_lr - config.min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))
        return self.peak_lr * warm

    def apply(self, optimizer: torch.optim.Optimizer, step: int) -> float:
        lr = self.lr_at(step)
        for group in optimizer.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)
        return lr

    def observe(self, metric: float) -> bool:
        return False

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Stateless: the lr is a function of the step."""


# -- objective and evaluation ----------------------------------------------------------------
def class_indices(target: Tensor) -> Tensor:
    """Class indices of index targets or of (soft) label vectors (argmax, as the official CE loss)."""
    return target.argmax(-1) if target.dim() == 2 else target


class ClassificationObjective(nn.Module):
    """`forward((fbank, target), seed)` -> {"loss", "acc"}: CE on class indices or BCE on label vectors."""

    def __init__(self, model: AudioClassifier, loss: str, label_smoothing: float) -> None:
        super().__init__()
        self.model = model
        self.loss = loss
        self.label_smoothing = label_smoothing

    def forward(self, batch: tuple[Tensor, Tensor], seed: int) -> dict[str, Tensor]:
        fbank, target = batch
        logits = self.model(fbank)
        if self.loss == "bce":
            hot = target.float() if target.dim() == 2 else F.one_hot(target, logits.shape[-1]).float()
            hot = hot * (1.0 - self.label_smoothing) + self.label_smoothing / logits.shape[-1]
            loss = F.binary_cross_entropy_with_logits(logits, hot)
        else:
            loss = F.cross_entropy(logits, class_indices(target), label_smoothing=self.label_smoothing)
        hits = logits.argmax(-1) == class_indices(target)
        return {"loss": loss, "acc": hits.float().mean()}


def average_state_dicts(paths: list[Path]) -> dict[str, Tensor]:
    """Uniform mean of every floating tensor over saved state dicts (others from the last file)."""
    from safetensors.torch import load_file

    total: dict[str, Tensor] = {}
    for path in paths:
        for key, value in load_file(str(path)).items():
            if value.is_floating_point():
                total[key] = total.get(key, torch.zeros_like(value, dtype=torch.float64)) + value.double()
            else:
                total[key] = value
    state = {}
    reference = load_file(str(paths[-1]))
    for key, value in total.items():
        state[key] = (value / len(paths)).to(reference[key].dtype) if value.is_floating_point() else value
    return state


class EpochEnd:
    """The Trainer's per-epoch "evaluation": stores WA weights and validates when a split exists
    (without one it returns no metrics, so the Trainer logs no validation)."""

    def __init__(self, config: FinetuneConfig, out_dir: Path, valid: Dataset | None, label_map: LabelMap):
        self.config = config
        self.out_dir = out_dir
        self.valid = valid
        self.label_map = label_map
        self.steps_per_epoch = 1
        self.step = lambda: 0  # replaced by the trainer's step counter

    def epoch_path(self, epoch: int) -> Path:
        return self.out_dir / "epochs" / f"epoch_{epoch:03d}.safetensors"

    def __call__(self, model: nn.Module) -> dict[str, float]:
        from safetensors.torch import save_file

        epoch = self.step() // self.steps_per_epoch
        wa = self.config.wa_epochs
        if wa is not None and wa[0] <= epoch <= wa[1]:
            path = self.epoch_path(epoch)
            path.parent.mkdir(parents=True, exist_ok=True)
            save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, str(path))
        if self.valid is None:
            return {}
        batch = self.config.train.eval_batch_size or 2 * self.config.train.batch_size
        metrics = evaluate_model(model, self.valid, self.label_map, batch)  # type: ignore[arg-type]
        return {
            "epoch": float(epoch),
            "acc": metrics["accuracy"],
            "mAP": metrics["mAP"],
            "mAUC": metrics["mAUC"],
        }


# -- runs ------------------------------------------------------------------------------------
def _datasets(config: FinetuneConfig) -> tuple[LabelMap, Dataset, Dataset | None, Dataset | None]:
    """The label map and the train, valid and test datasets; every split's labels are checked
    against the map here, before training, so a bad held-out label cannot end a run late."""
    data, features = config.data, config.data.feature_config()
    train = split_manifest(config, data.train_split)
    if train is None:
        raise ConfigError("data.train_split must name at least one split value")
    if data.label_map is not None:
        label_map, origin = LabelMap.from_file(data.label_map), f"from data.label_map {data.label_map}"
    else:
        label_map, origin = LabelMap.from_manifest(train), "made from the train split"
    valid, test = split_manifest(config, data.valid_split), split_manifest(config, data.test_split)
    for name, manifest in (("train", train), ("valid", valid), ("test", test)):
        if manifest is not None:
            check_labels(manifest, label_map, name, origin)
    train_set = AudioClipDataset(
        train,
        label_map,
        features,
        train=config.mode == "full",
        augment=config.augment,
        seed=config.train.seed,
    )

    def held_out(manifest: Manifest | None) -> Dataset | None:
        if manifest is None:
            return None
        dataset = AudioClipDataset(manifest, label_map, features)
        size = len(manifest) * features.target_length * features.num_mel_bins * 4
        return MemoDataset(dataset) if size <= MEMO_LIMIT_BYTES else dataset

    return label_map, train_set, held_out(valid), held_out(test)


def _build_model(config: FinetuneConfig, num_classes: int) -> AudioClassifier:
    features = config.data.feature_config()
    torch.manual_seed(config.train.seed)
    model = init_classifier_from(
        config.init,
        config.model,
        num_classes,
        input_tdim=features.target_length,
        pooling=config.pooling,
        overrides=dict(config.model_overrides),
    )
    model.set_grad_checkpointing(config.train.grad_checkpointing)
    return model


def save_final(model: AudioClassifier, folder: Path, config: FinetuneConfig, label_map: LabelMap) -> None:
    """`save_pretrained` with the class names in `config.json`, and `labels.json` for older versions."""
    model.label_map = label_map
    model.save_pretrained(folder, config.data.feature_config())
    label_map.save(folder / LABELS_NAME)


def _test_report(
    model: AudioClassifier, test: Dataset | None, label_map: LabelMap, config: FinetuneConfig, out: Path
) -> dict[str, Any] | None:
    if test is None:
        return None
    metrics = evaluate_model(
        model, test, label_map, config.train.eval_batch_size or 2 * config.train.batch_size
    )
    write_metrics(out / "test_metrics.json", metrics)
    if "confusion" in metrics and config.train.plot:
        title = run_title(f"{run_name(config)}, test split", out)
        plot_confusion(np.array(metrics["confusion"]), list(label_map.labels), out / "confusion.png", title)
    return metrics


def run_name(config: FinetuneConfig) -> str:
    """The run's name in progress bars and plot titles: fine-tuning from scratch or from trained weights."""
    return f"fine-tune ({'scratch' if config.init == 'scratch' else 'pretrained'})"


def _loop_config(config: FinetuneConfig, steps_per_epoch: int) -> LoopConfig:
    train = config.train
    return LoopConfig(
        batch_size=train.batch_size,
        max_steps=config.train.epochs * steps_per_epoch,
        seed=train.seed,
        precision=train.precision,
        device=train.device,
        num_workers=train.num_workers,
        log_every=min(train.log_every, steps_per_epoch),
        val_every=steps_per_epoch,
        ckpt_every=steps_per_epoch,
        progress=train.progress,
        tensorboard=train.tensorboard,
        plot=train.plot,
    )


@dataclasses.dataclass(frozen=True)
class StoppedRun:
    """A fine-tuning run ended early by SIGTERM/SIGINT at `step`, its checkpoint written."""

    step: int
    signum: int


def run_finetune(
    config: FinetuneConfig, out_dir: str | Path, resume: bool = False, overwrite: bool = False
) -> dict[str, Any]:
    """Fine-tune (or linear-probe) as `config` says; writes `final/`, metrics and `results.json`.

    A run stopped by a signal returns `{"stopped": {"step", "signum"}}` (nothing tested or saved
    beyond its checkpoint; `resume=True` continues it). `out_dir` is locked for the run; an
    earlier run there is continued (`resume`), replaced (`overwrite`) or, with neither, refused.
    """
    with RunFolder(out_dir, resume=resume, overwrite=overwrite, enabled=distributed.env_rank() == 0):
        return _run_in_folder(config, Path(out_dir), resume)


def _run_in_folder(config: FinetuneConfig, out: Path, resume: bool) -> dict[str, Any]:
    """`run_finetune` inside its locked run folder."""
    import json

    label_map, train_set, valid_set, test_set = _datasets(config)
    model = _build_model(config, len(label_map))
    if config.mode == "linear":
        from ssamba.training.linear_probe import train_linear_probe

        write_run_config(out, to_dict(config))  # full mode: the Trainer writes it once resume is accepted
        train_linear_probe(model, train_set, valid_set, config)
        selection = "linear_probe"
    else:
        selection = _train_full(model, config, out, train_set, valid_set, label_map, resume)
        if isinstance(selection, StoppedRun):
            return {"stopped": {"step": selection.step, "signum": selection.signum}}
    save_final(model, out / "final", config, label_map)
    test = _test_report(model, test_set, label_map, config, out)
    summary = {
        "selection": selection,
        "num_classes": len(label_map),
        "train_clips": len(train_set),
        "test": None
        if test is None
        else {k: test[k] for k in ("accuracy", "mAP", "mAUC", "d_prime", "num_clips")},
    }
    atomic_write_text(out / "results.json", json.dumps(summary, indent=2) + "\n")
    return summary


def _train_full(
    model: AudioClassifier,
    config: FinetuneConfig,
    out: Path,
    train_set: Dataset,
    valid_set: Dataset | None,
    label_map: LabelMap,
    resume: bool,
) -> str | StoppedRun:
    """Train in place; leaves the selected weights in `model`; returns how they were selected, or
    where a stop signal interrupted the run (its last checkpoint resumes it)."""
    steps_per_epoch = len(train_set) // config.train.batch_size  # type: ignore[arg-type]
    if steps_per_epoch < 1:
        raise ConfigError(
            f"{len(train_set)} training clips cannot fill one batch of {config.train.batch_size}"  # type: ignore[arg-type]
        )
    loop = _loop_config(config, steps_per_epoch)
    ctx = distributed.setup(loop.device)
    try:
        stream = BatchStream(
            train_set,
            loop.micro_batch(ctx.world_size),
            seed=loop.seed,
            rank=ctx.rank,
            world_size=ctx.world_size,
            num_workers=loop.num_workers,
            weights=psla_weights(train_set.manifest) if config.data.sampler == "balanced" else None,
        )
        epoch_end = EpochEnd(config, out, valid_set, label_map)
        task = TrainTask(
            model=model,
            objective=ClassificationObjective(model, config.loss, config.label_smoothing),
            family=model.config.family,
            stream=stream,
            config=config,
            evaluate=epoch_end,
            metric=config.metric,
            name=run_name(config),
        )
        trainer = Trainer(task, loop, config.optim, ScheduleConfig(kind="constant", warmup_steps=0), out, ctx)
        trainer.optimizer = build_optimizer(trainer.model, config)
        trainer.schedule = EpochSchedule(config.schedule, config.optim.lr, steps_per_epoch, loop.max_steps)
        epoch_end.steps_per_epoch = steps_per_epoch
        epoch_end.step = lambda: trainer.step
        result = trainer.run(resume=resume)
    finally:
        distributed.teardown()
    if result.signum is not None:
        return StoppedRun(result.step, result.signum)
    if config.wa_epochs is not None:
        first, last = config.wa_epochs
        paths = [epoch_end.epoch_path(e) for e in range(first, last + 1)]
        model.load_state_dict(average_state_dicts(paths))
        return f"weight_average_epochs_{first}_{last}"
    if valid_set is not None:
        model.load_state_dict(load_checkpoint(out / "checkpoints" / BEST)["model"])
        return f"best_valid_{config.metric}"
    return "last_epoch"
