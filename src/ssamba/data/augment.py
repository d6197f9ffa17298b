"""Training augmentations as pure functions of their inputs and an explicit `torch.Generator`.

SpecAugment masks follow torchaudio's `FrequencyMasking`/`TimeMasking`; mixup and the noise
augmentation follow the official SSAST/AST data loader (spec section 1.1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ssamba.errors import AudioError, ConfigError


@dataclass(frozen=True)
class AugmentConfig:
    """Training-time augmentation settings (all off by default).

    Attributes:
        freqm: SpecAugment frequency-mask parameter (max width in mel bins, 0 = off).
        timem: SpecAugment time-mask parameter (max width in frames, 0 = off).
        mixup: probability per clip of waveform mixup with another random clip.
        noise: official fbank noise + time roll augmentation.
        random_crop: crop long clips at a random frame in training (official: always frame 0).
        noise_manifest: JSONL manifest of real noise clips mixed into the waveform.
        noise_prob: probability per clip of mixing a real noise clip.
        snr_db: (low, high) range of the uniform SNR in dB for real-noise mixing.
    """

    freqm: int = 0
    timem: int = 0
    mixup: float = 0.0
    noise: bool = False
    random_crop: bool = True
    noise_manifest: str | None = None
    noise_prob: float = 1.0
    snr_db: tuple[float, float] = (5.0, 20.0)

    def __post_init__(self) -> None:
        if self.freqm < 0 or self.timem < 0:
            raise ConfigError(f"augment.freqm/timem must be >= 0, got {self.freqm}/{self.timem}")
        for key in ("mixup", "noise_prob"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise ConfigError(f"augment.{key} is a probability in [0, 1]")
        if len(self.snr_db) != 2 or self.snr_db[0] > self.snr_db[1]:
            raise ConfigError(f"augment.snr_db must be [low, high] with low <= high: {self.snr_db}")


def _uniform(generator: torch.Generator) -> float:
    return float(torch.rand((), generator=generator))


def mask_along_axis(
    spec: torch.Tensor, mask_param: int, axis: int, generator: torch.Generator, value: float = 0.0
) -> torch.Tensor:
    """One SpecAugment mask on `axis` of `spec` (torchaudio semantics), as a new tensor.

    Width `floor(u1 * mask_param)`, start `floor(u2 * (size - u1 * mask_param))` (truncated
    towards zero like torchaudio's `.long()`, which matters only when `mask_param > size`).
    """
    size = spec.shape[axis]
    width = _uniform(generator) * mask_param
    start = int(_uniform(generator) * (size - width))
    end = start + int(width)
    positions = torch.arange(size)
    inside = (positions >= start) & (positions < end)
    shape = [1] * spec.dim()
    shape[axis] = size
    return spec.masked_fill(inside.view(shape), value)


def spec_augment(fbank: torch.Tensor, freqm: int, timem: int, generator: torch.Generator) -> torch.Tensor:
    """Frequency mask then time mask (each once, if its parameter is non-zero) on `[T, F]`."""
    if freqm:
        fbank = mask_along_axis(fbank, freqm, 1, generator)
    if timem:
        fbank = mask_along_axis(fbank, timem, 0, generator)
    return fbank


def sample_beta(alpha: float, beta: float, generator: torch.Generator) -> float:
    """A Beta(alpha, beta) draw, deterministic given the torch generator's state."""
    seed = int(torch.randint(0, 2**62, (), generator=generator))
    return float(np.random.default_rng(seed).beta(alpha, beta))


def mixup_waveforms(first: torch.Tensor, second: torch.Tensor, lam: float) -> torch.Tensor:
    """Official waveform mixup: centre both, fit `second` to `first`'s length, mix, re-centre."""
    first = first - first.mean()
    second = second - second.mean()
    if second.numel() < first.numel():
        second = torch.nn.functional.pad(second, (0, first.numel() - second.numel()))
    mixed = lam * first + (1.0 - lam) * second[: first.numel()]
    return mixed - mixed.mean()


def mixup_targets(first: torch.Tensor, second: torch.Tensor, lam: float) -> torch.Tensor:
    """`lam * first + (1 - lam) * second` of multi-hot vectors (a shared label gets 1.0)."""
    return lam * first + (1.0 - lam) * second


def add_noise(fbank: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Official noise augmentation on a normalised `[T, F]` fbank.

    `x + U(0,1)^{T x F} * u / 10` with one `u ~ U(0,1)`, then a roll by `k` in [-10, 9] frames.
    """
    scale = _uniform(generator) / 10.0
    noisy = fbank + torch.rand(fbank.shape, generator=generator) * scale
    shift = int(torch.randint(-10, 10, (), generator=generator))
    return torch.roll(noisy, shift, dims=0)


def fit_length(noise: torch.Tensor, length: int, generator: torch.Generator) -> torch.Tensor:
    """`length` samples of `noise` from a random offset, looping it when it is too short."""
    if noise.numel() == 0:
        raise AudioError("a noise clip is empty; remove it from the noise manifest")
    repeats = -(-length // noise.numel()) + 1
    looped = noise.repeat(repeats)
    offset = int(torch.randint(0, noise.numel(), (), generator=generator))
    return looped[offset : offset + length]


def mix_at_snr(signal: torch.Tensor, noise: torch.Tensor, snr_db: float) -> torch.Tensor:
    """`signal + g * noise` (same length) with `g` giving the requested signal-to-noise ratio.

    Silent noise or a silent signal returns the signal unchanged.
    """
    signal_power = signal.double().pow(2).mean()
    noise_power = noise.double().pow(2).mean()
    if noise_power == 0 or signal_power == 0:
        return signal
    gain = torch.sqrt(signal_power / (noise_power * 10.0 ** (snr_db / 10.0)))
    return signal + (gain * noise.double()).to(signal.dtype)
