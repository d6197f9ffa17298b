"""Waveform sources for windowed inference: an in-memory tensor, or a file streamed in blocks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import torch
from torch import Tensor

from ssamba.audio import audio_info, iter_audio_blocks


class TensorSource:
    """Samples of a 1-D waveform already in memory."""

    def __init__(self, waveform: Tensor) -> None:
        if waveform.dim() != 1:
            raise ValueError(f"expected a 1-D waveform, got shape {tuple(waveform.shape)}")
        self.waveform = waveform
        self.num_samples = waveform.shape[0]

    def read(self, start: int, stop: int) -> Tensor:
        """Samples [start, stop), zero-padded past the end."""
        chunk = self.waveform[start:stop]
        return torch.nn.functional.pad(chunk, (0, stop - start - chunk.shape[0]))


class StreamSource:
    """A file read block by block (resampled seamlessly); reads must move forward in time.

    Memory holds only the samples between the oldest position still needed and the newest read.
    """

    def __init__(self, path: str | Path, sample_rate: int, block_seconds: float = 30.0) -> None:
        info = audio_info(path)
        self.num_samples = round(info.num_frames * sample_rate / info.sample_rate)
        self._blocks: Iterator[Tensor] = iter_audio_blocks(path, block_seconds, sample_rate)
        self._buffer = torch.zeros(0)
        self._offset = 0  # absolute index of self._buffer[0]

    def read(self, start: int, stop: int) -> Tensor:
        """Samples [start, stop) (zero-padded past the end); forgets everything before `start`."""
        if start < self._offset:
            raise ValueError(f"stream reads must move forward: {start} < {self._offset}")
        while self._offset + self._buffer.shape[0] < stop:
            block = next(self._blocks, None)
            if block is None:
                break
            self._buffer = torch.cat([self._buffer, block])
        drop = start - self._offset
        self._buffer, self._offset = self._buffer[drop:], start
        chunk = self._buffer[: stop - start]
        return torch.nn.functional.pad(chunk, (0, stop - start - chunk.shape[0]))
