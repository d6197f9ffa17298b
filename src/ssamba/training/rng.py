"""Random state for exact resume: per-step seeds derived from integers, and global RNG snapshots.

Training draws its per-step randomness (masks, dropout) from `derive_seed(seed, step, rank, ...)`
so a resumed run repeats the same draws; the global states are saved too, as plain tensors/lists
that `torch.load(weights_only=True)` accepts.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch


def derive_seed(*keys: int) -> int:
    """A 63-bit seed mixed from a tuple of integers (order matters, nearby tuples are unrelated)."""
    state = np.random.SeedSequence([int(k) & 0xFFFFFFFF for k in keys]).generate_state(2)
    return (int(state[0]) << 31 | int(state[1])) & 0x7FFFFFFFFFFFFFFF


def capture_rng_state() -> dict[str, Any]:
    """Python, numpy, torch CPU and every CUDA device's RNG state, as tensors/lists/primitives."""
    version, internal, gauss = random.getstate()
    numpy_state = np.random.get_state()
    assert isinstance(numpy_state, tuple)  # the legacy global generator is MT19937: a 5-tuple
    kind, keys, pos, has_gauss, cached = numpy_state
    state: dict[str, Any] = {
        "python": {"version": version, "state": list(internal), "gauss": gauss},
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached": float(cached),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Restore `capture_rng_state()`; CUDA states only when the device count matches."""
    python = state["python"]
    random.setstate((python["version"], tuple(python["state"]), python["gauss"]))
    numpy = state["numpy"]
    keys = numpy["keys"].numpy().astype(np.uint32)
    np.random.set_state((numpy["kind"], keys, numpy["pos"], numpy["has_gauss"], numpy["cached"]))
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda")
    if cuda is not None and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)
