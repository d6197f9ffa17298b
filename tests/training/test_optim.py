"""Official optimisers and the no-weight-decay parameter groups."""

from __future__ import annotations

import pytest
import torch

import ssamba
from ssamba.training.config import OptimConfig
from ssamba.training.optim import param_groups
from ssamba.training.pretrain import pretrain_optimizer


@pytest.mark.parametrize(
    ("name", "cls", "decay"),
    [("ssast_tiny", torch.optim.Adam, 5e-7), ("ssamba_tiny", torch.optim.AdamW, 5e-8)],
)
def test_official_optimizer_per_family(name, cls, decay):
    model = ssamba.create_model(name, task="pretrain", depth=2, input_tdim=32)
    optimizer = pretrain_optimizer(model, OptimConfig(lr=1e-4))
    assert type(optimizer) is cls
    assert optimizer.param_groups[0]["weight_decay"] == decay
    assert optimizer.param_groups[0]["betas"] == (0.95, 0.999)
    assert optimizer.param_groups[1]["weight_decay"] == 0.0
    override = pretrain_optimizer(model, OptimConfig(name="adamw", weight_decay=0.05))
    assert type(override) is torch.optim.AdamW and override.param_groups[0]["weight_decay"] == 0.05


def test_no_decay_for_biases_norms_ssm_and_tokens():
    model = ssamba.create_model("ssamba_tiny", task="pretrain", depth=2, input_tdim=32)
    decay, no_decay = param_groups(model, 0.1)
    names = {id(p): n for n, p in model.named_parameters()}
    decayed = {names[id(p)] for p in decay["params"]}
    exempt = {names[id(p)] for p in no_decay["params"]}
    assert decayed | exempt == set(names.values()) and not decayed & exempt
    for name in exempt:
        leaf = name.rsplit(".", 1)[-1]
        assert leaf in {"bias", "A_log", "A_b_log", "D", "D_b", "cls_token", "pos_embed", "mask_embed"} or (
            "norm" in name and leaf == "weight"
        ), name
    mixer = "encoder.layers.0.mixer."
    assert {mixer + "in_proj.weight", "encoder.patch_embed.proj.weight", "gen_head.0.weight"} <= decayed
    assert {mixer + "A_log", mixer + "D_b", "encoder.norm_f.weight", "mask_embed"} <= exempt
