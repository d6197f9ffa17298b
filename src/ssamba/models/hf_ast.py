"""Export of SSAST weights to the Hugging Face `ASTModel` state-dict layout (spec 5.5) and its `ASTConfig`."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from torch import Tensor

from ssamba.errors import CheckpointError
from ssamba.models.config import ModelConfig

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


def ast_config(model: AudioModel) -> dict[str, Any]:
    """`ASTConfig` kwargs describing the encoder of a distilled square-patch SSAST model.

    `layer_norm_eps` is the encoder's own (1e-6, timm's): ASTConfig's default, 1e-12, would change
    every token. HF also uses it in the classifier head, whose LayerNorm here has PyTorch's 1e-5.
    """
    config = model.config
    reason = ast_incompatibility(config)
    if reason:
        raise CheckpointError(reason)
    hf_config = {
        "hidden_size": config.embed_dim,
        "num_hidden_layers": config.depth,
        "num_attention_heads": config.num_heads,
        "intermediate_size": int(config.embed_dim * config.mlp_ratio),
        "hidden_act": "gelu",
        "qkv_bias": True,
        "hidden_dropout_prob": 0.0,
        "attention_probs_dropout_prob": 0.0,
        "layer_norm_eps": model.encoder.norm.eps,
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
    encoder = model.encoder
    prefix = "audio_spectrogram_transformer." if config.num_classes else ""
    dim = config.embed_dim
    out: dict[str, Tensor] = {
        "embeddings.cls_token": encoder.cls_token,
        "embeddings.distillation_token": encoder.dist_token,
        "embeddings.position_embeddings": encoder.pos_embed,
        "embeddings.patch_embeddings.projection.weight": encoder.patch_embed.proj.weight,
        "embeddings.patch_embeddings.projection.bias": encoder.patch_embed.proj.bias,
        "layernorm.weight": encoder.norm.weight,
        "layernorm.bias": encoder.norm.bias,
    }
    for index, block in enumerate(encoder.blocks):
        layer = f"encoder.layer.{index}."
        for part, tensor in (("weight", block.attn.qkv.weight), ("bias", block.attn.qkv.bias)):
            for slot, name in enumerate(("query", "key", "value")):
                out[f"{layer}attention.attention.{name}.{part}"] = tensor[slot * dim : (slot + 1) * dim]
        for ours, theirs in _BLOCK_RENAMES.items():
            module = block.get_submodule(ours)
            out[f"{layer}{theirs}.weight"] = module.weight
            out[f"{layer}{theirs}.bias"] = module.bias
    out = {prefix + k: v.detach().clone() for k, v in out.items()}
    if config.num_classes:
        head = model.head
        out.update(
            {
                "classifier.layernorm.weight": head.norm.weight.detach().clone(),
                "classifier.layernorm.bias": head.norm.bias.detach().clone(),
                "classifier.dense.weight": head.fc.weight.detach().clone(),
                "classifier.dense.bias": head.fc.bias.detach().clone(),
            }
        )
    return out, hf_config
