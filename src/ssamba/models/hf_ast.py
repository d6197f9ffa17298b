"""Export of SSAST weights to the Hugging Face `ASTModel` state-dict layout (spec 5.5) and its `ASTConfig`."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from torch import Tensor, nn

from ssamba.errors import CheckpointError
from ssamba.models.config import ModelConfig
from ssamba.models.layers import ClassifierHead
from ssamba.models.ssast import SSASTEncoder, TransformerBlock

if TYPE_CHECKING:
    from ssamba.models.model import AudioClassifier, AudioModel

_BLOCK_RENAMES = {
    "norm1": "layernorm_before",
    "attn.proj": "attention.output.dense",
    "norm2": "layernorm_after",
    "mlp.fc1": "intermediate.dense",
    "mlp.fc2": "output.dense",
}


def ast_incompatibility(config: ModelConfig) -> str | None:
    """Why `ASTModel` cannot express this model, or None when it can."""
    if config.family != "ssast" or not config.distilled:
        return "only distilled SSAST models map onto Hugging Face ASTModel"
    if config.patch_shape[0] != config.patch_shape[1]:
        return f"ASTModel needs square patches; this model has {config.patch_shape}"
    return None


def _ast_encoder(model: AudioModel) -> SSASTEncoder:
    """The encoder of a model `ASTModel` can express; a `CheckpointError` says why another cannot."""
    reason = ast_incompatibility(model.config)
    if reason:
        raise CheckpointError(reason)
    encoder = model.encoder
    assert isinstance(encoder, SSASTEncoder)  # the "ssast" family's encoder
    return encoder


def _affine(name: str, module: nn.Module) -> dict[str, Tensor]:
    """`name.weight` and `name.bias` of a linear, convolution or LayerNorm module (all have both here)."""
    weight, bias = module.weight, module.bias
    assert isinstance(weight, Tensor) and isinstance(bias, Tensor)
    return {f"{name}.weight": weight, f"{name}.bias": bias}


def ast_config(model: AudioModel) -> dict[str, Any]:
    """`ASTConfig` kwargs describing the encoder of a distilled square-patch SSAST model.

    `layer_norm_eps` is the encoder's own (1e-6, timm's): ASTConfig's default, 1e-12, would change
    every token. HF also uses it in the classifier head, whose LayerNorm here has PyTorch's 1e-5.
    """
    config = model.config
    encoder = _ast_encoder(model)
    hf_config = {
        "hidden_size": config.embed_dim,
        "num_hidden_layers": config.depth,
        "num_attention_heads": config.num_heads,
        "intermediate_size": int(config.embed_dim * config.mlp_ratio),
        "hidden_act": "gelu",
        "qkv_bias": True,
        "hidden_dropout_prob": 0.0,
        "attention_probs_dropout_prob": 0.0,
        "layer_norm_eps": encoder.norm.eps,
        "patch_size": config.patch_shape[0],
        "frequency_stride": config.patch_stride[0],
        "time_stride": config.patch_stride[1],
        "max_length": config.input_tdim,
        "num_mel_bins": config.num_mel_bins,
    }
    if config.num_classes:
        hf_config["num_labels"] = config.num_classes
    return hf_config


def export_hf_ast(model: AudioClassifier) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """State dict in `ASTModel` (or `ASTForAudioClassification` with a head) keys, and the `ASTConfig` kwargs.

    The head maps to `classifier.*` and the encoder gets the `audio_spectrogram_transformer.` prefix
    when the model has classes. Frame models (128x2 patches) cannot be expressed by `ASTModel`.
    `ASTModel` pools (cls + dist) / 2 (our "cls" pooling): other poolings give the same tokens but
    other pooled outputs and logits, with a warning.
    """
    hf_config = ast_config(model)
    config = model.config
    if model.pooling != "cls":
        warnings.warn(
            f"this model pools {model.pooling!r}, Hugging Face ASTModel pools (cls + dist) / 2: "
            "the exported model gives the same tokens (last_hidden_state) but another pooler_output "
            "and other logits; use last_hidden_state and pool it as ssamba does",
            UserWarning,
            stacklevel=2,
        )
    encoder = _ast_encoder(model)
    assert encoder.dist_token is not None  # `ast_incompatibility`: distilled models only
    prefix = "audio_spectrogram_transformer." if config.num_classes else ""
    dim = config.embed_dim
    out: dict[str, Tensor] = {
        "embeddings.cls_token": encoder.cls_token,
        "embeddings.distillation_token": encoder.dist_token,
        "embeddings.position_embeddings": encoder.pos_embed,
        **_affine("embeddings.patch_embeddings.projection", encoder.patch_embed.proj),
        **_affine("layernorm", encoder.norm),
    }
    for index, block in enumerate(encoder.blocks):
        assert isinstance(block, TransformerBlock)
        layer = f"encoder.layer.{index}."
        for part, tensor in (("weight", block.attn.qkv.weight), ("bias", block.attn.qkv.bias)):
            for slot, name in enumerate(("query", "key", "value")):
                out[f"{layer}attention.attention.{name}.{part}"] = tensor[slot * dim : (slot + 1) * dim]
        for ours, theirs in _BLOCK_RENAMES.items():
            out.update(_affine(f"{layer}{theirs}", block.get_submodule(ours)))
    out = {prefix + k: v.detach().clone() for k, v in out.items()}
    if config.num_classes:
        head = model.head
        assert isinstance(head, ClassifierHead)  # a classifier with classes has the official head
        head_state = {**_affine("classifier.layernorm", head.norm), **_affine("classifier.dense", head.fc)}
        out.update({k: v.detach().clone() for k, v in head_state.items()})
    return out, hf_config
