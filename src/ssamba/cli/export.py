"""`ssamba export onnx MODEL OUT.onnx`: ONNX export, checked against PyTorch with onnxruntime."""

from __future__ import annotations

import argparse
import logging

import torch

from ssamba.cli.arg_types import positive_int
from ssamba.errors import SsambaError

logger = logging.getLogger(__name__)
PARITY_ATOL = 1e-4


def run_onnx(args: argparse.Namespace) -> int:
    from ssamba.integrations.onnx import export_onnx, onnx_parity, parity_shapes
    from ssamba.models.loading import load_encoder

    model, _ = load_encoder(args.model)
    frames = args.frames or model.config.input_tdim
    verbose = args.verbose or args.export_verbose
    path = export_onnx(
        model, args.out, frames=frames, batch=args.batch, dynamic=not args.static, verbose=verbose
    )
    if not args.skip_check:
        shapes = parity_shapes(model, frames, args.batch, dynamic=not args.static)
        bins = model.config.num_mel_bins
        errors = onnx_parity(model, path, [torch.randn(b, t, bins) for b, t in shapes])
        print(f"onnxruntime vs PyTorch, max abs difference (tolerance {PARITY_ATOL:g}):")
        for (batch, length), error in zip(shapes, errors, strict=True):
            print(f"  batch {batch} x {length} frames: {error:.2e}")
        failed = [f"{b}x{t} ({e:.2e})" for (b, t), e in zip(shapes, errors, strict=True) if e > PARITY_ATOL]
        if failed:
            raise SsambaError(
                f"{path}: the ONNX graph's output differs from PyTorch by more than {PARITY_ATOL:g} at "
                f"batch x frames {', '.join(failed)} (trained length {model.config.input_tdim}); do not "
                "use this file; export with --static --frames N for one fixed shape, or report the bug"
            )
    print(f"wrote {path}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("export", help="export a model to another format")
    formats = parser.add_subparsers(dest="format", metavar="FORMAT", required=True)
    onnx = formats.add_parser(
        "onnx",
        help="ONNX with dynamic batch and time axes (needs the onnx extra)",
        description="Export to ONNX (input 'fbank' (batch, frames, mel bins)) and check it with onnxruntime.",
    )
    onnx.add_argument("model", help="registry name, save_pretrained folder, Hub id or official .pth")
    onnx.add_argument("out", help="output .onnx file")
    onnx.add_argument(
        "--frames", type=positive_int, default=None, help="example length (default: model input length)"
    )
    onnx.add_argument("--static", action="store_true", help="fixed batch and time axes")
    onnx.add_argument(
        "--batch", type=positive_int, default=1, help="example batch size (the fixed one when static)"
    )
    onnx.add_argument(
        "--skip-check",
        action="store_true",
        help="skip the onnxruntime parity check (shorter, trained and longer inputs, batch 1-3)",
    )
    onnx.add_argument(
        "--verbose", dest="export_verbose", action="store_true", help="show torch.onnx/onnxscript logs"
    )
    onnx.set_defaults(handler=run_onnx)
