"""What the encoders answer for code outside `models/` (issue 20 item 4): their own configs,
minimum input frames, hidden-state norm and scan backend."""

from __future__ import annotations

import dataclasses

import pytest
import torch

import ssamba
from ssamba.errors import ConfigError
from ssamba.models.config import ModelConfig, SSAMBAConfig, SSASTConfig

GEOMETRY = {
    "embed_dim",
    "depth",
    "patch_shape",
    "patch_stride",
    "num_mel_bins",
    "input_tdim",
    "drop_path_rate",
}


def test_each_family_config_holds_only_its_own_fields() -> None:
    ssamba_fields = {f.name for f in dataclasses.fields(SSAMBAConfig)}
    ssast_fields = {f.name for f in dataclasses.fields(SSASTConfig)}
    assert ssamba_fields == GEOMETRY | {"d_state", "d_conv", "expand", "norm", "scan_backend"}
    assert ssast_fields == GEOMETRY | {"num_heads", "mlp_ratio", "distilled", "attn_impl"}
    config = ModelConfig(family="ssast", embed_dim=64, num_heads=4, distilled=False, depth=2)
    assert config.encoder_config() == SSASTConfig(
        embed_dim=64,
        depth=2,
        patch_shape=(16, 16),
        patch_stride=(10, 10),
        num_mel_bins=128,
        input_tdim=1024,
        drop_path_rate=0.1,
        num_heads=4,
        mlp_ratio=4.0,
        distilled=False,
        attn_impl="sdpa",
    )
    assert config.num_special == 1 and ModelConfig(family="ssamba").num_special == 1
    assert ModelConfig(family="ssast").num_special == 2


def test_family_checks_apply_to_their_family_only() -> None:
    with pytest.raises(ConfigError, match="depth must be even for SSAMBA"):
        ModelConfig(family="ssamba", depth=3)
    with pytest.raises(ConfigError, match="embed_dim 64 not divisible by num_heads 5"):
        ModelConfig(family="ssast", embed_dim=64, num_heads=5)
    ModelConfig(family="ssast", depth=3)  # odd depths are fine for a ViT
    ModelConfig(family="ssamba", embed_dim=64, num_heads=5)  # heads mean nothing for SSAMBA


@pytest.mark.parametrize(("name", "frames"), [("ssamba_tiny", 16 + 10), ("ssast_tiny", 16)])
def test_min_input_frames(name: str, frames: int) -> None:
    """One patch for a ViT; two patch columns (patch + stride) for SSAMBA's exported scan."""
    assert ssamba.create_model(name, depth=2, input_tdim=64).encoder.min_input_frames() == frames


def test_hidden_state_norm_is_the_final_norm_for_ssamba_only() -> None:
    hidden = torch.randn(2, 5, 192)
    mamba = ssamba.create_model("ssamba_tiny", depth=2, input_tdim=64).encoder
    expected = torch.nn.functional.layer_norm(hidden, (192,), mamba.norm_f.weight, mamba.norm_f.bias, 1e-5)
    torch.testing.assert_close(mamba.norm_hidden_state(hidden), expected, rtol=0, atol=0)
    vit = ssamba.create_model("ssast_tiny", depth=2, input_tdim=64).encoder
    assert vit.norm_hidden_state(hidden) is hidden


def test_scan_backend_name() -> None:
    assert ModelConfig(family="ssast").scan_backend_name(False) == "none"
    assert ModelConfig(family="ssamba", scan_backend="reference").scan_backend_name(False) == "reference"
