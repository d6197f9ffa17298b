"""Official optimisers and the no-weight-decay parameter groups."""

from __future__ import annotations

import pytest
import torch

import ssamba
from ssamba.training.config import OptimConfig
from ssamba.training.optim import layer_decay_groups, param_groups
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


MIXER_MATRICES = ("in_proj", "conv1d", "x_proj", "dt_proj", "conv1d_b", "x_proj_b", "dt_proj_b", "out_proj")
BLOCK_MATRICES = ("attn.qkv", "attn.proj", "mlp.fc1", "mlp.fc2")
# The decayed parameters of the depth-2 pretraining models, written out by hand (issue 20: the
# groups must stay what the old name-regex rule gave): every matrix or kernel except tokens,
# embeddings and the SSM's A_log / A_b_log; vectors (biases, norms, D) never decay.
DECAYED = {
    "ssamba_tiny": {"encoder.patch_embed.proj.weight"}
    | {f"encoder.layers.{i}.mixer.{m}.weight" for i in range(2) for m in MIXER_MATRICES},
    "ssast_tiny": {"encoder.patch_embed.proj.weight"}
    | {
        f"encoder.blocks.{i}.{m}.weight"
        for i in range(2)
        for m in ("attn.qkv", "attn.proj", "mlp.fc1", "mlp.fc2")
    },
}
HEADS = {f"{head}.{i}.weight" for head in ("disc_head", "gen_head") for i in (0, 2)}


@pytest.mark.parametrize("name", ["ssamba_tiny", "ssast_tiny"])
def test_decay_groups_match_the_listing(name):
    model = ssamba.create_model(name, task="pretrain", depth=2, input_tdim=32)
    decay, no_decay = param_groups(model, 0.1)
    names = {id(p): n for n, p in model.named_parameters()}
    assert {names[id(p)] for p in decay["params"]} == DECAYED[name] | HEADS
    assert {names[id(p)] for p in no_decay["params"]} == set(names.values()) - DECAYED[name] - HEADS
    assert (decay["weight_decay"], no_decay["weight_decay"]) == (0.1, 0.0)


# Layer-wise lr decay of the depth-2 encoders: depth 0 = embeddings and tokens, i + 1 = block i,
# 3 = the final norm; scale = 0.5 ** (3 - depth); each depth split into decayed / not decayed.
LAYER_GROUPS = {
    "ssamba_tiny": ("layers", "norm_f", ("cls_token", "pos_embed", "patch_embed.proj.bias")),
    "ssast_tiny": ("blocks", "norm", ("cls_token", "dist_token", "pos_embed", "patch_embed.proj.bias")),
}


@pytest.mark.parametrize("name", ["ssamba_tiny", "ssast_tiny"])
def test_layer_decay_groups_match_the_listing(name):
    encoder = ssamba.create_model(name, depth=2, input_tdim=32).encoder
    blocks, final_norm, stem_exempt = LAYER_GROUPS[name]
    decayed = {n.removeprefix("encoder.") for n in DECAYED[name]}
    every = [n for n, _ in encoder.named_parameters()]
    by_depth = [
        [n for n in every if n.startswith(("patch_embed.", "pos_embed", "cls_token", "dist_token"))],
        *[[n for n in every if n.startswith(f"{blocks}.{i}.")] for i in range(2)],
        [n for n in every if n.startswith(f"{final_norm}.")],
    ]
    assert sorted(sum(by_depth, [])) == sorted(every)
    expected = []
    for depth, members in enumerate(by_depth):
        for wanted, decay in ((True, 0.1), (False, 0.0)):
            group = sorted(n for n in members if (n in decayed) == wanted)
            if group:
                expected.append((group, decay, 0.5 ** (3 - depth)))
    assert sorted(n for n in by_depth[0] if n not in decayed) == sorted(stem_exempt)
    names = {id(p): n for n, p in encoder.named_parameters()}
    groups = layer_decay_groups(encoder, 0.1, 0.5)
    got = [(sorted(names[id(p)] for p in g["params"]), g["weight_decay"], g["lr_scale"]) for g in groups]
    assert got == expected
