"""ONNX export of SSAST and SSAMBA classifiers/feature extractors, with dynamic batch and time axes.

The position embedding is adapted to the input's patch grid by bilinear interpolation (exact at
the trained length and for longer inputs; the eager model centre-crops shorter ones). SSAMBA's
selective scan uses the export backend (an ONNX `Scan` over the tokens, whose trip count follows
the input). SSAMBA graphs need at least two patch columns (`patch + stride` frames, 32 for the
stride-16 models): the exporter specialises the one-column case.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ssamba.errors import require_extra
from ssamba.models.mamba_mixer import BiMambaMixer
from ssamba.models.model import AudioClassifier

logger = logging.getLogger(__name__)


class ExportGraph(nn.Module):
    """`AudioClassifier.forward` with shape-generic position embeddings, for tracing."""

    def __init__(self, model: AudioClassifier) -> None:
        super().__init__()
        self.model = model

    def forward(self, fbank: Tensor) -> Tensor:
        encoder = self.model.encoder
        patches = encoder.patch_embed.proj(fbank.unsqueeze(1).transpose(2, 3))  # (B, D, f, t)
        freq, time = patches.shape[2], patches.shape[3]
        special_pos = encoder.pos_embed[:, : encoder.num_special]
        grid_pos = encoder.pos_embed[:, encoder.num_special :].transpose(1, 2)
        grid_pos = grid_pos.reshape(1, encoder.embed_dim, encoder.grid[0], encoder.grid[1])
        grid_pos = F.interpolate(grid_pos, size=(freq, time), mode="bilinear", align_corners=False)
        special = encoder.special_tokens().expand(fbank.shape[0], -1, -1)
        tokens = torch.cat([special, patches.flatten(2).transpose(1, 2)], dim=1)
        positions = torch.cat([special_pos, grid_pos.flatten(2).transpose(1, 2)], dim=1)
        hidden = encoder.forward_tokens(tokens + positions).last_hidden_state
        return self.model.forward_head(hidden)


@contextlib.contextmanager
def export_scan(model: nn.Module) -> Iterator[None]:
    """Temporarily route every SSAMBA mixer through the export-friendly scan."""
    mixers = [m for m in model.modules() if isinstance(m, BiMambaMixer)]
    saved = [m.scan_backend for m in mixers]
    for mixer in mixers:
        mixer.scan_backend = "export"
    try:
        yield
    finally:
        for mixer, backend in zip(mixers, saved, strict=True):
            mixer.scan_backend = backend


def min_dynamic_frames(model: AudioClassifier) -> int:
    """Shortest input a dynamic graph accepts: one patch (SSAST), two patch columns (SSAMBA)."""
    patch, stride = model.config.patch_shape[1], model.config.patch_stride[1]
    return patch + stride if model.config.family == "ssamba" else patch


def export_onnx(
    model: AudioClassifier,
    path: str | Path,
    *,
    frames: int | None = None,
    batch: int = 1,
    dynamic: bool | None = None,
) -> Path:
    """Write `model` as ONNX with input "fbank" (batch, frames, mel bins) and output "output".

    Dynamic batch and time axes unless `dynamic=False` (`None`: dynamic); `frames` and `batch`
    shape the example input (the fixed shape when static).
    """
    require_extra("onnxscript", "onnx")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    example = torch.randn(batch, frames or model.config.input_tdim, model.config.num_mel_bins)
    dynamic_shapes = None
    if dynamic is not False:
        min_frames = min_dynamic_frames(model)
        dims = {0: torch.export.Dim("batch", min=1, max=1024), 1: torch.export.Dim("frames", min=min_frames)}
        dynamic_shapes = {"fbank": dims}
    with export_scan(model), torch.no_grad():
        program = torch.onnx.export(
            ExportGraph(model).eval(),
            (example,),
            input_names=["fbank"],
            output_names=["output"],
            dynamo=True,
            dynamic_shapes=dynamic_shapes,
            external_data=False,
        )
    program.save(str(path))
    logger.info("wrote %s", path)
    return path


def onnx_parity(model: AudioClassifier, path: str | Path, fbank: Tensor) -> float:
    """Largest absolute difference between onnxruntime on `path` and the eager model on `fbank`."""
    ort = require_extra("onnxruntime", "onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (onnx_out,) = session.run(None, {"fbank": fbank.numpy()})
    with torch.no_grad():
        eager = model.eval()(fbank).numpy()
    return float(np.abs(onnx_out - eager).max())
