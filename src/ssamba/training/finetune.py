"""Supervised fine-tuning (spec 3.1) on the generic `Trainer`, plus linear probing on cached features.

Full mode: PSLA-style optimisation (Adam, head lr multiplier, staircase warm-up, MultiStepLR per
epoch or cosine), CE or BCE, mixup/SpecAugment/noise from `AugmentConfig`, one validation and
checkpoint per epoch, selection on the validation split, optional weight averaging over epochs,
final metrics on the test split. Linear mode: frozen encoder, pooled features computed once.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import Dataset

from ssamba.data import (
    AudioClipDataset,
    LabelMap,
    Manifest,
    SizedDataset,
    check_labels,
    psla_weights,
    read_manifest,
)
from ssamba.data.manifests import relabel
from ssamba.dataclass_io import to_dict
from ssamba.errors import ConfigError
from ssamba.evaluation import evaluate_model
from ssamba.evaluation.metrics import plot_confusion, write_metrics
from ssamba.models import AudioClassifier
from ssamba.training import distributed
from ssamba.training.batches import BatchStream
from ssamba.training.checkpoint import BEST, load_checkpoint
from ssamba.training.config import check_resume_config
from ssamba.training.engine import Trainer, TrainResult, TrainTask
from ssamba.training.finetune_config import FinetuneConfig
from ssamba.training.init import init_classifier_from
from ssamba.training.optim import (
    OFFICIAL_FINETUNE,
    build_optimizer,
    layer_decay_groups,
    param_groups,
    resolve_optimizer,
)
from ssamba.training.plots import run_title
from ssamba.training.run_folder import RunFolder, write_run_config
from ssamba.training.schedule import EpochSchedule
from ssamba.utils_io import atomic_write_text

logger = logging.getLogger(__name__)

LABELS_NAME = "labels.json"
MEMO_LIMIT_BYTES = 512 * 2**20  # evaluation sets up to this size keep their features in memory


# -- data ------------------------------------------------------------------------------------
def split_manifest(config: FinetuneConfig, values: tuple[str, ...]) -> Manifest | None:
    """The labelled clips of one split (None when `values` is empty)."""
    if not values:
        return None
    data = config.data
    manifest = read_manifest(data.manifest, require_labels=data.label_key == "label")
    return relabel(manifest.select(data.split_key, values), data.label_key)


class MemoDataset(SizedDataset):
    """Caches the items of a deterministic (evaluation) dataset after their first load."""

    def __init__(self, dataset: SizedDataset) -> None:
        self.dataset = dataset
        self.items: dict[int, Any] = {}

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Any:
        if index not in self.items:
            self.items[index] = self.dataset[index]
        return self.items[index]


# -- optimisation ----------------------------------------------------------------------------
def finetune_optimizer(model: AudioClassifier, config: FinetuneConfig) -> torch.optim.Optimizer:
    """Adam (official fine-tuning default) with the head's groups at `head_lr` times the lr.

    With `layer_decay`, encoder groups get `layer_decay ** (layers + 1 - depth)` of the lr.
    """
    name, decay = resolve_optimizer(config.optim, OFFICIAL_FINETUNE)
    if config.layer_decay is None:
        groups = [dict(g, lr_scale=1.0) for g in param_groups(model.encoder, decay)]
    else:
        groups = layer_decay_groups(model.encoder, decay, config.layer_decay)
    groups += [dict(g, lr_scale=config.head_lr) for g in param_groups(model.head, decay)]
    return build_optimizer(groups, config.optim, name)


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


def epoch_path(out_dir: Path, epoch: int) -> Path:
    """Where the weights of epoch `epoch` are kept for weight averaging."""
    return out_dir / "epochs" / f"epoch_{epoch:03d}.safetensors"


class EpochEnd:
    """The Trainer's per-epoch "evaluation": stores WA weights and validates when a split exists
    (without one it returns no metrics, so the Trainer logs no validation)."""

    def __init__(
        self,
        config: FinetuneConfig,
        out_dir: Path,
        valid: Dataset | None,
        label_map: LabelMap,
        steps_per_epoch: int,
    ) -> None:
        self.config = config
        self.out_dir = out_dir
        self.valid = valid
        self.label_map = label_map
        self.steps_per_epoch = steps_per_epoch

    def __call__(self, model: AudioClassifier, step: int) -> dict[str, float]:
        """Called by the Trainer after training step `step`, the last of an epoch."""
        from safetensors.torch import save_file

        epoch = step // self.steps_per_epoch
        wa = self.config.wa_epochs
        if wa is not None and wa[0] <= epoch <= wa[1]:
            path = epoch_path(self.out_dir, epoch)
            path.parent.mkdir(parents=True, exist_ok=True)
            save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, str(path))
        if self.valid is None:
            return {}
        batch = self.config.train.eval_batch_size or 2 * self.config.train.batch_size
        metrics = evaluate_model(model, self.valid, self.label_map, batch)
        return {
            "epoch": float(epoch),
            "acc": metrics["accuracy"],
            "mAP": metrics["mAP"],
            "mAUC": metrics["mAUC"],
        }


# -- runs ------------------------------------------------------------------------------------
def _datasets(
    config: FinetuneConfig,
) -> tuple[LabelMap, AudioClipDataset, SizedDataset | None, SizedDataset | None]:
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

    def held_out(manifest: Manifest | None) -> SizedDataset | None:
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


def run_finetune(
    config: FinetuneConfig, out_dir: str | Path, resume: bool = False, overwrite: bool = False
) -> TrainResult:
    """Fine-tune (or linear-probe) as `config` says; writes `final/`, metrics and `results.json`.

    The result's `summary` is `results.json`'s content; a run stopped by a signal (`stopped`)
    has an empty one (nothing tested or saved beyond its checkpoint; `resume=True` continues it).
    `out_dir` is locked for the run; an earlier run there is continued (`resume`), replaced
    (`overwrite`) or, with neither, refused.
    """
    with RunFolder(out_dir, resume=resume, overwrite=overwrite, enabled=distributed.env_rank() == 0):
        return _run_in_folder(config, Path(out_dir), resume)


def _run_in_folder(config: FinetuneConfig, out: Path, resume: bool) -> TrainResult:
    """`run_finetune` inside its locked run folder."""
    import json

    label_map, train_set, valid_set, test_set = _datasets(config)
    model = _build_model(config, len(label_map))
    if config.mode == "linear":
        from ssamba.training.linear_probe import train_linear_probe

        write_run_config(out, to_dict(config))  # full mode: the Trainer writes it once resume is accepted
        result = train_linear_probe(model, train_set, valid_set, config)
        selection = "linear_probe"
    else:
        result = _train_full(model, config, out, train_set, valid_set, label_map, resume)
        if result.stopped:
            return result
        selection = _select_weights(model, config, out, valid_set is not None)
    save_final(model, out / "final", config, label_map)
    test = _test_report(model, test_set, label_map, config, out)
    result.summary = {
        "selection": selection,
        "num_classes": len(label_map),
        "train_clips": len(train_set),
        "test": None
        if test is None
        else {k: test[k] for k in ("accuracy", "mAP", "mAUC", "d_prime", "num_clips")},
    }
    atomic_write_text(out / "results.json", json.dumps(result.summary, indent=2) + "\n")
    return result


def _train_full(
    model: AudioClassifier,
    config: FinetuneConfig,
    out: Path,
    train_set: AudioClipDataset,
    valid_set: SizedDataset | None,
    label_map: LabelMap,
    resume: bool,
) -> TrainResult:
    """Train `model` in place on the generic `Trainer`, one validation and checkpoint per epoch."""
    steps_per_epoch = len(train_set) // config.train.batch_size
    if steps_per_epoch < 1:
        raise ConfigError(
            f"{len(train_set)} training clips cannot fill one batch of {config.train.batch_size}"
        )
    loop = config.train.steps(steps_per_epoch)
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
        task = TrainTask(
            model=model,
            objective=ClassificationObjective(model, config.loss, config.label_smoothing),
            stream=stream,
            config=config,
            check_resume=check_resume_config,
            evaluate=EpochEnd(config, out, valid_set, label_map, steps_per_epoch),
            metric=config.metric,
            init=config.init,
            name=run_name(config),
        )
        optimizer = finetune_optimizer(model, config)
        schedule = EpochSchedule(config.schedule, config.optim.lr, steps_per_epoch, loop.max_steps)
        trainer = Trainer(task, loop, optimizer, schedule, out, ctx, config.optim.grad_clip)
        return trainer.run(resume=resume)
    finally:
        distributed.teardown()


def _select_weights(model: AudioClassifier, config: FinetuneConfig, out: Path, validated: bool) -> str:
    """Load the weights the recipe selects into `model` after training; returns how they were chosen."""
    if config.wa_epochs is not None:
        first, last = config.wa_epochs
        paths = [epoch_path(out, e) for e in range(first, last + 1)]
        model.load_state_dict(average_state_dicts(paths))
        return f"weight_average_epochs_{first}_{last}"
    if validated:
        model.load_state_dict(load_checkpoint(out / "checkpoints" / BEST)["model"])
        return f"best_valid_{config.metric}"
    return "last_epoch"
