"""FeatureConfig, presets, pad/crop and normalisation against the official recipe's numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import ssamba.features.frontend as frontend
from ssamba.errors import ConfigError
from ssamba.features import (
    FEATURE_PRESETS,
    FeatureConfig,
    compute_fbank,
    extract_features,
    feature_preset,
    normalize,
    pad_or_crop,
)

# (mean, std, target_length) from the official recipes (spec 1.1).
OFFICIAL = {
    "audioset": (-4.2677393, 4.5689974, 1024),
    "esc50": (-6.6268077, 5.358466, 512),
    "speechcommands": (-6.845978, 5.5654526, 128),
    "urbansound8k": (-5.138443946838379, 4.229961395263672, 6144),
}


@pytest.fixture(scope="module")
def golden(fixtures_dir: Path):
    """`golden(name)`: torchaudio's waveform and fbank of FSDD clip `name` (the fbank fixtures)."""
    return lambda name: load_file(fixtures_dir / "fbank" / f"a_preset_fsdd_{name}_float.safetensors")


def assert_frame_close(out: torch.Tensor, ref: torch.Tensor) -> None:
    """The fbank README's frame-relative tolerance rule (log-mel units)."""
    below = (ref.amax(dim=-1, keepdim=True) - ref).clamp_min(0.0)
    assert torch.all((out - ref).abs() <= 5e-4 + 4e-7 * torch.exp(below / 2))


@pytest.mark.parametrize("name", list(OFFICIAL))
def test_presets_hold_the_official_constants(name: str) -> None:
    mean, std, target_length = OFFICIAL[name]
    config = FEATURE_PRESETS[name]
    assert (config.mean, config.std, config.target_length) == (mean, std, target_length)
    assert (config.sample_rate, config.num_mel_bins, config.frame_shift_ms) == (16000, 128, 10.0)
    assert config.subtract_waveform_mean
    assert set(FEATURE_PRESETS) == set(OFFICIAL)


def test_default_config_is_the_audioset_recipe() -> None:
    assert FeatureConfig() == FEATURE_PRESETS["audioset"]


def test_short_clip_is_padded_with_zeros_before_normalisation(golden) -> None:
    tensors = golden("0_jackson_0")  # 62 frames
    mean, std, _ = OFFICIAL["speechcommands"]
    out = extract_features(tensors["waveform"][0], feature_preset("speechcommands"))
    assert out.shape == (128, 128)
    assert_frame_close(out[:62] * 2 * std + mean, tensors["fbank"])
    assert torch.all(out[62:] == torch.tensor(-mean / (2 * std)))


def test_long_clip_is_cropped_at_start(golden) -> None:
    tensors = golden("9_theo_16")  # 226 frames
    config = feature_preset("audioset", target_length=100)
    mean, std = config.mean, config.std
    out = config(tensors["waveform"][0], start=50)
    assert out.shape == (100, 128)
    assert_frame_close(out * 2 * std + mean, tensors["fbank"][50:150])
    first = extract_features(tensors["waveform"][0], config)
    assert_frame_close(first * 2 * std + mean, tensors["fbank"][:100])


def test_batch_equals_rows() -> None:
    waves = torch.randn(3, 8000, generator=torch.Generator().manual_seed(0)) * 0.1 + 0.2
    config = feature_preset("speechcommands")
    out = config(waves)
    assert out.shape == (3, 128, 128)
    torch.testing.assert_close(out, torch.stack([config(w) for w in waves]), atol=1e-5, rtol=0)


@pytest.mark.parametrize("subtract", [True, False])
def test_waveform_mean_removal_is_the_first_step(subtract: bool, monkeypatch) -> None:
    seen: list[torch.Tensor] = []
    real = frontend.kaldi_fbank

    def spy(waveform: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        seen.append(waveform)
        return real(waveform, *args, **kwargs)

    monkeypatch.setattr(frontend, "kaldi_fbank", spy)
    wave = torch.full((2, 1600), 0.5) + torch.linspace(0, 0.01, 1600)
    extract_features(wave, feature_preset("audioset", subtract_waveform_mean=subtract))
    expected = wave - wave.mean(dim=1, keepdim=True) if subtract else wave
    torch.testing.assert_close(seen[0], expected)


def test_pad_or_crop_shapes_and_values() -> None:
    fbank = torch.arange(20.0).reshape(10, 2) + 1
    padded = pad_or_crop(fbank, 16)
    assert padded.shape == (16, 2)
    assert torch.equal(padded[:10], fbank)
    assert torch.all(padded[10:] == 0)
    assert torch.equal(pad_or_crop(fbank, 4, start=3), fbank[3:7])
    assert torch.equal(pad_or_crop(fbank, 10), fbank)
    batch = torch.stack([fbank, -fbank])
    assert torch.equal(pad_or_crop(batch, 4, start=6), batch[:, 6:10])


@pytest.mark.parametrize(("target", "start"), [(4, 7), (4, -1), (16, 1)])
def test_crop_outside_the_clip_is_rejected(target: int, start: int) -> None:
    with pytest.raises(ValueError, match=f"start={start}"):
        pad_or_crop(torch.zeros(10, 2), target, start=start)


def test_normalize_uses_twice_the_std() -> None:
    x = torch.tensor([-4.0, 0.0, 6.0])
    torch.testing.assert_close(normalize(x, mean=-4.0, std=2.5), torch.tensor([0.0, 0.8, 2.0]))
    with pytest.raises(ValueError, match="std"):
        normalize(x, mean=0.0, std=0.0)


def test_dict_round_trip_and_unknown_keys() -> None:
    config = feature_preset("esc50", target_length=256, subtract_waveform_mean=False)
    data = json.loads(json.dumps(config.to_dict()))
    assert data["target_length"] == 256
    assert FeatureConfig.from_dict(data) == config
    with pytest.raises(ConfigError, match="unknown key.*n_mels"):
        FeatureConfig.from_dict({**data, "n_mels": 64})
    with pytest.raises(ConfigError, match="target_length"):
        FeatureConfig.from_dict({**data, "target_length": "long"})


def test_feature_preset_errors() -> None:
    with pytest.raises(ConfigError, match="unknown feature preset 'as2m'.*audioset"):
        feature_preset("as2m")
    with pytest.raises(ConfigError, match="unknown key.*melbins"):
        feature_preset("audioset", melbins=64)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"std": 0.0}, "std"),
        ({"std": float("nan")}, "std"),
        ({"mean": float("inf")}, "mean"),
        ({"target_length": 15}, "target_length"),
        ({"sample_rate": 4000}, "sample_rate"),
        ({"num_mel_bins": 3}, "num_mel_bins"),
        ({"frame_shift_ms": 0.0}, "frame_shift_ms"),
        ({"frame_length_ms": 5.0}, "frame_length_ms"),
    ],
)
def test_invalid_values_name_the_field(changes: dict, field: str) -> None:
    with pytest.raises(ValueError, match=f"FeatureConfig.{field}"):
        FeatureConfig(**changes)


def test_high_freq_puts_every_mel_filter_below_it() -> None:
    """With high_freq=4000 a 6 kHz tone only leaks into the bands (window side lobes, > 40 dB down)
    while a 3.5 kHz tone reaches the top bands at full level, as 6 kHz does with the default bands."""
    t = torch.arange(16000) / 16000
    config = FeatureConfig(high_freq=4000.0)
    above = compute_fbank(0.5 * torch.sin(2 * torch.pi * 6000 * t), config)
    inside = compute_fbank(0.5 * torch.sin(2 * torch.pi * 3500 * t), config)
    full_band = compute_fbank(0.5 * torch.sin(2 * torch.pi * 6000 * t), FeatureConfig())
    assert inside[:, -20:].max() > full_band.max() - 1.0
    assert above.max() < full_band.max() - 10.0  # log power: 10 = 43 dB


@pytest.mark.parametrize("high_freq", [9000.0, -8000.0, 15.0, float("nan")])
def test_high_freq_outside_the_band_is_rejected(high_freq: float) -> None:
    with pytest.raises(ConfigError, match="high_freq"):
        FeatureConfig(high_freq=high_freq)
