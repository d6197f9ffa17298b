"""Fine-tuning recipes load as `FinetuneConfig`; each prep script turns a tiny fake layout into a manifest."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ssamba.data import read_manifest
from ssamba.dataclass_io import load_config
from ssamba.training.finetune_config import FinetuneConfig

RECIPES = Path(__file__).resolve().parents[2] / "recipes" / "finetune"


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, RECIPES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _wav(path: Path, seconds: float = 0.1) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.zeros(int(16000 * seconds), dtype=np.float32), 16000)
    return path


@pytest.mark.parametrize("recipe", sorted(RECIPES.glob("*.yaml")), ids=lambda p: p.stem)
def test_recipe_loads(recipe: Path) -> None:
    config = load_config(FinetuneConfig, recipe)
    assert config.train.epochs >= 1 and config.optim.lr > 0


def test_prep_esc50(tmp_path: Path) -> None:
    (tmp_path / "meta").mkdir()
    (tmp_path / "meta" / "esc50.csv").write_text(
        "filename,fold,target,category,esc10,src_file,take\n1-1-A-0.wav,1,0,dog,True,1,A\n2-2-A-1.wav,2,1,rain,False,2,A\n"
    )
    for name in ("1-1-A-0.wav", "2-2-A-1.wav"):
        _wav(tmp_path / "audio" / name)
    _script("prep_esc50").main([str(tmp_path), "--out", str(tmp_path / "m.jsonl")])
    manifest = read_manifest(tmp_path / "m.jsonl")
    assert [(e.label, e.get("fold")) for e in manifest] == [("dog", "1"), ("rain", "2")]


def _speech_commands(root: Path, words: list[str]) -> None:
    for word in words:
        for n in range(3):
            _wav(root / word / f"s{n}_nohash_0.wav")
    (root / "validation_list.txt").write_text(f"{words[0]}/s1_nohash_0.wav\n")
    (root / "testing_list.txt").write_text(f"{words[0]}/s2_nohash_0.wav\n")
    for name in ("a.wav", "b.wav", "c.wav"):
        _wav(root / "_background_noise_" / name, seconds=2.5)


def test_prep_speechcommands_all_words_and_superb12(tmp_path: Path) -> None:
    prep = _script("prep_speechcommands")
    words = [f"w{i:02d}" for i in range(30)]
    _speech_commands(tmp_path / "v1", words)
    prep.main([str(tmp_path / "v1"), "--classes", "30", "--out", str(tmp_path / "30.jsonl")])
    manifest = read_manifest(tmp_path / "30.jsonl")
    assert len(manifest) == 90 and manifest.counts("split") == {"test": 1, "train": 88, "valid": 1}
    _speech_commands(tmp_path / "ks", [*prep.COMMANDS, "bed", "cat"])
    prep.main([str(tmp_path / "ks"), "--classes", "12", "--out", str(tmp_path / "12.jsonl")])
    manifest = read_manifest(tmp_path / "12.jsonl")
    assert len(manifest.label_names()) == 12 and manifest.counts("label")["_unknown_"] == 6
    silence = [e for e in manifest if e.label == "_silence_"]
    assert len(silence) == 6 and all(e.duration == 1.0 for e in silence)
    with pytest.raises(SystemExit):
        prep.main([str(tmp_path / "v1"), "--classes", "35", "--out", str(tmp_path / "x.jsonl")])


def test_prep_audioset(tmp_path: Path) -> None:
    (tmp_path / "classes.csv").write_text('index,mid,display_name\n0,/m/a,"Speech"\n1,/m/b,"Music"\n')
    for split in ("train", "eval"):
        wav = _wav(tmp_path / f"{split}.wav")
        (tmp_path / f"{split}.json").write_text(
            json.dumps({"data": [{"wav": str(wav), "labels": "/m/a,/m/b"}]})
        )
    _script("prep_audioset").main(
        [
            "--datafile",
            str(tmp_path / "train.json"),
            "--eval-datafile",
            str(tmp_path / "eval.json"),
            "--label-csv",
            str(tmp_path / "classes.csv"),
            "--out",
            str(tmp_path / "m.jsonl"),
        ]
    )
    manifest = read_manifest(tmp_path / "m.jsonl")
    assert [e.split for e in manifest] == ["train", "eval"] and manifest[0].labels == ("Speech", "Music")


def test_prep_voxceleb1(tmp_path: Path) -> None:
    lines = []
    for code, speaker in (("1", "id10001"), ("2", "id10001"), ("3", "id10002")):
        _wav(tmp_path / "wav" / speaker / "vid" / f"0000{code}.wav")
        lines.append(f"{code} {speaker}/vid/0000{code}.wav")
    (tmp_path / "iden_split.txt").write_text("\n".join(lines) + "\n")
    _script("prep_voxceleb1").main(
        [str(tmp_path), "--split-file", str(tmp_path / "iden_split.txt"), "--out", str(tmp_path / "m.jsonl")]
    )
    manifest = read_manifest(tmp_path / "m.jsonl")
    assert [(e.label, e.split) for e in manifest] == [
        ("id10001", "train"),
        ("id10001", "valid"),
        ("id10002", "test"),
    ]


def test_prep_iemocap(tmp_path: Path) -> None:
    session = tmp_path / "Session2"
    evaluation = session / "dialog" / "EmoEvaluation" / "Ses02F_impro01.txt"
    evaluation.parent.mkdir(parents=True)
    evaluation.write_text(
        "% header\n"
        "[6.2 - 8.2]\tSes02F_impro01_F000\texc\t[2.5, 3.0, 3.0]\n"
        "[9.0 - 9.9]\tSes02F_impro01_M001\tfru\t[2.5, 3.0, 3.0]\n"
        "[10.0 - 11.0]\tSes02F_impro01_M002\tang\t[2.5, 3.0, 3.0]\n"
    )
    for turn in ("F000", "M001", "M002"):
        _wav(session / "sentences" / "wav" / "Ses02F_impro01" / f"Ses02F_impro01_{turn}.wav")
    _script("prep_iemocap").main([str(tmp_path), "--out", str(tmp_path / "m.jsonl")])
    manifest = read_manifest(tmp_path / "m.jsonl")
    assert [(e.label, e.speaker, e.get("session")) for e in manifest] == [
        ("happy", "2F", "2"),
        ("angry", "2M", "2"),
    ]


def test_esc50_cross_validation_reports_the_best_fold_averaged_epoch(tmp_path: Path, fsdd_dir: Path) -> None:
    """Five tiny folds (FSDD digits 0/1 as two 'categories'), two epochs each, through the CV driver."""
    rows = []
    for fold in range(1, 6):
        for digit in (0, 1):
            for take in (2 * fold, 2 * fold + 1):
                wav = fsdd_dir / "recordings" / f"{digit}_jackson_{take}.wav"
                rows.append({"audio": str(wav), "label": f"c{digit}", "fold": str(fold)})
    manifest = tmp_path / "esc.jsonl"
    manifest.write_text("".join(json.dumps(row) + "\n" for row in rows))
    cv = _script("esc50_cv")
    out = tmp_path / "cv"
    sets = [
        f"data.manifest={manifest}",
        'data.features={"target_length": 48}',
        'model_overrides={"depth": 1, "patch_stride": [16, 16]}',
        "train.epochs=2",
        "train.batch_size=4",
        "train.num_workers=0",
        "train.progress=false",
        "train.plot=false",
    ]
    argv = [
        "--config",
        str(RECIPES / "esc50.yaml"),
        "--out",
        str(out),
        *(x for s in sets for x in ("--set", s)),
    ]
    report = cv.main(argv)
    curves = {fold: cv.epoch_curve(out / f"fold_{fold}") for fold in cv.FOLDS}
    assert all(sorted(curve) == [1, 2] for curve in curves.values())
    mean = {e: sum(c[e] for c in curves.values()) / 5 for e in (1, 2)}
    best = max((1, 2), key=lambda e: (mean[e], -e))
    assert report["best_epoch"] == best and report["accuracy"] == pytest.approx(mean[best])
    assert report["fold_accuracy"] == {fold: curves[fold][best] for fold in cv.FOLDS}
    assert json.loads((out / "cv_results.json").read_text())["best_epoch"] == best
    assert (out / "cv_curve.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((out / "fold_3" / "results.json").read_text())["train_clips"] == 16
