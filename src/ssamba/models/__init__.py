"""SSAMBA and SSAST models: encoders, task models, registry and checkpoint import/export."""

from ssamba.models.config import ModelConfig
from ssamba.models.hf_ast import export_hf_ast
from ssamba.models.model import AudioClassifier, MSPMPretrainer
from ssamba.models.official import load_official
from ssamba.models.pretrained import from_pretrained, save_pretrained
from ssamba.models.registry import create_model, list_models, model_config

__all__ = [
    "AudioClassifier",
    "MSPMPretrainer",
    "ModelConfig",
    "create_model",
    "export_hf_ast",
    "from_pretrained",
    "list_models",
    "load_official",
    "model_config",
    "save_pretrained",
]
