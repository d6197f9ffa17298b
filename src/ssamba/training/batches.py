"""An endless, resumable stream of micro-batches over epochs of a map-style dataset.

The position is (epoch, items of this rank's share consumed in that epoch); with an index-seeded
dataset (`set_epoch`) and `ResumableSampler`, restoring it replays exactly the same batches.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader

from ssamba.data import ResumableSampler, SizedDataset, WeightedDistributedSampler
from ssamba.errors import ConfigError
from ssamba.training.signals import detach_worker, stop_signals_blocked


class BatchStream:
    """Yields micro-batches forever (shuffled per epoch, partial batches dropped), rank's share only.

    With `weights`, each epoch draws as many clips as the dataset holds from those weights (with
    replacement) instead of shuffling every clip once.
    """

    def __init__(
        self,
        dataset: SizedDataset,
        micro_batch: int,
        *,
        seed: int,
        rank: int,
        world_size: int,
        num_workers: int = 0,
        weights: torch.Tensor | None = None,
    ) -> None:
        self.dataset = dataset
        self.micro_batch = micro_batch
        self.num_workers = num_workers
        self.sampler: ResumableSampler | WeightedDistributedSampler
        if weights is None:
            self.sampler = ResumableSampler(
                len(dataset), shuffle=True, seed=seed, rank=rank, world_size=world_size
            )
        else:
            if len(weights) != len(dataset):
                raise ConfigError(f"{len(weights)} sampling weights for {len(dataset)} training clips")
            self.sampler = WeightedDistributedSampler(weights, seed=seed, rank=rank, world_size=world_size)
        if self.sampler.share_size < micro_batch:
            raise ConfigError(
                f"{len(dataset)} training clips over {world_size} rank(s) cannot fill one micro-batch of "
                f"{micro_batch}; lower train.batch_size or add data"
            )
        self.epoch = 0
        self.index = 0

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "index": self.index}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self.index = int(state["epoch"]), int(state["index"])

    def __iter__(self) -> Iterator[Any]:
        while True:
            self.sampler.set_epoch(self.epoch, self.index)
            if hasattr(self.dataset, "set_epoch"):
                self.dataset.set_epoch(self.epoch)
            loader = DataLoader(
                self.dataset,
                batch_size=self.micro_batch,
                sampler=self.sampler,
                drop_last=True,
                num_workers=self.num_workers,
                worker_init_fn=detach_worker,
            )
            with stop_signals_blocked():  # the workers fork now; group signals must reach the main process
                batches = iter(loader)
            for batch in batches:
                self.index += self.micro_batch
                yield batch
            self.epoch, self.index = self.epoch + 1, 0
