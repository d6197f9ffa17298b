"""Issue 17.4: NaN/Inf never passes silently: weights with NaN/Inf are refused when a model is loaded
(naming the file and the tensor), optimiser and schedule numbers are range-checked when the config is
read, and float audio so loud that the features overflow is an `AudioError` naming the file."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from safetensors.torch import load_file, save_file
from tiny_runs import save_classifier, write_clips, write_recipe

from ssamba.errors import AudioError, CheckpointError, ConfigError

BAD_TENSOR = "encoder.blocks.0.attn.qkv.weight"


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """A classifier, the same with one NaN weight, a manifest, a clip and a fine-tuning recipe."""
    folder = tmp_path_factory.mktemp("nonfinite")
    manifest = write_clips(folder / "data")
    good = save_classifier(folder / "good")
    bad = Path(shutil.copytree(good, folder / "nan_model"))
    state = load_file(bad / "model.safetensors")
    state[BAD_TENSOR][3, 5] = float("nan")
    save_file(state, str(bad / "model.safetensors"), metadata={"format": "pt"})
    return {
        "good": good,
        "bad": bad,
        "manifest": manifest,
        "clip": manifest.parent / "clip0.wav",
        "recipe": write_recipe(folder, manifest),
    }


def command(name: str, files: dict[str, Path], model: Path, out: Path) -> list[str]:
    return {
        "predict": ["predict", "--model", str(model), str(files["clip"])],
        "evaluate": [
            "evaluate",
            "--model",
            str(model),
            "--manifest",
            str(files["manifest"]),
            "--out",
            str(out),
        ],
        "embed": ["embed", str(files["clip"]), "--model", str(model), "--out", str(out)],
        "finetune": ["finetune", "--config", str(files["recipe"]), "--init", str(model), "--out", str(out)],
    }[name]


@pytest.mark.parametrize("name", ["predict", "evaluate", "embed", "finetune"])
def test_nan_weights_are_refused_naming_file_and_tensor(files, cli_error, tmp_path, name):
    out = tmp_path / "out"
    err = cli_error(command(name, files, files["bad"], out))
    assert str(files["bad"] / "model.safetensors") in err and BAD_TENSOR in err and "NaN/Inf" in err
    assert not (out / "final").exists() and not (out / "index.json").exists()
    cli_error(command(name, files, files["bad"], out), debug=True, raises=CheckpointError)


def test_inf_in_an_official_checkpoint_is_refused(files, cli_error, tmp_path, fixtures_dir):
    state = torch.load(
        fixtures_dir / "official" / "ssast_official_finetuned.pth", map_location="cpu", weights_only=True
    )
    key = next(k for k in state if k.endswith("mlp_head.1.weight"))
    state[key][0, 0] = float("inf")
    path = tmp_path / "inf.pth"
    torch.save(state, path)
    err = cli_error(["embed", str(files["clip"]), "--model", str(path), "--out", str(tmp_path / "out")])
    assert str(path) in err and "head.fc.weight" in err


def test_finite_weights_still_load(files, tmp_path):
    from ssamba.cli.main import main

    assert main(command("embed", files, files["good"], tmp_path / "out")) == 0
    assert np.isfinite(np.load(tmp_path / "out" / "clip0.embeddings.npy")).all()


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("optim.lr=.inf", "optim.lr"),
        ("optim.lr=inf", "optim.lr"),
        ("optim.lr=.nan", "optim.lr"),
        ("optim.lr=-1e-3", "optim.lr"),
        ("optim.eps=0", "optim.eps"),
        ("optim.weight_decay=-1e-4", "optim.weight_decay"),
        ("optim.weight_decay=.inf", "optim.weight_decay"),
        ("optim.grad_clip=.inf", "optim.grad_clip"),
        ("optim.betas=[0.9, 1.0]", "optim.betas"),
        ("optim.betas=[-0.1, 0.999]", "optim.betas"),
        ("schedule.min_lr=-1", "schedule.min_lr"),
        ("schedule.warmup_steps=-5", "schedule"),
        ("head_lr=.inf", "head_lr"),
        ("label_smoothing=.nan", "label_smoothing"),
        ("augment.snr_db=[5, .inf]", "augment.snr_db"),
        ("train.eval_batch_size=0", "train.eval_batch_size"),
        ("train.num_workers=-1", "train.num_workers"),
    ],
)
def test_impossible_training_numbers_fail_at_validation(files, cli_error, tmp_path, override, key):
    out = tmp_path / "out"
    err = cli_error(["finetune", "--config", str(files["recipe"]), "--set", override, "--out", str(out)])
    assert key in err and str(files["recipe"]) in err
    assert not out.exists()  # refused before anything ran


@pytest.mark.parametrize("override", ["schedule.threshold=.nan", "schedule.min_lr=.inf", "mspm.num_masked=0"])
def test_impossible_pretraining_numbers_fail_at_validation(files, cli_error, tmp_path, override):
    recipe = tmp_path / "pretrain.yaml"
    recipe.write_text(f"model: ssast_tiny\ndata: {{train_manifests: ['{files['manifest']}']}}\n")
    err = cli_error(["pretrain", "--config", str(recipe), "--set", override, "--out", str(tmp_path / "out")])
    assert override.split("=")[0] in err and not (tmp_path / "out").exists()
    with pytest.raises(ConfigError):
        from ssamba.dataclass_io import load_config
        from ssamba.training.config import PretrainConfig

        load_config(PretrainConfig, recipe, [override])


@pytest.mark.parametrize(
    "samples",
    [
        pytest.param(np.full(16000, 1e20, np.float32), id="constant_1e20"),
        pytest.param(
            (np.random.default_rng(0).standard_normal(16000) * 1e18).astype(np.float32), id="noise_1e18"
        ),
        pytest.param(
            np.concatenate([np.zeros(8000), [3e38], np.zeros(7999)]).astype(np.float32), id="one_3e38"
        ),
    ],
)
@pytest.mark.parametrize("name", ["predict", "embed"])
def test_float_audio_that_overflows_the_features_is_an_audio_error(files, cli_error, tmp_path, samples, name):
    clip = tmp_path / "loud.wav"
    sf.write(clip, samples, 16000, subtype="FLOAT")
    argv = command(name, dict(files, clip=clip), files["good"], tmp_path / "out")
    err = cli_error(argv)
    assert str(clip) in err and "too large" in err
    cli_error(argv, debug=True, raises=AudioError)


def test_loud_but_sane_float_audio_loads(tmp_path):
    from ssamba.audio import load_audio
    from ssamba.features import FeatureConfig, extract_features

    clip = tmp_path / "loud.wav"
    sf.write(clip, np.full(16000, 32767.0, np.float32), 16000, subtype="FLOAT")  # int16-scaled floats
    assert torch.isfinite(extract_features(load_audio(clip), FeatureConfig(target_length=128))).all()
