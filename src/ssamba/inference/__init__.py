"""Inference on audio: embeddings for clips of any length (windowed, bounded memory)."""

from ssamba.inference.embed import ClipEmbeddings, Embedder

__all__ = ["ClipEmbeddings", "Embedder"]
