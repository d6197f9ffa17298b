"""Process-group setup for torchrun (env:// rendezvous) and small collective helpers.

Distributed mode is detected by the `RANK` variable torchrun sets; the backend is NCCL on CUDA and
gloo on CPU. Without it every helper is a no-op for a single process.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ssamba.errors import ConfigError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistContext:
    """Where this process runs: rank, local rank, world size and device."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def distributed(self) -> bool:
        return self.world_size > 1 or dist.is_initialized()

    @property
    def is_main(self) -> bool:
        """True on rank 0, the process that logs and writes files."""
        return self.rank == 0


def pick_device(name: str, local_rank: int = 0) -> torch.device:
    """`auto` = this rank's CUDA device when available, else CPU; otherwise the named device."""
    if name == "auto":
        return torch.device("cuda", local_rank) if torch.cuda.is_available() else torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} requested but CUDA is not available")
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", local_rank)
    return device


def env_rank() -> int:
    """This process's rank as torchrun sets it (0 without torchrun), known before `setup`."""
    return int(os.environ.get("RANK", "0"))


def setup(device_name: str = "auto") -> DistContext:
    """Join the torchrun process group when `RANK` is set, else a single-process context."""
    if "RANK" not in os.environ:
        return DistContext(device=pick_device(device_name))
    rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    device = pick_device(device_name, local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo", init_method="env://")
    logger.info("rank %d/%d on %s", rank, world_size, device)
    return DistContext(rank=rank, local_rank=local_rank, world_size=world_size, device=device)


def teardown() -> None:
    """Leave the process group (if any)."""
    if dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    """Wait for every rank (no-op in a single process)."""
    if dist.is_initialized():
        dist.barrier()


def all_reduce_sum(values: list[float], device: torch.device) -> list[float]:
    """Element-wise sum of a list of numbers over ranks."""
    if not dist.is_initialized():
        return list(values)
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return tensor.tolist()


def any_rank(flag: bool, device: torch.device) -> bool:
    """True when `flag` is set on at least one rank (e.g. a stop request)."""
    return all_reduce_sum([float(flag)], device)[0] > 0


def gather_strings(value: str) -> list[str]:
    """Every rank's string, in rank order."""
    if not dist.is_initialized():
        return [value]
    values: list[str | None] = [None] * dist.get_world_size()
    dist.all_gather_object(values, value)
    return [str(v) for v in values]
