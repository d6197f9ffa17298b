"""Import of the official SSAMBA and SSAST checkpoints (pretraining and fine-tuned `.pth` files).

Everything is inferred from the tensors (family, size, depth, patch shape, norm type); the
official pretrain -> fine-tune adaptation of the position embedding is reproduced exactly (spec
5.3); loading is strict: missing or unexpected keys raise an error that lists them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor

from ssamba.errors import CheckpointError
from ssamba.models.config import ModelConfig
from ssamba.models.model import AudioClassifier, AudioModel, MSPMPretrainer
from ssamba.models.patch import adapt_pos_embed, patch_grid

# Stored in every official file but never used: timm/Vim's 1000-way ImageNet heads.
_ALWAYS_IGNORED = ("encoder.head.", "encoder.head_dist.")
_PRETRAIN_ONLY = ("disc_head.", "gen_head.", "mask_embed", "p_input_fdim", "p_input_tdim")
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
    patch_shape = tuple(state["encoder.patch_embed.proj.weight"].shape[2:])
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


def load_native_state(
    model: AudioModel, state: Mapping[str, Tensor], ignore: tuple[str, ...], source: str
) -> None:
    """Strict load that ignores exactly the `ignore` prefixes and lists any other key mismatch."""
    kept = {k: v for k, v in state.items() if not k.startswith(ignore)}
    expected = model.state_dict()
    missing = sorted(set(expected) - set(kept))
    unexpected = sorted(set(kept) - set(expected))
    wrong_shape = [
        f"{k}: checkpoint {tuple(kept[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in sorted(set(kept) & set(expected))
        if kept[k].shape != expected[k].shape
    ]
    if missing or unexpected or wrong_shape:
        lines = [f"{source}: checkpoint does not match the {model.config.family} model"]
        if missing:
            lines.append(f"missing keys ({len(missing)}): {', '.join(missing[:20])}")
        if unexpected:
            lines.append(f"unexpected keys ({len(unexpected)}): {', '.join(unexpected[:20])}")
        if wrong_shape:
            lines.append(f"wrong shapes ({len(wrong_shape)}): {'; '.join(wrong_shape[:10])}")
        lines.append("fix: pass the checkpoint that matches this model family and size")
        raise CheckpointError("\n  ".join(lines))
    check_finite_weights(kept, source)
    model.load_state_dict(kept, strict=True)


def check_finite_weights(state: Mapping[str, Tensor], source: str) -> None:
    """Refuse NaN/Inf weights (a diverged or corrupt save), which would give NaN outputs and exit 0."""
    for key, value in state.items():
        finite = torch.isfinite(value)
        if not finite.all():
            count = int((~finite).sum())
            raise CheckpointError(
                f"{source}: tensor '{key}' holds {count} NaN/Inf value(s) of {value.numel()}; the weights "
                "are corrupt or come from a diverged run: use an earlier checkpoint"
            )


def _resolve_strides(config: ModelConfig, fstride: int | None, tstride: int | None) -> tuple[int, int]:
    frame = config.patch_shape[0] == config.num_mel_bins
    return (
        fstride if fstride is not None else (config.patch_shape[0] if frame else 10),
        tstride if tstride is not None else (1 if frame else 10),
    )


def load_official(
    path_or_state_dict: str | Path | Mapping[str, Tensor],
    *,
    fstride: int | None = None,
    tstride: int | None = None,
    input_tdim: int | None = None,
    num_classes: int | None = None,
    task: str = "finetune",
    pooling: str = "mean",
) -> AudioClassifier | MSPMPretrainer:
    """Load an official SSAMBA or SSAST checkpoint.

    Pretraining files: `task="pretrain"` returns the `MSPMPretrainer` as trained; `task="finetune"`
    adapts patch stride and position embedding to (`fstride`, `tstride`, `input_tdim`) like the
    official fine-tuning loader and adds a fresh head of `num_classes` (0 = features only).
    Fine-tuned files (with `mlp_head`): the head is loaded and the input length inferred from the
    position embedding and the strides (not stored in the file; default 10, frame models (128, 1)).
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
        return _from_pretraining(
            state, base, fstride, tstride, input_tdim, num_classes, task, pooling, source
        )
    if task == "pretrain":
        raise CheckpointError(
            f"{source}: a fine-tuned checkpoint has no pretraining heads; use task='finetune'"
        )
    return _from_finetuned(state, base, fstride, tstride, input_tdim, num_classes, pooling, source)


def _from_pretraining(state, base, fstride, tstride, input_tdim, num_classes, task, pooling, source):
    p_fdim, p_tdim = int(state["p_input_fdim"]), int(state["p_input_tdim"])
    pretrain_config = base.replace(num_mel_bins=p_fdim, input_tdim=p_tdim, patch_stride=base.patch_shape)
    if task == "pretrain":
        model = MSPMPretrainer(pretrain_config)
        load_native_state(model, state, _ALWAYS_IGNORED + ("p_input_",), source)
        return model
    if task != "finetune":
        raise CheckpointError(f"unknown task {task!r}; choose 'finetune' or 'pretrain'")
    strides = _resolve_strides(pretrain_config, fstride, tstride)
    config = pretrain_config.replace(
        patch_stride=strides, input_tdim=input_tdim or p_tdim, num_classes=num_classes or 0, pooling=pooling
    )
    model = AudioClassifier(config)
    src_grid = patch_grid(p_fdim, p_tdim, base.patch_shape, base.patch_shape)
    special = state["encoder.pos_embed"][:, : config.num_special]
    patches = adapt_pos_embed(
        state["encoder.pos_embed"][:, config.num_special :], src_grid, model.encoder.grid, official=True
    )
    adapted = dict(state, **{"encoder.pos_embed": torch.cat([special, patches], dim=1)})
    head_state = {k: v for k, v in model.state_dict().items() if k.startswith("head.")}
    load_native_state(model, {**adapted, **head_state}, _ALWAYS_IGNORED + _PRETRAIN_ONLY, source)
    return model


def _from_finetuned(state, base, fstride, tstride, input_tdim, num_classes, pooling, source):
    if "head.fc.weight" not in state:
        raise CheckpointError(
            f"{source}: neither a pretraining checkpoint (p_input_fdim) nor a fine-tuned one (mlp_head.*)"
        )
    strides = _resolve_strides(base, fstride, tstride)
    freq_patches = patch_grid(base.num_mel_bins, base.patch_shape[1], base.patch_shape, strides)[0]
    num_patches = state["encoder.pos_embed"].shape[1] - base.num_special
    if num_patches % freq_patches:
        raise CheckpointError(
            f"{source}: {num_patches} patch positions do not fit {freq_patches} frequency rows at "
            f"fstride {strides[0]}; pass the fstride/tstride the model was fine-tuned with"
        )
    time_patches = num_patches // freq_patches
    trained_tdim = (time_patches - 1) * strides[1] + base.patch_shape[1]
    config = base.replace(
        patch_stride=strides,
        input_tdim=trained_tdim,
        num_classes=state["head.fc.weight"].shape[0],
        pooling=pooling,
    )
    model = AudioClassifier(config)
    load_native_state(model, state, _ALWAYS_IGNORED, source)
    if input_tdim is not None and input_tdim != trained_tdim:
        model.encoder.set_input_tdim(input_tdim)
        model.config = model.config.replace(input_tdim=input_tdim)
    if num_classes is not None and num_classes != config.num_classes:
        model.reset_classifier(num_classes)
    return model
