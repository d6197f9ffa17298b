"""Frame-level (timestamped) and scene embeddings for clips of any length.

Audio is cut into windows of the model's input length (`FeatureConfig.target_length` frames)
overlapping by half; each window gives one embedding per patch time column (mean over the
frequency patches). Every output timestamp, on a regular grid of `hop_ms`, is served by the window
whose centre is nearest, interpolating linearly between its column centres. Only one batch of
windows is in memory at a time, so hour-long files need bounded memory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from ssamba.features import FeatureConfig, compute_fbank, normalize, pad_or_crop
from ssamba.inference.sources import StreamSource, TensorSource
from ssamba.models.model import AudioClassifier


@dataclass
class ClipEmbeddings:
    """Embeddings of one clip: (n, D) on a regular grid of timestamps (ms), and the scene vector (D,)."""

    embeddings: Tensor
    timestamps_ms: Tensor
    scene: Tensor


def interpolate_rows(times: Tensor, values: Tensor, queries: Tensor) -> Tensor:
    """Piecewise-linear interpolation of rows `values` (n, D) at sorted `times` (n,), clamped at the ends."""
    if times.shape[0] == 1:
        return values.expand(queries.shape[0], -1)
    queries = queries.clamp(times[0], times[-1])
    right = torch.searchsorted(times, queries).clamp(1, times.shape[0] - 1)
    left = right - 1
    weight = ((queries - times[left]) / (times[right] - times[left])).unsqueeze(-1)
    return values[left] * (1 - weight) + values[right] * weight


class Embedder:
    """Windowed embedding extraction with a model and its front end.

    Args:
        model: an `AudioClassifier` (its encoder is used; the head is ignored).
        feature_config: front-end settings; `target_length` is the window length in frames.
        hop_ms: spacing of the output timestamps.
        batch_size: windows per forward pass (bounds memory).
    """

    def __init__(
        self, model: AudioClassifier, feature_config: FeatureConfig, hop_ms: float = 50.0, batch_size: int = 4
    ) -> None:
        if not 0 < hop_ms < math.inf:
            raise ValueError(f"hop_ms must be a positive finite number, got {hop_ms}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        self.model = model
        self.features = feature_config
        self.hop_ms = float(hop_ms)
        self.batch_size = batch_size
        rate = feature_config.sample_rate
        self.shift = round(rate * feature_config.frame_shift_ms / 1000)
        self.win = round(rate * feature_config.frame_length_ms / 1000)
        self.window_frames = feature_config.target_length
        self.embedding_size = model.config.embed_dim

    def num_frames(self, num_samples: int) -> int:
        return 1 + (max(num_samples, self.win) - self.win) // self.shift

    def window_starts(self, num_frames: int) -> list[int]:
        """First frame of each window: half-overlapping, the last one flush with the end."""
        if num_frames <= self.window_frames:
            return [0]
        hop = self.window_frames // 2
        starts = list(range(0, num_frames - self.window_frames, hop))
        return starts + [num_frames - self.window_frames]

    def column_times_ms(self, start_frame: int, num_columns: int) -> Tensor:
        """Centre time of each patch time column of a window starting at `start_frame`."""
        tshape, tstride = self.model.config.patch_shape[1], self.model.config.patch_stride[1]
        frames = start_frame + torch.arange(num_columns, dtype=torch.float64) * tstride + (tshape - 1) / 2
        return frames * self.features.frame_shift_ms + self.features.frame_length_ms / 2

    def _window_input(self, source, start_frame: int) -> Tensor:
        samples = source.read(
            start_frame * self.shift, (start_frame + self.window_frames - 1) * self.shift + self.win
        )
        samples = samples[: max(source.num_samples - start_frame * self.shift, self.win)]
        fbank = pad_or_crop(compute_fbank(samples, self.features), self.window_frames)
        return normalize(fbank, self.features.mean, self.features.std)

    @torch.inference_mode()
    def _columns(self, batch: Tensor) -> Tensor:
        """Per-time-column embeddings (B, T', D): patch tokens averaged over frequency."""
        encoder = self.model.encoder
        tokens = self.model.forward_features(batch.to(encoder.pos_embed.device))
        grid = encoder.patch_embed.grid(batch.shape[1], batch.shape[2])
        patches = tokens[:, encoder.num_special :].reshape(batch.shape[0], grid[0], grid[1], -1)
        return patches.mean(dim=1).float().cpu()

    def embed_source(self, source) -> ClipEmbeddings:
        """Embed a `TensorSource` or `StreamSource`."""
        num_frames = self.num_frames(source.num_samples)
        starts = self.window_starts(num_frames)
        duration_ms = source.num_samples / self.features.sample_rate * 1000
        timestamps = torch.arange(0, duration_ms + 1e-9, self.hop_ms, dtype=torch.float64)
        centres = [
            (s + min(self.window_frames, num_frames - s) / 2) * self.features.frame_shift_ms for s in starts
        ]
        bounds = (
            [float("-inf")]
            + [(a + b) / 2 for a, b in zip(centres, centres[1:], strict=False)]
            + [float("inf")]
        )
        output = torch.empty(timestamps.shape[0], self.embedding_size)
        for first in range(0, len(starts), self.batch_size):
            chunk = starts[first : first + self.batch_size]
            columns = self._columns(torch.stack([self._window_input(source, s) for s in chunk]))
            for offset, start in enumerate(chunk):
                index = first + offset
                owned = (timestamps >= bounds[index]) & (timestamps < bounds[index + 1])
                if not owned.any():
                    continue
                real_frames = min(self.window_frames, num_frames - start)
                tshape, tstride = self.model.config.patch_shape[1], self.model.config.patch_stride[1]
                real_columns = max(1, min(columns.shape[1], (real_frames - tshape) // tstride + 1))
                times = self.column_times_ms(start, real_columns)
                output[owned] = interpolate_rows(
                    times, columns[offset, :real_columns].double(), timestamps[owned]
                ).float()
        return ClipEmbeddings(output, timestamps, output.mean(dim=0))

    def embed_waveform(self, waveform: Tensor) -> ClipEmbeddings:
        """Embed a 1-D waveform at `feature_config.sample_rate`."""
        return self.embed_source(TensorSource(waveform.detach().float().cpu()))

    def embed_file(self, path: str | Path, block_seconds: float = 30.0) -> ClipEmbeddings:
        """Embed an audio file of any length, streamed from disk."""
        return self.embed_source(StreamSource(path, self.features.sample_rate, block_seconds))
