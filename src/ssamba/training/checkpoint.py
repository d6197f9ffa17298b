"""Training checkpoints: atomic writes of the full training state, safe (`weights_only`) loading.

A checkpoint is a dict of tensors, lists and primitives (model, optimiser, scheduler, scaler,
step, data position, RNG states, config), so `torch.load(..., weights_only=True)` reads it.
Files live in `OUT/checkpoints/`: `last.pt` (periodic and on interruption) and `best.pt`.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ssamba.errors import CheckpointError
from ssamba.training.faults import fault_point
from ssamba.utils_io import atomic_path

logger = logging.getLogger(__name__)

LAST = "last.pt"
BEST = "best.pt"
_PROBE_BYTES = 1 << 16


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Write `state` atomically: temporary file in the same folder, fsync, rename, fsync the folder.

    A crash at any moment leaves either the previous file or the new one, never a partial file.
    """
    with atomic_path(path) as tmp:
        _torch_save(state, tmp, Path(path))
        fault_point("checkpoint_write", int(state.get("step", -1)))
    fault_point("checkpoint_done", int(state.get("step", -1)))


def _torch_save(state: dict[str, Any], tmp: Path, target: Path) -> None:
    """`torch.save`, with a failed write (torch's zip writer raises RuntimeError) raised as an OSError."""
    try:
        torch.save(state, tmp)
    except RuntimeError as exc:
        if "inline_container" not in str(exc) and "PytorchStreamWriter" not in str(exc):
            raise
        raise _write_failure(tmp, target, exc) from exc


def _write_failure(tmp: Path, target: Path, exc: RuntimeError) -> OSError:
    """The OSError behind torch's failed write: a plain write to `tmp` now shows it (e.g. ENOSPC).

    torch drops the errno ("unexpected pos ...", "file write failed"); when the probe write works,
    the cause is unknown and the error says so with torch's message.
    """
    hint = f"while writing checkpoint {target}; the previous checkpoint is kept"
    try:
        with open(tmp, "ab") as handle:
            handle.write(bytes(_PROBE_BYTES))
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as probe:
        fix = ": free some space, then --resume" if probe.errno == errno.ENOSPC else ""
        return OSError(probe.errno, f"{probe.strerror} {hint}{fix}")
    return OSError(errno.EIO, f"write failed {hint} ({str(exc).splitlines()[0]})")


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint with `weights_only=True`; errors name the file and the cause."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # unpickling errors come in many types
        raise CheckpointError(f"{path}: cannot read checkpoint ({exc})") from exc
    if not isinstance(state, dict) or "model" not in state or "step" not in state:
        raise CheckpointError(f"{path}: not a training checkpoint (expected 'model' and 'step' entries)")
    return state


def weights_digest(model: nn.Module) -> str:
    """SHA-256 over every state-dict tensor's name, dtype, shape and bytes (bit-exact identity)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        value = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{value.dtype}|{tuple(value.shape)}".encode())
        digest.update(value.view(torch.uint8).numpy().tobytes() if value.numel() else b"")
    return digest.hexdigest()
