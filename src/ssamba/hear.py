"""The HEAR 2021 module of ssamba (`python -m heareval.embeddings.runner ssamba.hear ...`)."""

from ssamba.integrations.hear import get_scene_embeddings, get_timestamp_embeddings, load_model

__all__ = ["get_scene_embeddings", "get_timestamp_embeddings", "load_model"]
