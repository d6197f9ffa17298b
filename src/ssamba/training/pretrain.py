"""MSPM pretraining (spec 2): model, data and objective for the generic `Trainer`.

Per step the official joint objective runs two forward passes with independent cluster masks
(`single_pass` runs one). Masks come from `random.Random(derive_seed(seed, step, rank, micro))`;
validation masks are fixed per clip (seeded by the clip index), so validation numbers are
comparable across steps and runs.
"""

from __future__ import annotations

import logging
import random
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Subset

from ssamba.data import AudioClipDataset, Manifest, index_shards, read_manifest
from ssamba.errors import ConfigError
from ssamba.features import FeatureConfig
from ssamba.models import MSPMPretrainer, create_model
from ssamba.training import distributed
from ssamba.training.batches import BatchStream
from ssamba.training.config import DataConfig, OptimConfig, PretrainConfig, check_resume_config
from ssamba.training.distributed import DistContext
from ssamba.training.engine import Trainer, TrainResult, TrainTask
from ssamba.training.optim import build_optimizer, official_pretraining, param_groups, resolve_optimizer
from ssamba.training.plots import MSPM_PANELS
from ssamba.training.rng import derive_seed
from ssamba.training.run_folder import RunFolder
from ssamba.training.schedule import LRSchedule

logger = logging.getLogger(__name__)

OFFICIAL_VALID_MASKED = 400
_VALID_DISC, _VALID_GEN = 1, 2  # seed tags of the two fixed validation masks


class MSPMObjective(nn.Module):
    """`forward((fbank, target), seed)` -> MSPM losses with masks drawn from `seed` (DDP-wrappable)."""

    def __init__(self, model: MSPMPretrainer, num_masked: int, single_pass: bool) -> None:
        super().__init__()
        self.model = model
        self.num_masked = num_masked
        self.single_pass = single_pass

    def forward(self, batch: tuple[Tensor, Tensor], seed: int) -> dict[str, Tensor]:
        fbank = batch[0]
        return self.model.mspm_loss(
            fbank, num_masked=self.num_masked, rng=random.Random(seed), single_pass=self.single_pass
        )


class MaskedValidation:
    """Masked-patch accuracy, InfoNCE and MSE over a validation set, split across ranks.

    Each clip has two fixed masks (discriminative, generative) seeded by (seed, tag, clip index).
    """

    def __init__(
        self, dataset: AudioClipDataset, num_masked: int, seed: int, batch_size: int, ctx: DistContext
    ) -> None:
        self.dataset = dataset
        self.num_masked = num_masked
        self.seed = seed
        self.batch_size = batch_size
        self.ctx = ctx
        self.indices = list(range(ctx.rank, len(dataset), ctx.world_size))

    def _masks(self, model: MSPMPretrainer, indices: list[int], tag: int) -> Tensor:
        rows = [
            model.draw_masks(1, self.num_masked, random.Random(derive_seed(self.seed, tag, index)))
            for index in indices
        ]
        return torch.cat(rows)

    def __call__(self, model: MSPMPretrainer, step: int) -> dict[str, float]:
        """The metrics at training step `step` (the same masks at every step)."""
        sums = [0.0, 0.0, 0.0, 0.0]  # acc, nce, mse (each times clips), clips
        loader = DataLoader(Subset(self.dataset, self.indices), batch_size=self.batch_size, shuffle=False)
        for start, (fbank, _) in zip(range(0, len(self.indices), self.batch_size), loader, strict=True):
            chunk = self.indices[start : start + self.batch_size]
            out = model.mspm_loss(
                fbank.to(self.ctx.device),
                mask_disc=self._masks(model, chunk, _VALID_DISC),
                mask_gen=self._masks(model, chunk, _VALID_GEN),
            )
            for slot, key in enumerate(("acc", "nce", "mse")):
                sums[slot] += float(out[key]) * len(chunk)
            sums[3] += len(chunk)
        acc, nce, mse, clips = distributed.all_reduce_sum(sums, self.ctx.device)
        return {"acc": acc / clips, "nce": nce / clips, "mse": mse / clips, "clips": clips}


def _read(path: str, split: str | None) -> Manifest:
    manifest = read_manifest(path, require_labels=False)
    return manifest.select("split", split) if split is not None else manifest


def train_manifest(data: DataConfig) -> Manifest:
    """All training manifests concatenated (rows of `train_split` only when set)."""
    entries = [entry for path in data.train_manifests for entry in _read(path, data.train_split)]
    return Manifest(tuple(entries))


def train_dataset(data: DataConfig, features: FeatureConfig, seed: int) -> AudioClipDataset:
    """The training clips, unlabelled, from the manifests or the tar shards of `data`."""
    manifest = index_shards(data.train_shards) if data.train_shards else train_manifest(data)
    return AudioClipDataset(manifest, None, features, train=True, seed=seed)


def valid_manifest(data: DataConfig) -> Manifest | None:
    """The held-out manifest (first `max_valid_clips` rows), or None without validation."""
    if data.valid_manifest is None:
        return None
    manifest = _read(data.valid_manifest, data.valid_split)
    if data.max_valid_clips is not None:
        manifest = Manifest(manifest.entries[: data.max_valid_clips], manifest.source)
    return manifest


def build_model(config: PretrainConfig, features: FeatureConfig) -> MSPMPretrainer:
    """The pretraining model at the front end's geometry (input_tdim = target_length)."""
    overrides = dict(config.model_overrides)
    for key, value in (("input_tdim", features.target_length), ("num_mel_bins", features.num_mel_bins)):
        if overrides.setdefault(key, value) != value:
            raise ConfigError(
                f"model_overrides.{key}={overrides[key]} disagrees with the features ({value}); "
                "set data.features instead"
            )
    model = create_model(config.model, task="pretrain", **overrides)
    assert isinstance(model, MSPMPretrainer)
    model.set_grad_checkpointing(config.train.grad_checkpointing)
    return model


def check_masked_counts(config: PretrainConfig, model: MSPMPretrainer) -> int:
    """Validate the masked-patch counts; returns the validation count (default min(400, limit)).

    Cluster masking never masks patch 0 and stops once it holds more than M distinct patches, so
    it needs M <= patches - 2 (M = patches - 1 would loop forever); frame masking allows M <= patches.
    """
    patches = model.grid[0] * model.grid[1]
    limit = patches if model.config.is_frame_model else patches - 2
    valid = config.mspm.valid_num_masked or min(OFFICIAL_VALID_MASKED, limit)
    for key, value in (("num_masked", config.mspm.num_masked), ("valid_num_masked", valid)):
        if not 0 < value <= limit:
            raise ConfigError(f"mspm.{key}={value}: the model has {patches} patches; use 1..{limit}")
    return valid


def build_task(config: PretrainConfig, ctx: DistContext) -> tuple[TrainTask[MSPMPretrainer], FeatureConfig]:
    """Model, objective, data stream and validation of one rank."""
    features = config.data.feature_config()
    torch.manual_seed(config.train.seed)  # same initial weights on every rank
    model = build_model(config, features)
    valid_masked = check_masked_counts(config, model)
    loop = config.train
    micro = loop.micro_batch(ctx.world_size)
    dataset = train_dataset(config.data, features, loop.seed)
    stream = BatchStream(
        dataset, micro, seed=loop.seed, rank=ctx.rank, world_size=ctx.world_size, num_workers=loop.num_workers
    )
    held_out = valid_manifest(config.data)
    evaluate = None
    if held_out is not None:
        valid_set = AudioClipDataset(held_out, None, features, train=False)
        evaluate = MaskedValidation(valid_set, valid_masked, loop.seed, micro, ctx)
    task = TrainTask(
        model=model,
        objective=MSPMObjective(model, config.mspm.num_masked, config.mspm.single_pass),
        stream=stream,
        config=config,
        check_resume=check_resume_config,
        evaluate=evaluate,
        metric="acc",
        finalize=lambda trained, folder: trained.save_pretrained(folder, features),
        name="pretrain",
        panels=MSPM_PANELS,
    )
    logger.info(
        "pretraining %s: %d patches, %d masked (validation %d), %d training clips, "
        "micro-batch %d x %d rank(s) x %d accumulation, selective scan: %s",
        config.model,
        model.grid[0] * model.grid[1],
        config.mspm.num_masked,
        valid_masked,
        len(dataset),
        micro,
        ctx.world_size,
        loop.grad_accum,
        model.config.scan_backend_name(ctx.device.type == "cuda"),
    )
    return task, features


def pretrain_optimizer(model: MSPMPretrainer, config: OptimConfig) -> torch.optim.Optimizer:
    """The official optimiser of the model's family (unless configured) over decay / no-decay groups."""
    name, weight_decay = resolve_optimizer(config, official_pretraining(model.config.family))
    return build_optimizer(param_groups(model, weight_decay), config, name)


def run_pretrain(
    config: PretrainConfig, out_dir: str | Path, resume: bool = False, overwrite: bool = False
) -> TrainResult:
    """Pretrain as `config` says, writing logs, checkpoints and `final/` under `out_dir`.

    `out_dir` is locked for the run; an earlier run there is continued (`resume`), replaced
    (`overwrite`) or, with neither, a `RunFolderError`.
    """
    with RunFolder(out_dir, resume=resume, overwrite=overwrite, enabled=distributed.env_rank() == 0):
        ctx = distributed.setup(config.train.device)
        try:
            task, _ = build_task(config, ctx)
            optimizer = pretrain_optimizer(task.model, config.optim)
            schedule = LRSchedule(config.schedule, config.optim.lr, config.train.max_steps)
            trainer = Trainer(task, config.train, optimizer, schedule, out_dir, ctx, config.optim.grad_clip)
            return trainer.run(resume=resume)
        finally:
            distributed.teardown()
