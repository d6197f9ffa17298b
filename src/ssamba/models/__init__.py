"""SSAMBA and SSAST models: encoders, task models, registry and checkpoint import/export."""

from ssamba.models.config import ModelConfig
from ssamba.models.hf_ast import export_hf_ast
from ssamba.models.loading import create_model, from_pretrained, load_model, load_official
from ssamba.models.model import AudioClassifier, MSPMPretrainer
from ssamba.models.pretrained import save_pretrained
from ssamba.models.registry import list_models, model_config
from ssamba.models.regrid import Geometry, regrid

__all__ = [
    "AudioClassifier",
    "Geometry",
    "MSPMPretrainer",
    "ModelConfig",
    "create_model",
    "export_hf_ast",
    "from_pretrained",
    "list_models",
    "load_model",
    "load_official",
    "model_config",
    "regrid",
    "save_pretrained",
]
