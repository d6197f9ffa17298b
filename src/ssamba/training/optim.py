"""Optimisers as in the official recipes, with parameter groups that exempt some tensors from decay.

Official (spec 2.5): pretraining SSAST uses Adam with L2 weight decay 5e-7, SSAMBA AdamW with 5e-8;
fine-tuning Adam with 5e-7 (traintest.py); all with betas (0.95, 0.999). As in timm, vectors
(biases, norm weights, `D`) and what the model lists in `no_weight_decay()` (tokens, embeddings,
`A_log`) are not decayed; layer-wise lr decay groups the encoder by its `group_matcher()`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import torch
from torch import nn

from ssamba.errors import ConfigError
from ssamba.models.encoder import AudioEncoder
from ssamba.training.config import OptimConfig

OFFICIAL_PRETRAIN = {"ssast": ("adam", 5e-7), "ssamba": ("adamw", 5e-8)}
OFFICIAL_FINETUNE = ("adam", 5e-7)


def no_weight_decay(module: nn.Module) -> set[str]:
    """The parameter names `module` exempts from weight decay (none without the timm hook)."""
    hook = getattr(module, "no_weight_decay", None)
    return set(hook()) if callable(hook) else set()


def param_groups(module: nn.Module, weight_decay: float) -> list[dict]:
    """Two groups of the trainable parameters: with `weight_decay` and without."""
    return _decay_split(module.named_parameters(), no_weight_decay(module), weight_decay)


def _decay_split(
    named: Iterable[tuple[str, nn.Parameter]], exempt: set[str], weight_decay: float
) -> list[dict]:
    """The trainable ones of `named` split into a group with `weight_decay` (matrices and kernels
    not in `exempt`) and one without."""
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for name, param in named:
        if param.requires_grad:
            (no_decay if param.ndim < 2 or name in exempt else decay).append(param)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return [group for group in groups if group["params"]]


def layer_ids(encoder: AudioEncoder) -> tuple[dict[str, int], int]:
    """({parameter name: depth}, number of blocks) from the encoder's `group_matcher()` (BEiT
    convention): 0 for the stem, i + 1 for block i, blocks + 1 for the rest (the final norm)."""
    matcher = encoder.group_matcher()
    stem, blocks = re.compile(matcher["stem"]), re.compile(matcher["blocks"])
    depth: dict[str, int | None] = {}
    for name, _ in encoder.named_parameters():
        block = blocks.match(name)
        depth[name] = int(block.group(1)) + 1 if block else 0 if stem.match(name) else None
    num_blocks = max((d for d in depth.values() if d is not None), default=0)
    return {name: num_blocks + 1 if d is None else d for name, d in depth.items()}, num_blocks


def layer_decay_groups(encoder: AudioEncoder, weight_decay: float, layer_decay: float) -> list[dict]:
    """`param_groups` per depth, each with `lr_scale = layer_decay ** (blocks + 1 - depth)`."""
    depths, num_blocks = layer_ids(encoder)
    exempt = no_weight_decay(encoder)
    by_depth: dict[int, list[tuple[str, nn.Parameter]]] = {}
    for name, param in encoder.named_parameters():
        by_depth.setdefault(depths[name], []).append((name, param))
    groups = []
    for depth, named in sorted(by_depth.items()):
        scale = layer_decay ** (num_blocks + 1 - depth)
        groups += [dict(g, lr_scale=scale) for g in _decay_split(named, exempt, weight_decay)]
    return groups


def official_pretraining(family: str) -> tuple[str, float]:
    """(optimizer name, weight decay) of the official pretraining recipe of a model family."""
    if family not in OFFICIAL_PRETRAIN:
        raise ConfigError(f"no official optimiser for model family {family!r}")
    return OFFICIAL_PRETRAIN[family]


def resolve_optimizer(config: OptimConfig, official: tuple[str, float]) -> tuple[str, float]:
    """(optimizer name, weight decay): the configured ones, `official` where left "auto"/null."""
    name, decay = official
    return (name if config.name == "auto" else config.name), (
        decay if config.weight_decay is None else config.weight_decay
    )


def build_optimizer(groups: list[dict], config: OptimConfig, name: str) -> torch.optim.Optimizer:
    """Adam or AdamW (`name`) over parameter `groups` with the configured lr, betas and eps."""
    cls = torch.optim.AdamW if name == "adamw" else torch.optim.Adam
    beta1, beta2 = config.betas
    return cls(groups, lr=config.lr, betas=(beta1, beta2), eps=config.eps)
