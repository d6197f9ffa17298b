"""DDP through torchrun on CPU (gloo): two ranks train in lockstep and end with identical weights."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

import ssamba
from ssamba.training.checkpoint import load_checkpoint, weights_digest
from ssamba.training.tracker import read_log


@pytest.mark.parametrize("grad_accum", [2])
def test_torchrun_two_ranks_stay_in_sync(write_recipe, tmp_path, grad_accum):
    recipe = write_recipe(tmp_path, grad_accum=grad_accum, max_steps=3, ckpt_every=3, val_every=3)
    out = tmp_path / "run"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]
    command += ["-m", "ssamba.cli.main", "pretrain", "--config", str(recipe), "--out", str(out)]
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE")}
    env["OMP_NUM_THREADS"] = "1"
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    end = [row for row in read_log(out / "log.jsonl") if row.get("event") == "end"]
    assert len(end) == 1, "only rank 0 writes the log"
    digests = end[0]["rank_digests"]
    assert len(digests) == 2 and digests[0] == digests[1]

    state = load_checkpoint(out / "checkpoints" / "last.pt")
    assert state["world_size"] == 2 and state["step"] == 3
    # 12 clips, 6 per rank; micro-batch 4 / (2 ranks x 2) = 1, so 3 steps consume 6 items: one epoch
    assert state["data"] == {"epoch": 0, "index": 6}
    torch.manual_seed(0)  # the recipe's seed: the initial weights of every rank
    model = ssamba.create_model("ssast_tiny", task="pretrain", depth=2, drop_path_rate=0.1, input_tdim=64)
    assert weights_digest(model) != digests[0], "training changed the weights"
    model.load_state_dict(state["model"])
    assert weights_digest(model) == digests[0]
