"""Decode audio files and in-memory audio with soundfile, mix to mono, resample with soxr; clear errors.

Every problem with a file or an in-memory clip (missing, unreadable, not audio, empty, non-finite or
overflowing samples, too short, unsupported sample rate) raises `AudioError` naming the file (or the
clip), the problem and the fix.
"""

from __future__ import annotations

import dataclasses
import io
import os
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile as sf
import soxr
import torch

from ssamba.errors import AudioError

MIN_SAMPLE_RATE = 8000
MAX_SAMPLE_RATE = 192000
MIN_DURATION_S = 0.025  # one 25 ms analysis frame: anything shorter gives no fbank frame
RESAMPLE_QUALITY = "HQ"
# Far above any real recording (float audio is about [-1, 1]) and far below where a frame's float32
# power spectrum can overflow (|x| ~ 1e14 for 25 ms frames).
MAX_SAMPLE_MAGNITUDE = 1e12


@dataclasses.dataclass(frozen=True)
class AudioInfo:
    """What the file header says: rate in Hz, frames (samples per channel), channels, seconds."""

    sample_rate: int
    num_frames: int
    channels: int
    duration_s: float


def check_sample_rate(sample_rate: int | None) -> None:
    """Raise ValueError unless a requested output rate is None or within 8-192 kHz."""
    if sample_rate is not None and not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
        raise ValueError(
            f"sample_rate={sample_rate} is outside the supported {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz; "
            "pass a rate in that range, or None to keep the file's rate"
        )


def open_audio(path: str | Path) -> sf.SoundFile:
    """Open `path` for reading after checking it exists, is readable, decodes and is non-empty."""
    path = Path(path)
    try:
        exists, is_file = path.exists(), path.is_file()
        size = path.stat().st_size if is_file else 0
    except OSError as exc:
        raise AudioError(f"{path}: cannot access ({exc.strerror}); check the path and its length") from exc
    if not exists:
        raise AudioError(f"{path}: audio file not found; check the path (relative to {Path.cwd()})")
    if not is_file:
        raise AudioError(f"{path}: is a directory or special file, not an audio file; pass a file path")
    if not os.access(path, os.R_OK):
        raise AudioError(f"{path}: permission denied; make the file readable (e.g. chmod a+r)")
    if size == 0:
        raise AudioError(f"{path}: is empty (0 bytes); re-create the file or drop it")
    return _open_decoder(os.fsencode(path), path)  # bytes: names that are not valid UTF-8 work too


def _open_decoder(source: bytes | BinaryIO, where: str | Path) -> sf.SoundFile:
    """Open a decoder on a file name or in-memory stream; AudioError naming `where` if the data
    does not decode, has a rate outside 8-192 kHz or holds no samples."""
    try:
        handle = sf.SoundFile(source)
    except (sf.SoundFileError, RuntimeError) as exc:
        raise AudioError(
            f"{where}: cannot decode as audio ({exc}); the file is corrupt, truncated or not audio: "
            "re-create it or convert it to WAV/FLAC"
        ) from exc
    if not MIN_SAMPLE_RATE <= handle.samplerate <= MAX_SAMPLE_RATE:
        handle.close()
        raise AudioError(
            f"{where}: sample rate {handle.samplerate} Hz is outside the supported "
            f"{MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz; resample the file (e.g. sox in.wav -r 16000 out.wav)"
        )
    if handle.frames <= 0:
        handle.close()
        raise AudioError(f"{where}: holds no samples (header only or empty); re-create or drop the file")
    return handle


READ_BLOCK_FRAMES = 1 << 19  # bounded reads: a header may claim far more frames than the file holds


def read_frames(path: str | Path, handle: sf.SoundFile, start: int, count: int) -> np.ndarray:
    """Read up to `count` frames from `start` as float32 (frames, channels), in bounded blocks.

    Decoder failures part-way (truncated or corrupt data) raise AudioError naming the file.
    """
    blocks = []
    try:
        handle.seek(start)
        while count > 0:
            block = handle.read(min(count, READ_BLOCK_FRAMES), dtype="float32", always_2d=True)
            if not len(block):
                break
            blocks.append(block)
            count -= len(block)
    except (sf.SoundFileError, RuntimeError) as exc:
        raise AudioError(
            f"{path}: cannot read audio data ({exc}); the file is truncated or corrupt: re-create it"
        ) from exc
    if not blocks:
        return np.zeros((0, handle.channels), dtype=np.float32)
    return np.concatenate(blocks) if len(blocks) > 1 else blocks[0]


def audio_info(path: str | Path) -> AudioInfo:
    """Header facts about an audio file, with the same checks as `load_audio` (except samples)."""
    with open_audio(path) as handle:
        return AudioInfo(
            sample_rate=handle.samplerate,
            num_frames=handle.frames,
            channels=handle.channels,
            duration_s=handle.frames / handle.samplerate,
        )


def frame_span(
    path: str | Path, handle: sf.SoundFile, offset: float, duration: float | None
) -> tuple[int, int]:
    """(first frame, frame count) of the `offset`/`duration` window (seconds), clipped to the file."""
    if offset < 0:
        raise ValueError(f"offset must be >= 0 seconds, got {offset}")
    if duration is not None and duration <= 0:
        raise ValueError(f"duration must be positive seconds or None, got {duration}")
    rate, total = handle.samplerate, handle.frames
    start = round(offset * rate)
    if start >= total:
        raise AudioError(
            f"{path}: offset {offset} s is at or past the end of the file ({total / rate:.3f} s); "
            "use a smaller offset"
        )
    stop = total if duration is None else min(total, start + round(duration * rate))
    return start, stop - start


def check_finite(path: str | Path, samples: np.ndarray, first_frame: int, rate: int) -> None:
    """Raise AudioError if a sample is NaN, infinite or so large that the features overflow.

    Float files can store any magnitude; from `MAX_SAMPLE_MAGNITUDE` up, the float32 power spectrum
    of a frame can overflow to Inf, so the features (and every output) would be NaN.
    """
    bad = ~np.isfinite(samples)
    if bad.any():
        where = (first_frame + int(np.argwhere(bad)[0][0])) / rate
        raise AudioError(
            f"{path}: {int(bad.sum())} NaN/Inf sample(s), the first at {where:.3f} s; "
            "re-export the file or replace the non-finite samples"
        )
    huge = np.abs(samples) >= MAX_SAMPLE_MAGNITUDE
    if huge.any():
        first = np.argwhere(huge)[0]
        where = (first_frame + int(first[0])) / rate
        raise AudioError(
            f"{path}: sample value {float(samples[tuple(first)]):.3g} at {where:.3f} s is too large "
            f"(|x| >= {MAX_SAMPLE_MAGNITUDE:.0e}): the log-mel features would overflow to Inf/NaN; "
            "float audio is expected in [-1, 1], so rescale the file"
        )


def check_duration(path: str | Path, num_samples: int, rate: int) -> None:
    """Raise AudioError if the audio is shorter than one 25 ms analysis frame."""
    needed = int(rate * MIN_DURATION_S)
    if num_samples < needed:
        raise AudioError(
            f"{path}: audio is {1000 * num_samples / rate:.1f} ms ({num_samples} samples at {rate} Hz), "
            f"shorter than one {1000 * MIN_DURATION_S:g} ms frame ({needed} samples); "
            "pad the clip or drop it"
        )


def load_audio(
    path: str | Path,
    sample_rate: int | None = 16000,
    mono: bool = True,
    offset: float = 0.0,
    duration: float | None = None,
) -> torch.Tensor:
    """Read (part of) an audio file as float32 samples, resampled to `sample_rate`.

    Integer PCM is scaled to [-1, 1) (int16 / 32768, as torchaudio does); float files are kept as
    stored. Only the requested span is read, so `offset`/`duration` are cheap on long files.

    Args:
        path: any format libsndfile decodes (WAV, FLAC, OGG, MP3, ...).
        sample_rate: output rate in Hz (soxr HQ resampling), or None to keep the file's rate.
        mono: average the channels into one.
        offset: start of the span to read, in seconds.
        duration: length of the span in seconds (None: to the end of the file).

    Returns:
        `[n]` when `mono`, else `[channels, n]`.

    Raises:
        AudioError: the file is missing, unreadable, not audio, empty, shorter than 25 ms, holds
            NaN/Inf or huge (>= 1e12) samples or has a rate outside 8-192 kHz.
    """
    check_sample_rate(sample_rate)
    return _decode(open_audio(path), path, sample_rate, mono, offset, duration)


def decode_bytes(
    data: bytes,
    where: str,
    sample_rate: int | None = 16000,
    mono: bool = True,
    offset: float = 0.0,
    duration: float | None = None,
) -> torch.Tensor:
    """Decode in-memory audio (e.g. a tar shard member) exactly as `load_audio` decodes a file.

    `where` names the data in errors (e.g. "shard-000000.tar member 00000012_x"); every problem
    raises `AudioError` by the same rules as a file, so `SkipBadClips` treats both alike.
    """
    check_sample_rate(sample_rate)
    return _decode(_open_decoder(io.BytesIO(data), where), where, sample_rate, mono, offset, duration)


def _decode(
    handle: sf.SoundFile,
    where: str | Path,
    sample_rate: int | None,
    mono: bool,
    offset: float,
    duration: float | None,
) -> torch.Tensor:
    """Read the span from an open decoder (closing it), check, mix down and resample it."""
    with handle:
        rate = handle.samplerate
        start, count = frame_span(where, handle, offset, duration)
        samples = read_frames(where, handle, start, count)
    check_finite(where, samples, start, rate)
    if mono and samples.shape[1] > 1:
        samples = samples.mean(axis=1, keepdims=True, dtype=np.float32)
    if sample_rate is not None and sample_rate != rate:
        samples = soxr.resample(samples, rate, sample_rate, quality=RESAMPLE_QUALITY)
        rate = sample_rate
    check_duration(where, samples.shape[0], rate)
    waveform = torch.from_numpy(np.ascontiguousarray(samples.T))
    return waveform[0] if mono else waveform
