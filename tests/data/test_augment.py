"""SpecAugment, mixup and noise augmentations: semantics, bounds and determinism."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ssamba.data.augment import (
    AugmentConfig,
    add_noise,
    fit_length,
    mask_along_axis,
    mix_at_snr,
    mixup_targets,
    mixup_waveforms,
    sample_beta,
    spec_augment,
)
from ssamba.errors import ConfigError


def _clone(generator: torch.Generator) -> torch.Generator:
    twin = torch.Generator()
    twin.set_state(generator.get_state())
    return twin


@settings(max_examples=60, deadline=None, database=None)
@given(
    size=st.integers(1, 40),
    other=st.integers(1, 5),
    param=st.integers(0, 60),
    axis=st.sampled_from([0, 1]),
    seed=st.integers(0, 2**31),
)
def test_mask_matches_torchaudio_formula(size: int, other: int, param: int, axis: int, seed: int):
    shape = (size, other) if axis == 0 else (other, size)
    spec = torch.rand(shape) + 1.0
    generator = torch.Generator().manual_seed(seed)
    twin = _clone(generator)
    masked = mask_along_axis(spec, param, axis, generator)
    value = float(torch.rand(1, generator=twin)) * param
    start = int(float(torch.rand(1, generator=twin)) * (size - value))
    end = start + int(value)
    expected = spec.clone()
    index = [slice(None), slice(None)]
    index[axis] = slice(max(start, 0), max(end, 0))
    expected[tuple(index)] = 0.0
    assert torch.equal(masked, expected)
    zero_lines = (masked == 0).all(dim=1 - axis)
    assert int(zero_lines.sum()) <= max(param - 1, 0) or param > size
    assert torch.equal(spec, spec.clamp(min=1.0))  # input untouched


def test_spec_augment_is_deterministic_and_masks_both_axes() -> None:
    spec = torch.rand(100, 128) + 1.0
    first = spec_augment(spec, 48, 40, torch.Generator().manual_seed(5))
    again = spec_augment(spec, 48, 40, torch.Generator().manual_seed(5))
    assert torch.equal(first, again)
    zero_bins = int((first == 0).all(dim=0).sum())
    zero_frames = int((first == 0).all(dim=1).sum())
    assert 0 < zero_bins < 48 and 0 < zero_frames < 40
    assert torch.equal(spec_augment(spec, 0, 0, torch.Generator()), spec)


def test_mixup_waveforms_follow_the_official_recipe() -> None:
    rng = np.random.default_rng(0)
    first, short, long = (rng.standard_normal(n).astype(np.float32) + 3 for n in (100, 60, 150))
    lam = 0.3
    for second in (short, long):
        fitted = np.zeros(100, dtype=np.float32)
        cut = second[:100] if len(second) >= 100 else second
        fitted[: len(cut)] = (second - second.mean())[: len(cut)]
        mixed = lam * (first - first.mean()) + (1 - lam) * fitted
        expected = mixed - mixed.mean()
        result = mixup_waveforms(torch.from_numpy(first), torch.from_numpy(second), lam)
        np.testing.assert_allclose(result.numpy(), expected, atol=1e-5)


def test_mixup_targets_are_additive() -> None:
    first = torch.tensor([1.0, 1.0, 0.0, 0.0])
    second = torch.tensor([0.0, 1.0, 0.0, 1.0])
    mixed = mixup_targets(first, second, 0.7)
    torch.testing.assert_close(mixed, torch.tensor([0.7, 1.0, 0.0, 0.3]))
    assert float(mixed.sum()) == pytest.approx(0.7 * 2 + 0.3 * 2)


def test_beta_draws_are_reproducible_and_have_beta_10_10_moments() -> None:
    assert sample_beta(10, 10, torch.Generator().manual_seed(1)) == sample_beta(
        10, 10, torch.Generator().manual_seed(1)
    )
    generator = torch.Generator().manual_seed(2)
    draws = np.array([sample_beta(10, 10, generator) for _ in range(4000)])
    assert abs(draws.mean() - 0.5) < 0.01
    assert abs(draws.var() - 1 / (4 * 21)) < 0.002


def test_noise_adds_bounded_uniform_noise_then_rolls() -> None:
    fbank = torch.randn(64, 16)
    shifts = set()
    for seed in range(200):
        generator = torch.Generator().manual_seed(seed)
        twin = _clone(generator)
        noisy = add_noise(fbank, generator)
        scale = float(torch.rand((), generator=twin)) / 10
        noise = torch.rand(fbank.shape, generator=twin)
        shift = int(torch.randint(-10, 10, (), generator=twin))
        shifts.add(shift)
        torch.testing.assert_close(noisy, torch.roll(fbank + noise * scale, shift, 0))
        added = torch.roll(noisy, -shift, 0) - fbank
        assert float(added.min()) >= -1e-6 and float(added.max()) < 0.1
    assert min(shifts) == -10 and max(shifts) == 9


def test_mix_at_snr_reaches_the_requested_snr() -> None:
    generator = torch.Generator().manual_seed(0)
    signal = torch.randn(16000, generator=generator)
    noise = fit_length(torch.randn(3000, generator=generator) * 7, 16000, generator)
    assert noise.shape == (16000,)
    for snr in (-5.0, 0.0, 12.5):
        mixed = mix_at_snr(signal, noise, snr)
        added = mixed - signal
        measured = 10 * torch.log10(signal.pow(2).mean() / added.pow(2).mean())
        assert float(measured) == pytest.approx(snr, abs=1e-3)
    assert torch.equal(mix_at_snr(signal, torch.zeros(16000), 10.0), signal)


def test_fit_length_loops_from_a_random_offset() -> None:
    noise = torch.arange(5.0)
    segment = fit_length(noise, 12, torch.Generator().manual_seed(3))
    offset = int(segment[0])
    assert segment.tolist() == [float((offset + i) % 5) for i in range(12)]


@pytest.mark.parametrize(
    "kwargs",
    [{"freqm": -1}, {"mixup": 1.5}, {"noise_prob": -0.1}, {"snr_db": (10.0, 5.0)}],
)
def test_augment_config_rejects_bad_values(kwargs: dict) -> None:
    with pytest.raises(ConfigError, match="augment"):
        AugmentConfig(**kwargs)
