"""In-process pretraining on the non-default paths: bf16 autocast, accumulation, single pass, cosine."""

from __future__ import annotations

import math

import torch

import ssamba
from ssamba.dataclass_io import load_config
from ssamba.training.checkpoint import load_checkpoint
from ssamba.training.config import PretrainConfig
from ssamba.training.pretrain import run_pretrain
from ssamba.training.tracker import read_log


def test_bf16_accumulated_single_pass_run(write_recipe, tmp_path):
    recipe = write_recipe(tmp_path, max_steps=2, grad_accum=2, precision="bf16", val_every=2, ckpt_every=2)
    overrides = ["mspm.single_pass=true", "schedule.kind=cosine", "schedule.warmup_steps=0"]
    config = load_config(PretrainConfig, recipe, overrides)
    result = run_pretrain(config, tmp_path / "run")
    assert result.step == 2 and result.signum is None
    rows = read_log(tmp_path / "run" / "log.jsonl")
    train = [row for row in rows if row["kind"] == "train"]
    assert [row["step"] for row in train] == [1, 2]
    assert all(math.isfinite(row["loss"]) and 0 <= row["acc"] <= 1 for row in train)
    assert train[0]["lr"] == 1e-3, "cosine without warm-up starts at the peak"
    val = [row for row in rows if row["kind"] == "val"]
    assert len(val) == 1 and val[0]["clips"] == 4
    final = ssamba.from_pretrained(tmp_path / "run" / "final")
    saved = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["model"]
    for name, tensor in final.state_dict().items():
        assert torch.equal(tensor, saved[name]), name
    assert final.encoder.pos_embed.dtype == torch.float32, "parameters stay fp32 under autocast"
