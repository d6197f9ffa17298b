"""Patch embedding, patch grids and position-embedding adaptation shared by SSAMBA and SSAST.

Input spectrograms are (B, T, F) (time-major, as the official code); the patch convolution runs on
(B, 1, F, T) and tokens come out frequency-major: token k = f * T' + t.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

Grid = tuple[int, int]

# The official fine-tuning loader interpolates the time axis to this many frequency rows, whatever
# the pretraining grid had (a hard-coded constant of the official code, spec 5.3).
OFFICIAL_TIME_INTERP_ROWS = 8


def as_grid(pair: Sequence[int]) -> Grid:
    """A (frequency, time) pair as a tuple (configs may hold lists, checkpoints `torch.Size`)."""
    first, second = pair
    return first, second


def patch_grid(num_mel_bins: int, num_frames: int, shape: Grid, stride: Grid) -> Grid:
    """Number of patches along (frequency, time) for a (F, T) spectrogram."""
    fshape, tshape = shape
    fstride, tstride = stride
    if num_mel_bins < fshape or num_frames < tshape:
        raise ValueError(
            f"input of {num_frames} frames x {num_mel_bins} bins is smaller than one "
            f"{fshape}x{tshape} patch; pad the input to at least {tshape} frames"
        )
    return (num_mel_bins - fshape) // fstride + 1, (num_frames - tshape) // tstride + 1


class PatchEmbed(nn.Module):
    """Conv2d patch projection (one input channel) of a (B, T, F) spectrogram to (B, L, D) tokens."""

    def __init__(self, embed_dim: int, shape: Grid, stride: Grid) -> None:
        super().__init__()
        self.shape = as_grid(shape)
        self.stride = as_grid(stride)
        self.proj = nn.Conv2d(1, embed_dim, kernel_size=self.shape, stride=self.stride)

    def grid(self, num_frames: int, num_mel_bins: int) -> Grid:
        return patch_grid(num_mel_bins, num_frames, self.shape, self.stride)

    def forward(self, fbank: Tensor) -> Tensor:
        """fbank (B, T, F) -> tokens (B, F'*T', D) in frequency-major order."""
        x = fbank.unsqueeze(1).transpose(2, 3)  # (B, 1, F, T)
        return self.proj(x).flatten(2).transpose(1, 2)


def unfold_patches(fbank: Tensor, shape: Grid) -> Tensor:
    """Raw non-overlapping patches (B, L, fshape*tshape), frequency-major, values `df * tshape + dt`."""
    x = fbank.unsqueeze(1).transpose(2, 3)
    return F.unfold(x, kernel_size=shape, stride=shape).transpose(1, 2)


def _as_grid(pos: Tensor, grid: Grid) -> Tensor:
    """(1, f*t, D) -> (1, D, f, t)."""
    if pos.shape[1] != grid[0] * grid[1]:
        raise ValueError(
            f"position embedding has {pos.shape[1]} patch rows, grid {grid} needs {grid[0] * grid[1]}"
        )
    return pos.transpose(1, 2).reshape(1, pos.shape[2], grid[0], grid[1])


def _centre_slice(size: int, keep: int) -> slice:
    start = int(size / 2) - int(keep / 2)
    return slice(start, start + keep)


def _bilinear(grid_pos: Tensor, size: Grid) -> Tensor:
    return F.interpolate(grid_pos, size=size, mode="bilinear", align_corners=False)


def adapt_pos_embed(patch_pos: Tensor, src: Grid, dst: Grid, official: bool = False) -> Tensor:
    """Adapt patch position embeddings (1, src_f*src_t, D) to another grid -> (1, dst_f*dst_t, D).

    Time first: centre crop when shrinking, else bilinear; then frequency the same way. With
    `official=True` the time interpolation goes to 8 frequency rows as the official fine-tuning
    loader does (equal to the general rule for 8-row pretraining grids; frame models go 1 -> 8 -> 1
    rows, a no-op on copies). The official frequency crop slices with the time length (a bug that
    crashes); here the crop always keeps `dst_f` rows.
    """
    if tuple(src) == tuple(dst) and not official:
        return patch_pos
    pos = _as_grid(patch_pos, src)
    src_f, src_t = src
    dst_f, dst_t = dst
    if dst_t < src_t:
        pos = pos[:, :, :, _centre_slice(src_t, dst_t)]
    else:
        rows = OFFICIAL_TIME_INTERP_ROWS if official else src_f
        pos = _bilinear(pos, (rows, dst_t))
    rows_now = pos.shape[2]
    if dst_f < rows_now:
        pos = pos[:, :, _centre_slice(rows_now, dst_f), :]
    else:
        pos = _bilinear(pos, (dst_f, dst_t))
    return pos.reshape(1, patch_pos.shape[2], dst_f * dst_t).transpose(1, 2)


def apply_mask(tokens: Tensor, mask_index: Tensor, mask_embed: Tensor) -> Tensor:
    """Replace tokens (B, L, D) at `mask_index` (B, M) by the learned `mask_embed` (1, 1, D)."""
    keep = torch.ones(tokens.shape[:2], dtype=tokens.dtype, device=tokens.device)
    keep.scatter_(1, mask_index, 0.0)
    keep = keep.unsqueeze(-1)
    return tokens * keep + (1.0 - keep) * mask_embed
