"""Map-style datasets over manifests or indexed tar shards, index-addressable so training can resume exactly.

Every random choice of item `i` in epoch `e` comes from a generator seeded by (seed, e, i), so an
item is the same whichever worker loads it and whenever it is loaded.
"""

from __future__ import annotations

import logging
import multiprocessing
from typing import Any

import torch
from torch.utils.data import Dataset, default_collate

from ssamba.data.augment import AugmentConfig
from ssamba.data.labels import LabelMap
from ssamba.data.manifests import Manifest
from ssamba.data.pipeline import ClipPipeline, NoiseBank, load_entry, seeded_generator
from ssamba.errors import AudioError
from ssamba.features import FeatureConfig

logger = logging.getLogger(__name__)

Item = tuple[torch.Tensor, torch.Tensor]


class SizedDataset(Dataset):
    """A map-style dataset that knows its length, which samplers and epochs need (torch's
    `Dataset` does not declare `__len__`)."""

    def __len__(self) -> int:
        raise NotImplementedError


class AudioClipDataset(SizedDataset):
    """`(fbank [target_length, num_mel_bins] float32, target)` for each manifest clip.

    Evaluation keeps the first `target_length` frames (zero-padded); training adds a random
    crop, mixup, real-noise mixing, SpecAugment and fbank noise as `augment` says. Targets are
    described in `ClipPipeline`. A clip that cannot be read raises `AudioError` (wrap the
    dataset in `SkipBadClips` to skip such clips instead).
    """

    def __init__(
        self,
        manifest: Manifest,
        label_map: LabelMap | None,
        feature_config: FeatureConfig,
        *,
        train: bool = False,
        augment: AugmentConfig | None = None,
        seed: int = 0,
    ) -> None:
        self.manifest = manifest
        augment = augment or AugmentConfig()
        self.pipeline = ClipPipeline(feature_config, label_map, augment, train)
        self.noise_bank = NoiseBank.from_config(augment, feature_config.sample_rate)
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose random crops/augmentations `__getitem__` reproduces.

        Call it before creating the epoch's DataLoader iterator (not with persistent workers).
        """
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.manifest)

    def _clip(self, index: int) -> tuple[torch.Tensor, tuple[str, ...]]:
        entry = self.manifest[index]
        return load_entry(entry, self.pipeline.feature_config.sample_rate), entry.targets

    def _partner(self, generator: torch.Generator) -> tuple[torch.Tensor, tuple[str, ...]]:
        return self._clip(int(torch.randint(len(self), (), generator=generator)))

    def __getitem__(self, index: int) -> Item:
        generator = seeded_generator(self.seed, self.epoch, index)
        waveform, labels = self._clip(index)
        return self.pipeline(waveform, labels, generator, self._partner, self.noise_bank)


class SkipBadClips(SizedDataset):
    """Wrap a dataset: clips raising `AudioError` are logged, counted and returned as None.

    Use with `collate_skip_none`. The count (`skipped`) is shared with DataLoader worker
    processes; past `max_skipped` bad clips the error is raised instead.
    """

    def __init__(self, dataset: SizedDataset, max_skipped: int = 100) -> None:
        self.dataset = dataset
        self.max_skipped = max_skipped
        self._skipped = multiprocessing.Value("l", 0)

    @property
    def skipped(self) -> int:
        """Number of clips skipped so far (in all worker processes)."""
        return int(self._skipped.value)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getattr__(self, name: str) -> Any:
        if name == "dataset":  # not yet set (e.g. while unpickling)
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def __getitem__(self, index: int) -> Any:
        try:
            return self.dataset[index]
        except AudioError as exc:
            with self._skipped.get_lock():
                self._skipped.value += 1
                count = self._skipped.value
            if count > self.max_skipped:
                raise AudioError(
                    f"{exc}\n(more than max_skipped={self.max_skipped} bad clips; fix the data)"
                ) from exc
            logger.warning("skipping bad clip %d (%d skipped so far): %s", index, count, exc)
            return None


def collate_skip_none(items: list[Any]) -> Any:
    """`default_collate` of the items that are not None; None if all of them are."""
    kept = [item for item in items if item is not None]
    return default_collate(kept) if kept else None
