"""Import of the official SSAMBA and SSAST checkpoints (pretraining and fine-tuned `.pth` files).

Everything is inferred from the tensors (family, size, depth, patch shape, norm type); the result
is `StoredWeights` that `models.loading.load_model` builds (strictly) and re-grids (spec 5.3).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from torch import Tensor

from ssamba.errors import CheckpointError
from ssamba.models.config import ModelConfig
from ssamba.models.patch import Grid, as_grid, patch_grid
from ssamba.models.regrid import AS_STORED, Geometry
from ssamba.models.stored import StoredWeights

# Stored in every official file but never used: timm/Vim's 1000-way ImageNet heads.
_ALWAYS_IGNORED = ("encoder.head.", "encoder.head_dist.")
_RENAMES = [
    (r"^v\.", "encoder."),
    (r"^cpredlayer\.", "disc_head."),
    (r"^gpredlayer\.", "gen_head."),
    (r"^mlp_head\.0\.", "head.norm."),
    (r"^mlp_head\.1\.", "head.fc."),
]


def official_to_native(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Strip DataParallel's `module.` prefix and rename official keys to ssamba's module names."""
    native = {}
    for key, value in state.items():
        key = key.removeprefix("module.")
        for pattern, replacement in _RENAMES:
            key = re.sub(pattern, replacement, key)
        native[key] = value
    return native


def _depth(state: Mapping[str, Tensor], container: str) -> int:
    indices = [int(m.group(1)) for k in state if (m := re.match(rf"encoder\.{container}\.(\d+)\.", k))]
    return max(indices) + 1


def infer_config(state: Mapping[str, Tensor]) -> ModelConfig:
    """Architecture of a native-keyed official state dict (geometry fields left at defaults)."""
    if "encoder.pos_embed" not in state or "encoder.patch_embed.proj.weight" not in state:
        raise CheckpointError(
            "not an official SSAMBA/SSAST checkpoint: no v.pos_embed / v.patch_embed.proj.weight keys"
        )
    dim = state["encoder.pos_embed"].shape[2]
    patch_shape = as_grid(state["encoder.patch_embed.proj.weight"].shape[2:])
    if any(k.startswith("encoder.layers.") for k in state):
        mixer = "encoder.layers.0.mixer."
        return ModelConfig(
            family="ssamba",
            embed_dim=dim,
            depth=_depth(state, "layers"),
            d_state=state[mixer + "A_log"].shape[1],
            d_conv=state[mixer + "conv1d.weight"].shape[2],
            expand=state[mixer + "in_proj.weight"].shape[0] // (2 * dim),
            norm="layernorm" if "encoder.norm_f.bias" in state else "rmsnorm",
            patch_shape=patch_shape,
            drop_path_rate=0.1,
        )
    if any(k.startswith("encoder.blocks.") for k in state):
        return ModelConfig(
            family="ssast",
            embed_dim=dim,
            depth=_depth(state, "blocks"),
            num_heads=max(dim // 64, 1),  # DeiT: 64-dim heads (tiny 3, small 6, base 12)
            distilled="encoder.dist_token" in state,
            patch_shape=patch_shape,
            drop_path_rate=0.0,
        )
    raise CheckpointError("cannot tell the model family: neither v.layers.* (SSAMBA) nor v.blocks.* (SSAST)")


def official_stride(config: ModelConfig) -> Grid:
    """The official fine-tuning patch stride: (10, 10) for patch models, (all bins, 1) for frame models."""
    return (config.patch_shape[0], 1) if config.is_frame_model else (10, 10)


def read_official(
    path_or_state_dict: str | Path | Mapping[str, Tensor], geometry: Geometry = AS_STORED
) -> StoredWeights:
    """An official pretraining or fine-tuned checkpoint as `StoredWeights` (built as a classifier by default).

    A fine-tuned file does not store its input length: it is inferred from the position embedding
    and the `geometry` strides (those it was fine-tuned with; default `official_stride`).
    """
    from ssamba.models.checkpoint_io import load_state_dict_file

    source = str(path_or_state_dict) if isinstance(path_or_state_dict, (str, Path)) else "state_dict"
    raw = (
        load_state_dict_file(path_or_state_dict)
        if isinstance(path_or_state_dict, (str, Path))
        else path_or_state_dict
    )
    state = official_to_native(raw)
    try:
        base = infer_config(state)
    except CheckpointError as exc:
        raise CheckpointError(f"{source}: {exc}") from exc
    if "p_input_fdim" in state:
        p_fdim, p_tdim = int(state["p_input_fdim"]), int(state["p_input_tdim"])
        config = base.replace(num_mel_bins=p_fdim, input_tdim=p_tdim, patch_stride=base.patch_shape)
        ignore = _ALWAYS_IGNORED + ("p_input_",)
        return StoredWeights(state, config, "pretrain", source, "finetune", ignore, official_stride(config))
    strides = geometry.stride(official_stride(base))
    if "head.fc.weight" not in state:
        raise CheckpointError(
            f"{source}: neither a pretraining checkpoint (p_input_fdim) nor a fine-tuned one (mlp_head.*)"
        )
    freq_patches = patch_grid(base.num_mel_bins, base.patch_shape[1], base.patch_shape, strides)[0]
    num_patches = state["encoder.pos_embed"].shape[1] - base.num_special
    if num_patches % freq_patches:
        raise CheckpointError(
            f"{source}: {num_patches} patch positions do not fit {freq_patches} frequency rows at "
            f"fstride {strides[0]}; pass the fstride/tstride the model was fine-tuned with"
        )
    trained_tdim = (num_patches // freq_patches - 1) * strides[1] + base.patch_shape[1]
    config = base.replace(
        patch_stride=strides, input_tdim=trained_tdim, num_classes=state["head.fc.weight"].shape[0]
    )
    return StoredWeights(state, config, "finetune", source, "finetune", _ALWAYS_IGNORED)
