"""kaldi_fbank against torchaudio's golden outputs (shared/fixtures/fbank) and Kaldi's rules."""

from __future__ import annotations

import json
import math

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from shared_data import FIXTURES_DIR, HAVE_SHARED, requires_shared
from ssamba.errors import AudioError
from ssamba.features import kaldi_fbank, num_frames

FBANK_DIR = FIXTURES_DIR / "fbank"
CASES = json.loads((FBANK_DIR / "manifest.json").read_text())["cases"] if HAVE_SHARED else []

# torchaudio 2.9.1's defaults, which the fixtures' kwargs rely on (fbank README).
TORCHAUDIO_DEFAULTS = {
    "blackman_coeff": 0.42,
    "channel": -1,
    "dither": 0.0,
    "energy_floor": 1.0,
    "frame_length": 25.0,
    "frame_shift": 10.0,
    "high_freq": 0.0,
    "htk_compat": False,
    "low_freq": 20.0,
    "num_mel_bins": 23,
    "preemphasis_coefficient": 0.97,
    "raw_energy": True,
    "remove_dc_offset": True,
    "round_to_power_of_two": True,
    "sample_frequency": 16000.0,
    "snip_edges": True,
    "subtract_mean": False,
    "use_energy": False,
    "use_log_fbank": True,
    "use_power": True,
    "window_type": "povey",
}
RENAMED = {
    "sample_frequency": "sample_rate",
    "frame_length": "frame_length_ms",
    "frame_shift": "frame_shift_ms",
    "window_type": "window",
    "preemphasis_coefficient": "preemphasis",
}
LOG_EPS = math.log(2.0**-23)


def load_case(case: dict) -> tuple[dict, torch.Tensor, dict[str, torch.Tensor]]:
    """(ssamba kwargs, input row as the project feeds it, stored tensors) of one fixture case."""
    path = FBANK_DIR / case["file"]
    tensors = load_file(path)
    with safe_open(path, "pt") as handle:
        kwargs = {**TORCHAUDIO_DEFAULTS, **json.loads(handle.metadata()["kwargs"])}
    row = max(kwargs.pop("channel"), 0)  # torchaudio computes one channel of a (C, T) input
    waveform = tensors["waveform"][row]
    if case["preset_mean_removal"]:  # the SSAST/SSAMBA preset removes the mean first
        waveform = waveform - waveform.mean()
    return {RENAMED.get(k, k): v for k, v in kwargs.items()}, waveform, tensors


def assert_close_to_reference(out: torch.Tensor, ref: torch.Tensor, kwargs: dict) -> None:
    """The fbank README's frame-relative tolerance rule."""
    assert out.shape == ref.shape
    assert out.dtype == ref.dtype
    if kwargs["subtract_mean"]:
        assert (out - ref).abs().max().item() <= 2e-3
        return
    if not kwargs["use_log_fbank"]:
        out, ref = out.clamp_min(2.0**-23).log(), ref.clamp_min(2.0**-23).log()
    mel = ref
    if kwargs["use_energy"]:
        mel = ref[:, :-1] if kwargs["htk_compat"] else ref[:, 1:]
    below = (mel.amax(dim=1, keepdim=True) - ref).clamp_min(0.0)
    if not kwargs["use_power"]:
        below = 2 * below
    tolerance = 5e-4 + 4e-7 * torch.exp(below / 2)
    excess = (out - ref).abs() / tolerance
    assert excess.max().item() <= 1.0, f"worst error/tolerance {excess.max().item():.3f}"


@requires_shared
@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_matches_torchaudio(case: dict) -> None:
    kwargs, waveform, tensors = load_case(case)
    assert_close_to_reference(kaldi_fbank(waveform, **kwargs), tensors["fbank"], kwargs)


@requires_shared
@pytest.mark.parametrize("name", ["a_preset_fsdd_0_jackson_0_float", "d_povey80_energy_kaldi"])
def test_float64_input_matches_torchaudio_float64(name: str) -> None:
    case = next(c for c in CASES if c["name"] == name)
    kwargs, _, tensors = load_case(case)
    waveform = tensors["waveform"][0].double()
    if case["preset_mean_removal"]:
        waveform = waveform - waveform.mean()
    assert_close_to_reference(kaldi_fbank(waveform, **kwargs), tensors["fbank_f64"], kwargs)


@requires_shared
@pytest.mark.parametrize("snip_edges", [True, False])
def test_batch_equals_rows(snip_edges: bool) -> None:
    case = next(c for c in CASES if c["name"] == "e_twochannel_channel1")
    kwargs, _, tensors = load_case(case)
    kwargs["snip_edges"] = snip_edges
    batch = tensors["waveform"]
    out = kaldi_fbank(batch, **kwargs)
    rows = torch.stack([kaldi_fbank(row, **kwargs) for row in batch])
    assert out.shape == (2, num_frames(batch.shape[1], snip_edges=snip_edges), 128)
    torch.testing.assert_close(out, rows, atol=1e-5, rtol=0)
    if snip_edges:
        assert_close_to_reference(out[1], tensors["fbank"], kwargs)


def test_preset_empty_filter_is_the_log_floor() -> None:
    # Independently: the 4th of 128 mel filters between 20 Hz and 8 kHz holds no 512-point FFT bin.
    mel = [1127 * math.log(1 + f / 700) for f in (20.0, 8000.0)]
    delta = (mel[1] - mel[0]) / 129
    edges = [700 * (math.exp((mel[0] + k * delta) / 1127) - 1) for k in (3, 5)]
    assert not any(edges[0] < k * 16000 / 512 < edges[1] for k in range(257))
    noise = torch.randn(16000, generator=torch.Generator().manual_seed(0))
    out = kaldi_fbank(noise - noise.mean())
    assert out.shape == (98, 128)
    assert torch.all(out[:, 3] == torch.tensor(LOG_EPS, dtype=torch.float32))
    assert torch.all(out[:, [2, 4]] > LOG_EPS + 5)


@pytest.mark.parametrize("n", [400, 401, 559, 560, 1000, 16000, 16079, 16080, 160_000])
def test_frame_count(n: int) -> None:
    signal = torch.randn(n, generator=torch.Generator().manual_seed(n))
    assert kaldi_fbank(signal).shape == (1 + (n - 400) // 160, 128)
    assert kaldi_fbank(signal, snip_edges=False).shape == ((n + 80) // 160, 128)
    assert num_frames(n) == 1 + (n - 400) // 160
    assert num_frames(n, snip_edges=False) == (n + 80) // 160


def test_frame_count_at_8k_and_other_frames() -> None:
    signal = torch.randn(8000, generator=torch.Generator().manual_seed(1))
    assert kaldi_fbank(signal, 8000, num_mel_bins=40).shape == (1 + (8000 - 200) // 80, 40)
    out = kaldi_fbank(signal, 8000, num_mel_bins=40, frame_length_ms=32.0, frame_shift_ms=16.0)
    assert out.shape == (1 + (8000 - 256) // 128, 40)
    assert num_frames(10, 8000) == 0


@pytest.mark.parametrize("snip_edges", [True, False])
def test_shorter_than_one_frame_is_an_error(snip_edges: bool) -> None:
    with pytest.raises(AudioError, match="399 samples.*400"):
        kaldi_fbank(torch.zeros(399), snip_edges=snip_edges)
    with pytest.raises(ValueError, match="one analysis frame"):
        kaldi_fbank(torch.zeros(3, 100))


@pytest.mark.parametrize(
    ("waveform", "kwargs", "message"),
    [
        (torch.zeros(1000), {"window": "hann"}, "window='hann'"),
        (torch.zeros(1000), {"num_mel_bins": 3}, "num_mel_bins"),
        (torch.zeros(1000), {"preemphasis": 1.5}, "preemphasis"),
        (torch.zeros(1000), {"dither": -1.0}, "dither"),
        (torch.zeros(1000), {"energy_floor": -1.0}, "energy_floor"),
        (torch.zeros(1000), {"high_freq": 9000.0}, "high_freq=9000"),
        (torch.zeros(1000), {"low_freq": 5000.0, "high_freq": 4000.0}, "low_freq=5000"),
        (torch.zeros(1000), {"frame_shift_ms": 0.01}, "shift"),
        (torch.zeros(1000, dtype=torch.int16), {}, "waveform.float()"),
        (torch.zeros(2, 3, 1000), {}, r"shape \(2, 3, 1000\)"),
    ],
)
def test_bad_options_raise(waveform: torch.Tensor, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        kaldi_fbank(waveform, **kwargs)


def test_dither_uses_the_generator() -> None:
    signal = torch.zeros(4000)

    def dithered(seed: int) -> torch.Tensor:
        return kaldi_fbank(signal, dither=1.0, generator=torch.Generator().manual_seed(seed))

    torch.testing.assert_close(dithered(3), dithered(3), atol=0, rtol=0)
    assert not torch.equal(dithered(3), dithered(4))
    # Silence gives the log floor everywhere; unit Gaussian dither lifts the upper bins far above it.
    assert torch.all(kaldi_fbank(signal) == torch.tensor(LOG_EPS))
    assert torch.all(dithered(3)[:, 64:] > LOG_EPS + 10)
