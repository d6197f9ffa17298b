"""Patch grids, unfolding and position-embedding adaptation against independent computations."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ssamba.models.patch import adapt_pos_embed, apply_mask, patch_grid, unfold_patches


@pytest.mark.parametrize(
    ("frames", "shape", "stride", "grid"),
    [
        (1024, (16, 16), (16, 16), (8, 64)),
        (1024, (16, 16), (10, 10), (12, 101)),
        (128, (16, 16), (10, 10), (12, 12)),
        (100, (16, 16), (10, 10), (12, 9)),
        (1024, (128, 2), (128, 1), (1, 1023)),
        (6144, (16, 16), (16, 16), (8, 384)),
    ],
)
def test_patch_grid_matches_the_spec_token_table(frames, shape, stride, grid):
    assert patch_grid(128, frames, shape, stride) == grid


def test_unfold_is_frequency_major_with_frequency_offset_major_values():
    fbank = torch.arange(64 * 32, dtype=torch.float32).reshape(1, 64, 32)  # (B, T, F)
    patches = unfold_patches(fbank, (16, 16))  # grid (2, 4)
    assert patches.shape == (1, 8, 256)
    f_row, t_col, df, dt = 1, 2, 3, 5  # patch 1 * 4 + 2, element df * 16 + dt
    assert patches[0, f_row * 4 + t_col, df * 16 + dt] == fbank[0, t_col * 16 + dt, f_row * 16 + df]


def _grid_tensor(f, t, dim=3):
    return torch.randn(1, f * t, dim)


def test_time_crop_keeps_the_centre_columns():
    pos = _grid_tensor(8, 64)
    out = adapt_pos_embed(pos, (8, 64), (8, 12), official=True)
    grid = pos.reshape(1, 8, 64, 3)
    expected = grid[:, :, 26:38].reshape(1, 96, 3)  # int(64/2) - int(12/2) = 26
    torch.testing.assert_close(out, expected)


def test_official_stride10_t128_case_crops_then_interpolates_rows():
    pos = _grid_tensor(8, 64)
    out = adapt_pos_embed(pos, (8, 64), (12, 12), official=True)
    grid = pos.reshape(1, 8, 64, 3).permute(0, 3, 1, 2)[:, :, :, 26:38]
    expected = F.interpolate(grid, size=(12, 12), mode="bilinear", align_corners=False)
    torch.testing.assert_close(out, expected.flatten(2).transpose(1, 2))


def test_frame_model_interpolation_two_step_equals_direct_resize():
    pos = _grid_tensor(1, 512)
    official = adapt_pos_embed(pos, (1, 512), (1, 1023), official=True)
    direct = F.interpolate(pos.transpose(1, 2).reshape(1, 3, 1, 512), size=(1, 1023), mode="bilinear")
    torch.testing.assert_close(official, direct.flatten(2).transpose(1, 2), atol=1e-6, rtol=0)


def test_same_grid_is_identity_and_shapes_follow_the_target():
    pos = _grid_tensor(12, 12)
    assert adapt_pos_embed(pos, (12, 12), (12, 12)) is pos
    assert adapt_pos_embed(pos, (12, 12), (12, 30)).shape == (1, 360, 3)
    assert adapt_pos_embed(pos, (12, 12), (6, 5)).shape == (1, 30, 3)
    with pytest.raises(ValueError, match="patch rows"):
        adapt_pos_embed(pos, (12, 13), (12, 12))


def test_apply_mask_replaces_only_masked_positions():
    tokens = torch.randn(2, 10, 4)
    mask_embed = torch.full((1, 1, 4), 7.0)
    index = torch.tensor([[0, 3], [9, 1]])
    out = apply_mask(tokens, index, mask_embed)
    for b, masked in enumerate(index.tolist()):
        for position in range(10):
            expected = mask_embed[0, 0] if position in masked else tokens[b, position]
            torch.testing.assert_close(out[b, position], expected)
