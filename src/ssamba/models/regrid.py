"""Input geometry (patch stride, input length) and `regrid`, the one adaptation of a model to another."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ssamba.errors import ConfigError
from ssamba.models.patch import Grid, adapt_pos_embed, as_grid, patch_grid

if TYPE_CHECKING:
    from ssamba.models.model import AudioModel


@dataclass(frozen=True)
class Geometry:
    """The input geometry to adapt a loaded model to; a None field keeps the source's value."""

    fstride: int | None = None
    tstride: int | None = None
    input_tdim: int | None = None

    @classmethod
    def pop_from(cls, options: dict[str, Any]) -> Geometry:
        """The geometry in keyword options (`patch_stride`, or `fstride`/`tstride`, and `input_tdim`),
        removed from `options`: the keyword form of the public loaders."""
        stride = options.pop("patch_stride", None) or (None, None)
        return cls(
            fstride=options.pop("fstride", stride[0]),
            tstride=options.pop("tstride", stride[1]),
            input_tdim=options.pop("input_tdim", None),
        )

    def stride(self, default: Grid) -> Grid:
        """The patch stride, each axis falling back to `default`."""
        return (
            self.fstride if self.fstride is not None else default[0],
            self.tstride if self.tstride is not None else default[1],
        )


AS_STORED = Geometry()  # keep the source's stride and length


def regrid(
    model: AudioModel, patch_stride: Grid | None = None, input_tdim: int | None = None, official: bool = False
) -> None:
    """Adapt `model` in place to another patch stride and/or input length (None: unchanged).

    The patch convolution keeps its weights and takes the new stride; the position embedding is
    centre-cropped or interpolated to the new patch grid (`official=True`: the official fine-tuning
    rule for pretraining weights, spec 5.3, applied even when the grid is unchanged); the config follows.
    """
    encoder = model.encoder
    stride = as_grid(patch_stride or encoder.patch_embed.stride)
    tdim = input_tdim or encoder.input_tdim
    if stride == tuple(encoder.patch_embed.stride) and tdim == encoder.input_tdim and not official:
        return
    if stride != tuple(model.config.patch_stride) and model.task == "pretrain":
        raise ConfigError(f"a pretraining model keeps stride = patch shape {model.config.patch_shape}")
    grid = patch_grid(encoder.num_mel_bins, tdim, encoder.patch_embed.shape, stride)
    special = encoder.pos_embed[:, : encoder.num_special]
    with torch.no_grad():
        patches = adapt_pos_embed(encoder.pos_embed[:, encoder.num_special :], encoder.grid, grid, official)
        encoder.pos_embed = nn.Parameter(torch.cat([special, patches], dim=1))
    encoder.patch_embed.stride = stride
    encoder.patch_embed.proj.stride = stride
    encoder.grid = grid
    encoder.input_tdim = tdim
    model.config = model.config.replace(patch_stride=stride, input_tdim=tdim)
