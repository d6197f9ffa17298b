"""Decode every clip of a manifest as training will, so bad audio is found before a run starts."""

from __future__ import annotations

from collections.abc import Sequence

from tqdm import tqdm

from ssamba.audio.io import (
    READ_BLOCK_FRAMES,
    check_duration,
    check_finite,
    frame_span,
    open_audio,
    read_frames,
)
from ssamba.data.manifests import ManifestEntry
from ssamba.errors import AudioError


def _check_segment(entry: ManifestEntry, rate: int, frames: int) -> None:
    """Raise `AudioError` unless `start` is inside the file and `end` is not past its end."""
    start, end = entry.start or 0.0, entry.end
    past_start = round(start * rate) >= frames
    if past_start or (end is not None and round(end * rate) > frames):
        field, value = ("start", start) if past_start else ("end", end)
        raise AudioError(
            f"{entry.path}: '{field}' ({value} s) is outside the file, which lasts {frames / rate:.3f} s; "
            "fix the segment or drop the row"
        )


def check_clip(entry: ManifestEntry) -> None:
    """Decode the clip's `start`/`end` segment in bounded blocks; raise `AudioError` if training
    could not use it (not audio, NaN/Inf samples, empty or shorter than a frame, segment outside
    the file)."""
    path = entry.path
    with open_audio(path) as handle:
        rate, frames = handle.samplerate, handle.frames
        _check_segment(entry, rate, frames)
        first, count = frame_span(path, handle, entry.start or 0.0, entry.duration)
        done = 0
        while done < count:
            block = read_frames(path, handle, first + done, min(count - done, READ_BLOCK_FRAMES))
            if not len(block):
                break  # the header claims more frames than the file holds: training reads what is there
            check_finite(path, block, first + done, rate)
            done += len(block)
    check_duration(path, done, rate)


def decode_problems(entries: Sequence[ManifestEntry]) -> dict[int, str]:
    """{index: problem} of the entries whose audio does not decode cleanly (with a progress bar)."""
    problems = {}
    for index, entry in enumerate(tqdm(entries, desc="decode", unit="clip", disable=None)):
        try:
            check_clip(entry)
        except (AudioError, OSError) as exc:
            problems[index] = str(exc)
    return problems
