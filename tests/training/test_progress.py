"""The training progress bar: shown on a terminal with the running loss and ETA, silent otherwise."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from ssamba.training.config import LoopConfig, OptimConfig, ScheduleConfig, check_resume_config
from ssamba.training.distributed import DistContext
from ssamba.training.engine import Trainer, TrainTask
from ssamba.training.schedule import LRSchedule

LOSSES = (1.0, 2.0, 3.0, 4.0)  # the loss of steps 1-4: each batch's value


class ValueStream:
    """Batches holding 1, 2, 3, 4: the resumable-stream interface the Trainer needs."""

    def __iter__(self):
        return iter(torch.tensor([value]) for value in LOSSES)

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Nothing to restore."""


class BatchValueLoss(nn.Module):
    """loss = the batch's value (plus 0 x a weight, so that there is a gradient)."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, batch: torch.Tensor, seed: int) -> dict[str, torch.Tensor]:
        return {"loss": batch.sum() + 0.0 * self.weight.sum()}


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _train(out: Path, rank: int = 0) -> None:
    objective = BatchValueLoss()
    loop = LoopConfig(batch_size=1, max_steps=4, log_every=2, tensorboard=False, plot=False)
    task = TrainTask(
        model=objective,
        objective=objective,
        stream=ValueStream(),
        config=loop,
        check_resume=check_resume_config,
        name="demo run",
    )
    optimizer = torch.optim.Adam(objective.parameters())
    schedule = LRSchedule(ScheduleConfig(), OptimConfig().lr, loop.max_steps)
    Trainer(task, loop, optimizer, schedule, out, DistContext(rank=rank)).run()


def test_bar_on_a_terminal_shows_the_run_steps_eta_and_running_loss(tmp_path, monkeypatch):
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    _train(tmp_path)
    last = terminal.getvalue().split("\r")[-1]
    assert last.startswith("demo run: 100%") and "4/4" in last, last
    assert "<00:00" in last  # elapsed<remaining: the ETA
    # the last logging window holds steps 3 and 4: mean loss (3 + 4) / 2
    assert f"loss={sum(LOSSES[2:]) / 2:g}" in last, last


@pytest.mark.parametrize(("tty", "rank"), [(False, 0), (True, 1)])
def test_no_bar_off_a_terminal_or_on_other_ranks(tmp_path, monkeypatch, tty, rank):
    stream = Terminal() if tty else io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    _train(tmp_path, rank=rank)
    assert stream.getvalue() == ""
