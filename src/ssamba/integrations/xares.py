"""X-ARES audio encoder: `python -m xares.run ssamba/integrations/xares.py <task files>`.

X-ARES builds the one class of this module whose name ends in "Encoder" without arguments, so
the model comes from `$SSAMBA_XARES_MODEL` (a pretrained tag, `save_pretrained` folder, Hub id or
official `.pth`; default `ssamba_tiny_400`). `forward` maps waveforms `[B, samples]` at 16 kHz to
frame embeddings `[B, frames, D]` every `hop_size_in_ms`, computed window by window (the model's
input length, half-overlapping, `batch_size` windows at a time), so 10-minute clips need bounded memory.
"""

from __future__ import annotations

import os

import torch
from torch import Tensor, nn

from ssamba.inference.embed import Embedder
from ssamba.models.loading import load_encoder

MODEL_VARIABLE = "SSAMBA_XARES_MODEL"
DEFAULT_MODEL = "ssamba_tiny_400"


class SsambaEncoder(nn.Module):
    """An SSAMBA/SSAST encoder with the attributes X-ARES checks: `sampling_rate`, `output_dim`,
    `hop_size_in_ms`."""

    def __init__(self, model: str | None = None, hop_size_in_ms: float = 40.0, batch_size: int = 4) -> None:
        super().__init__()
        classifier, features = load_encoder(model or os.environ.get(MODEL_VARIABLE) or DEFAULT_MODEL)
        self.embedder = Embedder(classifier, features, hop_ms=hop_size_in_ms, batch_size=batch_size)
        self.model = classifier  # registered so `.to(device)` moves the weights
        self.sampling_rate = int(features.sample_rate)
        self.output_dim = int(classifier.config.embed_dim)
        self.hop_size_in_ms = float(hop_size_in_ms)

    def forward(self, audio: Tensor) -> Tensor:
        """Frame embeddings `[B, 1 + duration // hop, D]` (float32, on `audio`'s device) of `[B, samples]`."""
        if audio.dim() == 1:
            audio = audio.unsqueeze(0)
        if audio.dim() != 2:
            raise ValueError(f"audio must be [batch, samples], got shape {tuple(audio.shape)}")
        clips = [self.embedder.embed_waveform(waveform).embeddings for waveform in audio]
        return torch.stack(clips).to(audio.device, torch.float32)
