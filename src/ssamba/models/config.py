"""`ModelConfig`: every architecture hyper-parameter of a model, serialised next to its weights."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from ssamba.dataclass_io import from_dict, to_dict
from ssamba.errors import ConfigError


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of an SSAMBA or SSAST model (encoder geometry, head and runtime options)."""

    family: Literal["ssamba", "ssast"]
    embed_dim: int = 192
    depth: int = 24
    num_heads: int = 3
    mlp_ratio: float = 4.0
    distilled: bool = True
    d_state: int = 16
    d_conv: int = 4
    expand: int = 2
    norm: Literal["layernorm", "rmsnorm"] = "layernorm"
    patch_shape: tuple[int, int] = (16, 16)
    patch_stride: tuple[int, int] = (10, 10)
    num_mel_bins: int = 128
    input_tdim: int = 1024
    drop_path_rate: float = 0.1
    num_classes: int = 0
    pooling: Literal["mean", "cls", "both"] = "mean"
    attn_impl: Literal["sdpa", "eager"] = "sdpa"
    scan_backend: str = "auto"

    def __post_init__(self) -> None:
        problems = []
        if self.embed_dim <= 0 or self.depth <= 0:
            problems.append("embed_dim and depth must be positive")
        if self.family == "ssamba" and self.depth % 2:
            problems.append(f"depth must be even for SSAMBA (layer pairs), got {self.depth}")
        if self.num_heads <= 0:
            problems.append(f"num_heads must be positive, got {self.num_heads}")
        elif self.family == "ssast" and self.embed_dim % self.num_heads:
            problems.append(f"embed_dim {self.embed_dim} not divisible by num_heads {self.num_heads}")
        if self.patch_shape[0] > self.num_mel_bins or self.patch_shape[1] > self.input_tdim:
            problems.append(
                f"input_tdim {self.input_tdim} x num_mel_bins {self.num_mel_bins} is smaller than one "
                f"patch {self.patch_shape}; use input_tdim >= {self.patch_shape[1]}"
            )
        if min(self.patch_shape) <= 0:
            problems.append(f"patch_shape must be positive, got {self.patch_shape}")
        if min(self.patch_stride) <= 0:
            problems.append(f"patch_stride must be positive, got {self.patch_stride}")
        if self.num_classes < 0:
            problems.append(f"num_classes must be >= 0, got {self.num_classes}")
        if not 0.0 <= self.drop_path_rate < 1.0:
            problems.append(f"drop_path_rate must be in [0, 1), got {self.drop_path_rate}")
        if problems:
            raise ConfigError("invalid model config: " + "; ".join(problems))

    @property
    def num_special(self) -> int:
        """Number of learned tokens before the patches: SSAMBA cls; SSAST cls (+ dist)."""
        return 1 if self.family == "ssamba" or not self.distilled else 2

    @property
    def is_frame_model(self) -> bool:
        return self.patch_shape[0] == self.num_mel_bins

    def replace(self, **changes: Any) -> ModelConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        return from_dict(cls, data)
