"""ONNX export of SSAST and SSAMBA classifiers/feature extractors, with dynamic batch and time axes.

The position embedding is adapted to the input's patch grid as the eager model adapts it: centre
crop for shorter inputs, bilinear interpolation along time for longer ones, written without a
Python branch so one graph serves every length. SSAMBA's selective scan uses the export backend
(an ONNX `Scan` over the tokens, whose trip count follows the input). SSAMBA graphs need at least
two patch columns (`patch + stride` frames, 32 for the stride-16 models): the exporter specialises
the one-column case.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ssamba.errors import require_extra
from ssamba.models.mamba_mixer import BiMambaMixer
from ssamba.models.model import AudioClassifier

logger = logging.getLogger(__name__)

# Loggers that report every pass of the export (about a thousand INFO lines for a 24-layer model).
EXPORTER_LOGGERS = ("torch.onnx", "torch.export", "torch._export", "onnxscript", "onnx_ir", "ssamba.ops")


def adapt_time_positions(grid_pos: Tensor, frames: int) -> Tensor:
    """(1, D, f, t) -> (1, D, f, frames) as `adapt_pos_embed`: centre crop if shorter, else bilinear.

    Traceable for a symbolic `frames`: stretch to max(frames, t) (bilinear to the same size is the
    identity), then take `frames` columns from max(t // 2 - frames // 2, 0).
    """
    stored = grid_pos.shape[3]
    size = (grid_pos.shape[2], torch.sym_max(frames, stored))
    stretched = F.interpolate(grid_pos, size=size, mode="bilinear", align_corners=False)
    start = torch.sym_max(stored // 2 - frames // 2, 0)
    return stretched.index_select(3, torch.arange(frames, device=grid_pos.device) + start)


class ExportGraph(nn.Module):
    """`AudioClassifier.forward` with shape-generic position embeddings, for tracing."""

    def __init__(self, model: AudioClassifier) -> None:
        super().__init__()
        self.model = model

    def forward(self, fbank: Tensor) -> Tensor:
        encoder = self.model.encoder
        patches = encoder.patch_embed.proj(fbank.unsqueeze(1).transpose(2, 3))  # (B, D, f, t)
        special_pos = encoder.pos_embed[:, : encoder.num_special]
        grid_pos = encoder.pos_embed[:, encoder.num_special :].transpose(1, 2)
        grid_pos = grid_pos.reshape(1, encoder.embed_dim, encoder.grid[0], encoder.grid[1])
        grid_pos = adapt_time_positions(grid_pos, patches.shape[3])
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


@contextlib.contextmanager
def quiet_exporter(verbose: bool = False) -> Iterator[None]:
    """Hide the exporter's progress logs and warnings unless `verbose` (errors still show)."""
    if verbose:
        yield
        return
    loggers = [logging.getLogger(name) for name in EXPORTER_LOGGERS]
    saved = [log.level for log in loggers]
    for log in loggers:
        log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for log, level in zip(loggers, saved, strict=True):
            log.setLevel(level)


def export_onnx(
    model: AudioClassifier,
    path: str | Path,
    *,
    frames: int | None = None,
    batch: int = 1,
    dynamic: bool | None = None,
    verbose: bool = False,
) -> Path:
    """Write `model` as ONNX with input "fbank" (batch, frames, mel bins) and output "output".

    Dynamic batch and time axes unless `dynamic=False` (`None`: dynamic); `frames` and `batch`
    shape the example input (the fixed shape when static). `verbose` shows the exporter's logs.
    """
    require_extra("onnxscript", "onnx")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    example = torch.randn(batch, frames or model.config.input_tdim, model.config.num_mel_bins)
    dynamic_shapes = None
    if dynamic is not False:
        min_frames = model.encoder.min_input_frames()
        dims = {0: torch.export.Dim("batch", min=1, max=1024), 1: torch.export.Dim("frames", min=min_frames)}
        dynamic_shapes = {"fbank": dims}
    with export_scan(model), torch.no_grad(), quiet_exporter(verbose):
        program = torch.onnx.export(
            ExportGraph(model).eval(),
            (example,),
            input_names=["fbank"],
            output_names=["output"],
            dynamo=True,
            dynamic_shapes=dynamic_shapes,
            external_data=False,
            verbose=verbose,
        )
        assert program is not None  # the dynamo exporter always returns its program
        program.save(str(path))
    logger.debug("wrote %s", path)
    return path


def parity_shapes(model: AudioClassifier, frames: int, batch: int, dynamic: bool) -> list[tuple[int, int]]:
    """(batch, frames) inputs to check an export on: the example's, and for dynamic graphs the
    trained length, shorter ones (the shortest accepted, half) and a longer one, at batch 1 to 3."""
    shapes = {(batch, frames)}
    if dynamic:
        trained = model.config.input_tdim
        shortest = model.encoder.min_input_frames()
        longer = trained + max(trained // 4, 2 * model.config.patch_stride[1])
        shapes |= {(1, trained), (2, max(shortest, trained // 2)), (3, shortest), (2, longer)}
    return sorted(shapes, key=lambda shape: (shape[1], shape[0]))


def onnx_parity(model: AudioClassifier, path: str | Path, fbanks: Sequence[Tensor]) -> list[float]:
    """Largest absolute difference between onnxruntime on `path` and the eager model, per input."""
    ort = require_extra("onnxruntime", "onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    model = model.eval()
    errors = []
    for fbank in fbanks:
        (onnx_out,) = session.run(None, {"fbank": fbank.numpy()})
        with torch.no_grad():
            eager = model(fbank).numpy()
        errors.append(float(np.abs(onnx_out - eager).max()))
    return errors
