"""HEAR 2021 API: `load_model`, `get_scene_embeddings`, `get_timestamp_embeddings`.

Timestamp embeddings come on a regular grid (default hop 50 ms, the HEAR suggestion) from the
windowed `Embedder`; the scene embedding is the mean of a clip's timestamp embeddings.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ssamba.inference.embed import Embedder
from ssamba.models.loading import load_encoder

HEAR_SAMPLE_RATE = 16000


class HearModel(nn.Module):
    """An encoder with the attributes HEAR requires (plain Python ints)."""

    def __init__(self, embedder: Embedder) -> None:
        super().__init__()
        self.embedder = embedder
        self.model = embedder.model  # registered so `.to(device)` moves the weights
        self.sample_rate = int(embedder.features.sample_rate)
        self.scene_embedding_size = int(embedder.embedding_size)
        self.timestamp_embedding_size = int(embedder.embedding_size)


def load_model(model_file_path: str = "", hop_ms: float = 50.0, batch_size: int = 4, **options) -> HearModel:
    """A HEAR model from a `save_pretrained` folder, official `.pth` or registry name ("" = ssamba_tiny)."""
    model, features = load_encoder(model_file_path, **options)
    if features.sample_rate != HEAR_SAMPLE_RATE:
        raise ValueError(
            f"HEAR models here run at {HEAR_SAMPLE_RATE} Hz; the front end says {features.sample_rate}"
        )
    return HearModel(Embedder(model, features, hop_ms=hop_ms, batch_size=batch_size))


def _check_audio(audio: Tensor) -> None:
    if audio.dim() != 2:
        raise ValueError(f"audio must be (n_sounds, n_samples), got shape {tuple(audio.shape)}")


def get_timestamp_embeddings(audio: Tensor, model: HearModel) -> tuple[Tensor, Tensor]:
    """(n_sounds, n_timestamps, D) float32 embeddings and (n_sounds, n_timestamps) centres in ms."""
    _check_audio(audio)
    clips = [model.embedder.embed_waveform(sound) for sound in audio]
    embeddings = torch.stack([clip.embeddings for clip in clips]).to(audio.device, torch.float32)
    timestamps = torch.stack([clip.timestamps_ms for clip in clips]).to(audio.device, torch.float32)
    return embeddings, timestamps


def get_scene_embeddings(audio: Tensor, model: HearModel) -> Tensor:
    """(n_sounds, D) float32: the mean of each clip's timestamp embeddings."""
    _check_audio(audio)
    scenes = [model.embedder.embed_waveform(sound).scene for sound in audio]
    return torch.stack(scenes).to(audio.device, torch.float32)
