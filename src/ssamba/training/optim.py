"""Optimisers as in the official recipes, with parameter groups that exempt some tensors from decay.

Official (spec 2.5): SSAST uses Adam with L2 weight decay 5e-7, SSAMBA AdamW with 5e-8, both with
betas (0.95, 0.999). No decay for biases, norm weights, SSM `A_log`/`D`, and learned tokens and
embeddings (cls/dist tokens, mask embedding, position embedding), as in timm/mamba_ssm.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import torch
from torch import nn

from ssamba.errors import ConfigError
from ssamba.training.config import OptimConfig

OFFICIAL = {"ssast": ("adam", 5e-7), "ssamba": ("adamw", 5e-8)}
NO_DECAY_NAMES = ("cls_token", "dist_token", "mask_embed", "pos_embed", "A_log", "A_b_log", "D", "D_b")


def decays(name: str, param: nn.Parameter) -> bool:
    """Whether weight decay applies: matrices and convolution kernels only."""
    leaf = name.rsplit(".", 1)[-1]
    return param.ndim >= 2 and leaf not in NO_DECAY_NAMES and not getattr(param, "_no_weight_decay", False)


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two groups of the trainable parameters: with `weight_decay` and without."""
    return decay_groups(model.named_parameters(), weight_decay)


def decay_groups(named: Iterable[tuple[str, nn.Parameter]], weight_decay: float) -> list[dict]:
    """The trainable ones of `named` split into a group with `weight_decay` and one without."""
    decay, no_decay = [], []
    for name, param in named:
        if param.requires_grad:
            (decay if decays(name, param) else no_decay).append(param)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return [group for group in groups if group["params"]]


LAYER_INDEX = re.compile(r"^(?:layers|blocks)\.(\d+)\.")
INPUT_NAMES = ("patch_embed", "pos_embed", "cls_token", "dist_token", "mask_embed")


def layer_depth(name: str, num_layers: int) -> int:
    """Depth of an encoder parameter for layer-wise lr decay (BEiT convention).

    0: patch embedding, position embedding and tokens; i + 1: layer/block i; `num_layers + 1`:
    the final norm (and the head, which is not part of the encoder).
    """
    match = LAYER_INDEX.match(name)
    if match:
        return int(match.group(1)) + 1
    if name.split(".", 1)[0] in INPUT_NAMES:
        return 0
    return num_layers + 1


def layer_decay_groups(
    encoder: nn.Module, num_layers: int, weight_decay: float, layer_decay: float
) -> list[dict]:
    """`param_groups` per depth, each with `lr_scale = layer_decay ** (num_layers + 1 - depth)`."""
    by_depth: dict[int, list[tuple[str, nn.Parameter]]] = {}
    for name, param in encoder.named_parameters():
        by_depth.setdefault(layer_depth(name, num_layers), []).append((name, param))
    groups = []
    for depth, named in sorted(by_depth.items()):
        scale = layer_decay ** (num_layers + 1 - depth)
        groups += [dict(g, lr_scale=scale) for g in decay_groups(named, weight_decay)]
    return groups


def resolve_optimizer(config: OptimConfig, family: str) -> tuple[str, float]:
    """(optimizer name, weight decay) after filling in the official defaults for `family`."""
    if family not in OFFICIAL:
        raise ConfigError(f"no official optimiser for model family {family!r}")
    name, decay = OFFICIAL[family]
    return (name if config.name == "auto" else config.name), (
        decay if config.weight_decay is None else config.weight_decay
    )


def build_optimizer(model: nn.Module, config: OptimConfig, family: str) -> torch.optim.Optimizer:
    """The configured Adam/AdamW over `param_groups(model, ...)`."""
    name, weight_decay = resolve_optimizer(config, family)
    cls = torch.optim.AdamW if name == "adamw" else torch.optim.Adam
    return cls(param_groups(model, weight_decay), lr=config.lr, betas=tuple(config.betas), eps=config.eps)
