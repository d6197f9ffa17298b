"""Training stopped by non-finite losses names only files that exist and gives advice that can work
(not `--resume`, which repeats the same steps)."""

from __future__ import annotations

import json

import torch
import yaml

import ssamba


def test_init_model_giving_non_finite_losses_is_named_and_no_missing_checkpoint(
    clip_manifests, cli_error, tmp_path
):
    rows = [json.loads(line) for line in clip_manifests[0].read_text().splitlines()]
    manifest = tmp_path / "splits.jsonl"
    manifest.write_text("".join(json.dumps({**row, "split": "train"}) + "\n" for row in rows))
    classes = len({row["label"] for row in rows})
    torch.manual_seed(0)
    model = ssamba.create_model("ssast_tiny", classes, depth=1, input_tdim=48, patch_stride=(16, 16))
    with torch.no_grad():
        for weight in model.head.parameters():  # finite, but the logits overflow: NaN loss from step 1
            weight.mul_(1e38)
    model.save_pretrained(tmp_path / "huge")
    recipe = {
        "model": "ssast_tiny",
        "model_overrides": {"depth": 1, "patch_stride": [16, 16]},
        "data": {
            "manifest": str(manifest),
            "features": {"target_length": 48, "mean": -3.0, "std": 5.0},
            "test_split": [],
        },
        "train": {"epochs": 1, "batch_size": 2, "progress": False, "plot": False},  # checkpoint at step 6
    }
    (tmp_path / "ft.yaml").write_text(yaml.safe_dump(recipe))
    out = tmp_path / "run"
    args = ["finetune", "--config", str(tmp_path / "ft.yaml"), "--init", str(tmp_path / "huge")]
    err = cli_error([*args, "--out", str(out)])
    assert "5 consecutive steps had non-finite loss or gradients (steps 1-5)" in err
    assert f"check the initial weights (init: {tmp_path / 'huge'})" in err
    assert "No checkpoint was written" in err and not (out / "checkpoints" / "last.pt").exists()
    assert "last.pt" not in err.replace("checkpoints/last.pt does not exist", "")
    assert "--resume" not in err
