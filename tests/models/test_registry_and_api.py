"""Registry, timm-like API, parameter counts, gradients and init of every model variant."""

from __future__ import annotations

import math

import pytest
import torch

import ssamba
from ssamba.errors import ConfigError
from ssamba.models.ssamba import drop_path_schedule

# Exact parameter counts of the encoders at the pretraining geometry (spec 1.4.5, derived from the
# official architecture): patch conv + special tokens + position embedding + blocks + final norm.
ENCODER_PARAMS = {
    "ssamba_tiny": 6_922_176,
    "ssamba_small": 25_345_920,
    "ssamba_base": 96_698_112,
    "ssast_tiny": 5_487_168,
    "ssast_small": 21_591_168,
    "ssast_base": 85_649_664,
}
# The official pretraining state dict also holds the unused 1000-way heads and two scalars.
PRETRAIN_MODULE_PARAMS = {"ssamba_tiny": 7_288_298, "ssast_tiny": 6_046_290}


def test_list_models_has_every_variant():
    names = ssamba.list_models()
    for size in ("tiny", "small", "base"):
        assert {f"ssamba_{size}", f"ssast_{size}", f"ssast_{size}_frame"} <= set(names)
    assert ssamba.list_models("ssast_*_frame") == [
        "ssast_base_frame",
        "ssast_small_frame",
        "ssast_tiny_frame",
    ]


@pytest.mark.parametrize("name", sorted(ENCODER_PARAMS))
def test_encoder_parameter_counts_match_the_official_architecture(name):
    model = ssamba.create_model(name, task="pretrain")
    assert sum(p.numel() for p in model.encoder.parameters()) == ENCODER_PARAMS[name]


@pytest.mark.parametrize("name", sorted(PRETRAIN_MODULE_PARAMS))
def test_pretraining_module_counts(name):
    model = ssamba.create_model(name, task="pretrain")
    dim = model.config.embed_dim
    unused_heads = (1000 * dim + 1000) * (2 if name.startswith("ssast") else 1)
    total = sum(p.numel() for p in model.parameters())
    assert total + unused_heads + 2 == PRETRAIN_MODULE_PARAMS[name]


@pytest.mark.parametrize("name", ssamba.list_models("*tiny*"))
@pytest.mark.parametrize("pooling", ["mean", "cls", "both"])
def test_timm_like_api(name, pooling):
    model = ssamba.create_model(name, num_classes=5, input_tdim=64, pooling=pooling, depth=2).eval()
    fbank = torch.randn(2, 64, 128)
    dim = model.config.embed_dim
    assert model.num_features == dim * (2 if pooling == "both" else 1)
    with torch.no_grad():
        logits = model(fbank)
        tokens, hidden = model.forward_features(fbank, return_hidden_states=True)
        pooled = model.forward_head(tokens, pre_logits=True)
    grid = model.encoder.grid
    assert tokens.shape == (2, model.num_special + grid[0] * grid[1], dim)
    assert logits.shape == (2, 5)
    assert pooled.shape == (2, model.num_features)
    assert len(hidden) == (1 if name.startswith("ssamba") else 2)
    torch.testing.assert_close(model.forward_head(tokens), logits)
    model.reset_classifier(3)
    assert model(fbank).shape == (2, 3)
    model.reset_classifier(0)
    assert model(fbank).shape == (2, model.num_features)


def test_mean_pooling_excludes_special_tokens():
    model = ssamba.create_model("ssast_tiny", input_tdim=32, depth=1).eval()
    tokens = torch.randn(1, 2 + 7 * 12, 192)
    torch.testing.assert_close(model.forward_head(tokens, pre_logits=True), tokens[:, 2:].mean(1))


def test_any_input_length_works_and_trained_length_is_unchanged():
    model = ssamba.create_model("ssast_tiny", num_classes=2, input_tdim=128, depth=1).eval()
    with torch.no_grad():
        for frames in (16, 100, 128, 300):
            assert model(torch.randn(1, frames, 128)).shape == (1, 2)
        assert model.encoder.position_embedding(model.encoder.grid) is model.encoder.pos_embed


def test_unknown_model_and_bad_options_raise_clear_errors():
    with pytest.raises(ConfigError, match="unknown model"):
        ssamba.create_model("ssamba_huge")
    with pytest.raises(ConfigError, match="depth must be even"):
        ssamba.create_model("ssamba_tiny", depth=3)
    with pytest.raises(ConfigError, match="unknown model option"):
        ssamba.create_model("ssamba_tiny", embed=3)
    with pytest.raises(ConfigError, match="smaller than one patch"):
        ssamba.create_model("ssamba_tiny", input_tdim=8)


@pytest.mark.parametrize("name", ["ssamba_tiny", "ssast_tiny", "ssast_tiny_frame"])
def test_gradients_reach_every_parameter(name):
    torch.manual_seed(0)
    classifier = ssamba.create_model(name, num_classes=3, input_tdim=48, depth=2)
    classifier(torch.randn(2, 48, 128)).sum().backward()
    pretrainer = ssamba.create_model(name, task="pretrain", input_tdim=64, depth=2)
    masks = pretrainer.draw_masks(2, num_masked=3)
    pretrainer.mspm_loss(torch.randn(2, 64, 128), masks, masks.flip(0))["loss"].backward()
    for model in (classifier, pretrainer):
        for pname, param in model.named_parameters():
            assert param.grad is not None and param.grad.abs().sum() > 0, f"{name}: no gradient for {pname}"


def test_ssamba_official_initialisation():
    torch.manual_seed(0)
    encoder = ssamba.create_model("ssamba_tiny", depth=4).encoder
    mixer = encoder.layers[0].mixer
    expected_a = torch.log(torch.arange(1, 17, dtype=torch.float32)).expand(384, 16)
    torch.testing.assert_close(mixer.A_log.data, expected_a)
    torch.testing.assert_close(mixer.A_b_log.data, expected_a)
    assert torch.all(mixer.D == 1) and torch.all(mixer.D_b == 1)
    dt = torch.nn.functional.softplus(mixer.dt_proj.bias)
    assert dt.min() >= 1e-4 - 1e-9 and dt.max() <= 0.1 + 1e-6
    assert torch.all(mixer.dt_proj_b.bias == 0), "the backward dt bias is zeroed by Vim's global init"
    bound = math.sqrt(6 / ((1 + 5) * 384)) / math.sqrt(4)  # kaiming-uniform(a=sqrt 5) / sqrt(depth)
    assert mixer.out_proj.weight.abs().max() <= bound
    assert drop_path_schedule(24, 0.1)[:3] == [0.0, 0.0, pytest.approx(0.1 / 23)]
    assert encoder.layers[3].drop_path.drop_prob == pytest.approx(0.1 * 2 / 3)


def test_eager_and_sdpa_attention_agree():
    torch.manual_seed(0)
    model = ssamba.create_model("ssast_tiny", input_tdim=64, depth=2).eval()
    fbank = torch.randn(2, 64, 128)
    with torch.no_grad():
        sdpa = model.forward_features(fbank)
        model.encoder.set_attn_impl("eager")
        eager = model.forward_features(fbank)
    torch.testing.assert_close(sdpa, eager, atol=1e-5, rtol=1e-5)
