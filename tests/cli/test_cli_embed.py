"""`ssamba embed` end to end on FSDD clips and a saved model."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

import ssamba
from ssamba.cli.main import main


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    torch.manual_seed(0)
    directory = tmp_path_factory.mktemp("model")
    ssamba.create_model("ssast_tiny", input_tdim=128, depth=1).save_pretrained(directory)
    return directory


def test_embed_writes_npy_per_file(tmp_path, model_dir, fsdd_dir):
    clips = sorted((fsdd_dir / "recordings").glob("3_theo_*.wav"))[:2]
    assert main(["embed", *map(str, clips), "--model", str(model_dir), "--out", str(tmp_path)]) == 0
    index = json.loads((tmp_path / "index.json").read_text())
    assert [entry["audio"] for entry in index["files"]] == [str(c) for c in clips]
    for clip in clips:
        embeddings = np.load(tmp_path / f"{clip.stem}.embeddings.npy")
        timestamps = np.load(tmp_path / f"{clip.stem}.timestamps_ms.npy")
        scene = np.load(tmp_path / f"{clip.stem}.scene.npy")
        assert embeddings.shape == (timestamps.shape[0], 192) and scene.shape == (192,)
        np.testing.assert_allclose(np.diff(timestamps), 50.0)
        np.testing.assert_allclose(scene, embeddings.mean(0), rtol=1e-5, atol=1e-6)


def test_embed_safetensors_scene_only_from_a_folder(tmp_path, model_dir, fsdd_dir):
    folder = tmp_path / "audio"
    folder.mkdir()
    for clip in sorted((fsdd_dir / "recordings").glob("5_lucas_1*.wav"))[:2]:
        (folder / clip.name).write_bytes(clip.read_bytes())
    out = tmp_path / "out"
    args = [
        "embed",
        str(folder),
        "--model",
        str(model_dir),
        "--out",
        str(out),
        "--format",
        "safetensors",
        "--scene-only",
    ]
    assert main(args) == 0
    files = sorted(out.glob("*.safetensors"))
    assert len(files) == 2 and set(load_file(files[0])) == {"scene"}


def test_embed_errors_exit_nonzero_without_traceback(tmp_path, capsys, model_dir):
    assert (
        main(["embed", str(tmp_path / "missing.wav"), "--model", str(model_dir), "--out", str(tmp_path)]) == 1
    )
    err = capsys.readouterr().err
    assert "missing.wav: no such file or folder" in err and "Traceback" not in err
    (tmp_path / "bad.wav").write_text("not audio")
    assert main(["embed", str(tmp_path / "bad.wav"), "--model", str(model_dir), "--out", str(tmp_path)]) == 1
    assert "bad.wav" in capsys.readouterr().err
