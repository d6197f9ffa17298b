"""Stream long audio files as resampled mono blocks with bounded memory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soxr
import torch

from ssamba.audio.io import (
    RESAMPLE_QUALITY,
    check_duration,
    check_finite,
    check_sample_rate,
    frame_span,
    open_audio,
    read_frames,
)


def iter_audio_blocks(
    path: str | Path,
    block_seconds: float,
    sample_rate: int | None = 16000,
    offset: float = 0.0,
    duration: float | None = None,
) -> Iterator[torch.Tensor]:
    """Yield consecutive mono float32 blocks `[n_i]` of (a span of) an audio file.

    The file is read `block_seconds` at a time and fed through one soxr stream, so the
    concatenated blocks equal a one-shot resample of the whole span (no seams at block
    boundaries). Because of the resampler's delay, block lengths vary a little around
    `block_seconds * sample_rate`; only their concatenation is meaningful. The file stays open
    until the iterator is exhausted or closed.

    Raises:
        AudioError: as `load_audio` (a NaN/Inf sample is reported when its block is reached).
        ValueError: `block_seconds` is not positive, or a bad `sample_rate`/`offset`/`duration`.
    """
    if not block_seconds > 0:
        raise ValueError(f"block_seconds must be positive, got {block_seconds}")
    check_sample_rate(sample_rate)
    with open_audio(path) as handle:
        rate = handle.samplerate
        start, remaining = frame_span(path, handle, offset, duration)
        out_rate = rate if sample_rate is None else sample_rate
        check_duration(path, round(remaining * out_rate / rate), out_rate)
        resampler = (
            None
            if out_rate == rate
            else soxr.ResampleStream(rate, out_rate, 1, dtype="float32", quality=RESAMPLE_QUALITY)
        )
        block_frames = max(1, round(block_seconds * rate))
        position = start
        last = False
        while not last:
            want = min(block_frames, remaining)
            samples = read_frames(path, handle, position, want)
            check_finite(path, samples, position, rate)
            position += len(samples)
            remaining -= len(samples)
            last = remaining <= 0 or len(samples) < want
            mono = samples.mean(axis=1, dtype=np.float32) if samples.shape[1] > 1 else samples[:, 0]
            if resampler is not None:
                mono = resampler.resample_chunk(np.ascontiguousarray(mono), last=last)
            if mono.size:
                yield torch.from_numpy(np.ascontiguousarray(mono))
