"""`ModelConfig`, every hyper-parameter of a model as serialised next to its weights, and the
per-family encoder configs built from it (`SSAMBAConfig`, `SSASTConfig`: only their own fields)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from ssamba.dataclass_io import from_dict, to_dict
from ssamba.errors import ConfigError

Grid = tuple[int, int]


@dataclass(frozen=True)
class EncoderConfig:
    """What both encoders take: patch geometry, width, depth and stochastic depth."""

    embed_dim: int
    depth: int
    patch_shape: Grid
    patch_stride: Grid
    num_mel_bins: int
    input_tdim: int
    drop_path_rate: float

    @property
    def num_special(self) -> int:
        """Number of learned tokens before the patches (cls)."""
        return 1

    def problems(self) -> list[str]:
        """What is wrong with the family's own fields (none here)."""
        return []

    def scan_backend_name(self, is_cuda: bool) -> str:
        """The selective-scan backend the encoder runs on CPU/CUDA; "none" without a scan."""
        return "none"


@dataclass(frozen=True)
class SSAMBAConfig(EncoderConfig):
    """SSAMBA: bidirectional Mamba layer pairs (state size, conv width, expansion, norm, scan)."""

    d_state: int
    d_conv: int
    expand: int
    norm: Literal["layernorm", "rmsnorm"]
    scan_backend: str

    def problems(self) -> list[str]:
        return [f"depth must be even for SSAMBA (layer pairs), got {self.depth}"] if self.depth % 2 else []

    def scan_backend_name(self, is_cuda: bool) -> str:
        from ssamba.ops.selective_scan import resolve_backend_name

        return resolve_backend_name(self.scan_backend, is_cuda)


@dataclass(frozen=True)
class SSASTConfig(EncoderConfig):
    """SSAST: a DeiT-style ViT (heads, MLP ratio, distillation token, attention implementation)."""

    num_heads: int
    mlp_ratio: float
    distilled: bool
    attn_impl: Literal["sdpa", "eager"]

    @property
    def num_special(self) -> int:
        return 2 if self.distilled else 1

    def problems(self) -> list[str]:
        if self.num_heads <= 0:
            return [f"num_heads must be positive, got {self.num_heads}"]
        if self.embed_dim % self.num_heads:
            return [f"embed_dim {self.embed_dim} not divisible by num_heads {self.num_heads}"]
        return []


ENCODER_CONFIGS: dict[str, type[EncoderConfig]] = {"ssamba": SSAMBAConfig, "ssast": SSASTConfig}


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of an SSAMBA or SSAST model (encoder geometry, head and runtime options).

    The serialised front (flat on disk, as in every `config.json`): `encoder_config()` gives the
    family's own fields; the head and runtime fields (`num_classes`, `pooling`) stay here.
    """

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
        if self.family in ENCODER_CONFIGS:
            problems += self.encoder_config().problems()
        else:
            problems.append(f"unknown family {self.family!r}; choose from {sorted(ENCODER_CONFIGS)}")
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

    def encoder_config(self) -> EncoderConfig:
        """The family's encoder config: the fields of this config that its encoder takes."""
        cls = ENCODER_CONFIGS[self.family]
        return cls(**{f.name: getattr(self, f.name) for f in dataclasses.fields(cls)})

    @property
    def num_special(self) -> int:
        """Number of learned tokens before the patches: SSAMBA cls; SSAST cls (+ dist)."""
        return self.encoder_config().num_special

    def scan_backend_name(self, is_cuda: bool) -> str:
        """The selective-scan backend this model runs on CPU/CUDA; "none" for attention models."""
        return self.encoder_config().scan_backend_name(is_cuda)

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
