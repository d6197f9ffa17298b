"""Bad and unsafe checkpoints: truncated, wrong family, wrong shapes, pickled code -> `CheckpointError`
naming the file; pickled code is refused without running."""

from __future__ import annotations

import json
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

import ssamba
from ssamba.errors import CheckpointError
from ssamba.models.checkpoint_io import load_state_dict_file
from ssamba.models.loading import from_pretrained, load_official


@pytest.fixture(scope="module")
def official_pth(fixtures_dir: Path) -> Path:
    return fixtures_dir / "official" / "ssamba_official_finetuned.pth"


class RunsCode:
    """Unpickling this calls `os.system(command)`: a checkpoint loader must refuse it."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def pickled_code(path: Path, command: str, how: str) -> None:
    payload = {"weight": torch.zeros(2), "evil": RunsCode(command)}
    if how == "torch_zip":
        torch.save(payload, path)
    elif how == "torch_legacy":
        torch.save(payload, path, _use_new_zipfile_serialization=False)
    else:
        path.write_bytes(pickle.dumps(payload))


@pytest.fixture(scope="module")
def saved_models(tmp_path_factory) -> dict[str, Path]:
    """save_pretrained folders: SSAMBA and SSAST at 128 frames, SSAST at 256 frames (other pos_embed)."""
    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("models")
    specs = {
        "ssamba": ("ssamba_tiny", 128, 2),
        "ssast": ("ssast_tiny", 128, 1),
        "ssast256": ("ssast_tiny", 256, 1),
    }
    for name, (model, tdim, depth) in specs.items():
        ssamba.create_model(model, input_tdim=tdim, depth=depth).save_pretrained(root / name)
    return {name: root / name for name in specs}


def copy_of(saved_models: dict[str, Path], name: str, tmp_path: Path) -> Path:
    return Path(shutil.copytree(saved_models[name], tmp_path / name))


@pytest.mark.parametrize("keep", [10, 0.5, -100], ids=["10_bytes", "half", "all_but_100"])
def test_truncated_official_checkpoint(tmp_path, keep, official_pth):
    data = official_pth.read_bytes()
    path = tmp_path / "cut.pth"
    path.write_bytes(data[: int(len(data) * keep) if isinstance(keep, float) else keep])
    with pytest.raises(CheckpointError, match="truncated or not a PyTorch checkpoint") as info:
        load_official(path)
    assert str(path) in str(info.value)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("how", ["torch_zip", "torch_legacy", "raw_pickle"])
def test_pickled_code_is_refused_and_not_run(tmp_path, how):
    marker = tmp_path / "code_ran"
    path = tmp_path / "evil.pth"
    pickled_code(path, f"touch {marker}", how)
    with pytest.raises(CheckpointError) as info:
        load_official(path)
    assert str(path) in str(info.value) and "refused to load" in str(info.value)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param(
            b"not a checkpoint\n",
            "not a PyTorch checkpoint",
            id="text",
        ),
        pytest.param(None, "expected a flat dict of tensors", id="list_of_numbers"),
    ],
)
def test_not_a_state_dict(tmp_path, content, expected):
    path = tmp_path / "odd.pth"
    if content is None:
        torch.save([1, 2, 3], path)
    else:
        path.write_bytes(content)
    with pytest.raises(CheckpointError, match=expected) as info:
        load_state_dict_file(path)
    assert str(path) in str(info.value)


def test_foreign_state_dict_names_the_file(tmp_path):
    path = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(1)}, path)
    with pytest.raises(CheckpointError, match="not an official") as info:
        load_official(path)
    assert str(path) in str(info.value)


def test_missing_checkpoint_file(tmp_path):
    with pytest.raises(CheckpointError, match="checkpoint file not found"):
        load_official(tmp_path / "nope.pth")


def swap_weights(saved_models, tmp_path, target: str, source: str) -> Path:
    folder = copy_of(saved_models, target, tmp_path)
    shutil.copy(saved_models[source] / "model.safetensors", folder / "model.safetensors")
    return folder


def truncate_weights(saved_models, tmp_path) -> Path:
    folder = copy_of(saved_models, "ssast", tmp_path)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    return folder


def edit_config(saved_models, tmp_path, text: str | None = None, **model_changes) -> Path:
    folder = copy_of(saved_models, "ssamba", tmp_path)
    config = json.loads((folder / "config.json").read_text())
    config["model"].update(model_changes)
    (folder / "config.json").write_text(text if text is not None else json.dumps(config))
    return folder


# (folder maker, file named in the error, substrings)
BAD_FOLDERS = [
    pytest.param(
        lambda m, t: swap_weights(m, t, "ssamba", "ssast"),
        "model.safetensors",
        ["does not match the ssamba model", "missing keys", "unexpected keys"],
        id="ssast_weights_in_ssamba_folder",
    ),
    pytest.param(
        lambda m, t: swap_weights(m, t, "ssast", "ssast256"),
        "model.safetensors",
        ["wrong shapes", "encoder.pos_embed"],
        id="wrong_shapes",
    ),
    pytest.param(truncate_weights, "model.safetensors", ["not a readable safetensors"], id="truncated"),
    pytest.param(lambda m, t: edit_config(m, t, "{oops"), "config.json", ["invalid JSON"], id="bad_json"),
    pytest.param(lambda m, t: edit_config(m, t, depth=3), "config.json", ["depth", "even"], id="odd_depth"),
    pytest.param(lambda m, t: edit_config(m, t, wings=2), "config.json", ["wings"], id="unknown_key"),
]


@pytest.mark.parametrize(("make", "named", "expected"), BAD_FOLDERS)
def test_bad_pretrained_folder(tmp_path, saved_models, make, named, expected):
    folder = make(saved_models, tmp_path)
    with pytest.raises(CheckpointError) as info:
        from_pretrained(folder)
    message = str(info.value)
    assert str(folder / named) in message
    for text in expected:
        assert text in message


@pytest.fixture
def clip(tmp_path) -> Path:
    path = tmp_path / "clip.wav"
    sf.write(path, np.zeros(16000, np.float32), 16000)
    return path


@pytest.mark.parametrize("model", ["pickled_code", "truncated", "wrong_family"])
def test_cli_embed_refuses_bad_model_cleanly(tmp_path, saved_models, cli_error, clip, model, request):
    marker = tmp_path / "code_ran"
    if model == "pickled_code":
        source = tmp_path / "evil.pth"
        pickled_code(source, f"touch {marker}", "torch_zip")
    elif model == "truncated":
        source = tmp_path / "cut.pth"
        source.write_bytes(request.getfixturevalue("official_pth").read_bytes()[:5000])
    else:
        source = swap_weights(saved_models, tmp_path, "ssamba", "ssast")
    err = cli_error(["embed", str(clip), "--model", str(source), "--out", str(tmp_path / "out")])
    assert str(source) in err and not marker.exists()
    cli_error(
        ["embed", str(clip), "--model", str(source), "--out", str(tmp_path / "out")],
        debug=True,
        raises=CheckpointError,
    )
    assert not marker.exists()
