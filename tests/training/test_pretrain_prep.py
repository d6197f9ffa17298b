"""The pretraining prep script turns tiny fake AudioSet / LibriSpeech layouts into the recipes' manifests."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ssamba.data import read_manifest
from ssamba.dataclass_io import load_config
from ssamba.errors import ManifestError
from ssamba.training.config import PretrainConfig

RECIPES = Path(__file__).resolve().parents[2] / "recipes" / "pretrain"


def _prep():
    spec = importlib.util.spec_from_file_location("prep_pretrain", RECIPES / "prep_pretrain.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _audio(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.zeros(1600, dtype=np.float32), 16000)


def _fake_layouts(root: Path) -> tuple[Path, Path]:
    audioset, librispeech = root / "AudioSet", root / "LibriSpeech"
    for folder, count in (
        ("balanced_train_segments", 2),
        ("unbalanced_train_segments", 3),
        ("eval_segments", 1),
    ):
        for i in range(count):
            _audio(audioset / folder / f"Y{folder[:3]}{i}_0.000_10.000.wav")
    for subset in ("train-clean-100", "train-clean-360", "train-other-500", "dev-clean"):
        _audio(librispeech / subset / "19" / "198" / f"19-198-000{len(subset)}.flac")
    (librispeech / "train-clean-100" / "19" / "198" / "19-198.trans.txt").write_text("19-198-0000 HELLO\n")
    return audioset, librispeech


def test_prep_writes_the_manifests_the_recipes_read(tmp_path: Path) -> None:
    audioset, librispeech = _fake_layouts(tmp_path)
    out = tmp_path / "data"
    _prep().main(["--audioset", str(audioset), "--librispeech", str(librispeech), "--out", str(out)])
    counts = {p.stem: len(read_manifest(p, require_labels=False)) for p in out.glob("*.jsonl")}
    assert counts == {
        "audioset_20k_train": 2,
        "audioset_2m_train": 3,
        "audioset_eval": 1,
        "librispeech_960h": 3,  # the three training subsets, not dev-clean, not the transcript
    }
    eval_rows = read_manifest(out / "audioset_eval.jsonl", require_labels=False)
    assert eval_rows[0].split == "valid" and eval_rows[0].label is None
    assert {e.get("source") for e in read_manifest(out / "librispeech_960h.jsonl", require_labels=False)} == {
        "librispeech"
    }
    config = load_config(PretrainConfig, RECIPES / "ssamba_tiny.yaml")
    wanted = {Path(p).stem for p in (*config.data.train_manifests, config.data.valid_manifest)}
    assert wanted <= set(counts)


def test_prep_names_the_missing_librispeech_subset(tmp_path: Path) -> None:
    _, librispeech = _fake_layouts(tmp_path)
    for path in (librispeech / "train-other-500").rglob("*"):
        if path.is_file():
            path.unlink()
    (librispeech / "train-other-500" / "19" / "198").rmdir()
    (librispeech / "train-other-500" / "19").rmdir()
    (librispeech / "train-other-500").rmdir()
    with pytest.raises(ManifestError, match="train-other-500"):
        _prep().main(["--librispeech", str(librispeech), "--out", str(tmp_path / "data")])


def test_prep_needs_a_dataset(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        _prep().main(["--out", str(tmp_path)])


def test_prep_shards_feed_pretraining(tmp_path: Path) -> None:
    """--shards writes the training clips (not the validation set) as shards pretraining reads."""
    from ssamba.features import FeatureConfig
    from ssamba.training.config import DataConfig
    from ssamba.training.pretrain import train_dataset

    audioset, librispeech = _fake_layouts(tmp_path)
    out = tmp_path / "data"
    argv = [
        "--audioset",
        str(audioset),
        "--librispeech",
        str(librispeech),
        "--out",
        str(out),
        "--shards",
        "4",
    ]
    _prep().main(argv)
    data = DataConfig(train_shards=(str(out / "shards"),))
    dataset = train_dataset(data, FeatureConfig(target_length=16), seed=0)
    assert len(dataset) == 2 + 3 + 3 and all(e.path.suffix == ".tar" for e in dataset.manifest)
    assert {e.get("source") for e in dataset.manifest} == {"audioset", "librispeech"}
    fbank, _ = dataset[0]
    assert fbank.shape == (16, 128)


def test_data_config_takes_manifests_or_shards() -> None:
    from ssamba.errors import ConfigError
    from ssamba.training.config import DataConfig

    for bad in ({}, {"train_manifests": ("a.jsonl",), "train_shards": ("s",)}):
        with pytest.raises(ConfigError, match="train_shards"):
            DataConfig(**bad)
    with pytest.raises(ConfigError, match="train_split"):
        DataConfig(train_shards=("s",), train_split="train")
