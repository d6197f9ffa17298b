"""Shards written by the real `webdataset.ShardWriter` (`key.wav` + `.cls` / `.json`) are read like ours."""

from __future__ import annotations

from pathlib import Path

import pytest
import soundfile as sf
import torch

from ssamba.data import AudioClipDataset, LabelMap, index_shards
from ssamba.data.pipeline import load_entry
from ssamba.data.shard_samples import sample_row
from ssamba.errors import ManifestError


@pytest.fixture(scope="module")
def clips(fsdd_dir: Path) -> list[Path]:
    return sorted((fsdd_dir / "recordings").glob("*_jackson_1.wav"))[:7]  # digits 0..6


def _write(out: Path, clips: list[Path], metadata) -> Path:
    wds = pytest.importorskip("webdataset")
    out.mkdir()
    with wds.ShardWriter(str(out / "train-%06d.tar"), maxcount=3, verbose=0) as sink:
        for clip in clips:
            sink.write({"__key__": clip.stem, "wav": clip.read_bytes(), **metadata(clip)})
    return out


def test_cls_shards_index_and_decode_like_the_original_files(tmp_path, clips):
    shards = _write(tmp_path / "cls", clips, lambda clip: {"cls": int(clip.name[0])})
    assert sorted(p.name for p in shards.iterdir()) == [
        "train-000000.tar",
        "train-000001.tar",
        "train-000002.tar",
    ]
    manifest = index_shards(shards, require_labels=True)
    assert [entry.label for entry in manifest] == [clip.name[0] for clip in clips]
    for entry, clip in zip(manifest, clips, strict=True):
        original, rate = sf.read(clip, dtype="float32")
        assert rate == 8000
        decoded = load_entry(entry, 8000)
        torch.testing.assert_close(decoded, torch.from_numpy(original), rtol=0, atol=0)


def test_json_labelled_webdataset_shards_feed_the_clip_dataset(tmp_path, clips, feature_config):
    names = ["zero", "one", "two", "three", "four", "five", "six"]
    shards = _write(
        tmp_path / "json",
        clips,
        lambda clip: {"json": {"label": names[int(clip.name[0])], "speaker": "jackson"}},
    )
    label_map = LabelMap.from_labels(names)
    items = list(AudioClipDataset(index_shards(shards, require_labels=True), label_map, feature_config))
    expected = [label_map.index(names[int(clip.name[0])]) for clip in clips]
    assert [int(target) for _, target in items] == expected
    assert all(fbank.shape == (128, 128) for fbank, _ in items)
    assert [entry.speaker for entry in index_shards(shards)] == ["jackson"] * len(clips)


def test_unlabelled_webdataset_shards_serve_pretraining_but_not_fine_tuning(tmp_path, clips):
    shards = _write(tmp_path / "bare", clips, lambda clip: {})
    assert len(index_shards(shards)) == len(clips)
    with pytest.raises(ManifestError, match="train-000000.tar member .*has neither 'label' nor 'labels'"):
        index_shards(shards, require_labels=True)


@pytest.mark.parametrize(
    ("members", "expected"),
    [
        ({"flac": b"", "cls": b"7\n"}, {"audio": "k.flac", "label": "7"}),
        ({"wav": b"", "json": b'{"label": 3}', "cls": b"9"}, {"audio": "k.wav", "label": "3"}),
        ({"wav": b"", "json": b'{"label": ["a", "b"]}'}, {"audio": "k.wav", "labels": ["a", "b"]}),
        (
            {"wav": b"", "json": b'{"labels": [1, 2], "x": 1}'},
            {"audio": "k.wav", "labels": ["1", "2"], "x": 1},
        ),
        ({"ogg": b"", "json": b'{"audio": "k.ogg", "label": "dog"}'}, {"audio": "k.ogg", "label": "dog"}),
    ],
)
def test_sample_rows_of_either_layout(members, expected):
    row, ext = sample_row(members, "k", "shard member k")
    assert row == expected and ext == expected["audio"].rsplit(".", 1)[1]


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ({"json": b"{}"}, "shard member k: no audio member"),
        ({"wav": b"", "json": b"[1]"}, "shard member k.json: expected a JSON object"),
        ({"wav": b"", "json": b"{"}, "shard member k.json: not valid JSON"),
        ({"wav": b"", "cls": b"\xff"}, "shard member k.cls: not UTF-8 text"),
    ],
)
def test_bad_samples_name_the_member(members, message):
    with pytest.raises(ManifestError, match=message):
        sample_row(members, "k", "shard member k")
