"""The SSAST/SSAMBA front end: settings, named dataset presets, pad/crop and normalisation.

Waveform -> (mean removal) -> Kaldi fbank with the official options -> pad with zeros at the end
or crop to `target_length` frames -> `(x - mean) / (2 * std)`, as in the official data loaders.
"""

from __future__ import annotations

import dataclasses
import math
from types import MappingProxyType
from typing import Any

import torch

from ssamba import dataclass_io
from ssamba.errors import ConfigError
from ssamba.features.kaldi import kaldi_fbank


@dataclasses.dataclass(frozen=True)
class FeatureConfig:
    """Front-end settings; defaults are the AudioSet/pretraining recipe (SSAST and SSAMBA).

    `mean`/`std` are the dataset's fbank statistics used by `normalize`; `target_length` is the
    number of 10 ms frames the model sees; `subtract_waveform_mean` is the official loaders'
    `w - w.mean()` (the SUPERB/s3prl front end skips it). `high_freq` is the upper edge of the
    mel filters in Hz (Kaldi's option: 0 = the Nyquist frequency, negative = below it), e.g. 4000
    for narrow-band audio upsampled to 16 kHz, whose upper half would otherwise hold no signal.
    """

    sample_rate: int = 16000
    num_mel_bins: int = 128
    frame_shift_ms: float = 10.0
    frame_length_ms: float = 25.0
    target_length: int = 1024
    mean: float = -4.2677393
    std: float = 4.5689974
    subtract_waveform_mean: bool = True
    high_freq: float = 0.0

    def __post_init__(self) -> None:
        """Reject impossible values, naming the field."""
        if not 8000 <= self.sample_rate <= 192000:
            raise ConfigError(
                f"FeatureConfig.sample_rate must be in [8000, 192000] Hz, got {self.sample_rate}"
            )
        if self.num_mel_bins <= 3:
            raise ConfigError(f"FeatureConfig.num_mel_bins must be greater than 3, got {self.num_mel_bins}")
        if not self.frame_shift_ms > 0:
            raise ConfigError(f"FeatureConfig.frame_shift_ms must be positive, got {self.frame_shift_ms}")
        if not self.frame_length_ms >= self.frame_shift_ms:
            raise ConfigError(
                f"FeatureConfig.frame_length_ms ({self.frame_length_ms}) must be at least "
                f"frame_shift_ms ({self.frame_shift_ms})"
            )
        if self.target_length < 16:
            raise ConfigError(
                "FeatureConfig.target_length must be at least 16 frames (one patch), "
                f"got {self.target_length}"
            )
        nyquist = self.sample_rate / 2
        top = self.high_freq if self.high_freq > 0 else nyquist + self.high_freq
        if not (math.isfinite(self.high_freq) and 20.0 < top <= nyquist):
            raise ConfigError(
                f"FeatureConfig.high_freq must put the mel filters' top edge in (20, {nyquist:g}] Hz "
                f"(0 = Nyquist, negative = below it), got {self.high_freq}"
            )
        if not math.isfinite(self.mean):
            raise ConfigError(f"FeatureConfig.mean must be a finite number, got {self.mean}")
        if not (math.isfinite(self.std) and self.std > 0):
            raise ConfigError(f"FeatureConfig.std must be a positive finite number, got {self.std}")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict of the settings."""
        return dataclass_io.to_dict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureConfig:
        """Build from a dict, rejecting unknown keys and values of the wrong type."""
        return dataclass_io.from_dict(cls, data)

    def __call__(self, waveform: torch.Tensor, start: int = 0) -> torch.Tensor:
        """Shorthand for `extract_features(waveform, self, start)`."""
        return extract_features(waveform, self, start)


FEATURE_PRESETS: MappingProxyType[str, FeatureConfig] = MappingProxyType(
    {
        # AudioSet statistics; also used for pretraining (AudioSet + LibriSpeech) and by SUPERB.
        "audioset": FeatureConfig(),
        "esc50": FeatureConfig(mean=-6.6268077, std=5.358466, target_length=512),
        "speechcommands": FeatureConfig(mean=-6.845978, std=5.5654526, target_length=128),
        "urbansound8k": FeatureConfig(mean=-5.138443946838379, std=4.229961395263672, target_length=6144),
    }
)


def feature_preset(name: str, **overrides: Any) -> FeatureConfig:
    """The named recipe's `FeatureConfig`, with fields replaced by `overrides`."""
    if name not in FEATURE_PRESETS:
        raise ConfigError(f"unknown feature preset {name!r}; choose one of {', '.join(FEATURE_PRESETS)}")
    return FeatureConfig.from_dict({**FEATURE_PRESETS[name].to_dict(), **overrides})


def pad_or_crop(fbank: torch.Tensor, target_length: int, start: int = 0) -> torch.Tensor:
    """Fix the frame count of `fbank` `[..., frames, bins]` at `target_length`.

    Shorter inputs get zero rows appended at the end (before normalisation, as in the official
    loaders); longer ones keep frames `[start, start + target_length)`.
    """
    frames = fbank.shape[-2]
    if not 0 <= start <= max(frames - target_length, 0):
        raise ValueError(
            f"start={start} puts the {target_length}-frame crop outside the {frames} frames; "
            f"use 0 <= start <= {max(frames - target_length, 0)}"
        )
    if frames < target_length:
        return torch.nn.functional.pad(fbank, (0, 0, 0, target_length - frames))
    return fbank[..., start : start + target_length, :]


def normalize(fbank: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    """The official normalisation `(x - mean) / (2 * std)` (note the factor 2)."""
    if not std > 0:
        raise ValueError(f"std must be positive, got {std}")
    return (fbank - mean) / (2 * std)


def compute_fbank(waveform: torch.Tensor, config: FeatureConfig) -> torch.Tensor:
    """Log-mel `[frames, bins]` (or `[B, frames, bins]`) with the official front-end options,
    before padding and normalisation: optional waveform mean removal, then the Kaldi fbank with a
    hanning window, no dither, no energy."""
    if config.subtract_waveform_mean:
        waveform = waveform - waveform.mean(-1, keepdim=True)
    return kaldi_fbank(
        waveform,
        config.sample_rate,
        num_mel_bins=config.num_mel_bins,
        frame_length_ms=config.frame_length_ms,
        frame_shift_ms=config.frame_shift_ms,
        window="hanning",
        dither=0.0,
        high_freq=config.high_freq,
        use_energy=False,
        htk_compat=True,
    )


def extract_features(waveform: torch.Tensor, config: FeatureConfig, start: int = 0) -> torch.Tensor:
    """Model input `[target_length, bins]` (or `[B, target_length, bins]`) from a waveform.

    Args:
        waveform: `[n]` or `[B, n]` float samples at `config.sample_rate`.
        config: the front-end settings.
        start: first frame kept when the clip is longer than `config.target_length`.
    """
    fbank = compute_fbank(waveform, config)
    return normalize(pad_or_crop(fbank, config.target_length, start), config.mean, config.std)
