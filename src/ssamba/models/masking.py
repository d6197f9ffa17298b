"""Masked-patch index generators for MSPM pretraining (pure functions over a `random.Random`).

The official generator (spec 2.1) is reproduced exactly with `official_order=True`: cluster
side drawn once per clip, patch 0 never masked, clusters wrap into the next frequency row, and the
unique indices are truncated in ascending order (which always drops the highest patches). The
default keeps everything but that last bias: the overshoot is removed at random.
"""

from __future__ import annotations

import random

import torch
from torch import Tensor


def cluster_mask(
    rng: random.Random, num_patches: int, num_masked: int, time_patches: int, official_order: bool = False
) -> list[int]:
    """Square clusters of side 3-5 until more than `num_masked` distinct patches; returns `num_masked`."""
    if not 0 < num_masked < num_patches - 1:
        raise ValueError(
            f"cannot mask {num_masked} of {num_patches} patches with cluster masking (patch 0 is never "
            f"masked and more than num_masked candidates are drawn); use 1 <= num_masked <= {num_patches - 2}"
        )
    side = rng.randrange(3) + 3
    chosen: set[int] = set()
    while len(chosen) <= num_masked:
        start = rng.randrange(num_patches)
        for row in range(side):
            for col in range(side):
                index = start + time_patches * row + col
                if 0 < index < num_patches:
                    chosen.add(index)
    ordered = sorted(chosen)  # CPython iterates a set of small ints in ascending order
    if official_order:
        return ordered[:num_masked]
    return sorted(rng.sample(ordered, num_masked))


def random_mask(rng: random.Random, num_patches: int, num_masked: int) -> list[int]:
    """Uniform sampling without replacement (official frame-model masking; patch 0 allowed)."""
    if not 0 < num_masked <= num_patches:
        raise ValueError(f"cannot mask {num_masked} of {num_patches} patches; use 1..{num_patches}")
    return rng.sample(range(num_patches), num_masked)


def draw_masks(
    rng: random.Random,
    batch_size: int,
    grid: tuple[int, int],
    num_masked: int,
    cluster: bool,
    official_order: bool = False,
) -> Tensor:
    """One mask per clip -> LongTensor (B, M) of frequency-major patch indices."""
    num_patches = grid[0] * grid[1]
    rows = [
        cluster_mask(rng, num_patches, num_masked, grid[1], official_order)
        if cluster
        else random_mask(rng, num_patches, num_masked)
        for _ in range(batch_size)
    ]
    return torch.tensor(rows, dtype=torch.long)
