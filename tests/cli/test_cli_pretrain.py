"""`ssamba pretrain` command line: options, config errors reported without tracebacks, recipes load."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from ssamba.cli.main import main
from ssamba.dataclass_io import load_config
from ssamba.training.config import PretrainConfig

RECIPES = sorted((Path(__file__).resolve().parents[2] / "recipes" / "pretrain").glob("*.yaml"))


@pytest.fixture(scope="module")
def clip_manifests_cli(fsdd_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(train, valid) manifests of four FSDD clips each."""
    folder = tmp_path_factory.mktemp("cli_manifests")
    wavs = sorted((fsdd_dir / "recordings").glob("*.wav"))[::300]
    paths = []
    for name, chosen in (("train", wavs[:4]), ("valid", wavs[4:8])):
        path = folder / f"{name}.jsonl"
        path.write_text("".join(json.dumps({"audio": str(w)}) + "\n" for w in chosen))
        paths.append(path)
    return paths[0], paths[1]


def test_help_lists_the_options(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["pretrain", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for option in ("--config", "--set", "--resume", "--out", "torchrun"):
        assert option in text


def _recipe(tmp_path: Path, **changes) -> Path:
    data = {
        "model": "ssast_tiny",
        "model_overrides": {"depth": 2},
        "data": {"train_manifests": [str(tmp_path / "none.jsonl")], "features": {"target_length": 64}},
    }
    data.update(changes)
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["train.bogus=1"], "unknown key(s) train.bogus"),
        (["train.batch_size=0"], "train.batch_size must be >= 1"),
        (["schedule.kind=linear"], "schedule.kind"),
        (["optim.lr=-1"], "optim.lr must be positive"),
    ],
)
def test_config_errors_exit_1_with_the_key(tmp_path, capsys, overrides, message):
    args = ["pretrain", "--config", str(_recipe(tmp_path)), "--out", str(tmp_path / "run")]
    for item in overrides:
        args += ["--set", item]
    assert main(args) == 1
    assert message in capsys.readouterr().err


def test_impossible_masked_count_and_fp16_on_cpu(clip_manifests_cli, tmp_path, capsys):
    train, valid = clip_manifests_cli
    recipe = _recipe(tmp_path, data={"train_manifests": [str(train)], "features": {"target_length": 64}})
    base = ["pretrain", "--config", str(recipe), "--out", str(tmp_path / "run")]
    assert main([*base, "--set", "mspm.num_masked=31"]) == 1
    assert "mspm.num_masked=31: the model has 32 patches; use 1..30" in capsys.readouterr().err
    fp16 = [
        "--set",
        "mspm.num_masked=16",
        "--set",
        "train.batch_size=4",
        "--set",
        "train.precision=fp16",
        "--set",
        "train.device=cpu",
    ]
    assert main([*base, *fp16]) == 1
    assert "fp16 needs a CUDA device" in capsys.readouterr().err


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_recipes_load(path):
    config = load_config(PretrainConfig, path)
    assert config.optim.betas == (0.95, 0.999)
    if path.stem != "fsdd_cpu":
        assert config.mspm.valid_num_masked == 400 and config.schedule.warmup_steps == 1000
        assert config.model == path.stem


def test_official_recipe_numbers():
    by_name = {p.stem: load_config(PretrainConfig, p) for p in RECIPES}
    assert (by_name["ssast_base"].train.batch_size, by_name["ssast_base"].optim.lr) == (24, 1e-4)
    assert (by_name["ssast_tiny"].train.batch_size, by_name["ssast_tiny"].optim.lr) == (120, 5e-4)
    assert by_name["ssast_tiny"].train.val_every == 800
    assert (by_name["ssamba_base"].train.batch_size, by_name["ssamba_base"].mspm.num_masked) == (64, 300)
