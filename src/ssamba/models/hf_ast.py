"""Export of SSAST weights to the Hugging Face `ASTModel` state-dict layout (spec 5.5)."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from ssamba.errors import CheckpointError
from ssamba.models.model import AudioClassifier

_BLOCK_RENAMES = {
    "norm1": "layernorm_before",
    "attn.proj": "attention.output.dense",
    "norm2": "layernorm_after",
    "mlp.fc1": "intermediate.dense",
    "mlp.fc2": "output.dense",
}


def export_hf_ast(model: AudioClassifier) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """State dict in `ASTModel` (or `ASTForAudioClassification` with a head) keys, and the `ASTConfig` kwargs.

    The head maps to `classifier.*` and the encoder gets the `audio_spectrogram_transformer.` prefix
    when the model has classes. Frame models (128x2 patches) cannot be expressed by `ASTModel`.
    """
    config = model.config
    if config.family != "ssast" or not config.distilled:
        raise CheckpointError("only distilled SSAST models map onto Hugging Face ASTModel")
    if config.patch_shape[0] != config.patch_shape[1]:
        raise CheckpointError(f"ASTModel needs square patches; this model has {config.patch_shape}")
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
    hf_config = {
        "hidden_size": dim,
        "num_hidden_layers": config.depth,
        "num_attention_heads": config.num_heads,
        "intermediate_size": int(dim * config.mlp_ratio),
        "hidden_act": "gelu",
        "qkv_bias": True,
        "hidden_dropout_prob": 0.0,
        "attention_probs_dropout_prob": 0.0,
        "layer_norm_eps": 1e-6,
        "patch_size": config.patch_shape[0],
        "frequency_stride": config.patch_stride[0],
        "time_stride": config.patch_stride[1],
        "max_length": config.input_tdim,
        "num_mel_bins": config.num_mel_bins,
    }
    if config.num_classes:
        hf_config["num_labels"] = config.num_classes
    return out, hf_config
