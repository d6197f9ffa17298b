"""Distributed, epoch-seeded samplers that can resume exactly in the middle of an epoch.

Every rank computes the same global order for an epoch (seeded by `seed + epoch`), then takes
every `world_size`-th index starting at its rank, skipping the first `start_index` of its share.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import Sampler

from ssamba.errors import ConfigError


def rank_and_world(rank: int | None = None, world_size: int | None = None) -> tuple[int, int]:
    """(rank, world size): explicit values, else torch.distributed, else RANK/WORLD_SIZE, else (0, 1)."""
    if rank is None or world_size is None:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            found = torch.distributed.get_rank(), torch.distributed.get_world_size()
        else:
            found = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
        rank = found[0] if rank is None else rank
        world_size = found[1] if world_size is None else world_size
    if world_size < 1 or not 0 <= rank < world_size:
        raise ConfigError(f"rank {rank} is not in [0, world_size={world_size})")
    return rank, world_size


class _EpochSampler(Sampler[int]):
    """Shared logic: per-epoch global order, rank share, resume offset."""

    def __init__(
        self,
        total: int,
        *,
        seed: int,
        rank: int | None,
        world_size: int | None,
        drop_last: bool,
    ) -> None:
        if total < 1:
            raise ConfigError("a sampler needs at least one item to draw")
        self.total = total
        self.seed = seed
        self.rank, self.world_size = rank_and_world(rank, world_size)
        self.drop_last = drop_last
        if drop_last and total < self.world_size:
            raise ConfigError(f"drop_last with {total} items leaves nothing for {self.world_size} ranks")
        self.epoch = 0
        self.start_index = 0

    def set_epoch(self, epoch: int, start_index: int = 0) -> None:
        """Select the epoch's order and skip the first `start_index` items of this rank's share."""
        if not 0 <= start_index <= self.share_size:
            raise ConfigError(f"start_index {start_index} outside [0, {self.share_size}]")
        self.epoch, self.start_index = epoch, start_index

    def state_dict(self) -> dict[str, int]:
        """Epoch and position, for checkpoints (set `start_index` to the consumed count first)."""
        return {"epoch": self.epoch, "start_index": self.start_index}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Restore `state_dict()`."""
        self.set_epoch(int(state["epoch"]), int(state["start_index"]))

    @property
    def share_size(self) -> int:
        """Items per rank per epoch (padded by repetition unless `drop_last`)."""
        if self.drop_last:
            return self.total // self.world_size
        return -(-self.total // self.world_size)

    def _global_order(self, generator: torch.Generator) -> list[int]:
        raise NotImplementedError

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        order = self._global_order(generator)
        needed = self.share_size * self.world_size
        while len(order) < needed:
            order += order[: needed - len(order)]
        share = order[self.rank : needed : self.world_size]
        return iter(share[self.start_index :])

    def __len__(self) -> int:
        return self.share_size - self.start_index


class ResumableSampler(_EpochSampler):
    """Distributed (optionally shuffled) sampler over `num_items` with mid-epoch resume."""

    def __init__(
        self,
        num_items: int,
        *,
        shuffle: bool = True,
        seed: int = 0,
        rank: int | None = None,
        world_size: int | None = None,
        drop_last: bool = False,
    ) -> None:
        super().__init__(num_items, seed=seed, rank=rank, world_size=world_size, drop_last=drop_last)
        self.shuffle = shuffle

    def _global_order(self, generator: torch.Generator) -> list[int]:
        if self.shuffle:
            return torch.randperm(self.total, generator=generator).tolist()
        return list(range(self.total))


class WeightedDistributedSampler(_EpochSampler):
    """Weighted draws (e.g. `psla_weights`) shared out across ranks, resumable mid-epoch.

    Each epoch draws `num_samples` indices (default: one per item) from the weights,
    identically on every rank, and each rank keeps its own stride of them.
    """

    def __init__(
        self,
        weights: Sequence[float] | torch.Tensor,
        num_samples: int | None = None,
        *,
        replacement: bool = True,
        seed: int = 0,
        rank: int | None = None,
        world_size: int | None = None,
        drop_last: bool = False,
    ) -> None:
        self.weights = torch.as_tensor(weights, dtype=torch.float64)
        if self.weights.dim() != 1 or bool((self.weights < 0).any()) or self.weights.sum() <= 0:
            raise ConfigError("sampling weights must be a 1-D list of non-negative numbers, not all 0")
        num_samples = len(self.weights) if num_samples is None else num_samples
        if not replacement and num_samples > int((self.weights > 0).sum()):
            raise ConfigError("num_samples exceeds the clips with weight > 0 (use replacement)")
        super().__init__(num_samples, seed=seed, rank=rank, world_size=world_size, drop_last=drop_last)
        self.replacement = replacement

    def _global_order(self, generator: torch.Generator) -> list[int]:
        drawn = torch.multinomial(self.weights, self.total, self.replacement, generator=generator)
        return drawn.tolist()
