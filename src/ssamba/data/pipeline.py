"""One clip's path from waveform to model input, shared by the map and the shard datasets.

Order (spec 1.1): [mixup] -> [real-noise mix] -> fbank -> pad/crop -> [SpecAugment] ->
normalise -> [fbank noise + roll]; bracketed steps only in training.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np
import torch

from ssamba.audio import decode_bytes, load_audio
from ssamba.data.augment import (
    AugmentConfig,
    add_noise,
    fit_length,
    mix_at_snr,
    mixup_targets,
    mixup_waveforms,
    sample_beta,
    spec_augment,
)
from ssamba.data.labels import LabelMap
from ssamba.data.manifests import ManifestEntry, read_manifest
from ssamba.features import FeatureConfig, compute_fbank, normalize, num_frames, pad_or_crop

MIXUP_ALPHA = 10.0  # lam ~ Beta(10, 10) in the official loaders

Partner = Callable[[torch.Generator], tuple[torch.Tensor, Sequence[str]]]


def seeded_generator(*keys: int) -> torch.Generator:
    """A torch generator seeded from a tuple of integers (e.g. seed, epoch, index)."""
    state = np.random.SeedSequence([int(k) & 0xFFFFFFFF for k in keys]).generate_state(2)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


SHARD_OFFSET = "shard_offset"  # ManifestEntry.extra keys of a clip inside a tar shard (`index_shards`)
SHARD_SIZE = "shard_size"


def load_entry(entry: ManifestEntry, sample_rate: int) -> torch.Tensor:
    """The clip's waveform `[n]` at `sample_rate`, limited to its `start`/`end` segment.

    An entry of `index_shards` (its path a tar shard, `extra` holding the audio member's byte
    offset and size) is read at that offset and decoded in memory.
    """
    offset = entry.start or 0.0
    if SHARD_OFFSET in entry.extra:
        with open(entry.path, "rb") as handle:
            handle.seek(entry.extra[SHARD_OFFSET])
            data = handle.read(entry.extra[SHARD_SIZE])
        return decode_bytes(data, entry.where, sample_rate, offset=offset, duration=entry.duration)
    return load_audio(entry.path, sample_rate, mono=True, offset=offset, duration=entry.duration)


def log_mel(waveform: torch.Tensor, config: FeatureConfig, start: int = 0) -> torch.Tensor:
    """Padded/cropped log-mel `[target_length, bins]` before normalisation."""
    return pad_or_crop(compute_fbank(waveform, config), config.target_length, start)


class NoiseBank:
    """Real noise clips from a manifest, drawn at random for SNR mixing."""

    def __init__(self, manifest_path: str, sample_rate: int) -> None:
        self.manifest = read_manifest(manifest_path, require_labels=False)
        self.sample_rate = sample_rate

    @classmethod
    def from_config(cls, augment: AugmentConfig, sample_rate: int) -> NoiseBank | None:
        """The bank of `augment.noise_manifest`, or None when real-noise mixing is off."""
        return cls(augment.noise_manifest, sample_rate) if augment.noise_manifest else None

    def draw(self, generator: torch.Generator) -> torch.Tensor:
        """One random noise clip's waveform."""
        index = int(torch.randint(len(self.manifest), (), generator=generator))
        return load_entry(self.manifest[index], self.sample_rate)


@dataclasses.dataclass(frozen=True)
class ClipPipeline:
    """Waveform and labels -> `(fbank [target_length, bins] float32, target)`.

    Targets: a LongTensor class index for single-label maps, a float multi-hot vector for
    multi-label maps or whenever training uses mixup (soft targets; cross-entropy accepts class
    probabilities), an empty float tensor without a label map.
    """

    feature_config: FeatureConfig
    label_map: LabelMap | None
    augment: AugmentConfig = dataclasses.field(default_factory=AugmentConfig)
    train: bool = False

    @property
    def soft_targets(self) -> bool:
        """Whether targets are float vectors."""
        multi = self.label_map is not None and self.label_map.multi_label
        return multi or (self.train and self.augment.mixup > 0)

    def target(self, labels: Sequence[str]) -> torch.Tensor:
        """Target of an unmixed clip."""
        if self.label_map is None:
            return torch.zeros(0)
        return self.label_map.multi_hot(labels) if self.soft_targets else self.label_map.encode(labels)

    def _mix(
        self,
        waveform: torch.Tensor,
        labels: Sequence[str],
        generator: torch.Generator,
        partner: Partner | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Waveform mixup with probability `augment.mixup` (when a partner source is given)."""
        chance = float(torch.rand((), generator=generator))
        if partner is None or chance >= self.augment.mixup:
            return waveform, self.target(labels)
        other, other_labels = partner(generator)
        lam = sample_beta(MIXUP_ALPHA, MIXUP_ALPHA, generator)
        target = mixup_targets(self.target(labels), self.target(other_labels), lam)
        return mixup_waveforms(waveform, other, lam), target

    def _add_real_noise(
        self, waveform: torch.Tensor, generator: torch.Generator, noise_bank: NoiseBank
    ) -> torch.Tensor:
        if float(torch.rand((), generator=generator)) >= self.augment.noise_prob:
            return waveform
        noise = fit_length(noise_bank.draw(generator), waveform.numel(), generator)
        low, high = self.augment.snr_db
        snr = low + (high - low) * float(torch.rand((), generator=generator))
        return mix_at_snr(waveform, noise, snr)

    def _crop_start(self, waveform: torch.Tensor, generator: torch.Generator) -> int:
        config = self.feature_config
        if not (self.train and self.augment.random_crop):
            return 0
        frames = num_frames(
            waveform.numel(), config.sample_rate, config.frame_length_ms, config.frame_shift_ms
        )
        spare = frames - config.target_length
        return int(torch.randint(spare + 1, (), generator=generator)) if spare > 0 else 0

    def __call__(
        self,
        waveform: torch.Tensor,
        labels: Sequence[str],
        generator: torch.Generator,
        partner: Partner | None = None,
        noise_bank: NoiseBank | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Transform one clip; `partner(generator)` supplies a random mixup clip in training."""
        config, augment = self.feature_config, self.augment
        if self.train and augment.mixup > 0:
            waveform, target = self._mix(waveform, labels, generator, partner)
        else:
            target = self.target(labels)
        if self.train and noise_bank is not None:
            waveform = self._add_real_noise(waveform, generator, noise_bank)
        fbank = log_mel(waveform, config, self._crop_start(waveform, generator))
        if self.train:
            fbank = spec_augment(fbank, augment.freqm, augment.timem, generator)
        fbank = normalize(fbank, config.mean, config.std)
        if self.train and augment.noise:
            fbank = add_noise(fbank, generator)
        return fbank.float(), target
