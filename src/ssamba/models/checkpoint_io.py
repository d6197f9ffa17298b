"""Safe reading of foreign checkpoint files: `weights_only=True`, errors that name the file and fix."""

from __future__ import annotations

import pickle
import struct
import zipfile
from pathlib import Path

import torch
from torch import Tensor

from ssamba.errors import CheckpointError


def load_state_dict_file(path: str | Path) -> dict[str, Tensor]:
    """Read a `.pth`/`.pt` (tensors only, never code) or `.safetensors` file into a flat dict."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as exc:
            raise CheckpointError(f"{path}: not a readable safetensors file ({exc})") from exc
    with open(path, "rb") as handle:
        magic = handle.read(2)
    if magic not in (b"PK", b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05"):
        raise CheckpointError(f"{path}: not a PyTorch checkpoint (neither a zip archive nor a pickle)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"{path}: refused to load: the file holds Python objects other than tensors, which could "
            f"run code ({str(exc).splitlines()[0]}). Only load checkpoints you trust, re-saved as tensors."
        ) from exc
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, struct.error, IndexError, ValueError) as exc:
        # A legacy (non-zip) file cut short fails inside the unpickler with struct.error or IndexError.
        detail = str(exc) or type(exc).__name__
        raise CheckpointError(f"{path}: truncated or not a PyTorch checkpoint ({detail})") from exc
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: expected a flat dict of tensors (a model state_dict)")
    return state
