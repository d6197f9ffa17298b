"""Issue 17.8: configs: a key given twice is an error naming it and its lines; every float spelling
Python reads is a float (`--set optim.lr=1e-4`); a bad device, impossible betas, a binary config file
and a truncated legacy `.pth` give `ssamba: error:` lines, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from tiny_runs import write_clips, write_recipe

import ssamba.training.finetune
from ssamba.cli.main import main
from ssamba.errors import CheckpointError, ConfigError
from ssamba.training.engine import TrainResult


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> Path:
    return write_clips(tmp_path_factory.mktemp("configs") / "data")


@pytest.fixture
def captured(monkeypatch) -> list:
    """Replace the fine-tuning run: record the validated config instead of training."""
    configs = []

    def fake_run(config, out, resume=False, overwrite=False):
        configs.append(config)
        return TrainResult(0, summary={"test": None, "selection": "last_epoch"})

    monkeypatch.setattr(ssamba.training.finetune, "run_finetune", fake_run)
    return configs


DUPLICATES = [
    pytest.param("optim:\n  lr: 1.0e-3\n  lr: 1.0e-5\n", "'lr'", "line 4", "line 3", id="nested_key"),
    pytest.param(
        "optim: {lr: 1.0e-3}\ntrain: {epochs: 1}\noptim: {lr: 5.0e-5}\n",
        "'optim'",
        "line 4",
        "line 2",
        id="whole_section",
    ),
]


@pytest.mark.parametrize(("extra", "key", "line", "first"), DUPLICATES)
def test_duplicate_yaml_key_is_refused_naming_key_and_lines(
    tmp_path, manifest, cli_error, extra, key, line, first
):
    config = tmp_path / "dup.yaml"
    config.write_text(f"data: {{manifest: '{manifest}'}}\n{extra}", encoding="utf-8")
    err = cli_error(["finetune", "--config", str(config), "--out", str(tmp_path / "out")])
    assert str(config) in err and f"{line}: duplicate key {key} (first given on {first})" in err
    assert not (tmp_path / "out").exists()


def test_duplicate_json_key_is_refused(tmp_path, manifest, cli_error):
    config = tmp_path / "dup.json"
    config.write_text(f'{{"data": {{"manifest": "{manifest}"}}, "model": "a", "model": "b"}}')
    err = cli_error(["finetune", "--config", str(config), "--out", str(tmp_path / "out")])
    assert str(config) in err and "duplicate key 'model'" in err


def test_yaml_merge_keys_may_be_overridden(tmp_path, manifest, captured):
    config = tmp_path / "merge.yaml"
    config.write_text(
        f"data: {{manifest: '{manifest}'}}\n"
        "model_overrides: {depth: 1}\n"
        "optim:\n  <<: {lr: 1.0e-3, eps: 1.0e-6}\n  lr: 2.0e-4\n",
        encoding="utf-8",
    )
    assert main(["finetune", "--config", str(config), "--out", str(tmp_path / "out")]) == 0
    assert captured[0].optim.lr == 2.0e-4 and captured[0].optim.eps == 1.0e-6


SPELLINGS = ["1e-4", "1E-4", "1.e-4", ".0001", "+1e-4", "0.0001", "10e-5", "1_0e-5", " 1e-4 "]


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_every_python_float_spelling_is_accepted_on_the_command_line(tmp_path, manifest, captured, spelling):
    recipe = write_recipe(tmp_path, manifest)
    argv = [
        "finetune",
        "--config",
        str(recipe),
        "--set",
        f"optim.lr={spelling}",
        "--out",
        str(tmp_path / "o"),
    ]
    assert main(argv) == 0
    assert captured[0].optim.lr == pytest.approx(float(spelling)) and isinstance(captured[0].optim.lr, float)


def test_float_spellings_in_a_config_file_and_nested_sections(tmp_path, manifest, captured):
    recipe = write_recipe(
        tmp_path,
        manifest,
        optim={"lr": "5e-5", "betas": ["9e-1", ".999"], "eps": "1E-8"},
        model_overrides={"depth": 1, "drop_path_rate": "1e-1"},
    )
    assert main(["finetune", "--config", str(recipe), "--out", str(tmp_path / "o")]) == 0
    config = captured[0]
    assert (config.optim.lr, config.optim.betas, config.optim.eps) == (5e-5, (0.9, 0.999), 1e-8)


@pytest.mark.parametrize("spelling", ["inf", "Infinity", "-inf", "nan", ".nan", "1e999"])
def test_non_finite_spellings_are_refused_by_the_range_checks(tmp_path, manifest, cli_error, spelling):
    recipe = write_recipe(tmp_path, manifest)
    err = cli_error(
        ["finetune", "--config", str(recipe), "--set", f"optim.lr={spelling}", "--out", str(tmp_path)]
    )
    assert "'optim.lr': expected a finite number" in err


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("train.device=banana", ["train.device", "'banana'", "cpu"]),
        ("train.device=cuda:x", ["train.device", "'cuda:x'"]),
        ("optim.betas=[2,0.999]", ["optim.betas", "[0, 1)", "[2.0, 0.999]"]),
        ("optim.betas=[0.9,0.999,0.5]", ["optim.betas", "2 items"]),
    ],
)
def test_bad_device_and_betas_are_config_errors(tmp_path, manifest, cli_error, override, expected):
    recipe = write_recipe(tmp_path, manifest)
    argv = ["finetune", "--config", str(recipe), "--set", override, "--out", str(tmp_path / "out")]
    err = cli_error(argv)
    for text in expected:
        assert text in err, err
    assert not (tmp_path / "out").exists()
    cli_error(argv, debug=True, raises=ConfigError)


def test_pretrain_bad_device_is_a_config_error(tmp_path, manifest, cli_error):
    recipe = tmp_path / "p.yaml"
    recipe.write_text(json.dumps({"model": "ssast_tiny", "data": {"train_manifests": [str(manifest)]}}))
    err = cli_error(
        ["pretrain", "--config", str(recipe), "--set", "train.device=banana", "--out", str(tmp_path)]
    )
    assert "train.device" in err and "banana" in err


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param(bytes(range(256)) * 4, "not a text config file", id="binary"),
        pytest.param(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not a text config file", id="png"),
        pytest.param(b"model: \x00\x01\x02\x03", "cannot parse config", id="control_chars"),
        pytest.param(b"\xef\xbb\xbfmodel: [", "cannot parse config", id="bom_and_garbage"),
        pytest.param(b"[" * 5000, "cannot parse config", id="deep_nesting"),
    ],
)
@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_binary_or_garbage_config_file_is_a_clear_error(tmp_path, cli_error, content, expected, suffix):
    config = tmp_path / f"garbage{suffix}"
    config.write_bytes(content)
    err = cli_error(["finetune", "--config", str(config), "--out", str(tmp_path / "out")])
    assert str(config) in err and expected in err, err


@pytest.fixture(scope="module")
def legacy_pth(tmp_path_factory, fixtures_dir) -> bytes:
    """The official fine-tuned checkpoint re-saved in PyTorch's legacy (non-zip) format."""
    path = tmp_path_factory.mktemp("legacy") / "legacy.pth"
    official = fixtures_dir / "official" / "ssamba_official_finetuned.pth"
    state = torch.load(official, map_location="cpu", weights_only=True)
    torch.save(state, path, _use_new_zipfile_serialization=False)
    return path.read_bytes()


@pytest.mark.parametrize("keep", [2, 16, 30, 5000, 0.5, -1], ids=lambda k: f"keep_{k}")
def test_truncated_legacy_pth_is_a_checkpoint_error(tmp_path, manifest, cli_error, legacy_pth, keep):
    path = tmp_path / "cut.pth"
    path.write_bytes(legacy_pth[: int(len(legacy_pth) * keep) if isinstance(keep, float) else keep])
    clip = manifest.parent / "clip0.wav"
    argv = ["embed", str(clip), "--model", str(path), "--out", str(tmp_path / "out")]
    err = cli_error(argv)
    assert str(path) in err and ("truncated" in err or "refused" in err)
    cli_error(argv, debug=True, raises=CheckpointError)
