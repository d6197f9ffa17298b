"""Fine-tuning: official MultiStepLR arithmetic, weight averaging, initialisation, a tiny run on FSDD."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import save_file

from ssamba.dataclass_io import load_config
from ssamba.errors import CheckpointError, ConfigError
from ssamba.evaluation import load_classifier
from ssamba.models import AudioClassifier, create_model
from ssamba.training.config import LoopConfig
from ssamba.training.finetune import (
    average_state_dicts,
    finetune_optimizer,
    run_finetune,
)
from ssamba.training.finetune_config import FinetuneConfig, FinetuneLoop, FinetuneSchedule
from ssamba.training.init import init_classifier_from
from ssamba.training.schedule import EpochSchedule

FEATURES = {"target_length": 48, "mean": -3.0, "std": 5.0}


@pytest.mark.parametrize(("start", "step", "gamma"), [(10, 5, 0.5), (6, 1, 0.85), (5, 1, 0.85), (2, 3, 0.75)])
def test_multistep_matches_torch_scheduler_stepped_per_epoch(start: int, step: int, gamma: float) -> None:
    steps_per_epoch, epochs = 3, 25
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=1e-3)
    torch_schedule = torch.optim.lr_scheduler.MultiStepLR(optimizer, list(range(start, 1000, step)), gamma)
    ours = EpochSchedule(FinetuneSchedule(start=start, step=step, gamma=gamma), 1e-3, steps_per_epoch, 75)
    for epoch in range(1, epochs + 1):
        for step_in_epoch in range(steps_per_epoch):
            global_step = (epoch - 1) * steps_per_epoch + step_in_epoch
            assert ours.lr_at(global_step) == pytest.approx(optimizer.param_groups[0]["lr"], rel=1e-12)
        optimizer.step()
        torch_schedule.step()


def test_warmup_staircase_and_head_lr_multiplier() -> None:
    model = create_model("ssast_tiny", 3, depth=1, input_tdim=48, patch_stride=(16, 16))
    config = load_config(FinetuneConfig, None, ["data.manifest=x.jsonl", "head_lr=3", "optim.lr=0.001"])
    optimizer = finetune_optimizer(model, config)
    schedule = EpochSchedule(FinetuneSchedule(warmup_steps=100, warmup_interval=50), 1e-3, 10, 1000)
    assert schedule.apply(optimizer, 49) == 0.0
    assert schedule.apply(optimizer, 60) == pytest.approx(5e-4)
    head_params = {id(p) for p in model.head.parameters()}
    for group in optimizer.param_groups:
        is_head = all(id(p) in head_params for p in group["params"])
        assert group["lr"] == pytest.approx(5e-4 * (3.0 if is_head else 1.0))
    assert isinstance(optimizer, torch.optim.Adam)


@pytest.mark.parametrize("name", ["ssast_tiny", "ssamba_tiny"])
def test_layer_decay_scales_each_layer_from_the_top(name: str) -> None:
    model = create_model(name, 3, depth=4, input_tdim=48)
    overrides = ["data.manifest=x.jsonl", "layer_decay=0.5", "head_lr=2", "optim.lr=0.001"]
    optimizer = finetune_optimizer(model, load_config(FinetuneConfig, None, overrides))
    scale_of = {id(p): g["lr_scale"] for g in optimizer.param_groups for p in g["params"]}
    expected = {"pos_embed": 0.5**5, "patch_embed.proj.weight": 0.5**5, "norm_f.weight": 1.0}
    expected.update({f"{blocks}.{i}.": 0.5 ** (4 - i) for blocks in ("layers", "blocks") for i in range(4)})
    seen = 0
    for param_name, param in model.named_parameters():
        if param_name.startswith("head."):
            assert scale_of[id(param)] == 2.0
            continue
        local = param_name.removeprefix("encoder.")
        for prefix, scale in expected.items():
            if local.startswith(prefix):
                assert scale_of[id(param)] == pytest.approx(scale), param_name
                seen += 1
    assert seen >= 4 * 3 + 2
    assert len(scale_of) == sum(1 for _ in model.parameters())


def test_average_state_dicts_is_the_uniform_mean(tmp_path: Path) -> None:
    states = [{"w": torch.randn(3, 4), "n": torch.tensor([i])} for i in range(3)]
    paths = []
    for i, state in enumerate(states):
        paths.append(tmp_path / f"{i}.safetensors")
        save_file(state, str(paths[-1]))
    averaged = average_state_dicts(paths)
    assert torch.allclose(averaged["w"], (states[0]["w"] + states[1]["w"] + states[2]["w"]) / 3, atol=1e-7)
    assert averaged["n"].item() == 2


def test_init_from_pretraining_folder_copies_the_encoder(tmp_path: Path) -> None:
    torch.manual_seed(0)
    pre = create_model("ssast_tiny", task="pretrain", depth=2, input_tdim=48)
    pre.save_pretrained(tmp_path / "pre")
    same_grid = init_classifier_from(
        str(tmp_path / "pre"), "ssast_tiny", 5, input_tdim=48, overrides={"patch_stride": (16, 16)}
    )
    for key, value in pre.encoder.state_dict().items():
        assert torch.equal(same_grid.encoder.state_dict()[key], value), key
    finer = init_classifier_from(str(tmp_path / "pre"), "ssast_tiny", 5, input_tdim=48, pooling="both")
    assert finer.encoder.grid == (12, 4) and finer.num_features == 2 * 192
    assert torch.equal(finer.encoder.blocks[1].mlp.fc1.weight, pre.encoder.blocks[1].mlp.fc1.weight)
    with pytest.raises(CheckpointError):
        init_classifier_from(str(tmp_path / "missing"), "ssast_tiny", 5, input_tdim=48)


@pytest.mark.parametrize(
    ("saved", "recipe_model", "fix"),
    [("ssast_tiny", "ssamba_tiny", "ssast_tiny"), ("ssamba_small", "ssamba_tiny", "ssamba_small")],
)
def test_init_of_another_family_or_width_is_refused(tmp_path: Path, saved, recipe_model, fix) -> None:
    """An SSAST pretraining under an SSAMBA recipe must not silently fine-tune SSAST."""
    create_model(saved, task="pretrain", depth=2, input_tdim=48).save_pretrained(tmp_path / "pre")
    with pytest.raises(ConfigError) as error:
        init_classifier_from(str(tmp_path / "pre"), recipe_model, 5, input_tdim=48)
    message = str(error.value)
    family = saved.split("_")[0].upper()
    assert f"--init {tmp_path / 'pre'}: the checkpoint is a {family} model" in message
    assert f"recipe's model is {recipe_model} (SSAMBA" in message and f"--set model={fix}" in message


def test_finetune_cli_refuses_a_mismatched_init_naming_the_override(
    split_manifest: Path, tmp_path: Path, capsys
) -> None:
    from ssamba.cli.main import main

    create_model("ssast_tiny", task="pretrain", depth=1, input_tdim=48).save_pretrained(tmp_path / "pre")
    path = tmp_path / "ft.yaml"
    path.write_text(yaml.safe_dump(tiny_finetune_recipe(split_manifest, model="ssamba_tiny")))
    args = [
        "finetune",
        "--config",
        str(path),
        "--init",
        str(tmp_path / "pre"),
        "--out",
        str(tmp_path / "run"),
    ]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err.startswith("ssamba: error: --init ") and "--set model=ssast_tiny" in err
    assert "Traceback" not in err and not (tmp_path / "run" / "final").exists()


def test_wa_range_is_validated() -> None:
    with pytest.raises(ConfigError, match="wa_epochs"):
        load_config(FinetuneConfig, None, ["data.manifest=x", "wa_epochs=[2, 5]", "train.epochs=3"])


@pytest.fixture(scope="module")
def split_manifest(fsdd_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 train clips (digits 0-2), 6 test clips, from four speakers' recordings."""
    rows = []
    for digit in range(3):
        for take, split in ((5, "train"), (6, "train"), (7, "train"), (8, "train"), (0, "test"), (1, "test")):
            wav = fsdd_dir / "recordings" / f"{digit}_jackson_{take}.wav"
            rows.append({"audio": str(wav), "label": str(digit), "speaker": "jackson", "split": split})
    path = tmp_path_factory.mktemp("ft") / "fsdd_small.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def tiny_finetune_recipe(manifest: Path, **changes) -> dict:
    recipe = {
        "model": "ssast_tiny",
        "model_overrides": {"depth": 1, "patch_stride": [16, 16]},
        "data": {"manifest": str(manifest), "features": FEATURES, "test_split": ["test"]},
        "augment": {"freqm": 8, "timem": 8},
        "optim": {"lr": 1e-3},
        "schedule": {"kind": "multistep", "start": 1, "step": 1, "gamma": 0.5},
        "train": {"epochs": 2, "batch_size": 6, "progress": False, "plot": False},
        **changes,
    }
    return recipe


def test_tiny_finetune_run_with_weight_average(split_manifest: Path, tmp_path: Path, caplog) -> None:
    """...and without a validation split: no validation logged; plots titled with the run."""
    from PIL import Image

    recipe = tiny_finetune_recipe(split_manifest, wa_epochs=[1, 2])
    recipe["train"]["plot"] = True
    path = tmp_path / "ft.yaml"
    path.write_text(yaml.safe_dump(recipe))
    config = load_config(FinetuneConfig, path)
    with caplog.at_level("INFO"):
        summary = run_finetune(config, tmp_path / "run").summary
    assert not [r for r in caplog.records if "validation" in r.getMessage()]
    rows = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert {row["kind"] for row in rows} == {"event", "train"}
    for figure in ("curves.png", "confusion.png"):
        title = Image.open(tmp_path / "run" / figure).text["Title"]
        assert title.startswith("fine-tune (scratch)") and title.endswith(f"{tmp_path.name}/run"), title
    assert summary["selection"] == "weight_average_epochs_1_2" and summary["train_clips"] == 12
    assert 0.0 <= summary["test"]["accuracy"] <= 1.0 and summary["test"]["num_clips"] == 6
    epochs = [tmp_path / "run" / "epochs" / f"epoch_{e:03d}.safetensors" for e in (1, 2)]
    model, features, labels = load_classifier(tmp_path / "run" / "final")
    expected = average_state_dicts(epochs)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in expected.items())
    assert labels.labels == ("0", "1", "2") and features.target_length == 48
    metrics = json.loads((tmp_path / "run" / "test_metrics.json").read_text())
    assert sum(map(sum, metrics["confusion"])) == 6


def test_linear_probe_keeps_the_encoder(split_manifest: Path, tmp_path: Path) -> None:
    torch.manual_seed(0)
    source = create_model("ssast_tiny", 0, depth=1, input_tdim=48, patch_stride=(16, 16))
    source.save_pretrained(tmp_path / "features_only")
    recipe = tiny_finetune_recipe(
        split_manifest,
        mode="linear",
        init=str(tmp_path / "features_only"),
        data={
            "manifest": str(split_manifest),
            "features": FEATURES,
            "valid_split": ["test"],
        },
    )
    config = load_config(FinetuneConfig, None, [f"{k}={json.dumps(v)}" for k, v in recipe.items()])
    summary = run_finetune(config, tmp_path / "probe").summary
    model, _, _ = load_classifier(tmp_path / "probe" / "final")
    assert isinstance(model, AudioClassifier) and summary["selection"] == "linear_probe"
    for key, value in source.encoder.state_dict().items():
        assert torch.equal(model.encoder.state_dict()[key], value), key


@pytest.mark.slow
def test_killed_and_resumed_finetune_matches_uninterrupted(split_manifest: Path, tmp_path: Path, cli) -> None:
    recipe = tiny_finetune_recipe(split_manifest, wa_epochs=[1, 2])
    recipe["augment"]["noise"] = True
    path = tmp_path / "ft.yaml"
    path.write_text(yaml.safe_dump(recipe))
    args = ["finetune", "--config", str(path), "--out"]
    assert cli(*args, str(tmp_path / "ref")).returncode == 0
    killed = cli(*args, str(tmp_path / "run"), env={"SSAMBA_FAULT": "checkpoint_done@2"})
    assert killed.returncode != 0 and not (tmp_path / "run" / "final").exists()
    resumed = cli(*args, str(tmp_path / "run"), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    reference, _, _ = load_classifier(tmp_path / "ref" / "final")
    model, _, _ = load_classifier(tmp_path / "run" / "final")
    for key, value in reference.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key


def test_init_from_official_checkpoints(shared_dir: Path) -> None:
    official = shared_dir / "fixtures" / "official"
    pre = init_classifier_from(str(official / "ssast_official_pretrain.pth"), "ssast_tiny", 4, input_tdim=128)
    assert pre.num_classes == 4 and pre.encoder.grid == (12, 12)
    tuned = init_classifier_from(
        str(official / "ssast_official_finetuned.pth"),
        "ssast_tiny",
        7,
        input_tdim=128,
        overrides={"drop_path_rate": 0.2},
    )
    assert tuned.num_classes == 7 and tuned.config.drop_path_rate == 0.2
    reference = torch.load(official / "ssast_official_finetuned.pth", map_location="cpu", weights_only=True)
    block = next(k for k in reference if k.endswith("blocks.0.attn.qkv.weight"))
    assert torch.equal(tuned.encoder.blocks[0].attn.qkv.weight, reference[block])


def test_stop_signal_returns_a_resume_hint_and_128_plus_signum(
    split_manifest: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    """The engine's graceful stop (tested with a real SIGTERM in test_signals) reaches the CLI."""
    from ssamba.cli.main import main
    from ssamba.training import finetune as finetune_module
    from ssamba.training.engine import TrainResult

    monkeypatch.setattr(
        finetune_module.Trainer, "run", lambda self, resume=False: TrainResult(step=3, signum=15)
    )
    path = tmp_path / "ft.yaml"
    path.write_text(yaml.safe_dump(tiny_finetune_recipe(split_manifest)))
    assert main(["finetune", "--config", str(path), "--out", str(tmp_path / "run")]) == 128 + 15
    assert f"stopped at step 3; continue with: --resume --out {tmp_path / 'run'}" in capsys.readouterr().out
    assert not (tmp_path / "run" / "final").exists() and not (tmp_path / "run" / "results.json").exists()


def test_balanced_sampler_draws_by_psla_weights(split_manifest: Path, tmp_path: Path, monkeypatch) -> None:
    from ssamba.data.samplers import WeightedDistributedSampler
    from ssamba.training import finetune as finetune_module
    from ssamba.training.batches import BatchStream

    stream = BatchStream(
        list(range(4)), 2, seed=0, rank=0, world_size=1, weights=torch.tensor([0.0, 0, 1, 3])
    )
    assert isinstance(stream.sampler, WeightedDistributedSampler)
    stream.sampler.set_epoch(0)
    drawn = list(stream.sampler)
    assert len(drawn) == 4 and set(drawn) <= {2, 3}
    with pytest.raises(ConfigError, match="3 sampling weights for 4"):
        BatchStream(list(range(4)), 2, seed=0, rank=0, world_size=1, weights=torch.ones(3))
    weighed = []
    psla = finetune_module.psla_weights
    monkeypatch.setattr(
        finetune_module, "psla_weights", lambda manifest: weighed.append(manifest) or psla(manifest)
    )
    recipe = tiny_finetune_recipe(split_manifest)
    recipe["data"]["sampler"] = "balanced"
    recipe["train"]["epochs"] = 1
    path = tmp_path / "ft.yaml"
    path.write_text(yaml.safe_dump(recipe))
    summary = run_finetune(load_config(FinetuneConfig, path), tmp_path / "run").summary
    assert len(weighed) == 1 and len(weighed[0]) == summary["train_clips"] == 12


def test_finetune_loop_is_a_step_loop_of_whole_epochs() -> None:
    """The shared `train` fields carry over; validation and checkpoints fall on epoch ends."""
    section = FinetuneLoop(epochs=3, batch_size=4, seed=7, log_every=50, precision="bf16", tensorboard=False)
    loop = section.steps(5)
    assert isinstance(loop, LoopConfig)
    assert (loop.max_steps, loop.val_every, loop.ckpt_every, loop.log_every) == (15, 5, 5, 5)
    assert (loop.batch_size, loop.seed, loop.precision, loop.tensorboard, loop.grad_accum) == (
        4,
        7,
        "bf16",
        False,
        1,
    )
    with pytest.raises(ConfigError, match="train.epochs must be >= 1"):
        FinetuneLoop(epochs=0)
