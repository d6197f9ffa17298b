"""`ssamba export onnx MODEL OUT.onnx`: ONNX export with an onnxruntime parity check."""

from __future__ import annotations

import argparse
import logging

import torch

from ssamba.cli.arg_types import positive_int
from ssamba.errors import SsambaError

logger = logging.getLogger(__name__)
PARITY_ATOL = 1e-4


def run_onnx(args: argparse.Namespace) -> int:
    from ssamba.integrations.loading import load_encoder_model
    from ssamba.integrations.onnx import export_onnx, onnx_parity

    model, _ = load_encoder_model(args.model)
    frames = args.frames or model.config.input_tdim
    dynamic = False if args.static else None
    path = export_onnx(model, args.out, frames=frames, batch=args.batch, dynamic=dynamic)
    if not args.skip_check:
        error = onnx_parity(model, path, torch.randn(args.batch, frames, model.config.num_mel_bins))
        print(f"onnxruntime vs PyTorch: max abs difference {error:.2e} (tolerance {PARITY_ATOL:g})")
        if error > PARITY_ATOL:
            raise SsambaError(f"{path}: ONNX output differs from PyTorch by {error:.2e} > {PARITY_ATOL:g}")
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
    onnx.add_argument("--skip-check", action="store_true", help="skip the onnxruntime parity check")
    onnx.set_defaults(handler=run_onnx)
