"""The resumable batch stream: restoring its position replays exactly the same batches."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch.utils.data import Dataset

from ssamba.errors import ConfigError
from ssamba.training.batches import BatchStream


class EpochItems(Dataset):
    """Item i of epoch e is (i, e): shows which epoch's randomness the stream selected."""

    def __init__(self, size: int) -> None:
        self.size, self.epoch = size, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> torch.Tensor:
        return torch.tensor([index, self.epoch])


def _stream(rank: int = 0, world_size: int = 1) -> BatchStream:
    return BatchStream(EpochItems(10), 3, seed=4, rank=rank, world_size=world_size)


def test_epochs_are_shuffled_permutations_without_partial_batches():
    batches = list(itertools.islice(iter(_stream()), 6))  # 10 items -> 3 full batches per epoch
    for epoch in (0, 1):
        items = torch.cat(batches[3 * epoch : 3 * epoch + 3])
        assert items[:, 1].tolist() == [epoch] * 9
        assert len(set(items[:, 0].tolist())) == 9
    assert torch.cat(batches[:3])[:, 0].tolist() != torch.cat(batches[3:])[:, 0].tolist()


@pytest.mark.parametrize("consumed", [0, 2, 3, 5])
def test_restored_position_continues_identically(consumed):
    reference = list(itertools.islice(iter(_stream()), 8))
    first = _stream()
    iterator = iter(first)
    for _ in range(consumed):
        next(iterator)
    restored = _stream()
    restored.load_state_dict(first.state_dict())
    replay = list(itertools.islice(iter(restored), 8 - consumed))
    for expected, actual in zip(reference[consumed:], replay, strict=True):
        assert torch.equal(expected, actual)


def test_ranks_take_disjoint_shares():
    shares = [torch.cat(list(itertools.islice(iter(_stream(r, 2)), 1)))[:, 0].tolist() for r in (0, 1)]
    assert not set(shares[0]) & set(shares[1])


def test_too_little_data_for_one_batch():
    with pytest.raises(ConfigError, match="cannot fill one micro-batch"):
        BatchStream(EpochItems(4), 3, seed=0, rank=0, world_size=2)
