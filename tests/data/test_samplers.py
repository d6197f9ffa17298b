"""Distributed, resumable and weighted samplers."""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from ssamba.data import ResumableSampler, WeightedDistributedSampler
from ssamba.data.samplers import rank_and_world
from ssamba.errors import ConfigError


def test_ranks_partition_a_shuffled_epoch() -> None:
    shares = [list(ResumableSampler(10, seed=1, rank=r, world_size=3)) for r in range(3)]
    assert [len(s) for s in shares] == [4, 4, 4]
    flat = [i for share in shares for i in share]
    assert set(flat) == set(range(10)) and len(flat) == 12  # padded by repetition
    dropped = [list(ResumableSampler(10, seed=1, rank=r, world_size=3, drop_last=True)) for r in range(3)]
    assert sorted(i for s in dropped for i in s) == sorted(set(i for s in dropped for i in s))
    assert sum(len(s) for s in dropped) == 9


def test_epochs_reshuffle_and_unshuffled_is_in_order() -> None:
    sampler = ResumableSampler(50, seed=0, rank=0, world_size=1)
    first = list(sampler)
    sampler.set_epoch(1)
    assert sorted(list(sampler)) == list(range(50)) and list(sampler) != first
    sampler.set_epoch(0)
    assert list(sampler) == first
    assert list(ResumableSampler(5, shuffle=False, rank=1, world_size=2)) == [1, 3, 0]


def test_resume_mid_epoch_continues_exactly() -> None:
    full = ResumableSampler(23, seed=4, rank=1, world_size=2)
    full.set_epoch(3)
    order = list(full)
    resumed = ResumableSampler(23, seed=4, rank=1, world_size=2)
    resumed.load_state_dict({"epoch": 3, "start_index": 5})
    assert list(resumed) == order[5:] and len(resumed) == len(order) - 5
    assert resumed.state_dict() == {"epoch": 3, "start_index": 5}
    with pytest.raises(ConfigError, match="start_index"):
        resumed.set_epoch(3, start_index=100)


def test_weighted_sampler_follows_weights_and_splits_one_draw() -> None:
    weights = torch.tensor([1.0, 0.0, 3.0, 6.0])
    single = WeightedDistributedSampler(weights, 4000, seed=2, rank=0, world_size=1)
    counts = Counter(single)
    assert counts[1] == 0
    assert abs(counts[3] / 4000 - 0.6) < 0.03 and abs(counts[0] / 4000 - 0.1) < 0.02
    ranks = [list(WeightedDistributedSampler(weights, 4000, seed=2, rank=r, world_size=2)) for r in range(2)]
    interleaved = [x for pair in zip(*ranks, strict=True) for x in pair]
    assert interleaved == list(single)
    resumed = WeightedDistributedSampler(weights, 4000, seed=2, rank=1, world_size=2)
    resumed.set_epoch(0, start_index=7)
    assert list(resumed) == ranks[1][7:]


def test_rank_detection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RANK", "2")
    monkeypatch.setenv("WORLD_SIZE", "4")
    assert rank_and_world() == (2, 4)
    assert rank_and_world(rank=0) == (0, 4)
    assert rank_and_world(1, 2) == (1, 2)
    with pytest.raises(ConfigError, match="rank 5"):
        rank_and_world(5, 2)
    with pytest.raises(ConfigError, match="weights"):
        WeightedDistributedSampler([0.0, 0.0])
