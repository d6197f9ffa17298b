"""Kaldi-compatible log-mel filterbank ("fbank") in pure PyTorch.

Numerically follows `torchaudio.compliance.kaldi.fbank` (the front end of the official SSAST and
SSAMBA code) without importing torchaudio, and adds batching: a `[B, n]` input gives
`[B, frames, bins]`. Defaults are the SSAST/SSAMBA preset (128 bins, hanning window, no dither).
"""

from __future__ import annotations

import functools
import math

import torch

from ssamba.errors import AudioError

WINDOWS = ("hanning", "hamming", "povey", "rectangular", "blackman")

# Kaldi floors the log with float32 machine epsilon whatever the input dtype (2**-23).
LOG_FLOOR_EPS = torch.finfo(torch.float32).eps


def frame_geometry(
    sample_rate: float, frame_length_ms: float, frame_shift_ms: float, round_to_power_of_two: bool
) -> tuple[int, int, int]:
    """(window size, window shift, FFT size) in samples, truncated to integers as Kaldi does."""
    window_size = int(sample_rate * frame_length_ms * 0.001)
    window_shift = int(sample_rate * frame_shift_ms * 0.001)
    fft_size = 1 << (window_size - 1).bit_length() if round_to_power_of_two else window_size
    return window_size, window_shift, fft_size


def num_frames(
    num_samples: int,
    sample_rate: float = 16000,
    frame_length_ms: float = 25.0,
    frame_shift_ms: float = 10.0,
    snip_edges: bool = True,
) -> int:
    """Number of fbank frames for `num_samples` samples (0 when shorter than one window)."""
    window_size, window_shift, _ = frame_geometry(sample_rate, frame_length_ms, frame_shift_ms, False)
    if num_samples < window_size:
        return 0
    if snip_edges:
        return 1 + (num_samples - window_size) // window_shift
    return (num_samples + window_shift // 2) // window_shift


@functools.lru_cache(maxsize=32)
def window_function(
    window: str, size: int, blackman_coeff: float, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    """The symmetric analysis window of `size` samples (cached; do not modify the result)."""
    if window == "hanning":
        return torch.hann_window(size, periodic=False, dtype=dtype, device=device)
    if window == "povey":
        return torch.hann_window(size, periodic=False, dtype=dtype, device=device).pow(0.85)
    if window == "hamming":
        return torch.hamming_window(size, periodic=False, alpha=0.54, beta=0.46, dtype=dtype, device=device)
    if window == "rectangular":
        return torch.ones(size, dtype=dtype, device=device)
    if window == "blackman":
        step = 2 * math.pi / (size - 1)
        n = torch.arange(size, dtype=dtype, device=device)
        return blackman_coeff - 0.5 * torch.cos(step * n) + (0.5 - blackman_coeff) * torch.cos(2 * step * n)
    raise ValueError(f"window={window!r} is not supported; choose one of {', '.join(WINDOWS)}")


def _mel(freq: torch.Tensor) -> torch.Tensor:
    """HTK mel scale (natural log form) of a tensor of frequencies in Hz."""
    return 1127.0 * (1.0 + freq / 700.0).log()


@functools.lru_cache(maxsize=32)
def mel_filterbank(
    num_mel_bins: int,
    fft_size: int,
    sample_rate: float,
    low_freq: float,
    high_freq: float,
    dtype: torch.dtype,
    device: torch.device,
) -> torch.Tensor:
    """Triangular mel filters `[num_mel_bins, fft_size // 2 + 1]` (cached; do not modify).

    Built in float32 on the CPU in torchaudio's operation order, whatever `dtype`, so the
    rounding matches the reference; the Nyquist FFT bin gets a zero weight as in Kaldi.
    `high_freq <= 0` counts down from the Nyquist frequency.
    """
    nyquist = 0.5 * sample_rate
    if high_freq <= 0.0:
        high_freq += nyquist
    if not (0.0 <= low_freq < nyquist and 0.0 < high_freq <= nyquist and low_freq < high_freq):
        raise ValueError(
            f"need 0 <= low_freq < high_freq <= Nyquist ({nyquist:g} Hz); got low_freq={low_freq:g}, "
            f"high_freq={high_freq:g} Hz (high_freq <= 0 means Nyquist + high_freq)"
        )
    mel_low = 1127.0 * math.log(1.0 + low_freq / 700.0)
    mel_high = 1127.0 * math.log(1.0 + high_freq / 700.0)
    mel_delta = (mel_high - mel_low) / (num_mel_bins + 1)
    index = torch.arange(num_mel_bins, dtype=torch.float32).unsqueeze(1)
    left = mel_low + index * mel_delta
    center = mel_low + (index + 1.0) * mel_delta
    right = mel_low + (index + 2.0) * mel_delta
    fft_mel = _mel((sample_rate / fft_size) * torch.arange(fft_size // 2, dtype=torch.float32)).unsqueeze(0)
    up_slope = (fft_mel - left) / (center - left)
    down_slope = (right - fft_mel) / (right - center)
    banks = torch.clamp_min(torch.minimum(up_slope, down_slope), 0.0)
    banks = torch.nn.functional.pad(banks, (0, 1))
    return banks.to(dtype=dtype, device=device)


def _frames(x: torch.Tensor, size: int, shift: int, snip_edges: bool) -> torch.Tensor:
    """Overlapping frames `[..., m, size]` of the last axis; without snip_edges, reflect the ends."""
    n = x.shape[-1]
    if snip_edges:
        return x.unfold(-1, size, shift)
    count = (n + shift // 2) // shift
    pad = size // 2 - shift // 2
    reflected = x.flip(-1)
    if pad > 0:
        x = torch.cat((reflected[..., n - pad :], x, reflected), dim=-1)
    else:
        x = torch.cat((x[..., -pad:], reflected), dim=-1)
    return x.unfold(-1, size, shift)[..., :count, :]


def _log_energy(frames: torch.Tensor, energy_floor: float) -> torch.Tensor:
    """Log of each frame's energy, floored at eps and (unless 0) at log(energy_floor)."""
    energy = torch.clamp_min(frames.pow(2).sum(-1), LOG_FLOOR_EPS).log()
    if energy_floor == 0.0:
        return energy
    return torch.clamp_min(energy, math.log(energy_floor))


def _check_options(
    waveform: torch.Tensor,
    window: str,
    num_mel_bins: int,
    window_size: int,
    window_shift: int,
    preemphasis: float,
    dither: float,
    energy_floor: float,
) -> None:
    """Raise ValueError (AudioError for too-short input) naming the offending argument."""
    if not isinstance(waveform, torch.Tensor):
        raise ValueError(f"waveform must be a torch.Tensor, got {type(waveform).__name__}")
    if waveform.dtype not in (torch.float32, torch.float64):
        raise ValueError(
            f"waveform has dtype {waveform.dtype}; convert it with waveform.float() "
            "(integer PCM should first be scaled to [-1, 1])"
        )
    if waveform.dim() not in (1, 2):
        raise ValueError(
            f"waveform must be 1-D [n] (one clip) or 2-D [B, n] (a batch), got shape {tuple(waveform.shape)}"
        )
    if window not in WINDOWS:
        raise ValueError(f"window={window!r} is not supported; choose one of {', '.join(WINDOWS)}")
    if num_mel_bins <= 3:
        raise ValueError(f"num_mel_bins must be greater than 3, got {num_mel_bins}")
    if window_size < 2 or window_shift < 1:
        raise ValueError(
            f"frame length and shift give a window of {window_size} and a shift of {window_shift} "
            "samples; need a window of at least 2 samples and a shift of at least 1"
        )
    if not 0.0 <= preemphasis <= 1.0:
        raise ValueError(f"preemphasis must be in [0, 1], got {preemphasis}")
    if dither < 0.0:
        raise ValueError(f"dither must be >= 0, got {dither}")
    if energy_floor < 0.0:
        raise ValueError(f"energy_floor must be >= 0, got {energy_floor}")
    if waveform.shape[-1] < window_size:
        raise AudioError(
            f"waveform has {waveform.shape[-1]} samples, fewer than one analysis frame "
            f"({window_size} samples); pad the audio or drop clips this short"
        )


def kaldi_fbank(
    waveform: torch.Tensor,
    sample_rate: float = 16000,
    *,
    num_mel_bins: int = 128,
    frame_length_ms: float = 25.0,
    frame_shift_ms: float = 10.0,
    window: str = "hanning",
    dither: float = 0.0,
    preemphasis: float = 0.97,
    remove_dc_offset: bool = True,
    low_freq: float = 20.0,
    high_freq: float = 0.0,
    snip_edges: bool = True,
    round_to_power_of_two: bool = True,
    use_energy: bool = False,
    raw_energy: bool = True,
    energy_floor: float = 1.0,
    htk_compat: bool = True,
    use_log_fbank: bool = True,
    use_power: bool = True,
    subtract_mean: bool = False,
    blackman_coeff: float = 0.42,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Kaldi log-mel filterbank features, matching `torchaudio.compliance.kaldi.fbank`.

    Args:
        waveform: `[n]` (one clip) or `[B, n]` (a batch of equal-length clips), float32/64.
        sample_rate: sampling rate of `waveform` in Hz.
        num_mel_bins .. blackman_coeff: Kaldi's options (same meaning as in torchaudio); the
            defaults are the SSAST/SSAMBA preset. `htk_compat` only moves the energy column
            (last instead of first) and so matters only with `use_energy=True`.
        generator: random source for `dither` (Gaussian noise of std `dither` per frame sample).

    Returns:
        `[frames, bins]` for a 1-D input, `[B, frames, bins]` for a 2-D one; `bins` is
        `num_mel_bins + 1` with `use_energy`.

    Raises:
        AudioError: the waveform is shorter than one frame.
        ValueError: an option is out of range or the waveform has the wrong type or shape.
    """
    window_size, window_shift, fft_size = frame_geometry(
        sample_rate, frame_length_ms, frame_shift_ms, round_to_power_of_two
    )
    _check_options(
        waveform, window, num_mel_bins, window_size, window_shift, preemphasis, dither, energy_floor
    )
    dtype, device = waveform.dtype, waveform.device
    banks = mel_filterbank(num_mel_bins, fft_size, sample_rate, low_freq, high_freq, dtype, device)
    window_weights = window_function(window, window_size, blackman_coeff, dtype, device)
    frames = _frames(waveform, window_size, window_shift, snip_edges)
    if dither != 0.0:
        noise = torch.randn(frames.shape, generator=generator, dtype=dtype, device=device)
        frames = frames + noise * dither
    if remove_dc_offset:
        frames = frames - frames.mean(-1, keepdim=True)
    # Kaldi's "raw" energy is taken before pre-emphasis and windowing, the other one after.
    energy = _log_energy(frames, energy_floor) if use_energy and raw_energy else None
    if preemphasis != 0.0:
        previous = torch.cat((frames[..., :1], frames[..., :-1]), dim=-1)
        frames = frames - preemphasis * previous
    frames = frames * window_weights
    if use_energy and not raw_energy:
        energy = _log_energy(frames, energy_floor)
    spectrum = torch.fft.rfft(frames, n=fft_size).abs()
    if use_power:
        spectrum = spectrum.pow(2.0)
    features = torch.matmul(spectrum, banks.T)
    if use_log_fbank:
        features = torch.clamp_min(features, LOG_FLOOR_EPS).log()
    if energy is not None:  # use_energy
        parts = (features, energy.unsqueeze(-1)) if htk_compat else (energy.unsqueeze(-1), features)
        features = torch.cat(parts, dim=-1)
    if subtract_mean:
        features = features - features.mean(-2, keepdim=True)
    return features
